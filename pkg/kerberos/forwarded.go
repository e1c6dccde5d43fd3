package kerberos

import (
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/ccache"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// GSSDelegFlag is GSS_C_DELEG_FLAG in the authenticator checksum's flags
// (RFC 4121 4.1.1.1): the client delegates its TGT.
const GSSDelegFlag = 1

// maxForwarded bounds the tickets taken from one KRB-CRED: clients forward
// one TGT.
const maxForwarded = 4

// delegation reads the Deleg field of an RFC 4121 4.1.1 checksum: after
// Lgth (4), Bnd (16) and Flags (4), when Flags has GSS_C_DELEG_FLAG,
// DlgOpt (2, little endian, 1) and Dlgth (2, little endian), then Dlgth
// bytes of KRB-CRED. nil when there is none or the field is malformed.
func delegation(c []byte) []byte {
	if len(c) < 28 || binary.LittleEndian.Uint32(c[20:24])&GSSDelegFlag == 0 {
		return nil
	}
	if binary.LittleEndian.Uint16(c[24:26]) != 1 {
		return nil
	}
	n := int(binary.LittleEndian.Uint16(c[26:28]))
	if n == 0 || len(c) < 28+n {
		return nil
	}
	return c[28 : 28+n]
}

// HasForwarded reports whether the client delegated credentials (a
// KRB-CRED in its GSS checksum), before any of it is opened.
func (l *Login) HasForwarded() bool { return len(l.deleg) > 0 }

// Ticket is the service ticket the client presented, as it came: the
// evidence of S4U2Proxy (package delegation), which the KDC takes when it
// is forwardable.
func (l *Login) Ticket() messages.Ticket { return l.ticket }

// Forwardable reports whether the KDC made the client's ticket
// forwardable: what S4U2Proxy by msDS-AllowedToDelegateTo needs.
func (l *Login) Forwardable() bool { return types.IsFlagSet(&l.flags, flags.Forwardable) }

// TicketPAC opens t, a ticket to a service whose keys kt holds (an
// S4U2Self ticket, say), and returns its PAC, its server signature
// checked; nil without one.
func TicketPAC(t messages.Ticket, kt *keytab.Keytab) (*PAC, error) {
	key, _, err := kt.GetEncryptionKey(t.SName, t.Realm, t.EncPart.KVNO, t.EncPart.EType)
	if err != nil {
		return nil, fmt.Errorf("no key for %s@%s in the keytab: %w", t.SName.PrincipalNameString(), t.Realm, err)
	}
	if err := t.Decrypt(key); err != nil {
		return nil, fmt.Errorf("the ticket to %s does not decrypt with the keytab's key: %w", t.SName.PrincipalNameString(), err)
	}
	return pacOf(t.DecryptedEncPart.AuthorizationData, key, log.New(io.Discard, "", 0))
}

// Forwarded opens the credentials the client delegated: the KRB-CRED of
// its GSS checksum, which MIT, Heimdal and Windows encrypt in the ticket's
// session key (MIT clears the authenticator subkey for it, to match
// Windows; the subkey is tried too), or send unencrypted (etype 0) inside
// the sealed authenticator. Only tickets whose client is the login's are
// taken: the KRB-CRED's names are the client's claims, and an application
// handed REMOTE_USER=jdoe must not act as anyone else. nil, nil when the
// client delegated nothing.
func (l *Login) Forwarded(now time.Time) (creds []ccache.Credential, err error) {
	if len(l.deleg) == 0 {
		return nil, nil
	}
	defer func() {
		// gokrb5's decoders are not fuzzed here; a panic is a malformed
		// message, not a crash.
		if p := recover(); p != nil {
			creds, err = nil, fmt.Errorf("KRB-CRED decoding failed (%v)", p)
		}
	}()
	return openKRBCred(l.deleg, l.sessionKey, l.subKey, l.client, now)
}

// openKRBCred decodes and opens a KRB-CRED (RFC 4120 5.8) for client.
func openKRBCred(b []byte, key, subKey types.EncryptionKey, client ccache.Principal, now time.Time) ([]ccache.Credential, error) {
	var kc messages.KRBCred
	if err := kc.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("KRB-CRED does not decode: %w", err)
	}
	raw, err := rawTickets(b)
	if err != nil {
		return nil, err
	}
	if len(raw) != len(kc.Tickets) || len(raw) == 0 || len(raw) > maxForwarded {
		return nil, fmt.Errorf("KRB-CRED holds %d tickets (%d raw); 1 to %d taken", len(kc.Tickets), len(raw), maxForwarded)
	}
	var part messages.EncKrbCredPart
	switch {
	case kc.EncPart.EType == 0:
		// No encryption: the whole KRB-CRED travels inside the
		// authenticator, itself sealed with the session key.
		if err := part.Unmarshal(kc.EncPart.Cipher); err != nil {
			return nil, fmt.Errorf("KRB-CRED's unencrypted part does not decode: %w", err)
		}
	default:
		plain, err := crypto.DecryptEncPart(kc.EncPart, key, keyusage.KRB_CRED_ENCPART)
		if err != nil && len(subKey.KeyValue) > 0 {
			plain, err = crypto.DecryptEncPart(kc.EncPart, subKey, keyusage.KRB_CRED_ENCPART)
		}
		if err != nil {
			return nil, errors.New("KRB-CRED's part does not decrypt with the session key or the authenticator subkey")
		}
		if err := part.Unmarshal(plain); err != nil {
			return nil, fmt.Errorf("KRB-CRED's part does not decode: %w", err)
		}
	}
	if len(part.TicketInfo) != len(kc.Tickets) {
		return nil, fmt.Errorf("KRB-CRED has %d tickets but %d ticket infos", len(kc.Tickets), len(part.TicketInfo))
	}
	var out []ccache.Credential
	for i, info := range part.TicketInfo {
		t := &kc.Tickets[i]
		c := ccache.Credential{
			Client: client,
			Server: ccache.Principal{Realm: t.Realm, Name: t.SName},
			Key:    info.Key, AuthTime: info.AuthTime, StartTime: info.StartTime, EndTime: info.EndTime, RenewTill: info.RenewTill,
			Flags: ccache.FlagsOf(info.Flags.Bytes), Ticket: raw[i],
		}
		if len(info.PName.NameString) > 0 && !samePrincipal(ccache.Principal{Realm: info.PRealm, Name: info.PName}, client, info.PRealm == "") {
			return nil, fmt.Errorf("KRB-CRED ticket %d is for %s, not the login's %s", i, info.PName.PrincipalNameString(), client)
		}
		if len(info.SName.NameString) > 0 && !samePrincipal(ccache.Principal{Realm: info.SRealm, Name: info.SName}, c.Server, info.SRealm == "") {
			return nil, fmt.Errorf("KRB-CRED ticket %d: its info names server %s, the ticket %s", i, info.SName.PrincipalNameString(), c.Server)
		}
		if len(c.Key.KeyValue) == 0 || c.EndTime.IsZero() {
			return nil, fmt.Errorf("KRB-CRED ticket %d (%s) has no session key or end time", i, c.Server)
		}
		if !c.EndTime.After(now) {
			return nil, fmt.Errorf("KRB-CRED ticket %d (%s) expired at %s", i, c.Server, c.EndTime.UTC().Format(time.RFC3339))
		}
		out = append(out, c)
	}
	return out, nil
}

