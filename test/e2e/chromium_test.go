//go:build linux

package e2e

import (
	"context"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/internal/chromium"
)

// chromiumBinary finds Debian's chromium (see browserBinary).
func chromiumBinary(t *testing.T) string {
	t.Helper()
	return browserBinary(t, "chromium", "chromium", "chromium-browser")
}

// TestChromium logs users in with a real, headless Chromium, credentials
// typed at its prompt, on the stack as the demo runs it (NTLM, Negotiate
// and Basic offered) and with NTLM alone; each also with Chromium's
// allow-list on (ambient credentials: it tries Negotiate through GSSAPI
// first, which has no ticket here). What Chromium sent and received comes
// from its NetLog, which a failure prints.
func TestChromium(t *testing.T) {
	s := loadStack(t)
	bin := chromiumBinary(t)
	flags := [][]string{nil, {"--auth-server-allowlist=127.0.0.1"}}
	browserConfigs(t, s, "chromium", []string{"default", "allowlist"}, func(t *testing.T, run string, variant, fields int) {
		browserRun(t, s, bin, run, flags[variant], fields)
	})
}

// browserRun is one Chromium session: every case of the issue
// (browserSteps), then the checks on its NetLog.
func browserRun(t *testing.T, s *stack, bin, run string, flags []string, fields int) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b, err := chromium.Launch(ctx, chromium.Options{Binary: bin, Dir: t.TempDir(), Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	var nl *chromium.NetLog
	closeBrowser := func() *chromium.NetLog {
		if nl == nil {
			if err := b.Close(); err != nil {
				t.Errorf("closing chromium: %v", err)
			}
			var err error
			if nl, err = chromium.ReadNetLog(b.NetLogPath); err != nil {
				t.Fatalf("%v (chromium's output: %s)", err, b.LogPath)
			}
		}
		return nl
	}
	defer func() {
		nl := closeBrowser()
		if t.Failed() {
			t.Logf("Chromium's NetLog for this run (-> request, <- response, auth: its verdict on a challenge):\n%s", nl.Summary("c="+run+"-"))
		}
	}()
	browserSteps(ctx, t, s, run, realBrowser{
		newUser: func(ctx context.Context, name, password string) (realUser, error) {
			if name != "" {
				name = `EXAMPLE\` + name
			}
			return b.NewUser(ctx, name, password)
		},
		copyCookies: func(ctx context.Context, from, to realUser) error {
			cs, err := from.(*chromium.User).Cookies(ctx)
			if err != nil {
				return err
			}
			return to.(*chromium.User).SetCookies(ctx, cs)
		},
	})
	nl = closeBrowser()
	checkNetLog(t, nl, run, fields)
	checkConnections(t, s, run)
}

// checkNetLog checks, from what Chromium logged, that it read every
// challenge, connected to loopback addresses only, and that jdoe's session
// cost one handshake.
func checkNetLog(t *testing.T, nl *chromium.NetLog, run string, fields int) {
	t.Helper()
	if len(nl.Connects) == 0 {
		t.Errorf("the NetLog shows no TCP connection")
	}
	for _, a := range nl.Connects {
		if host, _, err := net.SplitHostPort(a); err != nil || !net.ParseIP(host).IsLoopback() {
			t.Errorf("Chromium connected to %s, not a loopback address", a)
		}
	}
	for _, v := range nl.Verdicts {
		if strings.ContainsAny(v.Scheme, ", ") {
			t.Errorf("Chromium could not parse a challenge: %s", v)
		}
	}
	checkExchanges(t, nl.Exchanges, run, fields)
}

// accessLine is a line of the stack's access log (LogFormat "stack").
type accessLine struct {
	peer, user, request string
	status, keepalives  int
}

var accessRE = regexp.MustCompile(`^(\S+) (\S+) \[[^\]]*\] "([^"]*)" (\d+) \S+ \d+ (\d+)`)

// accessLog returns the access log lines whose request contains marker.
func (s *stack) accessLog(t *testing.T, marker string) []accessLine {
	t.Helper()
	b, err := os.ReadFile(s.env["APACHE_ACCESS_LOG"])
	if err != nil {
		t.Fatal(err)
	}
	var out []accessLine
	for _, l := range strings.Split(string(b), "\n") {
		m := accessRE.FindStringSubmatch(l)
		if m == nil || !strings.Contains(m[3], marker) {
			continue
		}
		st, _ := strconv.Atoi(m[4])
		k, _ := strconv.Atoi(m[5])
		out = append(out, accessLine{peer: m[1], user: m[2], request: m[3], status: st, keepalives: k})
	}
	return out
}

// checkConnections checks from Apache's side that the pages after jdoe's
// login came on the connection that logged in, and the cookie's request on
// a new one.
func checkConnections(t *testing.T, s *stack, run string) {
	t.Helper()
	marker := "c=" + run + "-"
	last := func(step string) (accessLine, bool) {
		l := s.accessLog(t, marker+step+" ")
		if len(l) == 0 {
			t.Errorf("%s: not in Apache's access log", step)
			return accessLine{}, false
		}
		return l[len(l)-1], true
	}
	login, ok1 := last("login")
	next1, ok2 := last("next1")
	next2, ok3 := last("next2")
	if ok1 && ok2 && ok3 {
		if login.status != 200 || next1.peer != login.peer || next2.peer != login.peer || next1.keepalives <= login.keepalives || next2.keepalives <= next1.keepalives {
			t.Errorf("the pages after the login did not follow it on its connection:\n%+v\n%+v\n%+v", login, next1, next2)
		}
	}
	if c, ok := last("cookie"); ok && (c.status != 200 || c.user != "jdoe" || c.keepalives != 0 || c.peer == login.peer) {
		t.Errorf("the cookie's request was not the first on a new connection: %+v (login %+v)", c, login)
	}
}
