//go:build linux

package e2e

import (
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
	cc := s.kinit(t, "bob", "B0b!Passw0rd")
	url, tokens := s.negotiateRecorder(t)
	pages, prompts, _ := firefoxVisit(t, s.env["SPN_HOST"], "c=krbf", s.firefoxKerberos(cc), "", "", url+"?c=krbf")
	if p := pages[0]; p.Status != 200 || len(prompts[0]) != 0 {
		t.Errorf("firefox: %d %q, prompts %v; want 200 by Kerberos, no prompt", p.Status, p.Body, prompts[0])
	}
	kerberosToken(t, "firefox", tokens)
	if et := s.ticketEnctype(t, cc, s.env["SERVICE_PRINCIPAL"]+"@"+s.env["KRB5_REALM"]); !strings.HasPrefix(et, "aes") {
		t.Errorf("firefox's ticket for %s is %s", s.env["SERVICE_PRINCIPAL"], et)
	}
}

// firefoxKerberos are the options of a Firefox with the ticket cache cc
// and the site in network.negotiate-auth.trusted-uris.
func (s *stack) firefoxKerberos(cc string) firefox.Options {
	return firefox.Options{TrustedURIs: s.env["SPN_HOST"],
		Env: []string{"KRB5_CONFIG=" + s.env["KRB5_CONFIG"], "KRB5CCNAME=" + cc}}
}

// TestKerberosFirefoxLogin: Firefox with jdoe's TGT logs in to the site by
// Kerberos, without a prompt: the authorizer logs scheme=Kerberos, and
// Firefox's log shows a Negotiate token that is no NTLM message.
func TestKerberosFirefoxLogin(t *testing.T) {
	s := loadStack(t)
	cc := s.kinit(t, "jdoe", users["jdoe"])
	host := s.env["SPN_HOST"]
	off := s.logOffset(t)
	marker := fmt.Sprintf("c=krbfl%d", time.Now().UnixNano()%1e9)
	pages, prompts, hl := firefoxVisit(t, host, marker, s.firefoxKerberos(cc), "", "",
		"http://"+host+":"+s.env["APACHE_PORT"]+"/private/whoami?"+marker)
	if p := pages[0]; p.Status != 200 || strings.TrimSpace(p.Body) != "jdoe" || len(prompts[0]) != 0 {
		t.Errorf("firefox: %d %q, prompts %v; want 200 jdoe by Kerberos, no prompt", p.Status, p.Body, prompts[0])
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
