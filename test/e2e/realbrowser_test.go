//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/internal/realbrowser"
)

// browserBinary finds a browser by its names. Missing, it fails the test
// under CI=true (make test must run the browser suites) and skips it,
// saying why, elsewhere.
func browserBinary(t *testing.T, pkg string, names ...string) string {
	t.Helper()
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (scripts/deps.sh installs it): the real-browser tests cannot run", pkg)
	}
	t.Skipf("%s is not installed (apt-get install %[1]s, or make deps): skipping the real-browser tests", pkg)
	return ""
}

// browserConfigs runs session for each stack config the browser suites
// cover (the demo's three schemes, NTLM alone) and each of the browser's
// variants, with a marker for its requests (run) and the number of
// WWW-Authenticate fields a first 401 carries.
func browserConfigs(t *testing.T, s *stack, name string, variants []string, session func(t *testing.T, run string, variant, fields int)) {
	schemesLine := regexp.MustCompile(`(?m)^schemes = .*$`)
	for _, cfg := range []struct {
		name    string
		schemes string // the [auth] schemes line; "" keeps the stack's
		fields  int
	}{
		{"three schemes", "", 3},
		{"NTLM alone", `schemes = ["ntlm"]`, 1},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			cookie := cookieConf(t, s, "1h", name)
			s.reconfigure(t, func(c string) string {
				if !schemesLine.MatchString(c) {
					t.Fatalf("the stack's config has no schemes line:\n%s", c)
				}
				if cfg.schemes != "" {
					c = schemesLine.ReplaceAllString(c, cfg.schemes)
				}
				return c + cookie
			})
			for i, v := range variants {
				t.Run(v, func(t *testing.T) {
					run := fmt.Sprintf("%.1s%d%d%d", name, time.Now().Unix()%100000, len(cfg.schemes), i)
					session(t, run, i, cfg.fields)
				})
			}
		})
	}
}

// realUser is one user of a real browser (a Chromium browser context, a
// Firefox user context): cookies, auth cache and connections of its own.
type realUser interface {
	Goto(ctx context.Context, url string) (realbrowser.Page, error)
	SubmitForm(ctx context.Context, action string, fields map[string]string) (realbrowser.Page, error)
	Eval(ctx context.Context, js string) (string, error)
	Prompts() []realbrowser.Prompt
}

// realBrowser is what browserSteps needs of a browser.
type realBrowser struct {
	// newUser opens a new user who types name (a sAMAccountName, "" to
	// cancel every prompt) and password at the prompt, in the form that
	// browser's prompt reads.
	newUser     func(ctx context.Context, name, password string) (realUser, error)
	copyCookies func(ctx context.Context, from, to realUser) error
}

