//go:build linux

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/internal/firefox"
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
