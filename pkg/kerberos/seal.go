package kerberos

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"errors"
	"fmt"
	"hash"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/common"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"
)

// sealKeys are the two keys RFC 3961's simplified profile derives from a
// key for one key usage (Ke encrypts, Ki makes the HMAC), for the AES
// SHA-1 enctypes (RFC 3962) that AD uses.
//
// Why not gokrb5's DecryptMessage: it derives Ke and Ki anew on every
// call (an n-fold each, a sixth of a Kerberos login's CPU), while a
// browser sends every new connection's authenticator under the same
// ticket's session key. The block cipher is made from Ke once too (see
// cts.go). The AES and the HMAC are the standard library's; the framing
// (confounder | message, then the truncated HMAC of both) and the CTS
// mode are written here, and seal_test.go and cts_test.go check them both
// ways against gokrb5's and aescts's. A sealKeys is shared by every login
// with its ticket, at once: it is never written after deriveSealKeys, and
// crypto/aes's Block only reads its key schedule in Encrypt and Decrypt
// (Go's source, every implementation; not a documented promise of
// crypto/cipher, so the race test TestRedTeamSealKeysConcurrent keeps it).
type sealKeys struct {
	e  etype.EType
	ke cipher.Block
	// ki is the HMAC keyed with Ki, never written to: each use clones it,
	// which spares hmac.New's key padding, its hash of the inner pad and
	// two allocations (together a twentieth of a login's CPU).
	ki hash.Cloner
}

// deriveSealKeys returns the keys of key for usage, or nil for an enctype
// other than AES SHA-1 (the caller then uses gokrb5's functions).
func deriveSealKeys(key types.EncryptionKey, usage uint32) *sealKeys {
	if key.KeyType != etypeID.AES128_CTS_HMAC_SHA1_96 && key.KeyType != etypeID.AES256_CTS_HMAC_SHA1_96 {
		return nil
	}
	e, err := crypto.GetEtype(key.KeyType)
	if err != nil || len(key.KeyValue) != e.GetKeyByteSize() {
		return nil
	}
	ke, err := e.DeriveKey(key.KeyValue, common.GetUsageKe(usage))
	if err != nil {
		return nil
	}
	ki, err := e.DeriveKey(key.KeyValue, common.GetUsageKi(usage))
	if err != nil {
		return nil
	}
	block, err := aes.NewCipher(ke)
	if err != nil {
		return nil
	}
	mac, ok := hmac.New(e.GetHashFunc(), ki).(hash.Cloner)
	if !ok {
		return nil
	}
	if _, err := mac.Clone(); err != nil {
		return nil
	}
	return &sealKeys{e: e, ke: block, ki: mac}
}

var errIntegrity = errors.New("integrity verification failed")

// open decrypts ct (confounder and message, then the HMAC) and checks its
// HMAC: gokrb5's DecryptMessage with the keys derived already.
func (s *sealKeys) open(ct []byte) ([]byte, error) {
	h, c := s.e.GetHMACBitLength()/8, s.e.GetConfounderByteSize()
	if len(ct) < c+h {
		return nil, fmt.Errorf("ciphertext of %d bytes is shorter than confounder and HMAC", len(ct))
	}
	b, err := ctsDecrypt(s.ke, ct[:len(ct)-h])
	if err != nil {
		return nil, err
	}
	var buf [sha1.Size]byte
	mac, err := s.appendMAC(buf[:0], b)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(mac, ct[len(ct)-h:]) {
		return nil, errIntegrity
	}
	return b[c:], nil
}

// seal encrypts msg behind a random confounder and appends the HMAC:
// gokrb5's EncryptMessage with the keys derived already.
func (s *sealKeys) seal(msg []byte) ([]byte, error) {
	c := s.e.GetConfounderByteSize()
	pt := make([]byte, c+len(msg))
	if _, err := rand.Read(pt[:c]); err != nil {
		return nil, err
	}
	copy(pt[c:], msg)
	out := make([]byte, 0, len(pt)+s.e.GetHMACBitLength()/8)
	return s.appendMAC(ctsEncrypt(out, s.ke, pt), pt)
}

// appendMAC appends the truncated HMAC of b to out.
func (s *sealKeys) appendMAC(out, b []byte) ([]byte, error) {
	m, err := s.ki.Clone() // deriveSealKeys checked that it clones
	if err != nil {
		return nil, err
	}
	m.Write(b)
	var sum [sha1.Size]byte
	return append(out, m.Sum(sum[:0])[:s.e.GetHMACBitLength()/8]...), nil
}
