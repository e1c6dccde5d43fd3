package kerberos

// Red-team attacks on the hand-written Kerberos login path (issue 32):
// cts.go, seal.go, decode.go, der.go/aprep.go, token.go's splitGSS. Each
// test fails if its attack works.

import (
	"bytes"
	"crypto/aes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jcmturner/aescts/v2"
	fasn1 "github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/common"
	"github.com/jcmturner/gokrb5/v8/crypto/rfc3962"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos/krbtest"
)

var rtEtypes = []int32{etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96}

func rtNoPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("%s: panic: %v", what, p)
		}
	}()
	f()
}

// (b) ctsDecrypt on every length 0..80 (16..33 is where C(k-1) is cut
// and the loop runs zero or one time): no panic, an error below a block,
// and aescts's plaintext otherwise; AES128 and AES256 keys.
func TestRedTeamCTSDecryptEveryShortLength(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, kl := range []int{16, 32} {
		key := make([]byte, kl)
		for i := range key {
			key[i] = byte(rng.Uint32())
		}
		b, _ := aes.NewCipher(key)
		for n := 0; n <= 80; n++ {
			for try := 0; try < 8; try++ {
				ct := make([]byte, n)
				for i := range ct {
					ct[i] = byte(rng.Uint32())
				}
				orig := bytes.Clone(ct)
				var got []byte
				var err error
				rtNoPanic(t, fmt.Sprintf("ctsDecrypt %d bytes", n), func() { got, err = ctsDecrypt(b, ct) })
				if !bytes.Equal(ct, orig) {
					t.Fatalf("ctsDecrypt %d bytes wrote into its input", n)
				}
				if n < aes.BlockSize {
					if err == nil {
						t.Fatalf("ctsDecrypt of %d bytes: no error", n)
					}
					continue
				}
				want, werr := aescts.Decrypt(key, make([]byte, 16), ct)
				if err != nil || werr != nil || !bytes.Equal(got, want) {
					t.Fatalf("key %d, %d bytes: %x %v; aescts %x %v", kl, n, got, err, want, werr)
				}
				// Round trip through our encryption, appended behind a
				// prefix (out aliasing is not the caller's problem).
				enc := ctsEncrypt([]byte{0xee}, b, got)
				if enc[0] != 0xee || !bytes.Equal(enc[1:], ct) {
					t.Fatalf("key %d, %d bytes: ctsEncrypt(ctsDecrypt(c)) = %x, want %x", kl, n, enc[1:], ct)
				}
			}
		}
	}
}

// (b) sealKeys.open on every ciphertext length 0..100 (shorter than
// confounder+HMAC, exactly that, one block of CTS plus a bit...): no
// panic, refused, and gokrb5 refuses too.
func TestRedTeamSealOpenEveryLength(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, et := range rtEtypes {
		key := sealKey(et, 9)
		s := deriveSealKeys(key, keyusage.AP_REQ_AUTHENTICATOR)
		for n := 0; n <= 100; n++ {
			ct := make([]byte, n)
			for i := range ct {
				ct[i] = byte(rng.Uint32())
			}
			var got []byte
			var err error
			rtNoPanic(t, fmt.Sprintf("open %d bytes", n), func() { got, err = s.open(ct) })
			if err == nil || got != nil {
				t.Fatalf("etype %d: random %d-byte ciphertext opened: %x", et, n, got)
			}
		}
	}
}

