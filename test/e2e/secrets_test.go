//go:build linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// asNobody runs cat on path as the user nobody, as any local user could;
// it returns what was read and whether it could.
func asNobody(t *testing.T, path string) (string, bool) {
	t.Helper()
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatalf("setpriv (util-linux) is needed to act as another user: %v", err)
	}
	out, err := exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", "cat", "--", path).CombinedOutput()
	return string(out), err == nil
}

var apacheSecretLine = regexp.MustCompile(`(?m)^\s*RequestHeader\s+set\s+GoAuthenNTLM-Secret\s+"([^"]*)"`)

// Issue 23, 3: a local user (nobody) read the stack's httpd.conf, which
// held the caller secret, and with it asked the authorizer directly whether
// administrator is in Domain Admins. The stack now keeps the secret in a
// 0600 file Apache includes (as installs do), and httpd.conf, the caller
// secret, the LDAP password and the cookie keys are unreadable to nobody;
// what nobody can read gives it no secret, and the authorizer refuses it.
func TestSecretsUnreadableByOthers(t *testing.T) {
	s := loadStack(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root, to act as nobody")
	}
	sec := callerSecret(t, s)
	if sec == nil {
		t.Fatal("the stack has no caller_secret_file")
	}
	conf, err := os.ReadFile(s.env["APACHE_CONF"])
	if err != nil {
		t.Fatal(err)
	}
	// Whatever the stack directory's mode (it is 0700 now, which alone
	// keeps nobody out), httpd.conf holds no secret and is root's alone,
	// as an install's apache-secret.conf is.
	if strings.Contains(string(conf), sec[1]) {
		t.Errorf("%s holds the caller secret", s.env["APACHE_CONF"])
	}
	if fi, err := os.Stat(s.env["APACHE_CONF"]); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("%s has mode %v, want 0600", s.env["APACHE_CONF"], fi.Mode().Perm())
	}
	files := []string{s.env["APACHE_CONF"], s.env["LDAP_PASSFILE"], s.env["CONF"]}
	if m := regexp.MustCompile(`(?m)^caller_secret_file\s*=\s*"([^"]+)"`).FindSubmatch(mustRead(t, s.env["CONF"])); m != nil {
		files = append(files, string(m[1]))
	}
	// Every file Apache's config includes by absolute path (the secret's).
	for _, m := range regexp.MustCompile(`(?m)^\s*Include(?:Optional)?\s+"?(/[^"\s]+)`).FindAllSubmatch(conf, -1) {
		files = append(files, string(m[1]))
	}
	keys, _ := filepath.Glob(filepath.Join(s.env["PUB"], "cookie-*.key"))
	files = append(files, keys...)

	stolen := ""
	for _, f := range files {
		out, ok := asNobody(t, f)
		if ok {
			t.Errorf("nobody read %s", f)
			if m := apacheSecretLine.FindStringSubmatch(out); m != nil {
				stolen = m[1]
			}
			if strings.Contains(out, sec[1]) {
				stolen = sec[1]
			}
		} else if !strings.Contains(out, "Permission denied") {
			t.Errorf("nobody reading %s: %s, want Permission denied", f, strings.TrimSpace(out))
		}
	}
	if !apacheSecretLine.Match(conf) && !strings.Contains(string(conf), "Include") {
		t.Error("Apache's config neither sets nor includes the caller secret")
	}

	// The attack: ask the authorizer role directly, with whatever nobody
	// could read.
	kv := []string{"FCGI_APACHE_ROLE", "AUTHORIZER", "REMOTE_USER", "administrator", "REQUIRED_GROUPS", "Domain Admins"}
	if stolen != "" {
		kv = append(kv, "HTTP_GOAUTHENNTLM_SECRET", stolen)
	}
	if got := fcgiCall(t, s, kv...); !strings.HasPrefix(got, "Status: 403") {
		t.Errorf("nobody asking whether administrator is in Domain Admins: %q, want Status: 403", got)
	}
	// And Apache still passes the secret from its included file.
	if code, body := get(t, ntlmClient(nil), s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 200 || body != "jdoe" {
		t.Errorf("login through Apache: %d %q", code, body)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Issue 29, 4: a keytab Apache's group can read (0640
// goauthenntlm:www-data) gives every CGI and PHP page the key that mints
// tickets for any user. -check, run as the daemon's user, refuses it as it
// refuses such a caller secret, and the daemon does not start on it
// either; the same keytab root:goauthenntlm passes.
func TestKeytabExposedToApache(t *testing.T) {
	s := loadStack(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give the keytab to www-data's group")
	}
	kt := s.daemonFile(t, "exposed.keytab", mustRead(t, s.env["KEYTAB"]))
	t.Cleanup(func() { os.Remove(kt) })
	conf := regexp.MustCompile(`(?m)^keytab_file = .*$`).ReplaceAllString(string(mustRead(t, s.env["CONF"])), `keytab_file = "`+kt+`"`)
	// Its own metrics address would clash with the stack's daemon's.
	conf = regexp.MustCompile(`(?m)^metrics_listen = .*$`).ReplaceAllString(conf, `metrics_listen = ""`)
	path := s.daemonFile(t, "conf-exposed-keytab.toml", []byte(conf))
	t.Cleanup(func() { os.Remove(path) })

	if out, errOut, rc := s.authz(t, "", "-config", path, "-check"); rc != 0 {
		t.Fatalf("-check with the keytab 0640 root:%s: exit %d\n%s%s", s.env["AUTHZ_USER"], rc, out, errOut)
	}
	uid, gid := lookupIDs(t, s.env["AUTHZ_USER"], "www-data")
	if err := os.Chown(kt, uid, gid); err != nil {
		t.Fatal(err)
	}
	want := "keytab: " + kt + " has mode -rw-r----- and group www-data, which is not the authorizer's"
	out, errOut, rc := s.authz(t, "", "-config", path, "-check")
	if rc != 2 || !strings.Contains(errOut, want) {
		t.Errorf("-check with the keytab 0640 %s:www-data: exit %d, want 2 and %q\n%s%s", s.env["AUTHZ_USER"], rc, want, out, errOut)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
	out, errOut, rc = s.authz(t, "", "-config", path, "-listen", addr)
	if rc != 1 || !strings.Contains(errOut, want) {
		t.Errorf("the daemon on the keytab 0640 %s:www-data: exit %d, want 1 and %q\n%s%s", s.env["AUTHZ_USER"], rc, want, out, errOut)
	}
}

// lookupIDs is the uid of the user name and the gid of the group name.
func lookupIDs(t *testing.T, name, group string) (uid, gid int) {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(g.Gid)
	return uid, gid
}
