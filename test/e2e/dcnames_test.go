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

// Names and messages a client chooses, found by this project's red teams
// against the real stack: none may make the DC look failed, and a login
// is labelled with the domain whose DC checked it.

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
// password, under every spelling of the served domain (none, NetBIOS or
// DNS name, any case): whatever the DC answers them, it is a refusal (401
// or 400), never a DC failure counted against the DC (503). Each variant
// was sent to Samba 4.17 by hand first. Found so: "user@" with an empty
// domain was answered STATUS_REQUEST_NOT_ACCEPTED, and a wrong password
// for jdoe@example.test STATUS_NOT_FOUND, both DC failures then: three
// requests without a password marked the DC down for everyone.
func TestNoDCFailureFromCraftedType3(t *testing.T) {
	s := loadStack(t)
	url := s.url("/private/whoami")
	const uni, ntlm, ess = ntlmmsg.NegotiateUnicode, ntlmmsg.NegotiateNTLM, ntlmmsg.ExtendedSessionSecurity
	rnd := func(n int) []byte {
		b := make([]byte, n)
		rand.Read(b)
		return b
	}
	for _, domain := range []string{"", "EXAMPLE", "example", "example.test", "EXAMPLE.TEST"} {
		v2 := func(ch *ntlmmsg.Challenge, user string) *ntlmmsg.Authenticate {
			var cc [8]byte
			rand.Read(cc[:])
			au, _, err := ntlmmsg.NewAuthenticateV2(ch, user, domain, "wrong password", "", cc, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			return au
		}
		// user, with a response computed for it, or raw response lengths.
		named := func(user string) func(*ntlmmsg.Challenge) []byte {
			return func(ch *ntlmmsg.Challenge) []byte {
				au := v2(ch, user)
				return rawType3(uni|ntlm|ess, utf16le(domain), utf16le(user), au.LmChallengeResponse, au.NtChallengeResponse)
			}
		}
		randomNT := func(lm, nt int) func(*ntlmmsg.Challenge) []byte {
			return func(*ntlmmsg.Challenge) []byte {
				return rawType3(uni|ntlm|ess, utf16le(domain), utf16le("jdoe"), rnd(lm), rnd(nt))
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
				return rawType3(uni|ntlm|ess, utf16le(domain), utf16le("jdoe"), au.LmChallengeResponse, au.NtChallengeResponse[:40])
			}},
			{"no NTLM flag", func(ch *ntlmmsg.Challenge) []byte {
				au := v2(ch, "jdoe")
				return rawType3(uni, utf16le(domain), utf16le("jdoe"), au.LmChallengeResponse, au.NtChallengeResponse)
			}},
			{"unknown user", named("nosuchuser-rt")},
			{"krbtgt", named("krbtgt")},
			{"machine account", named("DC$")},
			{"UPN of the domain", named("jdoe@example.test")},
			{"UPN, trailing dot", named("jdoe@example.test.")},
			{"UPN, unknown suffix", named("jdoe@zz.invalid")},
			{"UPN twice", named("jdoe@example.test@zz.invalid")},
			{"UPN, empty suffix", named("jdoe@")},
			{"UPN, empty user", named("@example.test")},
			{"only @", named("@")},
			{"@@", named("@@")},
			{"leading @", named("@jdoe")},
			{"backslash user", named(`EXAMPLE\jdoe`)},
			{"slash user", named(`zz/jdoe`)},
			{"trailing dot user", named("jdoe.")},
			{"trailing space user", named("jdoe ")},
			{"long user", named(strings.Repeat("x", 250))},
			{"non-ASCII user", named("jdoé\u200b")},
			{"astral user", named("j😀")},
		} {
			t.Run(domain+"/"+tt.name, func(t *testing.T) {
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
}

// Two domains served by the same DC (as the fallback check advises for a
// trusted domain), default_domain the one that is not the DC's own. A
// Type3 naming no domain is checked by the DC as its own account (the
// challenge's NbDomainName), so that is the label. Found so: the label
// was default_domain's, and where each domain has its own jdoe, EXAMPLE's
// jdoe became OTHER\jdoe. Both with one pool (the same DC list) and with
// two (the DC listed with its port), where the client starts over once.
func TestEmptyDomainLabelledByTheCheckingDC(t *testing.T) {
	s := loadStack(t)
	const uni, ntlm, ess = ntlmmsg.NegotiateUnicode, ntlmmsg.NegotiateNTLM, ntlmmsg.ExtendedSessionSecurity
	url := s.url("/private/env")
	for _, dc := range []string{s.env["DC_IP"], s.env["DC_IP"] + ":445"} {
		t.Run(dc, func(t *testing.T) {
			s.reconfigure(t, func(c string) string {
				c = addDomain(`"`+dc+`"`, "")(c)
				return strings.Replace(c, "[auth]\n", "[auth]\ndefault_domain = \"OTHER\"\n", 1)
			})
			for _, user := range []string{"jdoe", "JDoe"} {
				cl := oneConn()
				var code int
				var body, dcDomain string
				for try := 0; try < 2 && code != 200; try++ {
					neg := &ntlmmsg.Negotiate{Flags: uni | ntlm | ess | ntlmmsg.RequestTarget | ntlmmsg.AlwaysSign}
					ch := ntlmChallenge(t, cl, url, neg)
					av, err := ch.AVPairs()
					if err != nil {
						t.Fatal(err)
					}
					dcDomain = av.String(ntlmmsg.MsvAvNbDomainName)
					var cc [8]byte
					rand.Read(cc[:])
					au, _, err := ntlmmsg.NewAuthenticateV2(ch, user, "", users["jdoe"], "", cc, time.Now())
					if err != nil {
						t.Fatal(err)
					}
					code, _, body = do(t, cl, url, "NTLM "+base64.StdEncoding.EncodeToString(au.Marshal()))
				}
				if code != 200 || envVar(body, "REMOTE_USER") != dcDomain+`\jdoe` {
					t.Errorf("%q with no domain, checked by a DC of %s: %d REMOTE_USER=%q, want %s\\jdoe", user, dcDomain, code, envVar(body, "REMOTE_USER"), dcDomain)
				}
			}
		})
	}
}
