package kdc

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/iana/patype"
	"github.com/jcmturner/gokrb5/v8/types"
)

// hmacMD5Checksum is RFC 4757's HMAC-MD5 checksum, written out from the
// RFC here, apart from the code under test: Ksign = HMAC(K,
// "signaturekey\0"), then HMAC(Ksign, MD5(usage as 4 bytes little endian
// || data)).
func hmacMD5Checksum(key []byte, usage uint32, data []byte) []byte {
	m := hmac.New(md5.New, key)
	m.Write([]byte("signaturekey\x00"))
	ksign := m.Sum(nil)
	h := md5.New()
	binary.Write(h, binary.LittleEndian, usage)
	h.Write(data)
	m = hmac.New(md5.New, ksign)
	m.Write(h.Sum(nil))
	return m.Sum(nil)
}

func TestPAForUser(t *testing.T) {
	key := types.EncryptionKey{KeyType: etypeID.AES256_CTS_HMAC_SHA1_96, KeyValue: bytes.Repeat([]byte{7}, 32)}
	pa, err := PAForUser("jdoe", "EXAMPLE.TEST", key)
	if err != nil {
		t.Fatal(err)
	}
	var got paForUser
	if rest, err := asn1.Unmarshal(pa.PADataValue, &got); err != nil || len(rest) != 0 || pa.PADataType != patype.PA_FOR_USER {
		t.Fatalf("PA-FOR-USER does not decode: %v", err)
	}
	// [MS-SFU] 2.2.1: name-type (1, little endian) || "jdoe" ||
	// "EXAMPLE.TEST" || "Kerberos", key usage 17.
	s := append([]byte{1, 0, 0, 0}, "jdoeEXAMPLE.TESTKerberos"...)
	want := hmacMD5Checksum(key.KeyValue, 17, s)
	if got.UserName.PrincipalNameString() != "jdoe" || got.UserName.NameType != nametype.KRB_NT_PRINCIPAL || got.UserRealm != "EXAMPLE.TEST" ||
		got.AuthPackage != "Kerberos" || got.Cksum.CksumType != -138 || !bytes.Equal(got.Cksum.Checksum, want) {
		t.Errorf("PA-FOR-USER %+v, checksum want %x", got, want)
	}
}

func TestS4U(t *testing.T) {
	f := newFake(t)
	c := client(listen(t, f.serve))
	ctx := context.Background()
	tgt, err := c.Login(ctx, User{Name: "jdoe"}, "Secr3t!Pass")
	if err != nil {
		t.Fatal(err)
	}
	self, err := c.S4U2Self(ctx, tgt, types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "HTTP/www.example.test"), "JDoe")
	if err != nil {
		t.Fatalf("S4U2Self: %v", err)
	}
	got := f.lastTGS
	if len(got.PAData) != 2 || got.PAData[1].PADataType != patype.PA_FOR_USER || got.ReqBody.SName.PrincipalNameString() != "HTTP/www.example.test" {
		t.Fatalf("S4U2Self request: %+v", got.PAData)
	}
	if _, err := c.S4U2Proxy(ctx, tgt, self.Ticket, "ldap/dc1.example.test"); err != nil {
		t.Fatalf("S4U2Proxy: %v", err)
	}
	got = f.lastTGS
	if !types.IsFlagSet(&got.ReqBody.KDCOptions, cnameInAddlTkt) || len(got.ReqBody.AdditionalTickets) != 1 ||
		!bytes.Equal(got.ReqBody.AdditionalTickets[0].EncPart.Cipher, self.Ticket.EncPart.Cipher) || got.ReqBody.SName.PrincipalNameString() != "ldap/dc1.example.test" {
		t.Fatalf("S4U2Proxy request: options %x, %d additional tickets", got.ReqBody.KDCOptions.Bytes, len(got.ReqBody.AdditionalTickets))
	}
	if len(got.PAData) != 2 || got.PAData[1].PADataType != paPACOptions {
		t.Fatalf("S4U2Proxy without PA-PAC-OPTIONS: %+v", got.PAData)
	}
	var opts struct {
		Flags asn1.BitString `asn1:"explicit,tag:0"`
	}
	if _, err := asn1.Unmarshal(got.PAData[1].PADataValue, &opts); err != nil || !types.IsFlagSet(&opts.Flags, pacOptionRBCD) {
		t.Errorf("PA-PAC-OPTIONS %x: %v", got.PAData[1].PADataValue, err)
	}
	// A KDC answering S4U2Self for another user than asked is refused.
	f.user = "alice"
	if _, err := c.S4U2Self(ctx, tgt, types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "HTTP/www.example.test"), "jdoe"); CauseOf(err) != CauseProtocol {
		t.Errorf("S4U2Self answered for alice: %v", err)
	}
}

// FuzzS4UReply feeds any bytes as the KDC's reply to S4U2Proxy: refused
// or malformed, never a panic or a ticket.
func FuzzS4UReply(f *testing.F) {
	f.Add([]byte{0x6d, 0x03, 0x30, 0x01, 0x00})
	f.Add([]byte{0x7e, 0x03, 0x30, 0x01, 0x00})
	tgt := &Credential{Ticket: fakeTicket(types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "krbtgt/EXAMPLE.TEST")),
		Key:    types.EncryptionKey{KeyType: etypeID.AES256_CTS_HMAC_SHA1_96, KeyValue: bytes.Repeat([]byte{7}, 32)},
		Client: types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "svc-http"), ClientRealm: "EXAMPLE.TEST"}
	evidence := fakeTicket(types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "HTTP/www.example.test"))
	f.Fuzz(func(t *testing.T, reply []byte) {
		c := New(Config{Realm: "EXAMPLE.TEST", KDCs: []string{"kdc"}, Timeout: time.Second,
			Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
				a, b := net.Pipe()
				go func() {
					defer b.Close()
					var hdr [4]byte
					if _, err := b.Read(hdr[:]); err != nil {
						return
					}
					buf := make([]byte, binary.BigEndian.Uint32(hdr[:]))
					for n := 0; n < len(buf); {
						m, err := b.Read(buf[n:])
						if err != nil {
							return
						}
						n += m
					}
					binary.BigEndian.PutUint32(hdr[:], uint32(len(reply)))
					b.Write(append(hdr[:], reply...))
				}()
				return a, nil
			}})
		if cr, err := c.S4U2Proxy(context.Background(), tgt, evidence, "ldap/dc1.example.test"); err == nil {
			t.Fatalf("a ticket from bytes no KDC key sealed: %+v", cr)
		}
	})
}
