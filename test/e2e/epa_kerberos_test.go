//go:build linux

package e2e

import (
	"testing"
)

// TestEPAKerberos: Extended Protection holds for Kerberos too (issue 24:
// "the same for Kerberos's authenticator checksum"). Debian 12's curl
// binds nothing into its GSS checksum, as it binds nothing into NTLM
// (TestEPACurl): over HTTPS it is refused under required, with its cause
// logged, and logs in under when-sent; over plain HTTP required lets it
// in (there is no channel to bind to).
func TestEPAKerberos(t *testing.T) {
	s := krbStack(t)
	e := loadEPA(t)
	cc := s.kinit(t, "jdoe", users["jdoe"])
	host := s.env["SPN_HOST"]
	https := func(path string) string { return "https://" + host + ":" + e.port + path }
	ca := []string{"--cacert", s.env["HTTPS_CA"]}
	if code, body := s.curlNegotiate(t, cc, https("/epa/when-sent/whoami"), ca...); code != 200 || body != "jdoe" {
		t.Errorf("when-sent over HTTPS: %d %q, want 200 jdoe", code, body)
	}
	off := s.logOffset(t)
	if code, body := s.curlNegotiate(t, cc, https("/epa/required/whoami"), ca...); code != 401 {
		log, _ := s.logSince(t, off)
		t.Errorf("required over HTTPS, a Kerberos token without a binding: %d %q, want 401; authorizer:\n%s", code, body, log)
	} else {
		e.refusedWith(t, off, "binding_missing")
	}
	if code, body := s.curlNegotiate(t, cc, s.siteURL(host, "/epa/required/whoami")); code != 200 || body != "jdoe" {
		t.Errorf("required over plain HTTP: %d %q, want 200 jdoe", code, body)
	}
}
