// Package krbtest builds Kerberos service tickets and GSS-API AP-REQ
// tokens in-process, as a KDC and a client would, for tests without a KDC.
// The tickets carry no PAC.
package krbtest

import (
	"encoding/asn1"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/spnego"
	fasn1 "github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Password is the service account's password Keytab derives keys from.
const Password = "svc-http-Passw0rd"

// Keytab returns a keytab for principal (e.g. "HTTP/www.example.test") in
// realm with one key of each etype, at kvno.
func Keytab(principal, realm string, kvno uint8, etypes ...int32) *keytab.Keytab {
	if len(etypes) == 0 {
		etypes = []int32{etypeID.AES256_CTS_HMAC_SHA1_96}
	}
	kt := keytab.New()
	for _, e := range etypes {
		if err := kt.AddEntry(principal, realm, Password, time.Unix(1700000000, 0), kvno, e); err != nil {
			panic(err)
		}
	}
	return kt
}

// Ticket describes the token Token builds. Zero fields take defaults.
type Ticket struct {
	Client, ClientRealm string // "jdoe", "EXAMPLE.TEST"
	SPN, Realm          string // "HTTP/www.example.test", "EXAMPLE.TEST"
	EncType             int32  // default AES256
	KVNO                int    // default 2
	// Keytab holds the key the "KDC" encrypts with.
	Keytab *keytab.Keytab
	// Now is the client's clock for the authenticator; the ticket is
	// valid from Now-1m to Now+10h.
	Now    time.Time
	Mutual bool
	// Bindings is the channel-binding hash the client puts in its GSS
	// checksum (MD5 of gss_channel_bindings_struct); zero for none.
	Bindings [16]byte
	// OID frames the token: Kerberos (default) or Microsoft's.
	OID asn1.ObjectIdentifier
	// Forward, when set, delegates a TGT in the GSS checksum (RFC 4121
	// 4.1.1: GSS_C_DELEG_FLAG and a KRB-CRED).
	Forward *Forward
}

// Forward is the TGT a client delegates with Token.
type Forward struct {
	// KDCKeytab holds the krbtgt/REALM key the TGT is sealed with (see
	// Keytab).
	KDCKeytab *keytab.Keytab
	// Client is the client the KRB-CRED's info names; default the
	// ticket's client. The TGT itself is always the ticket's client's.
	Client string
	// Cleartext sends the KRB-CRED's part unencrypted (etype 0), as some
	// clients do inside the sealed authenticator; else it is encrypted in
	// the ticket's session key, as MIT and Windows do.
	Cleartext bool
	// Expired makes the forwarded TGT one that ended an hour ago.
	Expired bool
}

// Token returns a GSS-API initial context token holding an AP-REQ for t.
func Token(t Ticket) ([]byte, error) {
	toks, err := Tokens(t, 1)
	if err != nil {
		return nil, err
	}
	return toks[0], nil
}

// Tokens returns n tokens for ONE ticket made from t, as a browser sends
// them on n new connections: each with an authenticator of its own time
// (t.Now plus i microseconds).
func Tokens(t Ticket, n int) ([][]byte, error) {
	if t.Client == "" {
		t.Client = "jdoe"
	}
	if t.Realm == "" {
		t.Realm = "EXAMPLE.TEST"
	}
	if t.ClientRealm == "" {
		t.ClientRealm = t.Realm
	}
	if t.SPN == "" {
		t.SPN = "HTTP/www.example.test"
	}
	if t.EncType == 0 {
		t.EncType = etypeID.AES256_CTS_HMAC_SHA1_96
	}
	if t.KVNO == 0 {
		t.KVNO = 2
	}
	if t.Now.IsZero() {
		t.Now = time.Now()
	}
	if t.OID == nil {
		t.OID = spnego.OIDKerberos
	}
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, t.Client)
	sname := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, t.SPN)
	tf := types.NewKrbFlags()
	types.SetFlag(&tf, flags.Forwardable)
	tkt, skey, err := messages.NewTicket(cname, t.ClientRealm, sname, t.Realm, tf, t.Keytab, t.EncType, t.KVNO,
		t.Now.Add(-time.Minute), t.Now.Add(-time.Minute), t.Now.Add(10*time.Hour), t.Now.Add(10*time.Hour))
	if err != nil {
		return nil, err
	}
	toks := make([][]byte, n)
	for i := range toks {
		now := t.Now.Add(time.Duration(i) * time.Microsecond)
		if toks[i], err = token(t, tkt, skey, cname, now); err != nil {
			return nil, err
		}
	}
	return toks, nil
}

