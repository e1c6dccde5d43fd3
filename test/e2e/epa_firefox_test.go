//go:build linux

package e2e

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/internal/firefox"
	"github.com/goauthenntlm/goauthenntlm/internal/realbrowser"
	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
)

// TestEPAFirefox documents what Extended Protection means for Firefox:
// its own NTLM module (Linux) sends no channel binding over HTTPS, so it
// logs in where channel_binding is when-sent and is refused (binding
// missing) where it is required. Its Type3 comes from its HTTP log.
func TestEPAFirefox(t *testing.T) {
	e := loadEPA(t)
	marker := fmt.Sprintf("c=epaf%d", time.Now().UnixNano()%1e9)
	off := e.s.logOffset(t)
	// The stack's throwaway certificate is accepted as WebDriver allows.
	ps, _, hl := firefoxVisit(t, e.host, marker, firefox.Options{AcceptInsecureCerts: true}, "jdoe", users["jdoe"],
		e.url("/epa/when-sent/whoami?"+marker+"-when-sent"), e.url("/epa/required/whoami?"+marker+"-required"))
	pages := map[string]realbrowser.Page{"when-sent": ps[0], "required": ps[1]}
	for _, loc := range []string{"when-sent", "required"} {
		var type3 []byte
		for _, x := range hl.For(marker + "-" + loc + " ") {
			if realbrowser.NTLMType(x.Get("Authorization")) == 3 {
				_, tok, _ := strings.Cut(x.Get("Authorization"), " ")
				type3, _ = base64.StdEncoding.DecodeString(tok)
			}
		}
		if type3 == nil {
			t.Errorf("%s: no Type3 in Firefox's log", loc)
			continue
		}
		m, err := ntlmmsg.ParseAuthenticate(type3)
		if err != nil {
			t.Fatal(err)
		}
		av, v2, err := m.ClientAVPairs()
		if err != nil || !v2 {
			t.Fatalf("%s: Firefox's Type3: NTLMv2 %v, %v", loc, v2, err)
		}
		if cb, ok := av.Get(ntlmmsg.MsvAvChannelBindings); ok {
			t.Errorf("%s: Firefox now sends a channel binding %x (the certificate's %x): it may log in under required; update this test and the README", loc, cb, e.binding)
		}
	}
	if p := pages["when-sent"]; p.Status != 200 || strings.TrimSpace(p.Body) != "jdoe" {
		t.Errorf("when-sent: %d %q, want 200 jdoe", p.Status, p.Body)
	}
	if p := pages["required"]; p.Status != 401 {
		t.Errorf("required: %d %q, want 401 (no binding from Firefox)", p.Status, p.Body)
	}
	e.refusedWith(t, off, "binding_missing")
}
