package kerberos

import (
	"bytes"
	"crypto/aes"
	"encoding/hex"
	"testing"

	"github.com/jcmturner/aescts/v2"
)

// RFC 3962 appendix B: AES-128, key "chicken teriyaki", zero IV.
func TestCTSRFC3962Vectors(t *testing.T) {
	key, _ := hex.DecodeString("636869636b656e207465726979616b69")
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct{ plain, cipher string }{
		{"4920776f756c64206c696b652074686520", "c6353568f2bf8cb4d8a580362da7ff7f97"},
		{"4920776f756c64206c696b65207468652047656e6572616c20476175277320", "fc00783e0efdb2c1d445d4c8eff7ed2297687268d6ecccc0c07b25e25ecfe5"},
		{"4920776f756c64206c696b65207468652047656e6572616c2047617527732043", "39312523a78662d5be7fcbcc98ebf5a897687268d6ecccc0c07b25e25ecfe584"},
		{"4920776f756c64206c696b65207468652047656e6572616c20476175277320436869636b656e2c20706c656173652c", "97687268d6ecccc0c07b25e25ecfe584b3fffd940c16a18c1b5549d2f838029e39312523a78662d5be7fcbcc98ebf5"},
		{"4920776f756c64206c696b65207468652047656e6572616c20476175277320436869636b656e2c20706c656173652c20", "97687268d6ecccc0c07b25e25ecfe5849dad8bbb96c4cdc03bc103e1a194bbd839312523a78662d5be7fcbcc98ebf5a8"},
		{"4920776f756c64206c696b65207468652047656e6572616c20476175277320436869636b656e2c20706c656173652c20616e6420776f6e746f6e20736f75702e", "97687268d6ecccc0c07b25e25ecfe58439312523a78662d5be7fcbcc98ebf5a84807efe836ee89a526730dbc2f7bc8409dad8bbb96c4cdc03bc103e1a194bbd8"},
	} {
		p, _ := hex.DecodeString(v.plain)
		if got := hex.EncodeToString(ctsEncrypt(nil, b, p)); got != v.cipher {
			t.Errorf("encrypt %d bytes: %s, want %s", len(p), got, v.cipher)
		}
		c, _ := hex.DecodeString(v.cipher)
		if got, err := ctsDecrypt(b, c); err != nil || hex.EncodeToString(got) != v.plain {
			t.Errorf("decrypt %d bytes: %x, %v; want %s", len(c), got, err, v.plain)
		}
	}
	if _, err := ctsDecrypt(b, make([]byte, 15)); err == nil {
		t.Error("decrypt of 15 bytes: want an error")
	}
}

// FuzzCTS: for any key and message (of at least a block, as Kerberos
// always has), ctsEncrypt and ctsDecrypt give what aescts gives, and
// ctsDecrypt of anything is aescts's decryption of it.
func FuzzCTS(f *testing.F) {
	f.Add(false, []byte("0123456789abcdef0123456789abcdef"), []byte("a message longer than a block"))
	f.Add(true, []byte("0123456789abcdef0123456789abcdef"), bytes.Repeat([]byte{7}, 48))
	f.Add(false, []byte("k"), make([]byte, 16))
	f.Fuzz(func(t *testing.T, aes256 bool, k, msg []byte) {
		key := make([]byte, 16)
		if aes256 {
			key = make([]byte, 32)
		}
		copy(key, k)
		if len(msg) < aes.BlockSize || len(msg) > 4096 {
			return
		}
		b, err := aes.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		iv := make([]byte, aes.BlockSize)
		_, want, err := aescts.Encrypt(key, iv, msg)
		if err != nil {
			t.Fatal(err)
		}
		if got := ctsEncrypt([]byte{1}, b, msg)[1:]; !bytes.Equal(got, want) {
			t.Fatalf("encrypt %x: %x, aescts %x", msg, got, want)
		}
		// msg read as a ciphertext: both decryptions agree.
		wantP, err := aescts.Decrypt(key, iv, msg)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := ctsDecrypt(b, msg); err != nil || !bytes.Equal(got, wantP) {
			t.Fatalf("decrypt %x: %x, %v; aescts %x", msg, got, err, wantP)
		}
		if got, _ := ctsDecrypt(b, want); !bytes.Equal(got, msg) {
			t.Fatalf("round trip of %x: %x", msg, got)
		}
	})
}