// (a)(e) A real ciphertext (gokrb5's) with any one bit flipped, cut to any
// length, or with bytes appended, is refused; the error path returns no
// plaintext. Lengths around the block boundaries of the CTS tail.
func TestRedTeamSealOpenTampered(t *testing.T) {
	for _, et := range rtEtypes {
		key := sealKey(et, 5)
		s := deriveSealKeys(key, keyusage.AP_REQ_AUTHENTICATOR)
		for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 47, 48, 49} {
			msg := bytes.Repeat([]byte{0x5a}, n)
			ed, err := crypto.GetEncryptedData(msg, key, keyusage.AP_REQ_AUTHENTICATOR, 0)
			if err != nil {
				t.Fatal(err)
			}
			ct := ed.Cipher
			if got, err := s.open(ct); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("etype %d len %d: genuine ciphertext: %x %v", et, n, got, err)
			}
			for i := range ct {
				for bit := 0; bit < 8; bit++ {
					c := bytes.Clone(ct)
					c[i] ^= 1 << bit
					if got, err := s.open(c); err == nil || got != nil {
						t.Fatalf("etype %d len %d: bit %d of byte %d flipped, opened to %x", et, n, bit, i, got)
					}
				}
			}
			for l := 0; l < len(ct); l++ {
				if got, err := s.open(ct[:l]); err == nil || got != nil {
					t.Fatalf("etype %d len %d: cut to %d bytes, opened to %x", et, n, l, got)
				}
			}
			for extra := 1; extra <= 17; extra++ {
				c := append(bytes.Clone(ct), make([]byte, extra)...)
				if got, err := s.open(c); err == nil || got != nil {
					t.Fatalf("etype %d len %d: %d bytes appended, opened to %x", et, n, extra, got)
				}
			}
			// The last two CTS blocks swapped back (CBC without the
			// swap), when there are two.
			body := len(ct) - 12
			if body >= 32 && body%16 == 0 {
				c := bytes.Clone(ct)
				copy(c[body-32:body-16], ct[body-16:body])
				copy(c[body-16:body], ct[body-32:body-16])
				if _, err := s.open(c); err == nil {
					t.Fatalf("etype %d len %d: last blocks swapped, opened", et, n)
				}
			}
		}
	}
}

// rtSeal builds a ciphertext as open's framing reads it, with the HMAC
// over macOver(confounder|msg, ciphertext) instead of over the plaintext.
func rtSeal(t *testing.T, key types.EncryptionKey, usage uint32, msg []byte, macOver func(pt, ct []byte) []byte) []byte {
	t.Helper()
	s := deriveSealKeys(key, usage)
	pt := append(bytes.Repeat([]byte{0xc0}, 16), msg...)
	ct := ctsEncrypt(nil, s.ke, pt)
	e, _ := crypto.GetEtype(key.KeyType)
	ki, err := e.DeriveKey(key.KeyValue, common.GetUsageKi(usage))
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha1.New, ki)
	m.Write(macOver(pt, ct))
	return append(ct, m.Sum(nil)[:12]...)
}

// (e) The HMAC must cover confounder|plaintext, made with Ki, and nothing
// else: a MAC over the plaintext without the confounder, over the
// ciphertext (encrypt-then-MAC), or made with Ke, is refused; only the
// right one opens.
func TestRedTeamSealMACCoversConfounderAndPlaintext(t *testing.T) {
	msg := []byte("an authenticator's DER would go here")
	for _, et := range rtEtypes {
		key := sealKey(et, 3)
		u := uint32(keyusage.AP_REQ_AUTHENTICATOR)
		good := rtSeal(t, key, u, msg, func(pt, _ []byte) []byte { return pt })
		if got, err := deriveSealKeys(key, u).open(good); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("etype %d: the well-made ciphertext: %x %v", et, got, err)
		}
		if back, err := crypto.DecryptMessage(good, key, u); err != nil || !bytes.Equal(back, msg) {
			t.Fatalf("etype %d: gokrb5 does not open the well-made ciphertext: %v", et, err)
		}
		for name, over := range map[string]func(pt, ct []byte) []byte{
			"plaintext without confounder": func(pt, _ []byte) []byte { return pt[16:] },
			"ciphertext":                   func(_, ct []byte) []byte { return ct },
			"nothing":                      func(_, _ []byte) []byte { return nil },
		} {
			c := rtSeal(t, key, u, msg, over)
			if got, err := deriveSealKeys(key, u).open(c); err == nil {
				t.Fatalf("etype %d: MAC over the %s opened to %q", et, name, got)
			}
		}
	}
}

