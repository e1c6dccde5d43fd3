//go:build linux

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInstall runs make install into a DESTDIR, as a package build would,
// and checks what an administrator is left with: the files and their
// modes, a caller secret Apache passes as the authorizer expects it, a
// config whose -check names only what the admin must supply, and a snippet
// Apache accepts with the installed secret. A second run keeps every
// config and secret; either secret file alone restores the other.
func TestInstall(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	dest := t.TempDir()
	etc := filepath.Join(dest, "etc/goauthenntlm")
	secretFile := filepath.Join(etc, "caller.secret")
	apacheFile := filepath.Join(etc, "apache-secret.conf")
	conf := filepath.Join(etc, "conf.toml")

	out := makeInstall(t, dest)

	secret := readTrimmed(t, secretFile)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(secret) {
		t.Fatalf("caller secret is not 32 random bytes in hex (%d characters)", len(secret))
	}
	if strings.Contains(out, secret) {
		t.Error("make install printed the caller secret")
	}
	wantApache := fmt.Sprintf("RequestHeader set GoAuthenNTLM-Secret %q early\n", secret)
	if b, _ := os.ReadFile(apacheFile); string(b) != wantApache {
		t.Errorf("apache-secret.conf does not pass the caller secret in the form apache/goauthenntlm.conf documents (%d bytes)", len(b))
	}
	example, err := os.ReadFile(repoFile(t, "conf.toml.example"))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(conf); !bytes.Equal(b, example) {
		t.Error("conf.toml is not conf.toml.example")
	}

	root := os.Geteuid() == 0
	// Ownership is checked where the install can give it: as root, the
	// groups existing.
	gid := func(name string) int {
		if g, err := user.LookupGroup(name); err == nil && root {
			n, _ := strconv.Atoi(g.Gid)
			return n
		}
		return -1
	}
	ours := gid("goauthenntlm")
	uid := func(name string) int {
		if u, err := user.Lookup(name); err == nil && root && ours >= 0 {
			n, _ := strconv.Atoi(u.Uid)
			return n
		}
		return -1
	}
	type want struct {
		path string
		mode fs.FileMode
		uid  int // -1: not checked
		gid  int // -1: not checked
	}
	// The groups cache and its parent, as the tmpfiles.d file says.
	var cache []want
	for _, d := range tmpfilesDirs(t, repoFile(t, "apache/goauthenntlm-tmpfiles.conf")) {
		cache = append(cache, want{filepath.Join(dest, d.path), d.mode, uid(d.owner), gidIf(ours, gid(d.group))})
	}
	for _, f := range append(cache, []want{
		{etc, fs.ModeDir | 0o750, -1, ours},
		{conf, 0o640, -1, ours},
		{secretFile, 0o640, -1, ours},
		{apacheFile, 0o600, rootID(ours), rootID(ours)}, // Apache reads its config as root
		{filepath.Join(dest, "usr/local/bin/ntlm-fcgi-authorizer"), 0o755, -1, -1},
		{filepath.Join(dest, "usr/local/bin/ntlm-group-check"), 0o755, -1, -1},
		{filepath.Join(dest, "usr/local/bin/ntlm-migrate"), 0o755, -1, -1},
		{filepath.Join(dest, "usr/local/share/doc/goauthenntlm/README.md"), 0o644, -1, -1},
		{filepath.Join(dest, "etc/systemd/system/ntlm-fcgi-authorizer.service"), 0o644, -1, -1},
		{filepath.Join(dest, "etc/systemd/system/ntlm-fcgi-authorizer.socket"), 0o644, -1, -1},
		{filepath.Join(dest, "etc/tmpfiles.d/goauthenntlm.conf"), 0o644, -1, -1},
		{filepath.Join(dest, "etc/apache2/conf-available/goauthenntlm.conf"), 0o644, -1, -1},
		{filepath.Join(dest, "usr/local/share/goauthenntlm/401.html"), 0o644, -1, -1},
		{filepath.Join(dest, "usr/local/share/doc/goauthenntlm/example-site.conf"), 0o644, -1, -1},
	}...) {
		fi, err := os.Stat(f.path)
		if err != nil {
			t.Error(err)
			continue
		}
		if fi.Mode() != f.mode {
			t.Errorf("%s: mode %v, want %v", f.path, fi.Mode(), f.mode)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if f.uid >= 0 && int(st.Uid) != f.uid {
			t.Errorf("%s: owner %d, want %d", f.path, st.Uid, f.uid)
		}
		if f.gid >= 0 && int(st.Gid) != f.gid {
			t.Errorf("%s: group %d, want %d", f.path, st.Gid, f.gid)
		}
	}

	// Again, over an edited config: nothing of the admin's is replaced.
	edited := append(example, "# edited by the admin\n"...)
	if err := os.WriteFile(conf, edited, 0o640); err != nil {
		t.Fatal(err)
	}
	makeInstall(t, dest)
	if b, _ := os.ReadFile(conf); !bytes.Equal(b, edited) {
		t.Error("a second make install replaced conf.toml")
	}
	if got := readTrimmed(t, secretFile); got != secret {
		t.Error("a second make install changed the caller secret")
	}
	if b, _ := os.ReadFile(apacheFile); string(b) != wantApache {
		t.Error("a second make install changed apache-secret.conf")
	}
	// Either file alone gives the other the same secret.
	os.Remove(apacheFile)
	makeInstall(t, dest)
	if b, _ := os.ReadFile(apacheFile); string(b) != wantApache {
		t.Error("apache-secret.conf, written again from caller.secret, does not pass the same secret")
	}
	os.Remove(secretFile)
	makeInstall(t, dest)
	if got := readTrimmed(t, secretFile); got != secret {
		t.Error("caller.secret, written again from apache-secret.conf, is not the same secret")
	}

	// -check on the installed config (its paths moved under DESTDIR) names
	// the two files only the admin can supply, and nothing else.
	moved := strings.NewReplacer(`"/etc/goauthenntlm/`, `"`+etc+`/`, `"/var/cache/goauthenntlm/`, `"`+dest+`/var/cache/goauthenntlm/`).Replace(string(example))
	checkConf := filepath.Join(dest, "check.toml")
	if err := os.WriteFile(checkConf, []byte(moved), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := exec.Command(filepath.Join(dest, "usr/local/bin/ntlm-fcgi-authorizer"), "-config", checkConf, "-check").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("-check: %v, want exit 2 (the LDAP password and CA missing)\n%s", err, b)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var pass, ca bool
	for _, l := range lines {
		switch {
		case strings.Contains(l, etc+"/ldap.pass"):
			pass = true
		case strings.Contains(l, etc+"/ca.pem"):
			ca = true
		default:
			t.Errorf("-check complains about something the install should have made: %s", l)
		}
	}
	if !pass || !ca {
		t.Errorf("-check does not name both ldap.pass and ca.pem:\n%s", b)
	}

	// Apache accepts the installed snippet with the installed include (its
	// path moved under DESTDIR), and really reads that include.
	if _, err := exec.LookPath("apache2"); err != nil {
		t.Skip("apache2 not installed: the snippet is not checked")
	}
	snippet, err := os.ReadFile(filepath.Join(dest, "etc/apache2/conf-available/goauthenntlm.conf"))
	if err != nil {
		t.Fatal(err)
	}
	const inc = "IncludeOptional /etc/goauthenntlm/apache-secret.conf"
	if !bytes.Contains(snippet, []byte(inc)) {
		t.Fatalf("the snippet no longer has %q: adapt this test", inc)
	}
	snippet = bytes.ReplaceAll(snippet, []byte(inc), []byte("Include "+apacheFile))
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "goauthenntlm.conf"), snippet, 0o644)
	var hc strings.Builder
	fmt.Fprintf(&hc, "ServerRoot %s\nServerName 127.0.0.1\nListen 127.0.0.1:9\nPidFile %s/httpd.pid\nDefaultRuntimeDir %s\nMutex file:%s default\nErrorLog %s/error.log\n", dir, dir, dir, dir, dir)
	for _, m := range []string{"mpm_event", "authn_core", "authz_core", "authz_user", "authnz_fcgi", "headers", "setenvif"} {
		fmt.Fprintf(&hc, "LoadModule %s_module /usr/lib/apache2/modules/mod_%s.so\n", m, m)
	}
	fmt.Fprintf(&hc, "Include %s/goauthenntlm.conf\n", dir)
	httpdConf := filepath.Join(dir, "httpd.conf")
	os.WriteFile(httpdConf, []byte(hc.String()), 0o644)
	b, err = exec.Command("apache2", "-t", "-D", "DUMP_INCLUDES", "-f", httpdConf).CombinedOutput()
	if err != nil {
		t.Fatalf("apache2 -t: %v\n%s", err, b)
	}
	if !bytes.Contains(b, []byte(apacheFile)) {
		t.Errorf("apache2 -t did not read %s:\n%s", apacheFile, b)
	}
}

