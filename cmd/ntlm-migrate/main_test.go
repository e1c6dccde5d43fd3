package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// runCapture runs the command with args and returns its exit status and
// what it printed on stdout and stderr.
func runCapture(t *testing.T, args ...string) (int, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	oldOut, oldErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = w, w
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		done <- b
	}()
	code := run(args)
	os.Stdout, os.Stderr = oldOut, oldErr
	w.Close()
	return code, string(<-done)
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.conf")
	os.WriteFile(good, []byte(`<Location /app>
    PerlAuthenHandler Apache2::AuthenNTLM::Cookie
    AuthType ntlm
    PerlAddVar ntdomain "EXAMPLE dc1"
    PerlSetVar secret very-secret-words
    Require user EXAMPLE\jdoe
</Location>
`), 0o644)
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte("<Location /x>\nPythonAuthenHandler pyntlm\nPythonOption Domain E\nPythonOption PDC\n</Location>\n"), 0o644)
	none := filepath.Join(dir, "none.conf")
	os.WriteFile(none, []byte("ServerName x\n"), 0o644)
	broken := filepath.Join(dir, "broken.conf")
	os.WriteFile(broken, []byte("<Location /x>\n"), 0o644)

	out := filepath.Join(dir, "out")
	code, stdout := runCapture(t, "-o", out, good)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stdout)
	}
	if strings.Contains(stdout, "very-secret-words") {
		t.Errorf("the report shows the old secret:\n%s", stdout)
	}
	for _, f := range []string{"conf.toml", "goauthenntlm-site.conf", "cookie.key"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	st, err := os.Stat(filepath.Join(out, "cookie.key"))
	if err != nil || st.Mode().Perm() != 0o600 || st.Size() < 40 {
		t.Errorf("cookie.key: %v %v", st, err)
	}
	key, _ := os.ReadFile(filepath.Join(out, "cookie.key"))
	conf, _ := os.ReadFile(filepath.Join(out, "conf.toml"))
	if bytes.Contains(conf, []byte("very-secret-words")) || bytes.Contains(conf, bytes.TrimSpace(key)) {
		t.Error("conf.toml holds a secret")
	}
	// Running again keeps the key: nobody is logged out by a rerun.
	if code, _ := runCapture(t, "-o", out, good); code != 0 {
		t.Fatalf("rerun: exit %d", code)
	}
	if again, _ := os.ReadFile(filepath.Join(out, "cookie.key")); !bytes.Equal(again, key) {
		t.Error("a rerun replaced cookie.key")
	}

	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"-o", filepath.Join(dir, "bad"), bad}, 1},
		{[]string{"-o", filepath.Join(dir, "none"), none}, 1},
		{[]string{"-o", filepath.Join(dir, "broken"), broken}, 2},
		{[]string{filepath.Join(dir, "missing.conf")}, 2},
		{[]string{"-groups", "ldap", good}, 2},
		{nil, 2},
	} {
		if code, stdout := runCapture(t, tc.args...); code != tc.code {
			t.Errorf("%q: exit %d, want %d\n%s", tc.args, code, tc.code, stdout)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "none", "conf.toml")); err == nil {
		t.Error("outputs written although nothing was found to migrate")
	}
}

// -group-check defaults to the ntlm-group-check beside ntlm-migrate (the
// package's /usr/bin), else make install's /usr/local/bin; -h names no
// path of this machine (the package's man page is made from it).
func TestDefaultGroupCheck(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "ntlm-migrate")
	beside := filepath.Join(dir, "ntlm-group-check")
	at := func(path string, err error) func() (string, error) {
		return func() (string, error) { return path, err }
	}
	if got := defaultGroupCheck(at(exe, nil)); got != fallbackGroupCheck {
		t.Errorf("none beside: %s, want %s", got, fallbackGroupCheck)
	}
	if err := os.WriteFile(beside, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := defaultGroupCheck(at(exe, nil)); got != fallbackGroupCheck && runtime.GOOS != "windows" {
		t.Errorf("one beside that cannot run: %s, want %s", got, fallbackGroupCheck)
	}
	if err := os.Chmod(beside, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := defaultGroupCheck(at(exe, nil)); got != beside {
		t.Errorf("one beside: %s, want %s", got, beside)
	}
	if got := defaultGroupCheck(at("", os.ErrNotExist)); got != fallbackGroupCheck {
		t.Errorf("executable unknown: %s, want %s", got, fallbackGroupCheck)
	}

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	_, help := runCapture(t, "-h")
	if !strings.Contains(help, fallbackGroupCheck) || strings.Contains(help, filepath.Dir(self)) {
		t.Errorf("-h does not name %s, or names this machine's %s:\n%s", fallbackGroupCheck, filepath.Dir(self), help)
	}
}
