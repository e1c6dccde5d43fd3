package e2e

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// authz runs the stack's ntlm-fcgi-authorizer binary with args and returns
// its stdout, stderr and exit code.
func (s *stack) authz(t *testing.T, stdin string, args ...string) (stdout, stderr string, rc int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.env["BIN"], "ntlm-fcgi-authorizer"), args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		rc = ee.ExitCode()
	default:
		t.Fatalf("ntlm-fcgi-authorizer %v: %v", args, err)
	}
	return out.String(), errb.String(), rc
}

// -check names every file the shipped example names and that is missing;
// on the stack's complete config it is silent; -probe reaches the DC and
// LDAP.
func TestCheck(t *testing.T) {
	s := loadStack(t)
	out, errOut, rc := s.authz(t, "", "-config", repoFile(t, "conf.toml.example"), "-check")
	if rc != 2 || out != "" {
		t.Errorf("-check conf.toml.example: exit %d, stdout %q; want 2 and nothing", rc, out)
	}
	for _, want := range []string{
		"conf.toml.example:", "ldap bind password: open /etc/goauthenntlm/ldap.pass",
		"ldap CA: open /etc/goauthenntlm/ca.pem", "groups.cache_dir:",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("-check conf.toml.example: stderr lacks %q:\n%s", want, errOut)
		}
	}

	out, errOut, rc = s.authz(t, "", "-config", s.env["CONF"], "-check")
	if rc != 0 || out != "" || errOut != "" {
		t.Errorf("-check on the stack's config: exit %d, stdout %q, stderr %q; want 0 and silence", rc, out, errOut)
	}

	out, errOut, rc = s.authz(t, "", "-config", s.env["CONF"], "-check", "-probe")
	if rc != 0 {
		t.Errorf("-check -probe: exit %d\n%s%s", rc, out, errOut)
	}
	for _, want := range []string{
		"dc   EXAMPLE " + s.env["DC_IP"] + " ok", "SMB2 negotiate, dialect 3.1.1",
		"ldap EXAMPLE " + s.env["LDAP_URL"] + " ok", "TLS and bind as " + s.env["LDAP_BIND"],
	} {
		if !strings.Contains(out, want) {
			t.Errorf("-check -probe: stdout lacks %q:\n%s", want, out)
		}
	}
}
