//go:build linux

package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
)

// Attacks found by the red team (round of issues 11-18), each as it was
// made against the real stack.

// A client must not be able to make the DC look failed: Samba answers
// STATUS_REQUEST_NOT_ACCEPTED (a DC failure, which counts towards marking
// the DC down) to a login whose user ends in '@' and whose domain is
// empty. No password is needed, so three such requests marked the DC
// down for everyone.
func TestNoDCFailureFromClientNames(t *testing.T) {
	s := loadStack(t)
	off := s.logOffset(t)
	for _, user := range []string{"zzz@", "@", "jdoe@"} {
		for i := 0; i < 4; i++ {
			if code := basicCode(t, s, user, "x"); code != 401 {
				t.Errorf("Basic as %q: %d, want 401", user, code)
			}
		}
		last := lastAnswer(curl(t, "-i", "--ntlm", "-u", user+":x", s.url("/private/whoami")))
		if !strings.HasPrefix(last, "HTTP/1.1 401") {
			t.Errorf("NTLM as %q: want 401, got:\n%s", user, last)
		}
	}
	log, _ := s.logSince(t, off)
	if strings.Contains(log, "failed to check a login") || strings.Contains(log, "marked down") {
		t.Errorf("client-chosen names counted against the DC:\n%s", log)
	}
	if code, body := get(t, ntlmClient(nil), s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 200 || body != "jdoe" {
		t.Errorf("jdoe afterwards: %d %q", code, body)
	}
}

// Malformed and hostile AUTHENTICATE messages, none with a right
// password: whatever the DC answers them, it is a refusal (401 or 400),
// never a DC failure counted against the DC (503). Each variant was sent
// to Samba 4.17 by hand first; "user@" with an empty domain was the one
// answered STATUS_REQUEST_NOT_ACCEPTED.
func TestNoDCFailureFromCraftedType3(t *testing.T) {
	s := loadStack(t)
	url := s.url("/private/whoami")
	const uni, ntlm, ess = ntlmmsg.NegotiateUnicode, ntlmmsg.NegotiateNTLM, ntlmmsg.ExtendedSessionSecurity
	rnd := func(n int) []byte {
		b := make([]byte, n)
		rand.Read(b)
		return b
	}
	v2 := func(ch *ntlmmsg.Challenge, user string) *ntlmmsg.Authenticate {
		var cc [8]byte
		rand.Read(cc[:])
		au, _, err := ntlmmsg.NewAuthenticateV2(ch, user, "", "wrong password", "", cc, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return au
	}
	// user, with a response computed for it, or raw response lengths.
	named := func(user string) func(*ntlmmsg.Challenge) []byte {
		return func(ch *ntlmmsg.Challenge) []byte {
			au := v2(ch, user)
			return rawType3(uni|ntlm|ess, nil, utf16le(user), au.LmChallengeResponse, au.NtChallengeResponse)
		}
	}
	randomNT := func(lm, nt int) func(*ntlmmsg.Challenge) []byte {
		return func(*ntlmmsg.Challenge) []byte {
			return rawType3(uni|ntlm|ess, nil, utf16le("jdoe"), rnd(lm), rnd(nt))
		}
	}
	for _, tt := range []struct {
		name  string
		type3 func(*ntlmmsg.Challenge) []byte
	}{
		{"NTLMv1 length", randomNT(24, 24)},
		{"between v1 and v2", randomNT(24, 30)},
		{"random v2 blob", randomNT(24, 200)},
		{"short NT", randomNT(24, 16)},
		{"LM only", randomNT(24, 0)},
		{"truncated v2 blob", func(ch *ntlmmsg.Challenge) []byte {
			au := v2(ch, "jdoe")
			return rawType3(uni|ntlm|ess, nil, utf16le("jdoe"), au.LmChallengeResponse, au.NtChallengeResponse[:40])
		}},
		{"no NTLM flag", func(ch *ntlmmsg.Challenge) []byte {
			au := v2(ch, "jdoe")
			return rawType3(uni, nil, utf16le("jdoe"), au.LmChallengeResponse, au.NtChallengeResponse)
		}},
		{"unknown user", named("nosuchuser-rt")},
		{"krbtgt", named("krbtgt")},
		{"machine account", named("DC$")},
		{"UPN, unknown suffix", named("jdoe@zz.invalid")},
		{"UPN, empty suffix", named("jdoe@")},
		{"UPN, empty user", named("@example.test")},
		{"only @", named("@")},
		{"@@", named("@@")},
		{"long user", named(strings.Repeat("x", 250))},
		{"non-ASCII user", named("jdoé\u200b")},
		{"astral user", named("j😀")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			off := s.logOffset(t)
			cl := oneConn()
			neg := &ntlmmsg.Negotiate{Flags: uni | ntlm | ess | ntlmmsg.RequestTarget | ntlmmsg.AlwaysSign}
			ch := ntlmChallenge(t, cl, url, neg)
			code, _, body := do(t, cl, url, "NTLM "+base64.StdEncoding.EncodeToString(tt.type3(ch)))
			if code != 401 && code != 400 {
				t.Errorf("%d %q, want 401 or 400", code, body)
			}
			if log, _ := s.logSince(t, off); strings.Contains(log, "failed to check a login") || strings.Contains(log, "marked down") {
				t.Errorf("counted against the DC:\n%s", log)
			}
		})
	}
}
