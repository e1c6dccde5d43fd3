package kdc

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/patype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Cause is why the KDC did not give a ticket: a metric label, and what the
// caller decides the HTTP status and the log level by.
type Cause string

const (
	// CauseCredentials: wrong password or no such user
	// (KDC_ERR_PREAUTH_FAILED, KDC_ERR_C_PRINCIPAL_UNKNOWN). One cause for
	// both, as the answer to the client must not tell them apart.
	CauseCredentials Cause = "wrong_credentials"
	// CauseDisabled, CauseLocked, CauseAccountExpired: KDC_ERR_CLIENT_REVOKED
	// with the NTSTATUS AD puts in its e-data; CauseRevoked when it names
	// none we know, CauseRestricted for logon hours and workstations.
	CauseDisabled       Cause = "account_disabled"
	CauseLocked         Cause = "account_locked"
	CauseAccountExpired Cause = "account_expired"
	CauseRestricted     Cause = "logon_restricted"
	CauseRevoked        Cause = "account_revoked"
	// CausePasswordExpired, CauseMustChange: KDC_ERR_KEY_EXPIRED, told
	// apart by the NTSTATUS.
	CausePasswordExpired Cause = "password_expired"
	CauseMustChange      Cause = "password_must_change"
	// CauseSkew: KRB_AP_ERR_SKEW, or a reply whose time is too far from ours.
	CauseSkew Cause = "clock_skew"
	// CauseEnctype: the account has no AES key (KDC_ERR_ETYPE_NOSUPP).
	CauseEnctype Cause = "enctype"
	// CausePolicy: KDC_ERR_POLICY (e.g. an account in Protected Users,
	// or an AS-REQ naming a service principal as the client).
	CausePolicy Cause = "kdc_policy"
	// CauseWrongRealm: the KDC sent the client to another realm.
	CauseWrongRealm Cause = "wrong_realm"
	// CauseService: the KDC does not know the service principal asked
	// for (KDC_ERR_S_PRINCIPAL_UNKNOWN): our configuration.
	CauseService Cause = "service_unknown"
	// CauseUnreachable: no KDC answered (down, filtered, or too slow).
	CauseUnreachable Cause = "kdc_unreachable"
	// CauseProtocol: any other KRB-ERROR, or a reply that does not decode
	// or does not check (wrong nonce, names, or not decryptable).
	CauseProtocol Cause = "kdc_error"
)

// Causes lists every Cause, for metrics that want each label present.
var Causes = []Cause{CauseCredentials, CauseDisabled, CauseLocked, CauseAccountExpired, CauseRestricted, CauseRevoked,
	CausePasswordExpired, CauseMustChange, CauseSkew, CauseEnctype, CausePolicy, CauseWrongRealm, CauseService,
	CauseUnreachable, CauseProtocol}

// Remedy is what an administrator (or the user) does about c.
func (c Cause) Remedy() string {
	switch c {
	case CauseCredentials:
		return "the user typed a wrong password or a name the domain does not know"
	case CauseDisabled:
		return "the account is disabled: enable it (Active Directory Users and Computers, samba-tool user enable)"
	case CauseLocked:
		return "the account is locked out after too many wrong passwords: wait for the lockout to end or unlock it (samba-tool user unlock); find the client still sending an old password"
	case CauseAccountExpired:
		return "the account has expired (accountExpires): extend it (samba-tool user setexpiry)"
	case CauseRestricted:
		return "the account may not log on now or from here (logon hours, logon workstations)"
	case CauseRevoked:
		return "the KDC refused the account (disabled, locked or expired; it did not say which): check the account"
	case CausePasswordExpired:
		return "the user's password has expired: the user changes it (Ctrl-Alt-Del, kpasswd) or an administrator resets it"
	case CauseMustChange:
		return "the user must change the password at next logon: the user changes it (kpasswd) before logging in here"
	case CauseSkew:
		return "synchronise the clocks of this server and the domain controllers (NTP: chrony or systemd-timesyncd against the DCs); Kerberos allows max_clock_skew (5 minutes)"
	case CauseEnctype:
		return "the account has no AES key: change its password once on a DC of Windows 2008 or later (AES keys are made at a password change), or set msDS-SupportedEncryptionTypes"
	case CausePolicy:
		return "the KDC's policy refuses this account here (Protected Users, authentication policy silos)"
	case CauseWrongRealm:
		return "the user belongs to another realm: serve that domain, or the user logs in with an account of this one"
	case CauseService:
		return "the KDC does not know our service principal: register it (setspn -S HTTP/host account, samba-tool spn add) and check service_principals"
	case CauseUnreachable:
		return "no KDC answered on port 88: check that the domain's dcs run their KDC and that TCP 88 is open from this server"
	}
	return "the KDC refused the request or sent a reply that does not check: see the detail; a reply that does not decrypt with the password's key may come from something that is not the KDC"
}

// Error is a refused or failed KDC exchange. Its message names the cause,
// the KDC and what it said, never a password, key or ticket.
type Error struct {
	Cause Cause
	// Code is the KRB-ERROR's error code, 0 when the KDC sent none.
	Code int32
	// NTStatus is the NTSTATUS an AD KDC put in the KRB-ERROR's e-data, 0
	// when none.
	NTStatus uint32
	// KDC is the address that answered, "" when none did.
	KDC    string
	Detail string
	Err    error

	edata []byte // the KRB-ERROR's e-data (ETYPE-INFO2 for pre-authentication)
}

