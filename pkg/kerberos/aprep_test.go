package kerberos

import (
	"bytes"
	"encoding/asn1"
	"testing"
	"time"

	fasn1 "github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// The hand-built AP-REP DER is byte for byte what gokrb5's encoder makes
// of the same values.
func TestAPRepDERMatchesGokrb5(t *testing.T) {
	for _, c := range []struct {
		ctime time.Time
		cusec int
		seq   int64
		ed    types.EncryptedData
	}{
		{time.Date(2026, 12, 7, 18, 30, 1, 999, time.UTC), 0, 0, types.EncryptedData{EType: 18, Cipher: []byte{1, 2, 3}}},
		{time.Date(1999, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), 999999, 0x3fffffff, types.EncryptedData{EType: 17, Cipher: bytes.Repeat([]byte{0xff}, 200)}},
		{time.Unix(1, 0), 127, 128, types.EncryptedData{EType: 23, KVNO: 3, Cipher: bytes.Repeat([]byte{0x80}, 70000)}},
		{time.Unix(4102444800, 0), 128, 255, types.EncryptedData{EType: 18}},
	} {
		part := messages.EncAPRepPart{CTime: c.ctime.UTC().Truncate(time.Second), Cusec: c.cusec, SequenceNumber: c.seq}
		want, err := fasn1.Marshal(part)
		if err != nil {
			t.Fatal(err)
		}
		want = asn1tools.AddASNAppTag(want, asnAppTag.EncAPRepPart)
		if got := encAPRepPart(c.ctime, c.cusec, c.seq); !bytes.Equal(got, want) {
			t.Errorf("EncAPRepPart %+v:\n got %x\nwant %x", c, got, want)
		}
		rep := messages.APRep{PVNO: 5, MsgType: msgtype.KRB_AP_REP, EncPart: c.ed}
		want, err = fasn1.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		want = asn1tools.AddASNAppTag(want, asnAppTag.APREP)
		if got := apRep(c.ed); !bytes.Equal(got, want) {
			t.Errorf("APRep %d-byte cipher kvno %d:\n got %x\nwant %x", len(c.ed.Cipher), c.ed.KVNO, got[:min(len(got), 64)], want[:min(len(want), 64)])
		}
	}
}

// wrapGSS's framing is what encoding/asn1 makes of the same OID and bytes.
func TestWrapGSSMatchesEncodingASN1(t *testing.T) {
	for _, oid := range []asn1.ObjectIdentifier{OIDKerberos, OIDKerberosMS} {
		for _, n := range []int{0, 1, 100, 127, 128, 255, 256, 65535, 70000} {
			msg := bytes.Repeat([]byte{0xa5}, n)
			o, err := asn1.Marshal(oid)
			if err != nil {
				t.Fatal(err)
			}
			want, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassApplication, Tag: 0, IsCompound: true, Bytes: append(append(o, tokAPRep...), msg...)})
			if err != nil {
				t.Fatal(err)
			}
			got, err := wrapGSS(oid, tokAPRep, msg)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%v, %d bytes: %v\n got %x\nwant %x", oid, n, err, got[:min(len(got), 40)], want[:min(len(want), 40)])
			}
		}
	}
}

// FuzzAPRepDER: for any values, the hand-built EncAPRepPart and AP-REP
// are gokrb5's bytes.
func FuzzAPRepDER(f *testing.F) {
	f.Add(int64(1796668201), 999999, int64(0x3fffffff), int32(18), 0, []byte{1, 2, 3})
	f.Add(int64(0), 0, int64(-129), int32(-1), 300, bytes.Repeat([]byte{0x80}, 300))
	f.Fuzz(func(t *testing.T, secs int64, cusec int, seq int64, etype int32, kvno int, cipher []byte) {
		// KerberosTime has four-digit years; the acceptor's ctime comes
		// from a GeneralizedTime it decoded.
		if secs < -62135596800 || secs > 253402300799 {
			return
		}
		ctime := time.Unix(secs, 0)
		part := messages.EncAPRepPart{CTime: ctime.UTC(), Cusec: cusec, SequenceNumber: seq}
		want, err := fasn1.Marshal(part)
		if err != nil {
			t.Skip(err)
		}
		want = asn1tools.AddASNAppTag(want, asnAppTag.EncAPRepPart)
		if got := encAPRepPart(ctime, cusec, seq); !bytes.Equal(got, want) {
			t.Fatalf("EncAPRepPart %v %d %d:\n got %x\nwant %x", ctime, cusec, seq, got, want)
		}
		ed := types.EncryptedData{EType: etype, KVNO: kvno, Cipher: cipher}
		want, err = fasn1.Marshal(messages.APRep{PVNO: 5, MsgType: msgtype.KRB_AP_REP, EncPart: ed})
		if err != nil {
			t.Skip(err)
		}
		want = asn1tools.AddASNAppTag(want, asnAppTag.APREP)
		if got := apRep(ed); !bytes.Equal(got, want) {
			t.Fatalf("APRep %+v:\n got %x\nwant %x", ed, got, want)
		}
	})
}

// A writer that starts too small grows and keeps what it wrote.
func TestDERWriterGrows(t *testing.T) {
	w := newDERWriter(1)
	w.raw(bytes.Repeat([]byte{7}, 300)...)
	w.wrap(tagOctetString, 0)
	w.explicitInt(0, -129)
	want := append([]byte{0xa0, 4, 2, 2, 0xff, 0x7f, 4, 0x82, 1, 0x2c}, bytes.Repeat([]byte{7}, 300)...)
	if !bytes.Equal(w.bytes(), want) {
		t.Fatalf("got %x\nwant %x", w.bytes()[:12], want[:12])
	}
}
