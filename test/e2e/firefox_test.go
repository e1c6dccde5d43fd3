//go:build linux

package e2e

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/internal/firefox"
	"github.com/goauthenntlm/goauthenntlm/internal/realbrowser"
)

// TestFirefox logs users in with a real, headless Firefox, credentials
// typed at its prompt, on the stack as the demo runs it (NTLM, Negotiate
// and Basic offered) and with NTLM alone; each with a fresh profile as
// Firefox ships and with the site in network.automatic-ntlm-auth and
// network.negotiate-auth.trusted-uris, as a domain's policy sets them.
// What Firefox sent, received and decided comes from its HTTP log, which a
// failure prints.
func TestFirefox(t *testing.T) {
	s := loadStack(t)
	bin := browserBinary(t, "firefox-esr", "firefox-esr", "firefox")
	trusted := []string{"", "127.0.0.1"}
	browserConfigs(t, s, "firefox", []string{"default", "trusted-uris"}, func(t *testing.T, run string, variant, fields int) {
		firefoxRun(t, s, bin, run, trusted[variant], fields)
	})
}

// firefoxRun is one Firefox session: every case of the issue
// (browserSteps), then the checks on its HTTP log.
func firefoxRun(t *testing.T, s *stack, bin, run, trusted string, fields int) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b, err := firefox.Launch(ctx, firefox.Options{Binary: bin, Dir: t.TempDir(), TrustedURIs: trusted})
	if err != nil {
		t.Fatal(err)
	}
	var hl *firefox.HTTPLog
	closeBrowser := func() *firefox.HTTPLog {
		if hl == nil {
			if err := b.Close(); err != nil {
				t.Errorf("closing firefox: %v", err)
			}
			var err error
			if hl, err = firefox.ReadHTTPLog(b.HTTPLogGlob); err != nil {
				t.Fatalf("%v (firefox's output: %s)", err, b.LogPath)
			}
		}
		return hl
	}
	defer func() {
		hl := closeBrowser()
		if t.Failed() {
			t.Logf("%s's HTTP log for this run (-> request [transaction], <- response, then its reasoning on the challenges):\n%s", b.Version, hl.Summary("c="+run+"-"))
		}
	}()
	browserSteps(ctx, t, s, run, realBrowser{
		// Typed without a domain: Firefox's own prompt splits
		// DOMAIN\user into the NTLM domain and user, WebDriver BiDi's
		// continueWithAuth does not (the whole would go as the user name).
		newUser: func(ctx context.Context, name, password string) (realUser, error) {
			return b.NewUser(ctx, name, password)
		},
		copyCookies: func(ctx context.Context, from, to realUser) error {
			return from.(*firefox.User).CopyCookies(ctx, to.(*firefox.User))
		},
	})
	hl = closeBrowser()
	checkExchanges(t, hl.Exchanges, run, fields)
	checkFirefoxLog(t, hl, run, trusted != "", fields > 1)
	checkConnections(t, s, run)
}

// checkFirefoxLog checks what only Firefox's log shows: the connection
// each request went on (the login's handshake and the pages after it on
// one), that nothing but loopback answered, and how Firefox chose among
// the schemes: Negotiate first, through GSSAPI only for a trusted site
// (where, without a ticket, gss_init_sec_context fails), then NTLM after a
// prompt (no default credentials on Linux without winbind), never Basic
// while NTLM is offered.
func checkFirefoxLog(t *testing.T, hl *firefox.HTTPLog, run string, trusted, negotiate bool) {
	t.Helper()
	marker := "c=" + run + "-"
	for _, e := range hl.Exchanges {
		host := realbrowser.Lookup(e.Header, "Host")
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if e.Status() != 0 && !net.ParseIP(host).IsLoopback() {
			t.Errorf("Firefox got an answer from %q (%s), not a loopback address", host, e.Line)
		}
	}
	conns := map[string]bool{}
	for _, e := range hl.For(marker + "login ") {
		if realbrowser.NTLMType(e.Get("Authorization")) != 0 {
			conns[e.Conn] = true
		}
	}
	if len(conns) != 1 || conns[""] {
		t.Errorf("jdoe's handshake went on connections %v, want one", conns)
	}
	for _, step := range []string{"next1", "next2"} {
		for _, e := range hl.For(marker + step + " ") {
			if !conns[e.Conn] {
				t.Errorf("%s went on connection %s, not the login's %v", step, e.Conn, conns)
			}
		}
	}
	has := func(s string) bool {
		return slices.ContainsFunc(hl.Verdicts, func(v string) bool { return strings.Contains(v, s) })
	}
	if !has("trying auth for ntlm") {
		t.Errorf("Firefox's log does not show it trying NTLM")
	}
	if has("trying auth for basic") && !has("trying auth for ntlm") {
		t.Errorf("Firefox chose Basic")
	}
	// Single sign-on by NTLM: a trusted site may get the desktop login's
	// credentials, which Firefox on Linux has only through Samba's
	// ntlm_auth and winbind's cached credentials; here it has none, says
	// so, and prompts (jdoe answered one prompt in both cases).
	if trusted && (!has("Default credentials allowed for host: 1") || !has("Native sys-ntlm auth module not found")) {
		t.Errorf("a trusted site: Firefox's log does not show it looking for default NTLM credentials and finding no system module")
	}
	if !trusted && has("Default credentials allowed for host: 1") {
		t.Errorf("a site not in network.automatic-ntlm-auth.trusted-uris was allowed default credentials")
	}
	if negotiate {
		switch {
		case !has("trying auth for negotiate"):
			t.Errorf("Firefox did not consider Negotiate")
		case trusted && !has("gss_init_sec_context() failed"):
			t.Errorf("a trusted site without a Kerberos ticket: Firefox's log does not show GSSAPI failing")
		case !trusted && !has("URI blocked"):
			t.Errorf("an untrusted site: Firefox's log does not show Negotiate refused for it")
		}
	}
}

// firefoxVisit opens each url in a user context of its own (one typing
// user and password at any prompt, "" to cancel) of one headless Firefox
// with options o for the site host: every name resolves to 127.0.0.1 in
// the profile, and host goes there directly, not to the dead proxy the
// rest goes to. It returns the pages and the prompts each user saw, and
// Firefox's HTTP log, which a failing test prints (the requests whose line
// has marker).
func firefoxVisit(t *testing.T, host, marker string, o firefox.Options, user, password string, urls ...string) ([]realbrowser.Page, [][]realbrowser.Prompt, *firefox.HTTPLog) {
	t.Helper()
	o.Binary = browserBinary(t, "firefox-esr", "firefox-esr", "firefox")
	o.Dir = t.TempDir()
	prefs := map[string]any{"network.proxy.no_proxies_on": "127.0.0.0/8, " + host}
	for k, v := range o.Prefs {
		prefs[k] = v
	}
	o.Prefs = prefs
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := firefox.Launch(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	pages := make([]realbrowser.Page, len(urls))
	prompts := make([][]realbrowser.Prompt, len(urls))
	for i, url := range urls {
		u, err := b.NewUser(ctx, user, password)
		if err != nil {
			b.Close()
			t.Fatal(err)
		}
		if pages[i], err = u.Goto(ctx, url); err != nil {
			t.Errorf("%s: %v", url, err)
		}
		prompts[i] = u.Prompts()
	}
	if err := b.Close(); err != nil {
		t.Errorf("closing firefox: %v", err)
	}
	hl, err := firefox.ReadHTTPLog(b.HTTPLogGlob)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s's HTTP log:\n%s", b.Version, hl.Summary(marker))
		}
	})
	return pages, prompts, hl
}
