package kerberos

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
	"slices"
)

// AES in CBC mode with ciphertext stealing and a zero IV, as RFC 3962
// section 5 has Kerberos use it (CBC-CS3: the last two blocks swapped,
// the last one cut to the message's length).
//
// Why not github.com/jcmturner/aescts, which gokrb5 calls: it takes the
// key's bytes and runs the AES key schedule, and allocates a CBC mode and
// a copy of the message, on every call. A login opens one authenticator
// and seals one AP-REP under keys the ticket cache keeps, so here the
// block cipher is made once per key (sealKeys) and a call allocates
// nothing beyond its output. cts_test.go checks RFC 3962's vectors and,
// by fuzzing, equality with aescts both ways.

var errCTSShort = errors.New("aes-cts: ciphertext shorter than one block")

// ctsEncrypt appends src encrypted with b to out. src should be at least
// one block long (Kerberos' confounder sees to that).
func ctsEncrypt(out []byte, b cipher.Block, src []byte) []byte {
	const bs = aes.BlockSize
	n := len(src)
	if n <= bs {
		// One block (a shorter message is zero-padded, as aescts does;
		// Kerberos never has one): plain CBC with a zero IV.
		var blk [bs]byte
		copy(blk[:], src)
		b.Encrypt(blk[:], blk[:])
		return append(out, blk[:]...)
	}
	out = slices.Grow(out, n)
	dst := out[len(out) : len(out)+n]
	// full is the length of the whole blocks before the last (partial or
	// whole) one: CBC as usual, chained from a zero IV.
	full := (n - 1) / bs * bs
	var prev [bs]byte
	for i := 0; i < full; i += bs {
		subtle.XORBytes(dst[i:i+bs], src[i:i+bs], prev[:])
		b.Encrypt(dst[i:i+bs], dst[i:i+bs])
		copy(prev[:], dst[i:i+bs])
	}
	// The last block, zero-padded, chained from the one before; it goes
	// before that one, which is cut to the last block's length.
	var last [bs]byte
	copy(last[:], src[full:])
	subtle.XORBytes(last[:], last[:], prev[:])
	b.Encrypt(last[:], last[:])
	copy(dst[full:], prev[:n-full])
	copy(dst[full-bs:full], last[:])
	return out[:len(out)+n]
}

// ctsDecrypt returns src decrypted with b.
func ctsDecrypt(b cipher.Block, src []byte) ([]byte, error) {
	const bs = aes.BlockSize
	n := len(src)
	if n < bs {
		return nil, errCTSShort
	}
	dst := make([]byte, n)
	if n == bs {
		b.Decrypt(dst, src)
		return dst, nil
	}
	full := (n - 1) / bs * bs // as in ctsEncrypt: the end of C(k-1)
	r := n - full             // the last block's length, 1 to 16
	var prev [bs]byte         // the ciphertext block before the one at hand
	for i := 0; i < full-bs; i += bs {
		b.Decrypt(dst[i:i+bs], src[i:i+bs])
		subtle.XORBytes(dst[i:i+bs], dst[i:i+bs], prev[:])
		copy(prev[:], src[i:i+bs])
	}
	// src[full-bs:full] is C(k), the encrypted zero-padded last block;
	// src[full:] is the first r bytes of C(k-1). Decrypting C(k) gives
	// P(k) xor C(k-1), whose bytes past r are C(k-1)'s own (P(k) is zero
	// there): that completes C(k-1).
	var d, ck1 [bs]byte
	b.Decrypt(d[:], src[full-bs:full])
	copy(ck1[:], src[full:])
	copy(ck1[r:], d[r:])
	subtle.XORBytes(dst[full:], d[:r], ck1[:r])
	b.Decrypt(dst[full-bs:full], ck1[:])
	subtle.XORBytes(dst[full-bs:full], dst[full-bs:full], prev[:])
	return dst, nil
}
