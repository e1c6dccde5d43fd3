// Package krbtest builds Kerberos service tickets and GSS-API AP-REQ
// tokens in-process, as a KDC and a client would, for tests without a KDC.
// The tickets carry no PAC.
package krbtest

import (
	"encoding/asn1"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/spnego"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
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
