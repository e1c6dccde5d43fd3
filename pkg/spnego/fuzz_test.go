package spnego

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode. It must never panic, must
// fail only with ErrMalformed or ErrNotSPNEGO, and whatever it accepts must
// re-encode to a token that decodes to the same value: the authorizer
// answers with tokens built from these types, so an encoder that cannot
// express what the decoder accepts would send clients garbage.
//
// Seeds live in testdata/fuzz/FuzzDecode; f.Add adds the captured vectors.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{capturedWindowsInit, capturedNegoExInit, capturedServerChallenge, gokrb5NegTokenResp, windowsStyleInit} {
		f.Add(unhex(f, s))
	}
	f.Add(wrapInit(f, unhex(f, gokrb5NegTokenInit)))
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := Decode(b)
		if err != nil {
			if tok != nil {
				t.Fatalf("Decode returned a token with error %v", err)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotSPNEGO) {
				t.Fatalf("Decode error %v wraps neither sentinel", err)
			}
			return
		}
		var (
			m   interface{ Marshal() ([]byte, error) }
			val any
		)
		switch {
		case tok.Init != nil && tok.Resp == nil:
			m, val = tok.Init, *tok.Init
			_ = tok.Init.Offers(OIDNTLM)
			_ = tok.Init.TokenFor(OIDNTLM)
			for _, o := range tok.Init.MechTypes {
				_ = MechName(o)
			}
		case tok.Resp != nil && tok.Init == nil:
			m, val = tok.Resp, *tok.Resp
			_ = tok.Resp.NegState.String()
		default:
			t.Fatalf("Decode = %+v: want exactly one of Init and Resp", tok)
		}
		enc, err := m.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a decoded token failed: %v\ninput %x", err, b)
		}
		again, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Marshal) failed: %v\ninput %x\nenc   %x", err, b, enc)
		}
		var got any
		if again.Init != nil {
			got = *again.Init
		} else if again.Resp != nil {
			got = *again.Resp
		}
		if !reflect.DeepEqual(got, val) {
			t.Fatalf("round trip changed the token:\n got %+v\nwant %+v", got, val)
		}
		// Marshal is a function of the value: encoding twice agrees.
		if enc2, _ := m.Marshal(); !bytes.Equal(enc, enc2) {
			t.Fatalf("Marshal is not deterministic")
		}
	})
}
