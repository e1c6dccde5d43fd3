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

// Kind sorts a DC's NTSTATUS answer to a login by what it means for the
// answer to the browser. Status.Kind gives it.
type Kind uint8

const (
	// DCFailure: the DC did not check the login (it is starting, cannot
	// reach its own domain or a trusted one, is out of resources, lost the
	// session), or its code is not in the table. Not the user's fault:
	// answer 503 with Retry-After. The pool counts it against that DC and
	// tries the next DC for new handshakes.
	DCFailure Kind = iota
	// Refused: the DC checked the credentials and refused them, or the
	// account cannot log in anywhere (locked out, disabled, expired). Answer
	// 401: the user may try again.
	Refused
	// NotAllowed: the domain's policy keeps this account, or NTLM itself,
	// from logging in here, whatever the password. Asking the user again
	// does not help; an administrator can (Hint says how).
	NotAllowed
)

func (k Kind) String() string {
	switch k {
	case Refused:
		return "refused"
	case NotAllowed:
		return "not allowed"
	}
	return "dc failure"
}

// NTSTATUS values the table below names but the relay has no constant for.
const (
	statusNoMemory           NTStatus = 0xC0000017
	statusIOTimeout          NTStatus = 0xC00000B5
	statusInvalidServerState NTStatus = 0xC00000DC
	statusNoTrustLSASecret   NTStatus = 0xC000018A
	statusNoTrustSAMAccount  NTStatus = 0xC000018B
	statusNetlogonNotStarted NTStatus = 0xC0000192
	statusNotFound           NTStatus = 0xC0000225
)

type statusInfo struct {
	name string
	kind Kind
	hint string // NotAllowed: what an administrator can do
}

// statuses is the one table sorting what a DC answers to a login. A code
// not listed is a DCFailure: an unknown answer must not make a browser ask
// for a password that may well be right.
var statuses = map[NTStatus]statusInfo{
	// Not refusals. Should one reach a StatusError, the DC misbehaved.
	StatusSuccess:                {name: "STATUS_SUCCESS"},
	StatusPending:                {name: "STATUS_PENDING"},
	StatusMoreProcessingRequired: {name: "STATUS_MORE_PROCESSING_REQUIRED", kind: Refused}, // to a Type3: NTLM has no further round

	// The credentials were refused, or the account cannot log in anywhere.
	StatusInvalidParameter:    {name: "STATUS_INVALID_PARAMETER", kind: Refused}, // a malformed message, or a MIC that does not match
	StatusAccessDenied:        {name: "STATUS_ACCESS_DENIED", kind: Refused},
	StatusNoSuchUser:          {name: "STATUS_NO_SUCH_USER", kind: Refused},
	StatusWrongPassword:       {name: "STATUS_WRONG_PASSWORD", kind: Refused},
	StatusPasswordRestriction: {name: "STATUS_PASSWORD_RESTRICTION", kind: Refused},
	StatusLogonFailure:        {name: "STATUS_LOGON_FAILURE", kind: Refused},
	StatusPasswordExpired:     {name: "STATUS_PASSWORD_EXPIRED", kind: Refused},
	StatusAccountDisabled:     {name: "STATUS_ACCOUNT_DISABLED", kind: Refused},
	StatusNoSuchDomain:        {name: "STATUS_NO_SUCH_DOMAIN", kind: Refused}, // the domain as typed
	StatusAccountExpired:      {name: "STATUS_ACCOUNT_EXPIRED", kind: Refused},
	StatusPasswordMustChange:  {name: "STATUS_PASSWORD_MUST_CHANGE", kind: Refused},
	StatusAccountLockedOut:    {name: "STATUS_ACCOUNT_LOCKED_OUT", kind: Refused},
	// Samba 4.17's answer to a wrong password for a UPN (user@suffix),
	// with or without a typed domain: anyone can send it, so counting it
	// as a DC failure would let them mark DCs down.
	statusNotFound: {name: "STATUS_NOT_FOUND", kind: Refused},

	// The domain's policy: not here, or not with NTLM.
	StatusAccountRestriction: {name: "STATUS_ACCOUNT_RESTRICTION", kind: NotAllowed,
		hint: "an account restriction forbids this logon: members of Protected Users may not use NTLM, and accounts with blank passwords may not log on over the network; take the account out of the group or give it a password"},
	StatusInvalidLogonHours: {name: "STATUS_INVALID_LOGON_HOURS", kind: NotAllowed,
		hint: "the account's logon hours exclude this time; change them on the account (logonHours)"},
	StatusInvalidWorkstation: {name: "STATUS_INVALID_WORKSTATION", kind: NotAllowed,
		hint: "the account may log on only from the workstations listed on it (\"Log On To\", userWorkstations); add the browser's machine or clear the list"},
	StatusLogonTypeNotGranted: {name: "STATUS_LOGON_TYPE_NOT_GRANTED", kind: NotAllowed,
		hint: "the account lacks the network logon right on the domain controllers (\"Access this computer from the network\", or a \"Deny access to this computer from the network\" entry); grant the right or remove the deny entry"},
	StatusSmartcardLogonRequired: {name: "STATUS_SMARTCARD_LOGON_REQUIRED", kind: NotAllowed,
		hint: "the account requires smart card logon, which a password logon cannot satisfy; clear \"Smart card is required for interactive logon\" or keep the account off NTLM sites"},
	StatusAuthenticationFirewallFailed: {name: "STATUS_AUTHENTICATION_FIREWALL_FAILED", kind: NotAllowed,
		hint: "a trust with selective authentication does not let this user authenticate to the domain controller; grant \"Allowed to authenticate\" on the domain controllers' computer objects"},
	StatusNTLMBlocked: {name: "STATUS_NTLM_BLOCKED", kind: NotAllowed,
		hint: "the domain's policy blocks NTLM (Windows: the \"Network security: Restrict NTLM\" policies; Samba: ntlm auth = disabled), and this server logs users in by relaying NTLM to the domain controllers over SMB: allow incoming NTLM on them (Windows: audit first, then exceptions; Samba: ntlm auth = ntlmv2-only)"},

	// The DC itself failed.
	statusNoMemory:                   {name: "STATUS_NO_MEMORY"},
	StatusNoLogonServers:             {name: "STATUS_NO_LOGON_SERVERS"},
	StatusNoSuchLogonSession:         {name: "STATUS_NO_SUCH_LOGON_SESSION"},
	StatusInsufficientResources:      {name: "STATUS_INSUFFICIENT_RESOURCES"},
	statusIOTimeout:                  {name: "STATUS_IO_TIMEOUT"},
	StatusNotSupported:               {name: "STATUS_NOT_SUPPORTED"},
	StatusRequestNotAccepted:         {name: "STATUS_REQUEST_NOT_ACCEPTED"}, // out of sessions or connections
	statusInvalidServerState:         {name: "STATUS_INVALID_SERVER_STATE"},
	StatusInternalError:              {name: "STATUS_INTERNAL_ERROR"}, // Samba, for about a second after it starts
	StatusTimeDifferenceAtDC:         {name: "STATUS_TIME_DIFFERENCE_AT_DC"},
	statusNoTrustLSASecret:           {name: "STATUS_NO_TRUST_LSA_SECRET"},
	statusNoTrustSAMAccount:          {name: "STATUS_NO_TRUST_SAM_ACCOUNT"},
	StatusTrustedDomainFailure:       {name: "STATUS_TRUSTED_DOMAIN_FAILURE"},
	StatusTrustedRelationshipFailure: {name: "STATUS_TRUSTED_RELATIONSHIP_FAILURE"},
	statusNetlogonNotStarted:         {name: "STATUS_NETLOGON_NOT_STARTED"},
	StatusUserSessionDeleted:         {name: "STATUS_USER_SESSION_DELETED"},
	StatusDomainControllerNotFound:   {name: "STATUS_DOMAIN_CONTROLLER_NOT_FOUND"},
	StatusNetworkSessionExpired:      {name: "STATUS_NETWORK_SESSION_EXPIRED"},
	StatusDowngradeDetected:          {name: "STATUS_DOWNGRADE_DETECTED"},
}

