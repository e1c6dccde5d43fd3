package cookie

import (
	"errors"
	"net/http"
	"slices"
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

		l, err := c.Decode(value, "", now)
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
		got, err := c.Decode(v, "", now)
		if err != nil {
			t.Fatalf("Decode(Encode(%+v)): %v", in, err)
		}
		if got.User != user || got.Domain != domain || !got.Issued.Equal(in.Issued) || !got.Expires.Equal(in.Expires) {
			t.Fatalf("round trip: got %+v, want %+v", got, in)
		}
		if _, err := other.Decode(v, "", now); !errors.Is(err, ErrBadMAC) {
			t.Fatalf("another cookie name accepted the value: %v", err)
		}
		if h := c.SetCookie(v, Options{Path: "/", Secure: true, HTTPOnly: true}); !strings.HasPrefix(h, "ntlmlogin="+v+";") {
			t.Fatalf("SetCookie = %q", h)
		}
	})
}

// fromHeaderNetHTTP is what FromHeader must agree with: net/http's own
// parser of Cookie headers.
func fromHeaderNetHTTP(header, name string) []string {
	if name == "" || header == "" {
		return nil
	}
	r := &http.Request{Header: http.Header{"Cookie": {header}}}
	var vals []string
	for _, c := range r.CookiesNamed(name) {
		if c.Value != "" {
			vals = append(vals, c.Value)
		}
	}
	return vals
}

// FuzzFromHeader holds FromHeader's hand-written scan to net/http's
// parser, for any header and cookie name.
func FuzzFromHeader(f *testing.F) {
	f.Add("a=1; ntlm_conn=x; b=2", "ntlm_conn")
	f.Add(" \tL=\"q\" ;L= ;L=a\\b;L=ok ;\r\n", "L")
	f.Add("bad name=1; login=abc; c=\"unterminated", "login")
	f.Add("login; login=abc;;", "login")
	f.Add("x=1", "bad name")
	f.Add(strings.Repeat("a=1;", 3000)+"n=v", "n")
	f.Fuzz(func(t *testing.T, header, name string) {
		got, want := FromHeader(header, name), fromHeaderNetHTTP(header, name)
		if !slices.Equal(got, want) {
			t.Fatalf("FromHeader(%q, %q) = %q; net/http: %q", header, name, got, want)
		}
	})
}

func BenchmarkFromHeader(b *testing.B) {
	h := "_ga=GA1.2.3.4; NTLM_CONN=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; lang=en"
	b.ReportAllocs()
	for b.Loop() {
		if v := FromHeader(h, "NTLM_CONN"); len(v) != 1 {
			b.Fatal(v)
		}
	}
}
