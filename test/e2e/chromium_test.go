//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/internal/chromium"
)

// chromiumBinary finds Debian's chromium. Missing, it fails the test under
// CI=true (make test must run these) and skips it, saying why, elsewhere.
func chromiumBinary(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (scripts/deps.sh installs it): the real-browser tests cannot run")
	}
	t.Skip("chromium is not installed (apt-get install chromium, or make deps): skipping the real-browser tests")
	return ""
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
	schemesLine := regexp.MustCompile(`(?m)^schemes = .*$`)
	for _, cfg := range []struct {
		name    string
		schemes string // the [auth] schemes line; "" keeps the stack's
		fields  int    // WWW-Authenticate fields on a first 401
	}{
		{"three schemes", "", 3},
		{"NTLM alone", `schemes = ["ntlm"]`, 1},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			cookie := cookieConf(t, s, "1h", "chromium")
			s.reconfigure(t, func(c string) string {
				if !schemesLine.MatchString(c) {
					t.Fatalf("the stack's config has no schemes line:\n%s", c)
				}
				if cfg.schemes != "" {
					c = schemesLine.ReplaceAllString(c, cfg.schemes)
				}
				return c + cookie
			})
			for i, flags := range [][]string{nil, {"--auth-server-allowlist=127.0.0.1"}} {
				name := "default"
				if flags != nil {
					name = "allowlist"
				}
				t.Run(name, func(t *testing.T) {
					run := fmt.Sprintf("%d%d%d", time.Now().Unix()%100000, len(cfg.schemes), i)
					browserRun(t, s, bin, run, flags, cfg.fields)
				})
			}
		})
	}
}

// browserRun is one browser's session: every case of the issue, then the
// checks on its NetLog. Each request's query string (c=RUN-STEP) marks it
// in the NetLog and in Apache's access log.
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
	url := func(path, step string) string { return s.url(path) + "?c=" + run + "-" + step }
	user := func(name, password string) *chromium.User {
		t.Helper()
		u, err := b.NewUser(ctx, name, password)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	want := func(u *chromium.User, path, step string, status int, body string) chromium.Page {
		t.Helper()
		p, err := u.Goto(ctx, url(path, step))
		if err != nil {
			t.Errorf("%s: %v", step, err)
			return p
		}
		if p.Status != status || (body != "" && strings.TrimSpace(p.Body) != body) {
			t.Errorf("%s %s: %d %q, want %d %q", step, path, p.Status, p.Body, status, body)
		}
		return p
	}
	answered := func(u *chromium.User) int {
		n := 0
		for _, p := range u.Prompts() {
			if p.Answered {
				n++
			}
		}
		return n
	}

	// Public page: no prompt.
	anon := user("", "")
	want(anon, "/public/whoami", "public", 200, "")
	if p := anon.Prompts(); len(p) != 0 {
		t.Errorf("public page: prompts %+v", p)
	}

	// jdoe logs in once; the next pages ride on the connection.
	jdoe := user(`EXAMPLE\jdoe`, users["jdoe"])
	want(jdoe, "/private/whoami", "login", 200, "jdoe")
	want(jdoe, "/private/file.txt", "next1", 200, "")
	want(jdoe, "/private/whoami", "next2", 200, "jdoe")
	if n := answered(jdoe); n != 1 {
		t.Errorf("jdoe answered %d prompts, want 1: %+v", n, jdoe.Prompts())
	}
	want(jdoe, "/webusers/whoami", "jdoe-webusers", 200, "jdoe")
	want(jdoe, "/powerusers/whoami", "jdoe-powerusers", 200, "jdoe")
	want(jdoe, "/outsiders/whoami", "jdoe-outsiders", 401, "")

	// POSTs after the login: a form, then fetch(); the CGI reports how
	// much of the body it read.
	want(jdoe, "/private/whoami", "formpage", 200, "jdoe")
	p, err := jdoe.SubmitForm(ctx, url("/private/env", "form"), map[string]string{"data": strings.Repeat("x", 30000)})
	if err != nil || p.Status != 200 || !strings.Contains(p.Body, "REMOTE_USER=jdoe\n") || !strings.Contains(p.Body, "STDIN_BYTES=30005\n") {
		t.Errorf("form POST: %v %d %.300q", err, p.Status, p.Body)
	}
	got, err := jdoe.Eval(ctx, fmt.Sprintf(`fetch(%q, {method: 'POST', body: 'y'.repeat(200000)}).then(async r => r.status + '\n' + await r.text())`, url("/private/env", "fetch")))
	if err != nil || !strings.HasPrefix(got, "200\n") || !strings.Contains(got, "REMOTE_USER=jdoe\n") || !strings.Contains(got, "STDIN_BYTES=200000\n") {
		t.Errorf("fetch POST: %v %.300q", err, got)
	}
	if n := answered(jdoe); n != 1 {
		t.Errorf("jdoe answered %d prompts over the session, want 1: %+v", n, jdoe.Prompts())
	}

	// The login cookie: another browser context holding jdoe's cookies
	// (so a new connection), which cancels any prompt.
	cookies, err := jdoe.Cookies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	again := user("", "")
	if err := again.SetCookies(ctx, cookies); err != nil {
		t.Fatal(err)
	}
	want(again, "/private/whoami", "cookie", 200, "jdoe")
	if p := again.Prompts(); len(p) != 0 {
		t.Errorf("with the login cookie: prompts %+v", p)
	}

	// Wrong password: refused, the repeated prompt cancelled.
	wrong := user(`EXAMPLE\jdoe`, "Secr3t!Pas")
	if p := want(wrong, "/private/whoami", "wrong", 401, ""); strings.Contains(p.Body, "jdoe") {
		t.Errorf("wrong password: the page shows %q", p.Body)
	}
	if n := answered(wrong); n < 1 {
		t.Errorf("wrong password: no prompt answered: %+v", wrong.Prompts())
	}

	alice := user(`EXAMPLE\alice`, users["alice"])
	want(alice, "/webusers/whoami", "alice-webusers", 401, "")
	bob := user(`EXAMPLE\bob`, users["bob"])
	want(bob, "/outsiders/whoami", "bob-outsiders", 200, "bob")

	nl = closeBrowser()
	checkNetLog(t, nl, run, fields)
	checkConnections(t, s, run)
}