// samePrincipal compares names and realms as AD does: case-insensitively;
// anyRealm skips the realm (a KrbCredInfo may leave it out).
func samePrincipal(a, b ccache.Principal, anyRealm bool) bool {
	if len(a.Name.NameString) != len(b.Name.NameString) || (!anyRealm && !strings.EqualFold(a.Realm, b.Realm)) {
		return false
	}
	for i := range a.Name.NameString {
		if !strings.EqualFold(a.Name.NameString[i], b.Name.NameString[i]) {
			return false
		}
	}
	return true
}

// rawTickets returns each ticket of a KRB-CRED as the KDC encoded it: the
// application re-sends them byte for byte, and a re-encoding by a
// decoder that drops what it does not know would be another ticket.
func rawTickets(b []byte) ([][]byte, error) {
	var outer asn1.RawValue
	if _, err := asn1.Unmarshal(b, &outer); err != nil {
		return nil, fmt.Errorf("KRB-CRED: %w", err)
	}
	var seq asn1.RawValue
	if _, err := asn1.Unmarshal(outer.Bytes, &seq); err != nil {
		return nil, fmt.Errorf("KRB-CRED: %w", err)
	}
	rest := seq.Bytes
	for len(rest) > 0 {
		var f asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &f); err != nil {
			return nil, fmt.Errorf("KRB-CRED: %w", err)
		}
		if f.Class != asn1.ClassContextSpecific || f.Tag != 2 {
			continue
		}
		// [2] EXPLICIT SEQUENCE OF Ticket
		var list asn1.RawValue
		if _, err := asn1.Unmarshal(f.Bytes, &list); err != nil {
			return nil, fmt.Errorf("KRB-CRED tickets: %w", err)
		}
		var out [][]byte
		for r := list.Bytes; len(r) > 0; {
			var t asn1.RawValue
			if r, err = asn1.Unmarshal(r, &t); err != nil {
				return nil, fmt.Errorf("KRB-CRED ticket: %w", err)
			}
			out = append(out, t.FullBytes)
		}
		return out, nil
	}
	return nil, errors.New("KRB-CRED has no tickets")
}
