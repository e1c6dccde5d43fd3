package kerberos

import (
	"errors"
	"fmt"
)

// Cause is why a Kerberos token was refused: a metric label and the key
// of the remedy an administrator reads in the log.
type Cause string

const (
	CauseMalformed Cause = "malformed"   // not a Kerberos AP-REQ, or one that does not decode
	CauseNoKey     Cause = "no_key"      // the ticket is for a principal not configured, or the keytab has no key for it
	CauseKVNO      Cause = "kvno"        // the keytab's key for the principal has another version
	CauseDecrypt   Cause = "decrypt"     // the keytab's key of that version does not open the ticket
	CauseEnctype   Cause = "enctype"     // the ticket's encryption type is not accepted
	CauseSkew      Cause = "skew"        // the authenticator's time is outside max_clock_skew
	CauseExpired   Cause = "ticket_time" // the ticket is expired or not yet valid
	CauseRealm     Cause = "realm"       // the client's realm is not a served domain
	CauseReplay    Cause = "replay"      // this authenticator was seen before
	CausePAC       Cause = "pac"         // the PAC is missing pieces or its server signature is wrong
	// CausePACClient: the PAC's client info names another client than
	// the ticket.
	CausePACClient Cause = "pac_client"
	// CauseRealmTrust: the client's realm is served, but neither the
	// keytab's nor in its domain's trusted_realms.
	CauseRealmTrust Cause = "realm_untrusted"
	CauseBusy       Cause = "replay_full" // the replay cache is full: cannot accept safely
	// CausePrincipalBusy: this client principal holds its share of the
	// replay cache (one account making authenticators in bulk).
	CausePrincipalBusy Cause = "replay_principal_full"
	// CauseStore: the shared replay store (Redis) did not answer; the
	// login is refused rather than let in unchecked.
	CauseStore Cause = "replay_store"
)

// Causes lists every Cause, for metrics that want each label present.
var Causes = []Cause{CauseMalformed, CauseNoKey, CauseKVNO, CauseDecrypt, CauseEnctype, CauseSkew,
	CauseExpired, CauseRealm, CauseRealmTrust, CauseReplay, CausePAC, CausePACClient, CauseBusy, CausePrincipalBusy, CauseStore}

// Remedy is what an administrator does about c.
func (c Cause) Remedy() string {
	switch c {
	case CauseNoKey:
		return "register the SPN on the service account (setspn -S HTTP/host account, or samba-tool spn add) and export its key into keytab_file (ktpass, or samba-tool domain exportkeytab --principal); list the name in auth.server_names or service_principals; check with -check"
	case CauseKVNO:
		return "the account's password changed after the keytab was exported: export the keytab again (ktpass /kvno, samba-tool domain exportkeytab); compare with kvno HTTP/host and -check"
	case CauseDecrypt:
		return "the keytab's key does not match the account's: export the keytab again from the account that holds the SPN (setspn -Q HTTP/host shows it)"
	case CauseEnctype:
		return "set the service account's msDS-SupportedEncryptionTypes to AES (24) and export AES keys (ktpass /crypto AES256-SHA1); DES and others are not accepted"
	case CauseSkew, CauseExpired:
		return "synchronise the clocks of client, server and domain controllers (NTP); max_clock_skew sets the tolerance"
	case CauseRealm:
		return "the user's realm is not a served [[domain]] (dns_name): serve that domain, or the client uses NTLM"
	case CauseRealmTrust:
		return "a user of another realm presented a cross-realm ticket for this keytab's service: if that realm's users may log in here, add it to the [[domain]]'s trusted_realms (the domain whose keytab_file holds the service's key)"
	case CausePACClient:
		return "the ticket's PAC was made for another client than the ticket names: a forged or spliced ticket (whoever did it holds the service key: change the service account's password and export the keytab again), or a KDC bug"
	case CauseStore:
		return "the replay cache's Redis (replay.redis_url) did not answer: start it or restore the network to it; Kerberos logins are refused meanwhile (NTLM, login cookies and connections already logged in go on)"
	case CauseReplay:
		return "a token was sent twice: a client or proxy resent it, or someone replays a captured token"
	case CausePAC:
		return "the ticket's PAC is incomplete or not signed with the service key: check that keytab_file belongs to this service account"
	case CauseBusy:
		return "the replay cache is full of live entries (7/8 of its slots, or both of a token's buckets), from many accounts: 917,504 live entries with the default size, about 3,000 logins a second; many clients making a new connection per request, or several accounts flooding together (their principals show in the replay_principal_full lines); lower max_clock_skew, find the clients"
	case CausePrincipalBusy:
		return "the replay cache is under pressure (3/4 of its slots live) and this account holds more than twice the average account's share (only the heaviest accounts are refused): a script opening a new connection per request (keep connections alive), or someone flooding with its ticket: disable the account (tickets it holds stay good until they expire)"
	}
	return "the client sent a token that is not a Kerberos AP-REQ this server can read"
}

// Error is a refused Kerberos token. Its message names the cause and what
// was found, never key material or the ticket.
type Error struct {
	Cause Cause
	// Client is the client principal (user@REALM) when the ticket was
	// opened far enough to read it, else "".
	Client string
	// SPN is the service principal the ticket is for, when known.
	SPN    string
	Detail string
	Err    error
}

func (e *Error) Error() string {
	s := "kerberos: " + string(e.Cause) + ": " + e.Detail
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// CauseOf is err's Cause, or CauseMalformed when err is no *Error.
func CauseOf(err error) Cause {
	var e *Error
	if errors.As(err, &e) {
		return e.Cause
	}
	return CauseMalformed
}

func refuse(c Cause, format string, args ...any) *Error {
	return &Error{Cause: c, Detail: fmt.Sprintf(format, args...)}
}