// checkNetLog checks, from what Chromium logged, that it read every
// challenge and that jdoe's session cost one handshake.
func checkNetLog(t *testing.T, nl *chromium.NetLog, run string, fields int) {
	t.Helper()
	marker := "c=" + run + "-"
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
	firstChallenge := false
	for _, e := range nl.For(marker) {
		auth := e.Get("Authorization")
		var n int
		for _, l := range e.Response {
			if k, _, _ := strings.Cut(l, ":"); strings.EqualFold(k, "WWW-Authenticate") {
				n++
			}
		}
		switch {
		case e.Status() == 401 && auth == "" && n > 0:
			firstChallenge = true
			if n != fields {
				t.Errorf("%s: %d WWW-Authenticate fields, want %d: %q", e.Line, n, fields, e.Response)
			}
		case e.Status() == 401 && ntlmType(auth) == 1 && n != 1:
			t.Errorf("%s: the answer to a Type1 has %d WWW-Authenticate fields, want 1 (the token): %q", e.Line, n, e.Response)
		}
	}
	if !firstChallenge {
		t.Errorf("no challenge answered a request without credentials")
	}

	var type1, type3 int
	login := nl.For(marker + "login ")
	for _, e := range login {
		switch ntlmType(e.Get("Authorization")) {
		case 1:
			type1++
		case 3:
			type3++
		}
	}
	if len(login) == 0 {
		t.Errorf("jdoe's login is not in the NetLog")
	} else if end := login[len(login)-1].Status(); type1 != 1 || type3 != 1 || end != 200 {
		t.Errorf("jdoe's login: %d Type1, %d Type3 (want one handshake) ending in %d", type1, type3, end)
	}
	for _, step := range []string{"next1", "next2", "jdoe-webusers", "jdoe-powerusers", "formpage", "form", "fetch", "cookie"} {
		ex := nl.For(marker + step + " ")
		if len(ex) == 0 {
			t.Errorf("%s: not in the NetLog", step)
		}
		for _, e := range ex {
			if a := e.Get("Authorization"); a != "" {
				t.Errorf("%s: sent Authorization %.20s... after the login", step, a)
			}
		}
		if step == "cookie" && len(ex) > 0 && !strings.Contains(ex[0].Get("Cookie"), "NTLM_AUTHEN=") {
			t.Errorf("cookie: the request carried no login cookie (Cookie: %q)", ex[0].Get("Cookie"))
		}
	}
}

// ntlmType is the NTLM message type an Authorization value carries (raw
// NTLM, in the NTLM or the Negotiate scheme), 0 if none.
func ntlmType(auth string) int {
	_, tok, _ := strings.Cut(auth, " ")
	switch {
	case strings.HasPrefix(tok, "TlRMTVNTUAAB"):
		return 1
	case strings.HasPrefix(tok, "TlRMTVNTUAAD"):
		return 3
	}
	return 0
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
