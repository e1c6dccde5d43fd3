package ntlmmsg

import (
	"reflect"
	"testing"
)

// FuzzParse feeds arbitrary bytes to every decoder. None may panic, and any
// message that decodes must re-encode into one that decodes to the same
// value: the relay re-marshals what it parses, so a lossy or
// non-idempotent codec would corrupt authentication.
//
// Seeds live in testdata/fuzz/FuzzParse; f.Add adds the MS-NLMP vectors.
func FuzzParse(f *testing.F) {
	f.Add(unhex(f, specChallenge))
	f.Add(unhex(f, specAuthenticate))
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, typErr := Type(b)

		var parsed int
		check := func(name string, m any, reparse func([]byte) (any, error), marshal func() []byte) {
			parsed++
			again, err := reparse(marshal())
			if err != nil {
				t.Fatalf("%s: re-parse of Marshal failed: %v\ninput %x", name, err, b)
			}
			if !reflect.DeepEqual(again, m) {
				t.Fatalf("%s: round trip changed the message:\n got %+v\nwant %+v", name, again, m)
			}
		}
		if m, err := ParseNegotiate(b); err == nil {
			check("NEGOTIATE", m, parseNeg, m.Marshal)
			_ = m.LogValue().String()
		}
		if m, err := ParseChallenge(b); err == nil {
			check("CHALLENGE", m, parseCh, m.Marshal)
			_ = m.LogValue().String()
			_, _ = m.AVPairs()
		}
		if m, err := ParseAuthenticate(b); err == nil {
			check("AUTHENTICATE", m, parseAu, m.Marshal)
			_ = m.LogValue().String()
			_, _, _ = m.Anonymous(), m.NoCredentials(), m.NTLMv2()
			_, _, _ = m.ClientAVPairs()
		}
		if p, err := ParseAVPairs(b); err == nil {
			again, err := ParseAVPairs(p.Marshal())
			if err != nil || !reflect.DeepEqual(again, p) {
				t.Fatalf("AV pairs round trip: %v, %v != %v", err, again, p)
			}
			for _, av := range p {
				_ = p.String(av.ID)
			}
		}

		// Type is the dispatcher: a message it rejects must be rejected
		// by every message decoder, and at most the one it names may
		// accept it.
		switch {
		case typErr != nil && parsed > 0:
			t.Fatalf("Type rejected (%v) a message a decoder accepted", typErr)
		case parsed > 1:
			t.Fatalf("%d decoders accepted one message of type %v", parsed, typ)
		}
	})
}
