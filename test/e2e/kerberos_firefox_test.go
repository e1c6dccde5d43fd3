//go:build linux

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/internal/firefox"
	"github.com/goauthenntlm/goauthenntlm/internal/realbrowser"
)

// TestKerberosFirefox: with a TGT in its ticket cache (KRB5CCNAME) and the
// site in network.negotiate-auth.trusted-uris, a fresh headless Firefox
// gets the ticket for HTTP/SPN_HOST through GSSAPI and sends a SPNEGO
// token proposing Kerberos, without a prompt, to a server of the test's
// own that asks for Negotiate (as TestKerberosChromium does for Chromium).
func TestKerberosFirefox(t *testing.T) {
	s := loadStack(t)
	bin := browserBinary(t, "firefox-esr", "firefox-esr", "firefox")
	cc := s.kinit(t, "bob", "B0b!Passw0rd")
	url, tokens := s.negotiateRecorder(t)
	host := s.env["SPN_HOST"]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := firefox.Launch(ctx, firefox.Options{Binary: bin, Dir: t.TempDir(), TrustedURIs: host,
		// Every name resolves to 127.0.0.1 in the profile; the site's
		// goes there directly, not to the dead proxy the rest goes to.
		Prefs: map[string]any{"network.proxy.no_proxies_on": "127.0.0.0/8, " + host},
		Env:   []string{"KRB5_CONFIG=" + s.env["KRB5_CONFIG"], "KRB5CCNAME=" + cc}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := b.NewUser(ctx, "", "")
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	p, perr := u.Goto(ctx, url+"?c=krbf")
	if err := b.Close(); err != nil {
		t.Errorf("closing firefox: %v", err)
	}
	hl, err := firefox.ReadHTTPLog(b.HTTPLogGlob)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("%s's HTTP log:\n%s", b.Version, hl.Summary("c=krbf"))
		}
	}()
	if perr != nil || p.Status != 200 || len(u.Prompts()) != 0 {
		t.Errorf("firefox: %v %d %q, prompts %v; want 200 by Kerberos, no prompt", perr, p.Status, p.Body, u.Prompts())
	}
	kerberosToken(t, "firefox", tokens)
	if et := s.ticketEnctype(t, cc, s.env["SERVICE_PRINCIPAL"]+"@"+s.env["KRB5_REALM"]); !strings.HasPrefix(et, "aes") {
		t.Errorf("firefox's ticket for %s is %s", s.env["SERVICE_PRINCIPAL"], et)
	}
}

// TestKerberosFirefoxLogin: Firefox with jdoe's TGT logs in to the site by
// Kerberos, without a prompt: the authorizer logs scheme=Kerberos, and
// Firefox's log shows a Negotiate token that is no NTLM message.
func TestKerberosFirefoxLogin(t *testing.T) {
	s := loadStack(t)
	bin := browserBinary(t, "firefox-esr", "firefox-esr", "firefox")
	cc := s.kinit(t, "jdoe", users["jdoe"])
	host := s.env["SPN_HOST"]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := firefox.Launch(ctx, firefox.Options{Binary: bin, Dir: t.TempDir(), TrustedURIs: host,
		Prefs: map[string]any{"network.proxy.no_proxies_on": "127.0.0.0/8, " + host},
		Env:   []string{"KRB5_CONFIG=" + s.env["KRB5_CONFIG"], "KRB5CCNAME=" + cc}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := b.NewUser(ctx, "", "")
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	off := s.logOffset(t)
	marker := fmt.Sprintf("c=krbfl%d", time.Now().UnixNano()%1e9)
	p, perr := u.Goto(ctx, "http://"+host+":"+s.env["APACHE_PORT"]+"/private/whoami?"+marker)
	if err := b.Close(); err != nil {
		t.Errorf("closing firefox: %v", err)
	}
	hl, err := firefox.ReadHTTPLog(b.HTTPLogGlob)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("%s's HTTP log:\n%s", b.Version, hl.Summary(marker))
		}
	}()
	if perr != nil || p.Status != 200 || strings.TrimSpace(p.Body) != "jdoe" || len(u.Prompts()) != 0 {
		t.Errorf("firefox: %v %d %q, prompts %v; want 200 jdoe by Kerberos, no prompt", perr, p.Status, p.Body, u.Prompts())
	}
	var negotiate int
	for _, x := range hl.For(marker) {
		if a := x.Get("Authorization"); strings.HasPrefix(a, "Negotiate ") {
			negotiate++
			if realbrowser.NTLMType(a) != 0 {
				t.Errorf("Firefox sent NTLM in Negotiate: %.40s", a)
			}
		}
	}
	if negotiate == 0 {
		t.Errorf("Firefox sent no Negotiate token")
	}
	if log, _ := s.logSince(t, off); !strings.Contains(log, "scheme=Kerberos") {
		t.Errorf("the authorizer logged no Kerberos login:\n%s", log)
	}
}
