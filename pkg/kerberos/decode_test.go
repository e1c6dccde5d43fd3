package kerberos

import (
	"bytes"
	"encoding/asn1"
	"fmt"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos/krbtest"
)

// apReqText and authText show every decoded field, nil and empty alike,
// times with their zone: two decoders agree when these are equal.
func apReqText(r *messages.APReq) string {
	t := &r.Ticket
	return fmt.Sprintf("pvno %d type %d opts %x/%d | tkt %d %q %s %s | auth %s", r.PVNO, r.MsgType, r.APOptions.Bytes, r.APOptions.BitLength,
		t.TktVNO, t.Realm, nameText(t.SName), edText(t.EncPart), edText(r.EncryptedAuthenticator))
}

func nameText(p types.PrincipalName) string { return fmt.Sprintf("%d%q", p.NameType, p.NameString) }

func edText(e types.EncryptedData) string { return fmt.Sprintf("%d/%d/%x", e.EType, e.KVNO, e.Cipher) }

func authText(a *types.Authenticator) string {
	s := fmt.Sprintf("%d %q %s ck %d/%x usec %d t %s sub %d/%x seq %d ad", a.AVNO, a.CRealm, nameText(a.CName), a.Cksum.CksumType, a.Cksum.Checksum,
		a.Cusec, a.CTime.Format(time.RFC3339Nano), a.SubKey.KeyType, a.SubKey.KeyValue, a.SeqNumber)
	for _, e := range a.AuthorizationData {
		s += fmt.Sprintf(" %d/%x", e.ADType, e.ADData)
	}
	return s
}

// seedTokens are real AP-REQs: the Samba capture (PAC, mutual) and
// krbtest's (raw, mutual, the other OID), and their authenticators.
func seedAPReqs(tb testing.TB) (reqs, auths [][]byte) {
	tok, _ := sambaToken(tb)
	toks := [][]byte{tok}
	kt := krbtest.Keytab("HTTP/www.example.test", "EXAMPLE.TEST", 2)
	for _, t := range []krbtest.Ticket{{Keytab: kt}, {Keytab: kt, Mutual: true}, {Keytab: kt, OID: OIDKerberosMS}} {
		b, err := krbtest.Token(t)
		if err != nil {
			tb.Fatal(err)
		}
		toks = append(toks, b)
	}
	for i, tok := range toks {
		raw, err := apReqOf(tok)
		if err != nil {
			tb.Fatal(err)
		}
		reqs = append(reqs, raw)
		if i == 0 {
			req, enc, _, _ := sambaAPReq(tb)
			plain, err := crypto.DecryptEncPart(req.EncryptedAuthenticator, enc.Key, keyusage.AP_REQ_AUTHENTICATOR)
			if err != nil {
				tb.Fatal(err)
			}
			auths = append(auths, plain)
		}
	}
	// An authenticator with every optional field.
	full := types.Authenticator{AVNO: 5, CRealm: "EXAMPLE.TEST", CName: types.NewPrincipalName(1, "jdoe"),
		Cksum: types.Checksum{CksumType: 0x8003, Checksum: make([]byte, 24)}, Cusec: 123456, CTime: time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC),
		SubKey: types.EncryptionKey{KeyType: 18, KeyValue: bytes.Repeat([]byte{7}, 32)}, SeqNumber: 0x12345678,
		AuthorizationData: types.AuthorizationData{{ADType: 1, ADData: []byte{0x30, 0}}, {ADType: 141, ADData: nil}}}
	b, err := full.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return reqs, append(auths, b)
}

func TestDecodeMatchesGokrb5OnRealMessages(t *testing.T) {
	reqs, auths := seedAPReqs(t)
	for i, b := range reqs {
		var ours, theirs messages.APReq
		if !decodeAPReq(b, &ours) {
			t.Fatalf("AP-REQ %d: the fast path does not take it", i)
		}
		if err := theirs.Unmarshal(b); err != nil {
			t.Fatal(err)
		}
		if apReqText(&ours) != apReqText(&theirs) {
			t.Fatalf("AP-REQ %d:\n ours   %s\n gokrb5 %s", i, apReqText(&ours), apReqText(&theirs))
		}
	}
	for i, b := range auths {
		var ours, theirs types.Authenticator
		if !decodeAuthenticator(b, &ours) {
			t.Fatalf("authenticator %d: the fast path does not take it", i)
		}
		if err := theirs.Unmarshal(b); err != nil {
			t.Fatal(err)
		}
		if authText(&ours) != authText(&theirs) {
			t.Fatalf("authenticator %d:\n ours   %s\n gokrb5 %s", i, authText(&ours), authText(&theirs))
		}
	}
}