// browserSteps runs every case of the browser suites in one browser. Each
// request's query string (c=RUN-STEP) marks it in the browser's log and in
// Apache's access log, where checkExchanges and checkConnections look.
func browserSteps(ctx context.Context, t *testing.T, s *stack, run string, b realBrowser) {
	t.Helper()
	url := func(path, step string) string { return s.url(path) + "?c=" + run + "-" + step }
	user := func(name, password string) realUser {
		t.Helper()
		u, err := b.newUser(ctx, name, password)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	want := func(u realUser, path, step string, status int, body string) realbrowser.Page {
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

	// Public page: no prompt.
	anon := user("", "")
	want(anon, "/public/whoami", "public", 200, "")
	if p := anon.Prompts(); len(p) != 0 {
		t.Errorf("public page: prompts %+v", p)
	}

	// jdoe logs in once; the next pages ride on the connection.
	jdoe := user("jdoe", users["jdoe"])
	want(jdoe, "/private/whoami", "login", 200, "jdoe")
	want(jdoe, "/private/file.txt", "next1", 200, "")
	want(jdoe, "/private/whoami", "next2", 200, "jdoe")
	if n := realbrowser.Answered(jdoe.Prompts()); n != 1 {
		t.Errorf("jdoe answered %d prompts, want 1: %+v", n, jdoe.Prompts())
	}
	want(jdoe, "/webusers/whoami", "jdoe-webusers", 200, "jdoe")
	want(jdoe, "/powerusers/whoami", "jdoe-powerusers", 200, "jdoe")
	want(jdoe, "/outsiders/whoami", "jdoe-outsiders", 403, "")

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
	if n := realbrowser.Answered(jdoe.Prompts()); n != 1 {
		t.Errorf("jdoe answered %d prompts over the session, want 1: %+v", n, jdoe.Prompts())
	}

	// The login cookie: another user holding jdoe's cookies (so a new
	// connection), who cancels any prompt.
	again := user("", "")
	if err := b.copyCookies(ctx, jdoe, again); err != nil {
		t.Fatal(err)
	}
	want(again, "/private/whoami", "cookie", 200, "jdoe")
	if p := again.Prompts(); len(p) != 0 {
		t.Errorf("with the login cookie: prompts %+v", p)
	}

	// Wrong password: refused, the repeated prompt cancelled.
	wrong := user("jdoe", "Secr3t!Pas")
	if p := want(wrong, "/private/whoami", "wrong", 401, ""); strings.Contains(p.Body, "jdoe") {
		t.Errorf("wrong password: the page shows %q", p.Body)
	}
	if n := realbrowser.Answered(wrong.Prompts()); n < 1 || len(wrong.Prompts()) < 2 {
		t.Errorf("wrong password: want one prompt answered and the next one cancelled: %+v", wrong.Prompts())
	}

	alice := user("alice", users["alice"])
	want(alice, "/webusers/whoami", "alice-webusers", 403, "")
	bob := user("bob", users["bob"])
	want(bob, "/outsiders/whoami", "bob-outsiders", 200, "bob")
}

// checkExchanges checks, from what a browser logged of its own requests,
// that every first challenge came as one field per scheme and without the
// authorizer's helper fields, the answer to a
// Type1 as one field, and that jdoe's session cost one handshake: no
// Authorization on the pages after the login, the cookie sent on the
// cookie's request.
func checkExchanges(t *testing.T, exs []realbrowser.Exchange, run string, fields int) {
	t.Helper()
	marker := "c=" + run + "-"
	firstChallenge := false
	for _, e := range realbrowser.For(exs, marker) {
		auth := e.Get("Authorization")
		n := len(e.Fields("WWW-Authenticate"))
		for _, h := range []string{"GoAuthenNTLM-Challenge-2", "GoAuthenNTLM-Challenge-3"} {
			if v := e.Fields(h); len(v) > 0 {
				t.Errorf("%s: the answer carries %s %q (the test site's ErrorDocument 401 should drop it)", e.Line, h, v)
			}
		}
		switch {
		case e.Status() == 401 && auth == "" && n > 0:
			firstChallenge = true
			if n != fields {
				t.Errorf("%s: %d WWW-Authenticate fields, want %d: %q", e.Line, n, fields, e.Response)
			}
		case e.Status() == 401 && realbrowser.NTLMType(auth) == 1 && n != 1:
			t.Errorf("%s: the answer to a Type1 has %d WWW-Authenticate fields, want 1 (the token): %q", e.Line, n, e.Response)
		}
	}
	if !firstChallenge {
		t.Errorf("no challenge answered a request without credentials")
	}

	var type1, type3 int
	login := realbrowser.For(exs, marker+"login ")
	for _, e := range login {
		switch realbrowser.NTLMType(e.Get("Authorization")) {
		case 1:
			type1++
		case 3:
			type3++
		}
	}
	if len(login) == 0 {
		t.Errorf("jdoe's login is not in the browser's log")
	} else if end := login[len(login)-1].Status(); type1 != 1 || type3 != 1 || end != 200 {
		t.Errorf("jdoe's login: %d Type1, %d Type3 (want one handshake) ending in %d", type1, type3, end)
	}
	for _, step := range []string{"next1", "next2", "jdoe-webusers", "jdoe-powerusers", "formpage", "form", "fetch", "cookie"} {
		ex := realbrowser.For(exs, marker+step+" ")
		if len(ex) == 0 {
			t.Errorf("%s: not in the browser's log", step)
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
