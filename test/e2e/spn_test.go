//go:build linux

package e2e

import (
	"strings"
	"testing"
)

// Issue 29, 3: every SPN of the service account shares its keys, and a
// ticket's service name is cleartext: a ticket for cifs/www.example.test,
// once svc-http holds it, opens with the site's keytab and, its name
// rewritten, logs in. -check -probe lists the SPNs of the account that
// holds each configured one (LDAP servicePrincipalName) and warns about
// each one not configured.
func TestCheckProbeOtherSPNs(t *testing.T) {
	s := loadStack(t)
	const other = "cifs/www.example.test"
	samba(t, s, "spn", "add", other, "svc-http")
	added := true
	t.Cleanup(func() {
		if added {
			samba(t, s, "spn", "delete", other, "svc-http")
		}
	})

	out, errOut, rc := s.authz(t, "", "-config", s.env["CONF"], "-check", "-probe")
	spn := "HTTP/" + s.env["SPN_HOST"]
	if want := "kerberos " + spn + "@" + s.env["KRB5_REALM"] + ": held by the account svc-http, whose SPNs are: "; rc != 0 || !strings.Contains(out, want) || !strings.Contains(out, other) {
		t.Errorf("-check -probe: exit %d, stdout lacks %q and %s:\n%s%s", rc, want, other, out, errOut)
	}
	warn := "warning: domain EXAMPLE: the service account svc-http also holds " + other + ", which is not configured"
	if !strings.Contains(errOut, warn) {
		t.Errorf("-check -probe: stderr lacks %q:\n%s", warn, errOut)
	}
	if strings.Contains(errOut, "also holds "+spn) {
		t.Errorf("-check -probe warns about the configured SPN:\n%s", errOut)
	}

	samba(t, s, "spn", "delete", other, "svc-http")
	added = false
	out, errOut, rc = s.authz(t, "", "-config", s.env["CONF"], "-check", "-probe")
	if rc != 0 || strings.Contains(out+errOut, other) {
		t.Errorf("-check -probe once %s is removed: exit %d\n%s%s", other, rc, out, errOut)
	}
}