// decoder is one message type's two decoders, for differential fuzzing.
type decoder[T any] struct {
	fast   func([]byte, *T) bool
	gokrb5 func(*T, []byte) error
	encode func(*T) ([]byte, error) // gokrb5's
	text   func(*T) string
}

// check holds the fast path to gokrb5 on b: whatever the fast path takes,
// gokrb5 takes with the same values; and what gokrb5 takes and encodes
// back to the same bytes (DER), the fast path takes too. A panic in
// gokrb5 is a refusal.
func (d decoder[T]) check(t *testing.T, b []byte) {
	var ours, theirs T
	ok := d.fast(b, &ours)
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		return d.gokrb5(&theirs, b)
	}()
	switch {
	case ok && err != nil:
		t.Fatalf("fast path takes what gokrb5 refuses (%v): %x", err, b)
	case ok && d.text(&ours) != d.text(&theirs):
		t.Fatalf("values differ:\n ours   %s\n gokrb5 %s", d.text(&ours), d.text(&theirs))
	case !ok && err == nil:
		if again, merr := d.encode(&theirs); merr == nil && bytes.Equal(again, b) {
			t.Fatalf("fast path refuses DER that gokrb5 takes: %x", b)
		}
	}
}

var (
	apReqDecoder = decoder[messages.APReq]{decodeAPReq, (*messages.APReq).Unmarshal, (*messages.APReq).Marshal, apReqText}
	authDecoder  = decoder[types.Authenticator]{decodeAuthenticator, (*types.Authenticator).Unmarshal, (*types.Authenticator).Marshal, authText}
)

func FuzzDecodeAPReq(f *testing.F) {
	reqs, _ := seedAPReqs(f)
	for _, b := range reqs {
		f.Add(b)
	}
	f.Fuzz(apReqDecoder.check)
}

func FuzzDecodeAuthenticator(f *testing.F) {
	_, auths := seedAPReqs(f)
	for _, b := range auths {
		f.Add(b)
	}
	f.Fuzz(authDecoder.check)
}

// splitGSSOracle is splitGSS as it was with encoding/asn1, the reference
// FuzzSplitGSS holds the byte-comparing one to.
func splitGSSOracle(b []byte) (oid asn1.ObjectIdentifier, inner []byte, err error) {
	var outer asn1.RawValue
	rest, err := asn1.Unmarshal(b, &outer)
	if err != nil || len(rest) != 0 || outer.Class != asn1.ClassApplication || outer.Tag != 0 || !outer.IsCompound {
		return nil, nil, errNotKerberos
	}
	var mech asn1.RawValue
	inner, err = asn1.Unmarshal(outer.Bytes, &mech)
	if err != nil || mech.Class != asn1.ClassUniversal || mech.Tag != asn1.TagOID {
		return nil, nil, errNotKerberos
	}
	if _, err := asn1.Unmarshal(mech.FullBytes, &oid); err != nil || !IsKerberosOID(oid) {
		return nil, nil, errNotKerberos
	}
	return oid, inner, nil
}

// FuzzSplitGSS: on any bytes, splitGSS and the encoding/asn1 version
// agree: both refuse, or both give the same OID and inner token.
func FuzzSplitGSS(f *testing.F) {
	reqs, _ := seedAPReqs(f)
	for _, r := range reqs {
		for _, oid := range []asn1.ObjectIdentifier{OIDKerberos, OIDKerberosMS, {1, 3, 6, 1, 5, 5, 2}} {
			b, _ := wrapGSS(oid, tokAPReq, r)
			f.Add(b)
		}
	}
	f.Add([]byte{0x60, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02})
	f.Add([]byte{0x60, 0x81, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		oid, inner, err := splitGSS(b)
		woid, winner, werr := splitGSSOracle(b)
		if (err == nil) != (werr == nil) || !oid.Equal(woid) || !bytes.Equal(inner, winner) {
			t.Fatalf("%x: %v %x %v; encoding/asn1: %v %x %v", b, oid, inner, err, woid, winner, werr)
		}
	})
}