func token(t Ticket, tkt messages.Ticket, skey types.EncryptionKey, cname types.PrincipalName, now time.Time) ([]byte, error) {
	auth, err := types.NewAuthenticator(t.ClientRealm, cname)
	if err != nil {
		return nil, err
	}
	auth.CTime = now.UTC().Truncate(time.Second)
	auth.Cusec = int(now.Nanosecond() / 1000)
	// The GSS checksum (RFC 4121 4.1.1): the bindings, mutual and integrity
	// flags.
	cksum := []byte{16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x22, 0, 0, 0}
	copy(cksum[4:20], t.Bindings[:])
	if t.Forward != nil {
		cred, err := krbCred(t, cname, skey)
		if err != nil {
			return nil, err
		}
		cksum[20] |= 1 // GSS_C_DELEG_FLAG
		cksum = append(cksum, 1, 0, byte(len(cred)), byte(len(cred)>>8))
		cksum = append(cksum, cred...)
	}
	auth.Cksum = types.Checksum{CksumType: 0x8003, Checksum: cksum}
	req, err := messages.NewAPReq(tkt, skey, auth)
	if err != nil {
		return nil, err
	}
	if t.Mutual {
		types.SetFlag(&req.APOptions, flags.APOptionMutualRequired)
	}
	b, err := req.Marshal()
	if err != nil {
		return nil, err
	}
	o, _ := asn1.Marshal(t.OID)
	body := append(append(o, 1, 0), b...)
	return asn1.Marshal(asn1.RawValue{Class: asn1.ClassApplication, Tag: 0, IsCompound: true, Bytes: body})
}

// Authenticator returns the sealed authenticator of a token Token built
// (nil for anything else): what makes a token a use of its ticket, for
// tests that check no token is accepted twice.
func Authenticator(tok []byte) []byte {
	var outer asn1.RawValue
	if _, err := asn1.Unmarshal(tok, &outer); err != nil {
		return nil
	}
	var oid asn1.RawValue
	rest, err := asn1.Unmarshal(outer.Bytes, &oid)
	if err != nil || len(rest) < 2 {
		return nil
	}
	var req messages.APReq
	if err := req.Unmarshal(rest[2:]); err != nil {
		return nil
	}
	return req.EncryptedAuthenticator.Cipher
}

// krbCred is the KRB-CRED (RFC 4120 5.8.1) delegating a TGT of t's
// client, encrypted in key (the service ticket's session key).
func krbCred(t Ticket, cname types.PrincipalName, key types.EncryptionKey) ([]byte, error) {
	f := t.Forward
	tgtName := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "krbtgt/"+t.ClientRealm)
	tf := types.NewKrbFlags()
	types.SetFlag(&tf, flags.Forwardable)
	types.SetFlag(&tf, flags.Forwarded)
	end := t.Now.Add(10 * time.Hour)
	if f.Expired {
		end = t.Now.Add(-time.Hour)
	}
	tgt, tgtKey, err := messages.NewTicket(cname, t.ClientRealm, tgtName, t.ClientRealm, tf, f.KDCKeytab, etypeID.AES256_CTS_HMAC_SHA1_96, 2,
		t.Now.Add(-time.Minute), t.Now.Add(-time.Minute), end, end)
	if err != nil {
		return nil, err
	}
	pname := cname
	if f.Client != "" {
		pname = types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, f.Client)
	}
	info := messages.KrbCredInfo{Key: tgtKey, PRealm: t.ClientRealm, PName: pname, Flags: tf,
		AuthTime: t.Now.Add(-time.Minute), StartTime: t.Now.Add(-time.Minute), EndTime: end, RenewTill: end,
		SRealm: t.ClientRealm, SName: tgtName}
	part, err := fasn1.Marshal(struct {
		TicketInfo []messages.KrbCredInfo `asn1:"explicit,tag:0"`
	}{[]messages.KrbCredInfo{info}})
	if err != nil {
		return nil, err
	}
	part = asn1tools.AddASNAppTag(part, asnAppTag.EncKrbCredPart)
	enc := types.EncryptedData{EType: 0, Cipher: part}
	if !f.Cleartext {
		if enc, err = crypto.GetEncryptedData(part, key, keyusage.KRB_CRED_ENCPART, 0); err != nil {
			return nil, err
		}
	}
	// tickets [2] SEQUENCE OF Ticket, by hand: gokrb5's
	// MarshalTicketSequence writes another framing.
	tb, err := tgt.Marshal()
	if err != nil {
		return nil, err
	}
	seq, err := fasn1.Marshal(fasn1.RawValue{Class: fasn1.ClassUniversal, Tag: fasn1.TagSequence, IsCompound: true, Bytes: tb})
	if err != nil {
		return nil, err
	}
	tkts := fasn1.RawValue{Class: fasn1.ClassContextSpecific, Tag: 2, IsCompound: true, Bytes: seq}
	b, err := fasn1.Marshal(struct {
		PVNO    int `asn1:"explicit,tag:0"`
		MsgType int `asn1:"explicit,tag:1"`
		Tickets fasn1.RawValue
		EncPart types.EncryptedData `asn1:"explicit,tag:3"`
	}{5, msgtype.KRB_CRED, tkts, enc})
	if err != nil {
		return nil, err
	}
	return asn1tools.AddASNAppTag(b, asnAppTag.KRBCred), nil
}
