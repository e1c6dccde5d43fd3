package dc

import (
	"errors"
	"fmt"
)

// NTStatus is a Windows NTSTATUS code as carried in the SMB2 header
// ([MS-ERREF] 2.3). The relay passes the DC's code through verbatim so an
// administrator can tell why a Windows DC refused a login.
type NTStatus uint32

// NTSTATUS values the relay meets or that administrators will want named.
const (
	StatusSuccess                      NTStatus = 0x00000000
	StatusPending                      NTStatus = 0x00000103
	StatusInvalidParameter             NTStatus = 0xC000000D
	StatusMoreProcessingRequired       NTStatus = 0xC0000016
	StatusAccessDenied                 NTStatus = 0xC0000022
	StatusNoLogonServers               NTStatus = 0xC000005E
	StatusNoSuchLogonSession           NTStatus = 0xC000005F
	StatusNoSuchUser                   NTStatus = 0xC0000064
	StatusWrongPassword                NTStatus = 0xC000006A
	StatusPasswordRestriction          NTStatus = 0xC000006C
	StatusLogonFailure                 NTStatus = 0xC000006D
	StatusAccountRestriction           NTStatus = 0xC000006E
	StatusInvalidLogonHours            NTStatus = 0xC000006F
	StatusInvalidWorkstation           NTStatus = 0xC0000070
	StatusPasswordExpired              NTStatus = 0xC0000071
	StatusAccountDisabled              NTStatus = 0xC0000072
	StatusInsufficientResources        NTStatus = 0xC000009A
	StatusNotSupported                 NTStatus = 0xC00000BB
	StatusRequestNotAccepted           NTStatus = 0xC00000D0
	StatusNoSuchDomain                 NTStatus = 0xC00000DF
	StatusInternalError                NTStatus = 0xC00000E5
	StatusTimeDifferenceAtDC           NTStatus = 0xC0000133
	StatusLogonTypeNotGranted          NTStatus = 0xC000015B
	StatusTrustedDomainFailure         NTStatus = 0xC000018C
	StatusTrustedRelationshipFailure   NTStatus = 0xC000018D
	StatusAccountExpired               NTStatus = 0xC0000193
	StatusUserSessionDeleted           NTStatus = 0xC0000203
	StatusPasswordMustChange           NTStatus = 0xC0000224
	StatusDomainControllerNotFound     NTStatus = 0xC0000233
	StatusAccountLockedOut             NTStatus = 0xC0000234
	StatusSmartcardLogonRequired       NTStatus = 0xC00002FA
	StatusNetworkSessionExpired        NTStatus = 0xC000035C
	StatusDowngradeDetected            NTStatus = 0xC0000388
	StatusAuthenticationFirewallFailed NTStatus = 0xC0000413
	StatusNTLMBlocked                  NTStatus = 0xC0000418
)

var statusNames = map[NTStatus]string{
	StatusSuccess:                      "STATUS_SUCCESS",
	StatusPending:                      "STATUS_PENDING",
	StatusInvalidParameter:             "STATUS_INVALID_PARAMETER",
	StatusMoreProcessingRequired:       "STATUS_MORE_PROCESSING_REQUIRED",
	StatusAccessDenied:                 "STATUS_ACCESS_DENIED",
	StatusNoLogonServers:               "STATUS_NO_LOGON_SERVERS",
	StatusNoSuchLogonSession:           "STATUS_NO_SUCH_LOGON_SESSION",
	StatusNoSuchUser:                   "STATUS_NO_SUCH_USER",
	StatusWrongPassword:                "STATUS_WRONG_PASSWORD",
	StatusPasswordRestriction:          "STATUS_PASSWORD_RESTRICTION",
	StatusLogonFailure:                 "STATUS_LOGON_FAILURE",
	StatusAccountRestriction:           "STATUS_ACCOUNT_RESTRICTION",
	StatusInvalidLogonHours:            "STATUS_INVALID_LOGON_HOURS",
	StatusInvalidWorkstation:           "STATUS_INVALID_WORKSTATION",
	StatusPasswordExpired:              "STATUS_PASSWORD_EXPIRED",
	StatusAccountDisabled:              "STATUS_ACCOUNT_DISABLED",
	StatusInsufficientResources:        "STATUS_INSUFFICIENT_RESOURCES",
	StatusNotSupported:                 "STATUS_NOT_SUPPORTED",
	StatusRequestNotAccepted:           "STATUS_REQUEST_NOT_ACCEPTED",
	StatusNoSuchDomain:                 "STATUS_NO_SUCH_DOMAIN",
	StatusInternalError:                "STATUS_INTERNAL_ERROR",
	StatusTimeDifferenceAtDC:           "STATUS_TIME_DIFFERENCE_AT_DC",
	StatusLogonTypeNotGranted:          "STATUS_LOGON_TYPE_NOT_GRANTED",
	StatusTrustedDomainFailure:         "STATUS_TRUSTED_DOMAIN_FAILURE",
	StatusTrustedRelationshipFailure:   "STATUS_TRUSTED_RELATIONSHIP_FAILURE",
	StatusAccountExpired:               "STATUS_ACCOUNT_EXPIRED",
	StatusUserSessionDeleted:           "STATUS_USER_SESSION_DELETED",
	StatusPasswordMustChange:           "STATUS_PASSWORD_MUST_CHANGE",
	StatusDomainControllerNotFound:     "STATUS_DOMAIN_CONTROLLER_NOT_FOUND",
	StatusAccountLockedOut:             "STATUS_ACCOUNT_LOCKED_OUT",
	StatusSmartcardLogonRequired:       "STATUS_SMARTCARD_LOGON_REQUIRED",
	StatusNetworkSessionExpired:        "STATUS_NETWORK_SESSION_EXPIRED",
	StatusDowngradeDetected:            "STATUS_DOWNGRADE_DETECTED",
	StatusAuthenticationFirewallFailed: "STATUS_AUTHENTICATION_FIREWALL_FAILED",
	StatusNTLMBlocked:                  "STATUS_NTLM_BLOCKED",
}

// String returns the symbolic name, e.g. "STATUS_LOGON_FAILURE", or the
// code in hex, e.g. "0xC00000AB", for codes without a name here.
func (s NTStatus) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("0x%08X", uint32(s))
}

// StatusError means the DC answered and refused the login step with Status
// (for NTLM relaying that is a credentials or account problem, so the caller
// answers 401). Status is the DC's NTSTATUS verbatim.
type StatusError struct {
	DC     string
	Status NTStatus
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("dc %s: refused: %s (0x%08X)", e.DC, e.Status, uint32(e.Status))
}

var (
	// ErrGuestSession means the DC accepted the login only as a guest or
	// anonymous session (SessionFlags IS_GUEST or IS_NULL, or an anonymous
	// NTLM AUTHENTICATE message): the caller answers 401.
	ErrGuestSession = errors.New("dc accepted only a guest or anonymous session")

	// ErrUnavailable means no DC could be reached or the DC stopped
	// answering; it wraps the per-DC reasons. The caller answers 503.
	ErrUnavailable = errors.New("no domain controller available")

	// ErrBusy means the per-DC concurrency limit was hit and the wait for a
	// slot ran out. The caller answers 503 with Retry-After.
	ErrBusy = errors.New("domain controller concurrency limit reached")

	// ErrClosed is returned after Pool.Close, and by a Handshake that was
	// already used or closed.
	ErrClosed = errors.New("closed")
)