// rootID is 0 where ownership is checked (ours >= 0), else -1.
func rootID(ours int) int { return gidIf(ours, 0) }

// gidIf is id where ownership is checked (ours >= 0), else -1.
func gidIf(ours, id int) int {
	if ours < 0 {
		return -1
	}
	return id
}

// makeInstall runs make install DESTDIR=dest and returns what it printed.
func makeInstall(t *testing.T, dest string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, err := exec.CommandContext(ctx, "make", "-C", repoFile(t, "."), "install", "DESTDIR="+dest).CombinedOutput()
	if err != nil {
		t.Fatalf("make install: %v\n%s", err, b)
	}
	return string(b)
}

func readTrimmed(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// tmpfilesDir is a "d" line of the tmpfiles.d file: a directory of the
// groups cache as the install makes it and the unit's start puts it right.
type tmpfilesDir struct {
	path         string
	mode         fs.FileMode
	owner, group string
}

// tmpfilesDirs are the "d" lines of the tmpfiles.d file at path.
func tmpfilesDirs(t *testing.T, path string) []tmpfilesDir {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []tmpfilesDir
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 5 || f[0] != "d" {
			continue
		}
		n, err := strconv.ParseUint(f[2], 8, 32)
		if err != nil {
			t.Fatalf("%s: mode %q: %v", path, f[2], err)
		}
		mode := fs.ModeDir | fs.FileMode(n&0o777)
		if n&0o2000 != 0 {
			mode |= fs.ModeSetgid
		}
		dirs = append(dirs, tmpfilesDir{path: f[1], mode: mode, owner: f[3], group: f[4]})
	}
	if len(dirs) == 0 {
		t.Fatalf("%s has no \"d\" line: adapt this test", path)
	}
	return dirs
}
