// Package kerberos accepts Kerberos logins: an AP-REQ (RFC 4120), raw in
// a GSS-API token or as SPNEGO's mechToken, checked with the service keys
// of a keytab, without asking the KDC anything. It owns the keytabs, what
// an authenticator's replay key is (package replay remembers them), the
// PAC (group SIDs, checked with the service key's server signature, its
// client matched with the ticket's) and the causes of refusal as typed
// errors, so that package authorizer decides with a small interface and
// tests need no KDC.
//
// The cryptography and the message codecs are github.com/jcmturner/gokrb5's;
// the checks around them are here, because gokrb5's service.VerifyAPREQ
// uses a package-level replay cache, indexes the PAC's authorization data
// unchecked, and reports every missing key as one error, while an
// administrator needs to know which of SPN, kvno or enctype is wrong.
package kerberos

import (
	"context"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/ccache"
	"github.com/goauthenntlm/goauthenntlm/pkg/replay"
	fasn1 "github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/adtype"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/pac"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Service is one domain's service principals and their keys.
type Service struct {
	// Realm, when set, is the only service realm taken; else the
	// realms the keytab has keys of.
	Realm string
	// Principals are the accepted service principals without realm,
	// e.g. "HTTP/www.example.test".
	Principals []string
	Keytab     *keytab.Keytab
	// TrustedRealms are the client realms, besides the keytab's own,
	// whose users this service accepts (a trusted domain's users, with
	// cross-realm tickets); compared case-insensitively.
	TrustedRealms []string
}

// Options configure an Acceptor.
type Options struct {
	Services []Service
	// ClientRealms are the realms whose users may log in (the served
	// domains' DNS names); compared case-insensitively.
	ClientRealms []string
	MaxSkew      time.Duration
	// Replay is the replay store (the replaced Acceptor's on a reload, a
	// file's: replay.Open; FromConfig gives the daemon's); nil: a new one
	// in memory (replay.New) of ReplaySlots slots (0: 1<<16, 2 MiB, for
	// tests and tools), which a restart forgets.
	Replay      replay.Store
	ReplaySlots int
	// Now replaces time.Now in tests.
	Now func() time.Time
}

// Acceptor checks Kerberos tokens. It is safe for concurrent use.
type Acceptor struct {
	services []Service
	realms   map[string]bool
	skew     time.Duration
	now      func() time.Time
	replay   replay.Store
	tickets  *ticketCache
	discard  *log.Logger
}

// New returns the Acceptor of o.
func New(o Options) *Acceptor {
	a := &Acceptor{services: o.Services, realms: map[string]bool{}, skew: o.MaxSkew, now: o.Now, discard: log.New(io.Discard, "", 0), tickets: newTicketCache()}
	for _, r := range o.ClientRealms {
		a.realms[strings.ToUpper(r)] = true
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.skew <= 0 {
		a.skew = 5 * time.Minute
	}
	if a.replay = o.Replay; a.replay == nil {
		// The store keeps the acceptor's clock (tests move it).
		slots := o.ReplaySlots
		if slots <= 0 {
			slots = 1 << 16
		}
		a.replay = replay.New(replay.Options{Slots: slots, Now: func() time.Time { return a.now() }})
	}
	return a
}

// Replay is a's replay store, for the Acceptor that replaces it.
func (a *Acceptor) Replay() replay.Store { return a.replay }

// Login is an accepted Kerberos token.
type Login struct {
	// User is the client principal's name (one component, as the KDC
	// wrote it in the ticket) and Realm its realm, upper case.
	User, Realm string
	// SPN is the service principal the ticket is for, name@REALM.
	SPN     string
	EncType int32
	KVNO    int
	// PAC is the ticket's PAC, its server signature checked; nil when the
	// KDC put none (MIT KDCs without a PAC plugin).
	PAC *PAC
	// Bindings is the channel-binding hash (RFC 4121 section 4.1.1.2:
	// MD5 of gss_channel_bindings_struct) in the authenticator's GSS
	// checksum; all zero when the client bound nothing, nil when the
	// authenticator has no GSS checksum. Extended Protection compares it.
	Bindings []byte
	// GSSFlags are the GSS flags the client asked for (GSS_C_MUTUAL_FLAG 2,
	// ...), 0 without a GSS checksum.
	GSSFlags uint32
	// Mutual reports that the client asked for mutual authentication: it
	// expects the AP-REP of APRep.
	Mutual bool
	// Expires is the ticket's end time.
	Expires time.Time

	oid        asn1.ObjectIdentifier // the mech OID the client used (one of IsKerberosOID's)
	sessionKey types.EncryptionKey
	repKeys    *sealKeys           // the session key's for the AP-REP; nil: gokrb5's path
	subKey     types.EncryptionKey // the authenticator's, if any
	client     ccache.Principal    // the ticket's client, as the KDC wrote it
	deleg      []byte              // the KRB-CRED the client delegated, unopened
	ticket     messages.Ticket     // as received, its decrypted part left out
	flags      fasn1.BitString     // the ticket's flags
	ctime      time.Time
	cusec      int
}

// PAC is what package authorizer needs of a PAC.
type PAC struct {
	// Account is the sAMAccountName (EffectiveName); Domain the NetBIOS
	// logon domain.
	Account, Domain string
	// UserSID is the account's SID, GroupSIDs every group SID the KDC put
	// in: the logon domain's group RIDs, the extra SIDs (other domains'
	// and universal groups, S-1-18 assertions) and the resource groups.
	UserSID   string
	GroupSIDs []string

	clientName string // PAC_CLIENT_INFO's
	// UserAccountControl are the account's flags as MS-SAMR 2.2.1.12
	// spells them (USER_NOT_DELEGATED 0x4000).
	UserAccountControl uint32
}

// userNotDelegated is MS-SAMR's USER_NOT_DELEGATED: "account is sensitive
// and cannot be delegated".
const userNotDelegated = 0x4000

// protectedUsersRID is the Protected Users group's RID (MS-DTYP 2.4.2.4),
// whose members' tickets are never delegated.
const protectedUsersRID = "-525"

// NotDelegable reports whether the KDC marked the account as one whose
// tickets are not delegated: "sensitive and cannot be delegated", or a
// member of Protected Users.
func (p *PAC) NotDelegable() bool {
	if p.UserAccountControl&userNotDelegated != 0 {
		return true
	}
	for _, s := range p.GroupSIDs {
		if strings.HasPrefix(s, "S-1-5-21-") && strings.HasSuffix(s, protectedUsersRID) {
			return true
		}
	}
	return false
}

// EncTypeRC4 is arcfour-hmac, accepted for old domains with a warning.
const EncTypeRC4 = etypeID.RC4_HMAC

// EncTypeName is the name klist -e gives etype e.
func EncTypeName(e int32) string {
	switch e {
	case etypeID.AES128_CTS_HMAC_SHA1_96:
		return "aes128-cts-hmac-sha1-96"
	case etypeID.AES256_CTS_HMAC_SHA1_96:
		return "aes256-cts-hmac-sha1-96"
	case etypeID.AES128_CTS_HMAC_SHA256_128:
		return "aes128-cts-hmac-sha256-128"
	case etypeID.AES256_CTS_HMAC_SHA384_192:
		return "aes256-cts-hmac-sha384-192"
	case etypeID.RC4_HMAC:
		return "arcfour-hmac"
	case etypeID.DES3_CBC_SHA1_KD:
		return "des3-cbc-sha1"
	case etypeID.DES_CBC_CRC, etypeID.DES_CBC_MD5, etypeID.DES_CBC_MD4:
		return "des-cbc"
	}
	return "etype-" + strconv.Itoa(int(e))
}

// accepted reports whether tickets of etype e are taken: AES, and RC4 for
// old domains (the caller warns about it). DES and DES3 are broken or
// gone from AD.
func accepted(e int32) bool {
	switch e {
	case etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96,
		etypeID.AES128_CTS_HMAC_SHA256_128, etypeID.AES256_CTS_HMAC_SHA384_192, etypeID.RC4_HMAC:
		return true
	}
	return false
}

// Accept checks tok, a Kerberos GSS-API initial context token (0x60 with
// a Kerberos OID and an AP-REQ), and returns its login or an *Error.
func (a *Acceptor) Accept(tok []byte) (l *Login, err error) {
	defer func() {
		// gokrb5's ASN.1 and NDR decoders are not fuzzed here; a panic in
		// them is a malformed token, not a crash of the daemon.
		if p := recover(); p != nil {
			l, err = nil, refuse(CauseMalformed, "token decoding failed (%v)", p)
		}
	}()
	return a.accept(tok)
}

func (a *Acceptor) accept(tok []byte) (*Login, error) {
	oid, raw, err := splitAPReq(tok)
	if err != nil {
		return nil, &Error{Cause: CauseMalformed, Detail: "not a Kerberos AP-REQ", Err: err}
	}
	var req messages.APReq
	if !decodeAPReq(raw, &req) {
		// Not strict DER: gokrb5 decides, as it always did.
		if err := req.Unmarshal(raw); err != nil {
			return nil, &Error{Cause: CauseMalformed, Detail: "AP-REQ does not decode", Err: err}
		}
	}
	if types.IsFlagSet(&req.APOptions, flags.APOptionUseSessionKey) {
		return nil, refuse(CauseMalformed, "user-to-user tickets (use-session-key) are not accepted")
	}
	t := &req.Ticket
	spn := t.SName.PrincipalNameString() + "@" + t.Realm
	svc, name := a.service(t.SName, t.Realm)
	if svc == nil {
		return nil, &Error{Cause: CauseNoKey, SPN: spn, Detail: fmt.Sprintf("the ticket is for %s, which is not a configured service principal", spn)}
	}
	key, kvno, rerr := a.key(svc, name, t.Realm, t.EncPart.KVNO, t.EncPart.EType)
	if rerr != nil {
		rerr.SPN = spn
		return nil, rerr
	}
	if !sealedLenOK(t.EncPart.Cipher, key.KeyType) {
		return nil, &Error{Cause: CauseMalformed, SPN: spn, Detail: "the ticket's encrypted part is shorter than its confounder and checksum"}
	}
	opened, err := a.open(t, key)
	if err != nil {
		return nil, &Error{Cause: CauseDecrypt, SPN: spn, Detail: fmt.Sprintf("the keytab's %s key kvno %d for %s does not decrypt the ticket", EncTypeName(key.KeyType), kvno, spn)}
	}
	enc := &opened.enc
	client := enc.CName.PrincipalNameString() + "@" + enc.CRealm
	fail := func(c Cause, format string, args ...any) (*Login, error) {
		return nil, &Error{Cause: c, SPN: spn, Client: client, Detail: fmt.Sprintf(format, args...)}
	}
	now := a.now().UTC()
	if enc.StartTime.Sub(now) > a.skew || types.IsFlagSet(&enc.Flags, flags.Invalid) {
		return fail(CauseExpired, "the ticket is not valid yet (starts %s, now %s)", enc.StartTime.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	if now.Sub(enc.EndTime) > a.skew {
		return fail(CauseExpired, "the ticket expired at %s (now %s)", enc.EndTime.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	if err := decryptAuthenticator(&req, opened); err != nil {
		return fail(CauseMalformed, "the authenticator does not decrypt with the ticket's session key")
	}
	auth := &req.Authenticator
	if !auth.CName.Equal(enc.CName) || !strings.EqualFold(auth.CRealm, enc.CRealm) {
		return fail(CauseMalformed, "the authenticator's client is not the ticket's")
	}
	ct := auth.CTime.Add(time.Duration(auth.Cusec) * time.Microsecond)
	if d := now.Sub(ct); d > a.skew {
		return fail(CauseSkew, "the client's clock is %s behind the server's (max_clock_skew %s)", d.Round(time.Second), a.skew)
	} else if -d > a.skew {
		return fail(CauseSkew, "the client's clock is %s ahead of the server's (max_clock_skew %s)", (-d).Round(time.Second), a.skew)
	}
	if !a.realms[strings.ToUpper(enc.CRealm)] {
		return fail(CauseRealm, "the client's realm %s is not a served domain's dns_name", enc.CRealm)
	}
	// The ticket's realm is the keytab's (its key opened the ticket). A
	// client of another realm came through a trust the KDC followed; the
	// configuration says which trusts this service honours, not the
	// list of served domains (any of which would otherwise vouch for any
	// keytab's users).
	if !strings.EqualFold(enc.CRealm, t.Realm) && !slices.ContainsFunc(svc.TrustedRealms, func(r string) bool { return strings.EqualFold(r, enc.CRealm) }) {
		return fail(CauseRealmTrust, "the client's realm %s is neither the keytab's (%s) nor in trusted_realms", enc.CRealm, strings.ToUpper(t.Realm))
	}
	if len(enc.CName.NameString) != 1 || enc.CName.NameString[0] == "" {
		return fail(CauseMalformed, "the client principal is not a user principal (one name component)")
	}
	if opened.pacErr != nil {
		return fail(CausePAC, "%v", opened.pacErr)
	}
	pc := opened.pac
	// The PAC names the client it was made for (PAC_CLIENT_INFO, MS-PAC
	// 2.7): a PAC moved into a ticket of another client, by whoever holds
	// the service key or a KDC bug, must not lend that client its
	// account and groups. MIT and Heimdal refuse the same.
	if pc != nil && !strings.EqualFold(pc.clientName, enc.CName.NameString[0]) {
		return fail(CausePACClient, "the PAC was made for %q, the ticket is %s's", pc.clientName, client)
	}
	// Last, after every cryptographic check, so that garbage cannot fill
	// the store: an authenticator is good once. Its key is what the
	// client's key sealed, the authenticator's ciphertext, which nobody
	// without the session key can make another of; never the ticket's
	// cleartext (server name, realm), which anyone can respell in another
	// case and which the key lookup matches in any case.
	rkey := replay.Key(sha256.Sum256(req.EncryptedAuthenticator.Cipher))
	// The account it counts against: its SID when there is a PAC, else
	// the principal's name in one case (AD matches names in any case, so
	// jdoe and JDOE are one account and must not count apart).
	who := strings.ToLower(client)
	if pc != nil && pc.UserSID != "" {
		who = pc.UserSID
	}
	if err := a.replay.Add(context.Background(), rkey, who, ct.Add(a.skew+replayMargin)); err != nil {
		var busy *replay.BusyError
		switch {
		case errors.Is(err, replay.ErrReplay):
			return fail(CauseReplay, "this authenticator (time %s) was accepted before", ct.Format(time.RFC3339Nano))
		case errors.Is(err, replay.ErrUnavailable):
			return fail(CauseStore, "%v", err)
		case errors.As(err, &busy) && busy.Heavy && busy.Live == 0:
			return fail(CausePrincipalBusy, "%s: %v", client, busy)
		case errors.As(err, &busy) && busy.Heavy:
			return fail(CausePrincipalBusy, "the replay cache is under pressure (%d live entries) and %s holds %d of them, more than twice the average account", busy.Live, client, busy.Held)
		}
		return fail(CauseBusy, "%v", err)
	}
	l := &Login{
		User: enc.CName.NameString[0], Realm: strings.ToUpper(enc.CRealm), SPN: spn,
		EncType: t.EncPart.EType, KVNO: kvno, PAC: pc, Expires: enc.EndTime,
		Mutual:     types.IsFlagSet(&req.APOptions, flags.APOptionMutualRequired),
		sessionKey: enc.Key, repKeys: opened.rep, subKey: auth.SubKey, ctime: auth.CTime, cusec: auth.Cusec,
		client: ccache.Principal{Realm: enc.CRealm, Name: enc.CName},
		ticket: messages.Ticket{TktVNO: t.TktVNO, Realm: t.Realm, SName: t.SName, EncPart: t.EncPart}, flags: enc.Flags,
	}
	l.oid = oid
	if auth.Cksum.CksumType == gssChecksumType && len(auth.Cksum.Checksum) >= 24 {
		c := auth.Cksum.Checksum
		if binary.LittleEndian.Uint32(c) == 16 {
			l.Bindings = append([]byte(nil), c[4:20]...)
			l.GSSFlags = binary.LittleEndian.Uint32(c[20:24])
			l.deleg = delegation(c)
		}
	}
	return l, nil
}

// replayMargin is how much longer than the skew window an authenticator
// is remembered. The store decides expiry by its own reading of the clock,
// taken after the skew check's (after the ticket and authenticator are
// opened and the store's lock is had), and a store shared by several nodes
// by another machine's clock: kept only until ctime+max_clock_skew, an
// entry could be gone while the skew check still let its replay in. A few
// seconds cover the gap and the nodes' clock differences for 2% more live
// entries at the default skew.
const replayMargin = 5 * time.Second

// decryptAuthenticator decrypts req's authenticator with the session
// key's derived keys when o has them, else as gokrb5 does.
func decryptAuthenticator(req *messages.APReq, o *openTicket) error {
	if o.auth == nil || len(req.Ticket.SName.NameString) == 0 || req.Ticket.SName.NameString[0] == "krbtgt" {
		// gokrb5 picks the usage (a TGS-REQ's for krbtgt). sealKeys.open
		// checks the length itself.
		if !sealedLenOK(req.EncryptedAuthenticator.Cipher, o.enc.Key.KeyType) {
			return errors.New("the authenticator is shorter than its confounder and checksum")
		}
		return req.DecryptAuthenticator(o.enc.Key)
	}
	b, err := o.auth.open(req.EncryptedAuthenticator.Cipher)
	if err != nil {
		return err
	}
	if decodeAuthenticator(b, &req.Authenticator) {
		return nil
	}
	return req.Authenticator.Unmarshal(b)
}

// sealedLenOK reports whether ct is long enough to hold an enctype's
// confounder and checksum. gokrb5's decryption slices without checking
// (a shorter ticket or authenticator panicked in it: Accept's recover made
// that a refusal, but a panic is no way to refuse).
func sealedLenOK(ct []byte, etype int32) bool {
	e, err := crypto.GetEtype(etype)
	if err != nil {
		return true // no such enctype: the decryption refuses it
	}
	return len(ct) >= e.GetConfounderByteSize()+e.GetHMACBitLength()/8
}

// gssChecksumType is RFC 4121's checksum type for the GSS authenticator
// checksum.
const gssChecksumType = 0x8003

// service is the Service and configured principal name the ticket's
// server name and realm match; case-insensitive, as AD compares SPNs. Of
// several, the first whose keytab holds the principal in that realm.
func (a *Acceptor) service(sname types.PrincipalName, realm string) (*Service, string) {
	want := sname.PrincipalNameString()
	var first *Service
	var firstName string
	for i := range a.services {
		s := &a.services[i]
		if s.Realm != "" && !strings.EqualFold(s.Realm, realm) {
			continue
		}
		for _, p := range s.Principals {
			if !strings.EqualFold(p, want) {
				continue
			}
			if hasPrincipal(s.Keytab, p, realm) {
				return s, p
			}
			if first == nil {
				first, firstName = s, p
			}
		}
	}
	return first, firstName
}

func hasPrincipal(kt *keytab.Keytab, name, realm string) bool {
	for _, e := range kt.Entries {
		if strings.EqualFold(e.Principal.Realm, realm) && strings.EqualFold(strings.Join(e.Principal.Components, "/"), name) {
			return true
		}
	}
	return false
}

// key finds the key for principal name in svc's keytab, telling a missing
// principal, a missing enctype and another kvno apart.
func (a *Acceptor) key(svc *Service, name, realm string, kvno int, etype int32) (types.EncryptionKey, int, *Error) {
	if !accepted(etype) {
		return types.EncryptionKey{}, 0, refuse(CauseEnctype, "the ticket is encrypted with %s, which is not accepted", EncTypeName(etype))
	}
	var kvnos, etypes []string
	var best *types.EncryptionKey
	var bestKVNO int
	var bestTime time.Time
	for i := range svc.Keytab.Entries {
		e := &svc.Keytab.Entries[i]
		if !strings.EqualFold(e.Principal.Realm, realm) || !strings.EqualFold(strings.Join(e.Principal.Components, "/"), name) {
			continue
		}
		if e.Key.KeyType != etype {
			etypes = append(etypes, EncTypeName(e.Key.KeyType))
			continue
		}
		if kvno != 0 && int(e.KVNO) != kvno {
			kvnos = append(kvnos, strconv.Itoa(int(e.KVNO)))
			continue
		}
		if best == nil || e.Timestamp.After(bestTime) {
			best, bestKVNO, bestTime = &e.Key, int(e.KVNO), e.Timestamp
		}
	}
	switch {
	case best != nil:
		return *best, bestKVNO, nil
	case len(kvnos) > 0:
		return types.EncryptionKey{}, 0, refuse(CauseKVNO, "the ticket is for key version %d of %s@%s; the keytab has version(s) %s", kvno, name, realm, strings.Join(kvnos, ","))
	case len(etypes) > 0:
		return types.EncryptionKey{}, 0, refuse(CauseEnctype, "the ticket is encrypted with %s; the keytab has %s@%s only as %s", EncTypeName(etype), name, realm, strings.Join(etypes, ","))
	}
	return types.EncryptionKey{}, 0, refuse(CauseNoKey, "the keytab has no key for %s@%s", name, realm)
}

// pac finds the ticket's PAC (AD-IF-RELEVANT holding AD-WIN2K-PAC) and
// checks its server signature with the service key.
func pacOf(ad types.AuthorizationData, key types.EncryptionKey, discard *log.Logger) (*PAC, error) {
	for _, e := range ad {
		if e.ADType != adtype.ADIfRelevant {
			continue
		}
		var inner types.AuthorizationData
		if err := inner.Unmarshal(e.ADData); err != nil {
			continue
		}
		for _, ie := range inner {
			if ie.ADType != adtype.ADWin2KPAC {
				continue
			}
			var p pac.PACType
			if err := p.Unmarshal(ie.ADData); err != nil {
				return nil, fmt.Errorf("the PAC does not decode: %w", err)
			}
			// Checks the server signature with key (and that the
			// validation info, both signatures and the client info are
			// there).
			if err := p.ProcessPACInfoBuffers(key, discard); err != nil {
				return nil, fmt.Errorf("PAC: %w", err)
			}
			k := p.KerbValidationInfo
			out := &PAC{Account: k.EffectiveName.Value, Domain: k.LogonDomainName.Value, GroupSIDs: k.GetGroupMembershipSIDs(), UserAccountControl: k.UserAccountControl, clientName: p.ClientInfo.Name}
			out.UserSID = fmt.Sprintf("%s-%d", k.LogonDomainID.String(), k.UserID)
			return out, nil
		}
	}
	return nil, nil
}