// (f) Only AES SHA-1 keys of the right length get sealKeys; every other
// enctype (RC4, the SHA-2 AES, DES, unknown) and any wrong length goes to
// gokrb5's path (nil).
func TestRedTeamSealKeysOnlyAESSHA1RightLength(t *testing.T) {
	for _, et := range []int32{0, -1, 1, 3, 16, 19, 20, 23, 24, 25, 26, 99} {
		for _, n := range []int{0, 16, 32} {
			if s := deriveSealKeys(types.EncryptionKey{KeyType: et, KeyValue: make([]byte, n)}, 11); s != nil {
				t.Errorf("etype %d, %d-byte key: sealKeys made", et, n)
			}
		}
	}
	for _, et := range rtEtypes {
		want := 16
		if et == etypeID.AES256_CTS_HMAC_SHA1_96 {
			want = 32
		}
		for _, n := range []int{0, 1, 15, 16, 17, 24, 31, 32, 33, 64} {
			s := deriveSealKeys(types.EncryptionKey{KeyType: et, KeyValue: make([]byte, n)}, 11)
			if (s != nil) != (n == want) {
				t.Errorf("etype %d, %d-byte key: sealKeys %v", et, n, s != nil)
			}
		}
	}
}

// Concurrency: one sealKeys (one cipher.Block, one Ki) opened and sealed
// from many goroutines at once, as logins with one ticket are; run with
// -race. Every result must be the right one.
func TestRedTeamSealKeysConcurrent(t *testing.T) {
	for _, et := range rtEtypes {
		key := sealKey(et, 7)
		s := deriveSealKeys(key, keyusage.AP_REQ_AUTHENTICATOR)
		var cts [][]byte
		for i := 0; i < 8; i++ {
			ed, _ := crypto.GetEncryptedData(bytes.Repeat([]byte{byte(i)}, 20+i*7), key, keyusage.AP_REQ_AUTHENTICATOR, 0)
			cts = append(cts, ed.Cipher)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 300; i++ {
					k := (g + i) % 8
					got, err := s.open(cts[k])
					if err != nil || !bytes.Equal(got, bytes.Repeat([]byte{byte(k)}, 20+k*7)) {
						errs <- fmt.Errorf("open %d: %x %v", k, got, err)
						return
					}
					msg := bytes.Repeat([]byte{byte(i)}, i%50)
					ct, err := s.seal(msg)
					if err != nil {
						errs <- err
						return
					}
					if back, err := crypto.DecryptMessage(ct, key, keyusage.AP_REQ_AUTHENTICATOR); err != nil || !bytes.Equal(back, msg) {
						errs <- fmt.Errorf("seal %d bytes: gokrb5 opens %x %v", len(msg), back, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("etype %d: %v", et, err)
		}
	}
}

// (b) derWriter.wrap past 16 MiB takes the four-byte length form: an
// AP-REP with a 16 MiB + 1 cipher is gokrb5's bytes.
func TestRedTeamAPRepHugeCipher(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates some 100 MB")
	}
	for _, n := range []int{0xffffff, 0x1000000 + 1} {
		ed := types.EncryptedData{EType: 18, KVNO: 1, Cipher: make([]byte, n)}
		var got []byte
		rtNoPanic(t, "apRep", func() { got = apRep(ed) })
		want, err := fasn1.Marshal(messages.APRep{PVNO: 5, MsgType: msgtype.KRB_AP_REP, EncPart: ed})
		if err != nil {
			t.Fatal(err)
		}
		want = asn1tools.AddASNAppTag(want, asnAppTag.APREP)
		if !bytes.Equal(got, want) {
			t.Fatalf("%d-byte cipher: got %x..., want %x...", n, got[:16], want[:16])
		}
	}
}

// rtWithAuthCipher returns tok (a krbtest token) with its sealed
// authenticator replaced by c; the ticket stays the genuine one.
func rtWithAuthCipher(t *testing.T, tok, c []byte) []byte {
	t.Helper()
	oid, raw, err := splitAPReq(tok)
	if err != nil {
		t.Fatal(err)
	}
	var req messages.APReq
	if err := req.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	req.EncryptedAuthenticator.Cipher = c
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := wrapGSS(oid, tokAPReq, b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// (a)(b)(f) Through the acceptor (accept, without Accept's recover, so
// a panic fails the test): for AES128, AES256 and RC4 session keys, an
// authenticator replaced with random bytes of any length 0..80, or the
// genuine one with a bit flipped or cut, is refused, while the genuine
// token logs in. RC4 goes through gokrb5 (no sealKeys).
func TestRedTeamAcceptForgedAuthenticator(t *testing.T) {
	now := time.Now()
	rng := rand.New(rand.NewPCG(5, 6))
	for _, et := range []int32{etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.RC4_HMAC} {
		kt := krbtest.Keytab(spn, "EXAMPLE.TEST", 2, et)
		toks, err := krbtest.Tokens(krbtest.Ticket{Keytab: kt, EncType: et, Now: now, Mutual: true}, 2)
		if err != nil {
			t.Fatal(err)
		}
		a := acceptor(kt, now)
		genuine := krbtest.Authenticator(toks[0])
		try := func(what string, c []byte) {
			t.Helper()
			var l *Login
			var err error
			tok := rtWithAuthCipher(t, toks[0], c)
			// gokrb5's RC4 decryption panicked on a ciphertext shorter
			// than its checksum; sealedLenOK refuses it first.
			rtNoPanic(t, fmt.Sprintf("etype %d %s", et, what), func() { l, err = a.accept(tok) })
			if err == nil {
				t.Fatalf("etype %d: %s accepted as %v", et, what, l)
			}
		}
		for n := 0; n <= 80; n++ {
			c := make([]byte, n)
			for i := range c {
				c[i] = byte(rng.Uint32())
			}
			try(fmt.Sprintf("random %d-byte authenticator", n), c)
		}
		for i := 0; i < len(genuine); i += 3 {
			c := bytes.Clone(genuine)
			c[i] ^= 0x01
			try(fmt.Sprintf("authenticator with byte %d flipped", i), c)
			try(fmt.Sprintf("authenticator cut to %d", i), genuine[:i])
		}
		l, err := a.accept(toks[0])
		if err != nil {
			t.Fatalf("etype %d: the genuine token: %v", et, err)
		}
		if (l.repKeys != nil) != (et != etypeID.RC4_HMAC) {
			t.Fatalf("etype %d: repKeys %v", et, l.repKeys != nil)
		}
		// The AP-REP opens with gokrb5 and echoes the authenticator's time.
		rep, err := l.APRep()
		if err != nil {
			t.Fatal(err)
		}
		_, inner, err := splitGSS(rep)
		if err != nil {
			t.Fatal(err)
		}
		var ar messages.APRep
		if err := ar.Unmarshal(inner[2:]); err != nil {
			t.Fatal(err)
		}
		plain, err := crypto.DecryptEncPart(ar.EncPart, l.sessionKey, keyusage.AP_REP_ENCPART)
		if err != nil || ar.EncPart.EType != et {
			t.Fatalf("etype %d: AP-REP does not open with gokrb5 (etype %d): %v", et, ar.EncPart.EType, err)
		}
		var part messages.EncAPRepPart
		if err := part.Unmarshal(plain); err != nil || !part.CTime.Equal(l.ctime) || part.Cusec != l.cusec {
			t.Fatalf("etype %d: AP-REP part %+v %v", et, part, err)
		}
		// The second token of the same ticket comes from the ticket cache.
		if _, err := a.accept(toks[1]); err != nil {
			t.Fatalf("etype %d: second token, cached ticket: %v", et, err)
		}
	}
}

// Concurrency: logins with one ticket from many goroutines at once (the
// ticket cache's entry, its sealKeys and cipher.Block shared), each with
// its own authenticator, AP-REP made by each; run with -race. All must
// log in as jdoe and their AP-REPs must open.
func TestRedTeamAcceptConcurrentSameTicket(t *testing.T) {
	now := time.Now()
	for _, et := range []int32{etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96} {
		kt := krbtest.Keytab(spn, "EXAMPLE.TEST", 2, et)
		const n = 64
		toks, err := krbtest.Tokens(krbtest.Ticket{Keytab: kt, EncType: et, Now: now, Mutual: true}, n)
		if err != nil {
			t.Fatal(err)
		}
		a := acceptor(kt, now)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, err := a.Accept(toks[i])
				if err != nil || l.User != "jdoe" {
					errs <- fmt.Errorf("token %d: %v %v", i, l, err)
					return
				}
				rep, err := l.APRep()
				if err != nil {
					errs <- err
					return
				}
				_, inner, _ := splitGSS(rep)
				var ar messages.APRep
				if err := ar.Unmarshal(inner[2:]); err != nil {
					errs <- err
					return
				}
				if _, err := crypto.DecryptEncPart(ar.EncPart, l.sessionKey, keyusage.AP_REP_ENCPART); err != nil {
					errs <- fmt.Errorf("token %d: AP-REP: %v", i, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("etype %d: %v", et, err)
		}
		if len(a.tickets.m) != 1 {
			t.Fatalf("etype %d: %d cache entries for one ticket", et, len(a.tickets.m))
		}
	}
}

// (a) Hand-made edge cases for the fast-path decoders, each held to
// gokrb5 as the fuzzers do: trailing bytes (gokrb5 ignores them, the fast
// path must refuse and fall back), times with a zone offset or fraction,
// integers at their types' edges, long-form lengths, strings of other
// types, empty name sequences.
func TestRedTeamDecodeEdgeCases(t *testing.T) {
	reqs, auths := seedAPReqs(t)
	for i, b := range reqs {
		apReqDecoder.check(t, append(bytes.Clone(b), 0))
		var r messages.APReq
		if decodeAPReq(append(bytes.Clone(b), 0), &r) {
			t.Fatalf("AP-REQ %d with a trailing byte taken by the fast path", i)
		}
	}
	for _, b := range auths {
		authDecoder.check(t, append(bytes.Clone(b), 0))
	}
	gt := func(s string) []byte { return append([]byte{0x18, byte(len(s))}, s...) }
	ctx := func(n byte, c []byte) []byte { return append([]byte{0xa0 | n, byte(len(c))}, c...) }
	intb := func(v ...byte) []byte { return append([]byte{0x02, byte(len(v))}, v...) }
	gs := func(s string) []byte { return append([]byte{0x1b, byte(len(s))}, s...) }
	seq := func(parts ...[]byte) []byte {
		c := bytes.Join(parts, nil)
		return append([]byte{0x30, byte(len(c))}, c...)
	}
	app := func(n byte, c []byte) []byte { return append([]byte{0x60 | n, byte(len(c))}, c...) }
	name := func(strs ...[]byte) []byte { return seq(ctx(0, intb(1)), ctx(1, seq(strs...))) }
	auth := func(cusec, ctime []byte, extra ...[]byte) []byte {
		parts := [][]byte{ctx(0, intb(5)), ctx(1, gs("EXAMPLE.TEST")), ctx(2, name(gs("jdoe"))), ctx(4, cusec), ctx(5, ctime)}
		return app(2, seq(append(parts, extra...)...))
	}
	for _, c := range [][]byte{
		auth(intb(0), gt("20261207010203Z")),
		auth(intb(0), gt("20261207010203+0100")),
		auth(intb(0), gt("20261207010203-0000")),
		auth(intb(0), gt("20261207010203.5Z")),
		auth(intb(0), gt("202612070102Z")),
		auth(intb(0), gt("99991231235959Z")),
		auth(intb(0), gt("00000101000000Z")),
		auth(intb(0xff), gt("20261207010203Z")),
		auth(intb(0x00, 0x80), gt("20261207010203Z")),
		auth(intb(0x00, 0x01), gt("20261207010203Z")),
		auth(intb(0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), gt("20261207010203Z")),
		auth(intb(0x80, 0, 0, 0, 0, 0, 0, 0), gt("20261207010203Z")),
		auth(intb(0x00, 0x80, 0, 0, 0, 0, 0, 0, 0), gt("20261207010203Z")),
		auth(intb(0), gt("20261207010203Z"), ctx(7, intb(0x00, 0xff, 0xff, 0xff, 0xff))),
		auth(intb(0), gt("20261207010203Z"), ctx(7, intb(0x80))),
		auth(intb(0), gt("20261207010203Z"), ctx(6, seq(ctx(0, intb(0x7f, 0xff, 0xff, 0xff)), ctx(1, []byte{4, 0})))),
		auth(intb(0), gt("20261207010203Z"), ctx(6, seq(ctx(0, intb(0x00, 0x80, 0, 0, 0)), ctx(1, []byte{4, 0})))),
		auth(intb(0), gt("20261207010203Z"), ctx(8, seq())),
		auth(intb(0), gt("20261207010203Z"), ctx(8, seq(seq(ctx(0, intb(1)), ctx(1, []byte{4, 0}))))),
		auth(intb(0), gt("20261207010203Z"), ctx(7, intb(1)), ctx(6, seq(ctx(0, intb(18)), ctx(1, []byte{4, 0})))),
		app(2, seq(ctx(0, intb(5)), ctx(1, gs("EXAMPLE.TEST")), ctx(2, name()), ctx(4, intb(0)), ctx(5, gt("20261207010203Z")))),
		app(2, seq(ctx(0, intb(5)), ctx(1, gs("EX\x00AMPLE\xff")), ctx(2, name(gs(""), gs("a\x00b"))), ctx(4, intb(0)), ctx(5, gt("20261207010203Z")))),
		app(2, seq(ctx(0, intb(5)), ctx(1, []byte{0x0c, 2, 'E', 'X'}), ctx(2, name(gs("jdoe"))), ctx(4, intb(0)), ctx(5, gt("20261207010203Z")))),
		app(2, seq(ctx(0, intb(5)), ctx(1, gs("EXAMPLE.TEST")), ctx(2, name([]byte{0x16, 1, 'j'})), ctx(4, intb(0)), ctx(5, gt("20261207010203Z")))),
	} {
		authDecoder.check(t, c)
	}
}

// (a) splitGSS and the encoding/asn1 version on hand-made framings: long
// lengths, a high-tag-number form of [APPLICATION 0] and of OBJECT
// IDENTIFIER, a primitive outer tag, an OID with a non-minimal arc, the
// OID's prefix and extension, an empty inner token.
func TestRedTeamSplitGSSEdgeCases(t *testing.T) {
	oid := append([]byte{0x06, byte(len(derOIDKerberos))}, derOIDKerberos...)
	frame := func(hdr []byte, body ...byte) []byte { return append(bytes.Clone(hdr), body...) }
	body := append(bytes.Clone(oid), 1, 0, 0x6e, 0)
	cases := [][]byte{
		frame([]byte{0x60, byte(len(body))}, body...),
		frame([]byte{0x60, 0x81, byte(len(body))}, body...),
		frame([]byte{0x60, 0x82, 0, byte(len(body))}, body...),
		frame([]byte{0x7f, 0x00, byte(len(body))}, body...),
		frame([]byte{0x40, byte(len(body))}, body...),
		frame([]byte{0x60, 0x80}, append(body, 0, 0)...),
		frame([]byte{0x60, byte(len(oid))}, oid...),
		frame([]byte{0x60, byte(len(body) + 1), 0x1f, 0x06}, body[1:]...),
		frame([]byte{0x60, byte(len(body) + 1), 0x06, byte(len(derOIDKerberos) + 1), 0x80}, append(bytes.Clone(derOIDKerberos), 1, 0)...),
		frame([]byte{0x60, byte(len(body) - 1), 0x06, byte(len(derOIDKerberos) - 1)}, append(bytes.Clone(derOIDKerberos[:len(derOIDKerberos)-1]), 1, 0)...),
		frame([]byte{0x60, byte(len(body) + 1), 0x06, byte(len(derOIDKerberos) + 1)}, append(append(bytes.Clone(derOIDKerberos), 1), 1, 0)...),
		frame([]byte{0x60, byte(len(body) + 1), 0x26, byte(len(derOIDKerberos))}, append(bytes.Clone(derOIDKerberos), 1, 0)...),
		append(frame([]byte{0x60, byte(len(body))}, body...), 0),
	}
	for _, b := range cases {
		o1, i1, e1 := splitGSS(b)
		o2, i2, e2 := splitGSSOracle(b)
		if (e1 == nil) != (e2 == nil) || !o1.Equal(o2) || !bytes.Equal(i1, i2) {
			t.Errorf("%x: %v %x %v; encoding/asn1: %v %x %v", b, o1, i1, e1, o2, i2, e2)
		}
	}
	if !bytes.Equal(derOIDKerberos, []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}) ||
		!bytes.Equal(derOIDKerberosMS, []byte{0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02}) {
		t.Fatalf("OID contents %x %x", derOIDKerberos, derOIDKerberosMS)
	}
	_ = asn1.ObjectIdentifier{}
}

// FuzzRedTeamSealValid reaches what FuzzSealOpen cannot (a random
// ciphertext never carries a good HMAC): for any key, confounder and
// message, the ciphertext gokrb5's own pieces make (rfc3962.EncryptData
// under Ke, then the integrity hash of confounder|message) opens with
// sealKeys to the message, gokrb5's DecryptMessage agrees, and the same
// ciphertext with one bit flipped, or cut, is refused by both; what
// sealKeys seals, gokrb5 opens.
func FuzzRedTeamSealValid(f *testing.F) {
	f.Add(false, []byte("k"), []byte("0123456789abcdef"), []byte("msg"), uint16(0), byte(0), uint16(0))
	f.Add(true, []byte("key"), []byte("fedcba9876543210"), bytes.Repeat([]byte{1}, 33), uint16(40), byte(1), uint16(3))
	f.Fuzz(func(t *testing.T, aes256 bool, seed, conf, msg []byte, at uint16, flip byte, cut uint16) {
		if len(msg) > 2048 {
			return
		}
		et := int32(etypeID.AES128_CTS_HMAC_SHA1_96)
		n := 16
		if aes256 {
			et, n = etypeID.AES256_CTS_HMAC_SHA1_96, 32
		}
		key := types.EncryptionKey{KeyType: et, KeyValue: make([]byte, n)}
		copy(key.KeyValue, seed)
		const usage = keyusage.AP_REQ_AUTHENTICATOR
		e, _ := crypto.GetEtype(et)
		ke, err := e.DeriveKey(key.KeyValue, common.GetUsageKe(usage))
		if err != nil {
			t.Fatal(err)
		}
		pt := make([]byte, 16, 16+len(msg))
		copy(pt, conf)
		pt = append(pt, msg...)
		_, ct, err := rfc3962.EncryptData(ke, pt, e)
		if err != nil {
			t.Fatal(err)
		}
		mac, err := common.GetIntegrityHash(pt, key.KeyValue, usage, e)
		if err != nil {
			t.Fatal(err)
		}
		full := append(ct, mac...)
		s := deriveSealKeys(key, usage)
		if got, err := s.open(full); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("open of a good ciphertext: %x %v, want %x", got, err, msg)
		}
		if got, err := crypto.DecryptMessage(full, key, usage); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("gokrb5 on a good ciphertext: %x %v", got, err)
		}
		bad := bytes.Clone(full)
		if flip != 0 {
			bad[int(at)%len(bad)] ^= flip
		} else {
			bad = bad[:int(cut)%len(bad)]
		}
		got, gerr := s.open(bad)
		want, werr := func() (b []byte, err error) {
			defer func() {
				if recover() != nil {
					b, err = nil, errIntegrity
				}
			}()
			return crypto.DecryptMessage(bad, key, usage)
		}()
		if gerr == nil || got != nil || werr == nil || want != nil {
			t.Fatalf("tampered (%d^%x / cut %d): ours %x %v; gokrb5 %x %v", at, flip, cut, got, gerr, want, werr)
		}
		sealed, err := s.seal(msg)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := crypto.DecryptMessage(sealed, key, usage); err != nil || !bytes.Equal(back, msg) {
			t.Fatalf("gokrb5 opens our seal: %x %v", back, err)
		}
	})
}

// A ticket whose encrypted part is shorter than the enctype's confounder
// and checksum, from a client without any key, is refused before gokrb5's
// decryption, which sliced it out of range and panicked (Accept's recover
// made that a refusal; accept must not need it).
func TestShortTicketCipherRefusedWithoutPanic(t *testing.T) {
	now := time.Now()
	for _, et := range []int32{etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.RC4_HMAC} {
		kt := krbtest.Keytab(spn, "EXAMPLE.TEST", 2, et)
		tok, err := krbtest.Token(krbtest.Ticket{Keytab: kt, EncType: et, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		oid, raw, _ := splitAPReq(tok)
		var req messages.APReq
		if err := req.Unmarshal(raw); err != nil {
			t.Fatal(err)
		}
		e, _ := crypto.GetEtype(et)
		for _, n := range []int{0, 5, 11, e.GetConfounderByteSize() + e.GetHMACBitLength()/8 - 1} {
			req.Ticket.EncPart.Cipher = make([]byte, n)
			b, err := req.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			out, _ := wrapGSS(oid, tokAPReq, b)
			var aerr error
			rtNoPanic(t, fmt.Sprintf("etype %d, ticket cipher of %d bytes", et, n), func() { _, aerr = acceptor(kt, now).accept(out) })
			var ke *Error
			if !errors.As(aerr, &ke) || ke.Cause != CauseMalformed {
				t.Fatalf("etype %d, ticket cipher of %d bytes: %v, want %s", et, n, aerr, CauseMalformed)
			}
		}
	}
}
