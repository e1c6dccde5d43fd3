package kerberos

import (
	"bytes"
	"testing"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

func sealKey(etype int32, seed byte) types.EncryptionKey {
	n := 16
	if etype == etypeID.AES256_CTS_HMAC_SHA1_96 {
		n = 32
	}
	k := make([]byte, n)
	for i := range k {
		k[i] = seed + byte(i)*7
	}
	return types.EncryptionKey{KeyType: etype, KeyValue: k}
}

// sealKeys must be gokrb5's encryption both ways: what gokrb5 seals opens
// to the same message, and what sealKeys seals gokrb5 opens.
func TestSealKeysMatchGokrb5(t *testing.T) {
	for _, et := range []int32{etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96} {
		for _, usage := range []uint32{keyusage.AP_REQ_AUTHENTICATOR, keyusage.AP_REP_ENCPART, keyusage.KDC_REP_TICKET} {
			for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 100, 1500} {
				key := sealKey(et, byte(n))
				s := deriveSealKeys(key, usage)
				msg := bytes.Repeat([]byte{byte(n), 0xa5}, n)[:n]
				ed, err := crypto.GetEncryptedData(msg, key, usage, 0)
				if err != nil {
					t.Fatal(err)
				}
				got, err := s.open(ed.Cipher)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("etype %d usage %d len %d: open(gokrb5's) = %x, %v", et, usage, n, got, err)
				}
				ct, err := s.seal(msg)
				if err != nil {
					t.Fatal(err)
				}
				back, err := crypto.DecryptMessage(ct, key, usage)
				if err != nil || !bytes.Equal(back, msg) {
					t.Fatalf("etype %d usage %d len %d: gokrb5 opens ours: %x, %v", et, usage, n, back, err)
				}
				// Another usage's keys must not open it.
				if _, err := deriveSealKeys(key, usage+1).open(ed.Cipher); err == nil {
					t.Fatalf("etype %d usage %d: opened with usage %d's keys", et, usage, usage+1)
				}
			}
		}
	}
	if deriveSealKeys(types.EncryptionKey{KeyType: etypeID.RC4_HMAC, KeyValue: make([]byte, 16)}, 11) != nil {
		t.Fatal("sealKeys for RC4: want nil (gokrb5's path)")
	}
	if deriveSealKeys(types.EncryptionKey{KeyType: etypeID.AES256_CTS_HMAC_SHA1_96, KeyValue: make([]byte, 16)}, 11) != nil {
		t.Fatal("sealKeys for a 16-byte AES256 key: want nil")
	}
}

// FuzzSealOpen: on any ciphertext, sealKeys.open and gokrb5's
// DecryptMessage agree: both refuse, or both give the same message.
func FuzzSealOpen(f *testing.F) {
	for _, et := range []int32{etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96} {
		ed, _ := crypto.GetEncryptedData([]byte("an authenticator"), sealKey(et, 1), keyusage.AP_REQ_AUTHENTICATOR, 0)
		f.Add(et == etypeID.AES256_CTS_HMAC_SHA1_96, ed.Cipher)
	}
	f.Add(true, []byte{})
	f.Add(false, make([]byte, 28))
	f.Fuzz(func(t *testing.T, aes256 bool, ct []byte) {
		et := int32(etypeID.AES128_CTS_HMAC_SHA1_96)
		if aes256 {
			et = etypeID.AES256_CTS_HMAC_SHA1_96
		}
		key := sealKey(et, 1)
		want, werr := func() (b []byte, err error) {
			defer func() {
				if recover() != nil {
					b, err = nil, errIntegrity
				}
			}()
			return crypto.DecryptMessage(ct, key, keyusage.AP_REQ_AUTHENTICATOR)
		}()
		got, gerr := deriveSealKeys(key, keyusage.AP_REQ_AUTHENTICATOR).open(ct)
		if (werr == nil) != (gerr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("%x: ours %x, %v; gokrb5's %x, %v", ct, got, gerr, want, werr)
		}
	})
}
