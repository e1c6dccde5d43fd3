package cookie

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzDecode checks, for arbitrary values, that Decode never panics, that
// every error wraps exactly one sentinel, and that only what Encode produced
// decodes: a decoded Login re-encodes to the very same value. For arbitrary
// logins it checks that Encode either refuses or produces a value that
// decodes back to the same Login, only under this cookie name.
//
// Seeds live in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	c := mustCodec(f, "ntlmlogin", secretA)
	good := c.Encode(login("alice", "CORP"))
	f.Add(good, "alice", "CORP", t0.Unix(), int64(3600))
	f.Add(good[:len(good)-1], "a;b=c", "ДОМЕН", int64(0), int64(1))
	f.Add("", "", "", int64(-1), int64(-1))
	f.Fuzz(func(t *testing.T, value, user, domain string, issued, life int64) {
		other := mustCodec(t, "other", secretA)
		now := time.Unix(issued, 0)

		l, err := c.Decode(value, now)
		if err == nil {
			if again := c.Encode(l); again != value {
				t.Fatalf("Decode accepted %q, which Encode writes as %q", value, again)
			}
		} else {
			n := 0
			for _, s := range []error{ErrMalformed, ErrBadMAC, ErrExpired} {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 || l != (Login{}) {
				t.Fatalf("Decode = %+v, %v: want a zero Login and one sentinel", l, err)
			}
			if len(value) > 8 && strings.Contains(err.Error(), value) {
				t.Fatalf("error %q contains the value", err)
			}
		}

		in := Login{User: user, Domain: domain, Issued: now, Expires: time.Unix(issued+life, 0)}
		v := c.Encode(in)
		if v == "" {
			if user != "" && utf8.ValidString(user) && utf8.ValidString(domain) && life > 0 &&
				issued >= 0 && issued <= maxUnix-life && len(user)+len(domain) < 600 {
				t.Fatalf("Encode refused %+v", in)
			}
			return
		}
		if len(v) > MaxValueLen {
			t.Fatalf("Encode wrote %d bytes", len(v))
		}
		got, err := c.Decode(v, now)
		if err != nil {
			t.Fatalf("Decode(Encode(%+v)): %v", in, err)
		}
		if got.User != user || got.Domain != domain || !got.Issued.Equal(in.Issued) || !got.Expires.Equal(in.Expires) {
			t.Fatalf("round trip: got %+v, want %+v", got, in)
		}
		if _, err := other.Decode(v, now); !errors.Is(err, ErrBadMAC) {
			t.Fatalf("another cookie name accepted the value: %v", err)
		}
		if h := c.SetCookie(v, Options{Path: "/", Secure: true, HTTPOnly: true}); !strings.HasPrefix(h, "ntlmlogin="+v+";") {
			t.Fatalf("SetCookie = %q", h)
		}
	})
}
