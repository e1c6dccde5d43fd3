//go:build linux

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"
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

// TestEPAKerberosChromium: headless Chromium 156 on Linux (the
// chromiumKerberos recipe, MIT GSSAPI) binds nothing into its Kerberos
// token over HTTPS: it logs in by Kerberos under when-sent; under required
// its token is refused (binding_missing, as IIS's Required refuses a
// Kerberos login without a channel binding token), and with the user's
// password at hand it falls back to NTLM, whose Type3 carries the binding,
// and logs in.
func TestEPAKerberosChromium(t *testing.T) {
	s := krbStack(t)
	e := loadEPA(t)
	bin := chromiumBinary(t)
	spki := sha256.Sum256(e.cert.RawSubjectPublicKeyInfo)
	cc := s.kinit(t, "jdoe", users["jdoe"])
	for _, tc := range []struct{ path, user, pw, scheme string }{
		{"/epa/when-sent/whoami", "", "", "scheme=Kerberos"},
		{"/epa/required/whoami", `EXAMPLE\jdoe`, users["jdoe"], "scheme=NTLM"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			b, u := s.launchChromiumKerberos(ctx, t, bin, cc, tc.user, tc.pw,
				"--ignore-certificate-errors-spki-list="+base64.StdEncoding.EncodeToString(spki[:]))
			off := s.logOffset(t)
			p, perr := u.Goto(ctx, "https://"+s.env["SPN_HOST"]+":"+e.port+tc.path)
			b.Close()
			// What its authenticator binds, opened with the stack's keytab.
			cb := e.sentKerberosBinding(t, b.NetLogPath)
			t.Logf("Chromium's Kerberos authenticator binds %x (the certificate's binding: %x)", cb, e.binding)
			if string(cb) != string(make([]byte, 16)) {
				t.Errorf("Chromium's Kerberos authenticator binds %x (the certificate's: %x): the README's EPA section wants updating", cb, e.binding)
			}
			log, _ := s.logSince(t, off)
			if perr != nil || p.Status != 200 || strings.TrimSpace(p.Body) != "jdoe" || !strings.Contains(log, tc.scheme) {
				t.Fatalf("%v %d %q, want 200 jdoe and %s; authorizer:\n%s", perr, p.Status, p.Body, tc.scheme, log)
			}
			if tc.user != "" && !strings.Contains(log, "cause=binding_missing") {
				t.Errorf("no Kerberos token refused for its missing binding before the NTLM login:\n%s", log)
			}
		})
	}
}
