//go:build linux

package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// The fixed data set of scripts/dc.sh.
var users = map[string]string{
	"jdoe":  "Secr3t!Pass",
	"alice": "Al1ce!Pass",
	"bob":   "B0b!Passw0rd",
	// in 1,000 groups (scripts/dc.sh many_groups)
	"manygroups": "M4ny!Groups",
}

func TestCurlNTLM(t *testing.T) {
	s := loadStack(t)
	tests := []struct {
		name, user, password string
		want                 string // status, and body when 200
	}{
		{"right password", `EXAMPLE\jdoe`, users["jdoe"], "200 jdoe"},
		{"no domain", `jdoe`, users["jdoe"], "200 jdoe"},
		{"wrong password", `EXAMPLE\jdoe`, "wrong", "401"},
		{"unknown user", `EXAMPLE\nosuchuser`, "x", "401"},
		{"other user", `EXAMPLE\alice`, users["alice"], "200 alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := curl(t, "--ntlm", "-u", tt.user+":"+tt.password, "-w", "\n%{http_code}", s.url("/private/whoami"))
			i := strings.LastIndexByte(out, '\n')
			body, code := strings.TrimSpace(out[:max(i, 0)]), strings.TrimSpace(out[i+1:])
			got := code
			if code == "200" {
				got += " " + body
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNoCredentialsChallenges(t *testing.T) {
	s := loadStack(t)
	out := curl(t, "-i", s.url("/private/whoami"))
	if !strings.HasPrefix(out, "HTTP/1.1 401") || !strings.Contains(out, "\nWWW-Authenticate: NTLM") {
		t.Errorf("want 401 with WWW-Authenticate: NTLM, got:\n%s", out)
	}
	if out := curl(t, "-o", "/dev/null", "-w", "%{http_code}", s.url("/public/file.txt")); out != "200" {
		t.Errorf("/public/file.txt: %s, want 200 without login", out)
	}
}

// One handshake authenticates the connection: the second request on it
// needs no Authorization, as browsers do.
func TestOneHandshakePerConnection(t *testing.T) {
	s := loadStack(t)
	c := &counter{}
	cl := ntlmClient(c)
	for i := 0; i < 3; i++ {
		code, body := get(t, cl, s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"])
		if code != 200 || body != "jdoe" {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	if n := c.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
	if n1, n3 := c.type1.Load(), c.type3.Load(); n1 != 1 || n3 != 1 {
		t.Errorf("%d Type1 and %d Type3 sent, want one handshake", n1, n3)
	}

	// And curl, fetching two URLs on one connection.
	// -b "": curl's cookie engine, for the binding cookie (bind_connections).
	out := curl(t, "--ntlm", "-b", "", "-u", `EXAMPLE\bob:`+users["bob"], "-w", " %{http_code} %{num_connects}\n",
		s.url("/private/whoami"), s.url("/private/whoami"))
	if want := "bob\n 200 1\nbob\n 200 0\n"; out != want {
		t.Errorf("curl two URLs: %q, want %q", out, want)
	}
}

func TestParallelUsersSeeThemselves(t *testing.T) {
	s := loadStack(t)
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for round := 0; round < 5; round++ {
		for u, p := range users {
			wg.Add(1)
			go func(u, p string) {
				defer wg.Done()
				cl := ntlmClient(nil)
				for i := 0; i < 2; i++ {
					code, body := get(t, cl, s.url("/private/whoami"), `EXAMPLE\`+u, p)
					if code != 200 || body != u {
						errs <- fmt.Errorf("%s request %d: %d %q", u, i, code, body)
						return
					}
				}
			}(u, p)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A Type3 that fails gets a fresh challenge and Connection: close, so the
// client starts over on a new connection.
func TestFailureClosesConnection(t *testing.T) {
	s := loadStack(t)
	out := curl(t, "-i", "--ntlm", "-u", `EXAMPLE\jdoe:wrong`, s.url("/private/whoami"))
	last := out[strings.LastIndex(out, "HTTP/1.1 "):]
	if !strings.HasPrefix(last, "HTTP/1.1 401") || !strings.Contains(last, "Connection: close") || !strings.Contains(last, "WWW-Authenticate: NTLM") {
		t.Errorf("final answer to a wrong password:\n%s", last)
	}
}

// With the DC down, logins get 503 with the reason in the log; once it is
// back, they work again without restarting anything.
func TestDCDownThenBack(t *testing.T) {
	s := loadStack(t)
	if testing.Short() {
		t.Skip("stops and starts the DC: not in -short")
	}
	off := s.logOffset(t)
	s.ctl(t, "dc-stop")
	restarted := false
	defer func() {
		if !restarted {
			s.ctl(t, "dc-start")
		}
	}()
	code, _ := get(t, ntlmClient(nil), s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"])
	if code != 503 {
		t.Errorf("DC down: %d, want 503", code)
	}
	if log, _ := s.logSince(t, off); !strings.Contains(log, "no domain controller could answer") {
		t.Errorf("authorizer log lacks the reason:\n%s", log)
	}
	s.ctl(t, "dc-start")
	restarted = true
	waitLogin(t, s)
}

func TestNameFormats(t *testing.T) {
	s := loadStack(t)
	for _, tt := range []struct{ format, lower, want string }{
		{"logon", "false", `EXAMPLE\jdoe`},
		{"upn", "false", "jdoe@example.test"},
		{"sam", "true", "jdoe"},
		{"sam", "false", "jdoe"},
	} {
		t.Run(tt.format+"/lowercase="+tt.lower, func(t *testing.T) {
			s.reconfigure(t, func(c string) string {
				c = regexp.MustCompile(`(?m)^name_format = .*$`).ReplaceAllString(c, `name_format = "`+tt.format+`"`)
				return strings.Replace(c, "[auth]\n", "[auth]\nlowercase_user = "+tt.lower+"\n", 1)
			})
			// The directory's spelling of the account reaches
			// REMOTE_USER (with LDAP configured, as in the stack), not
			// the one typed, in the format.
			code, body := get(t, ntlmClient(nil), s.url("/private/whoami"), `EXAMPLE\JDoe`, users["jdoe"])
			if code != 200 || body != tt.want {
				t.Errorf("%d %q, want 200 %q", code, body, tt.want)
			}
		})
	}
}

// A reload keeps authenticated connections: the next request on one needs
// no new handshake.
func TestReloadKeepsLogins(t *testing.T) {
	s := loadStack(t)
	c := &counter{}
	cl := ntlmClient(c)
	if code, body := get(t, cl, s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 200 || body != "jdoe" {
		t.Fatalf("login: %d %q", code, body)
	}
	s.reload(t)
	if code, body := get(t, cl, s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 200 || body != "jdoe" {
		t.Fatalf("after reload: %d %q", code, body)
	}
	if n := c.type1.Load(); n != 1 {
		t.Errorf("%d handshakes, want 1: the reload dropped the login", n)
	}
}