func (e *Error) Error() string {
	s := "kdc: " + string(e.Cause)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Code != 0 {
		s += fmt.Sprintf(" (%s", errorcode.Lookup(e.Code))
		if e.NTStatus != 0 {
			s += fmt.Sprintf(", NTSTATUS %#08x", e.NTStatus)
		}
		s += ")"
	}
	if e.KDC != "" {
		s += " from " + e.KDC
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// CauseOf is err's Cause, or CauseProtocol when err is no *Error.
func CauseOf(err error) Cause {
	var e *Error
	if errors.As(err, &e) {
		return e.Cause
	}
	return CauseProtocol
}

// NTSTATUS values AD KDCs put in KRB-ERROR e-data (MS-ERREF 2.3.1).
const (
	StatusAccountDisabled    uint32 = 0xC0000072
	StatusAccountLockedOut   uint32 = 0xC0000234
	StatusAccountExpired     uint32 = 0xC0000193
	StatusInvalidLogonHours  uint32 = 0xC000006F
	StatusInvalidWorkstation uint32 = 0xC0000070
	StatusPasswordExpired    uint32 = 0xC0000071
	StatusPasswordMustChange uint32 = 0xC0000224
	StatusWrongPassword      uint32 = 0xC000006A
	StatusNoSuchUser         uint32 = 0xC0000064
)

// KRB-ERROR codes not in gokrb5's list.
const codeSvcUnavailable = errorcode.KDC_ERR_SVC_UNAVAILABLE

// fromKRBError is the *Error of a KDC's KRB-ERROR.
func fromKRBError(k messages.KRBError, kdc string) *Error {
	e := &Error{Code: k.ErrorCode, KDC: kdc, NTStatus: ntStatus(k.EData), Detail: k.EText, edata: k.EData}
	switch k.ErrorCode {
	case errorcode.KDC_ERR_PREAUTH_FAILED, errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN:
		e.Cause = CauseCredentials
	case errorcode.KDC_ERR_CLIENT_REVOKED:
		switch e.NTStatus {
		case StatusAccountDisabled:
			e.Cause = CauseDisabled
		case StatusAccountLockedOut:
			e.Cause = CauseLocked
		case StatusAccountExpired:
			e.Cause = CauseAccountExpired
		case StatusInvalidLogonHours, StatusInvalidWorkstation:
			e.Cause = CauseRestricted
		case 0:
			// Samba's KDC (4.17) names disabled and expired accounts but
			// refuses a locked-out one with no NTSTATUS (Heimdal's
			// locked_out check); Windows names all three.
			e.Cause = CauseLocked
		default:
			e.Cause = CauseRevoked
		}
	case errorcode.KDC_ERR_KEY_EXPIRED:
		e.Cause = CausePasswordExpired
		if e.NTStatus == StatusPasswordMustChange {
			e.Cause = CauseMustChange
		}
	case errorcode.KRB_AP_ERR_SKEW:
		e.Cause = CauseSkew
	case errorcode.KDC_ERR_ETYPE_NOSUPP:
		e.Cause = CauseEnctype
	case errorcode.KDC_ERR_POLICY:
		e.Cause = CausePolicy
	case errorcode.KDC_ERR_WRONG_REALM:
		e.Cause = CauseWrongRealm
	case errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN:
		e.Cause = CauseService
	case errorcode.KDC_ERR_PREAUTH_REQUIRED:
		// Only an error when it comes after pre-authentication was sent.
		e.Cause = CauseProtocol
	default:
		e.Cause = CauseProtocol
	}
	return e
}

// kerbErrorData is MS-KILE 2.2.1 KERB-ERROR-DATA.
type kerbErrorData struct {
	DataType  int32  `asn1:"explicit,tag:1"`
	DataValue []byte `asn1:"explicit,optional,tag:2"`
}

// kerbErrTypeExtended is KERB_ERR_TYPE_EXTENDED: DataValue is KERB-EXT-ERROR.
const kerbErrTypeExtended = 3

// ntStatus reads the NTSTATUS of an AD KDC's e-data: a KERB-EXT-ERROR
// (status, reserved, flags: 12 bytes, little-endian) in either of the two
// wrappers seen: MS-KILE's KERB-ERROR-DATA, or a METHOD-DATA whose
// PA-PW-SALT entry holds it (Windows and Samba for AS errors). 0 when
// there is none.
func ntStatus(edata []byte) uint32 {
	if len(edata) == 0 {
		return 0
	}
	var pas types.PADataSequence
	if err := pas.Unmarshal(edata); err == nil {
		for _, pa := range pas {
			if pa.PADataType == patype.PA_PW_SALT && len(pa.PADataValue) == 12 {
				return binary.LittleEndian.Uint32(pa.PADataValue)
			}
		}
	}
	var ed kerbErrorData
	if _, err := asn1.Unmarshal(edata, &ed); err == nil && ed.DataType == kerbErrTypeExtended && len(ed.DataValue) >= 4 {
		return binary.LittleEndian.Uint32(ed.DataValue)
	}
	return 0
}