// String returns the symbolic name, e.g. "STATUS_LOGON_FAILURE", or the
// code in hex, e.g. "0xC00000AB", for codes without a name here.
func (s NTStatus) String() string {
	if i, ok := statuses[s]; ok {
		return i.name
	}
	return fmt.Sprintf("0x%08X", uint32(s))
}

// Kind sorts s: Refused, NotAllowed, or DCFailure (also for every code the
// table does not know).
func (s NTStatus) Kind() Kind { return statuses[s].kind }

// Hint says what an administrator can do about a NotAllowed status; empty
// for the other kinds.
func (s NTStatus) Hint() string { return statuses[s].hint }

// StatusError means the DC answered a login step with Status, the DC's
// NTSTATUS verbatim; Status.Kind says whether it refused the credentials
// (401), its policy does not allow the login (403), or it failed (503).
// A DCFailure StatusError also matches ErrUnavailable.
type StatusError struct {
	DC     string
	Status NTStatus
}

func (e *StatusError) Error() string {
	if e.Status.Kind() == DCFailure {
		return fmt.Sprintf("dc %s: failed: %s (0x%08X)", e.DC, e.Status, uint32(e.Status))
	}
	return fmt.Sprintf("dc %s: %s: %s (0x%08X)", e.DC, e.Status.Kind(), e.Status, uint32(e.Status))
}

// Is makes a DCFailure match ErrUnavailable, so callers that answer 503 for
// an unreachable DC answer a failing one the same way.
func (e *StatusError) Is(target error) bool {
	return target == ErrUnavailable && e.Status.Kind() == DCFailure
}

var (
	// ErrGuestSession means the DC accepted the login only as a guest or
	// anonymous session (SessionFlags IS_GUEST or IS_NULL, or an anonymous
	// NTLM AUTHENTICATE message): the caller answers 401.
	ErrGuestSession = errors.New("dc accepted only a guest or anonymous session")

	// ErrUnavailable means no DC could be reached, the DC stopped
	// answering, or it failed (a DCFailure StatusError matches it); it
	// wraps the per-DC reasons. The caller answers 503.
	ErrUnavailable = errors.New("no domain controller available")

	// ErrBusy means the per-DC concurrency limit was hit and the wait for a
	// slot ran out. The caller answers 503 with Retry-After.
	ErrBusy = errors.New("domain controller concurrency limit reached")

	// ErrClosed is returned after Pool.Close, and by a Handshake that was
	// already used or closed.
	ErrClosed = errors.New("closed")
)
