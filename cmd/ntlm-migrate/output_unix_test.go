//go:build unix

package main

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// cookieConf is a configuration whose migration writes a cookie key.
func cookieConf(t *testing.T, dir string) string {
	t.Helper()
	conf := filepath.Join(dir, "old.conf")
	os.WriteFile(conf, []byte("<Location /app>\n    PerlAuthenHandler Apache2::AuthenNTLM::Cookie\n    AuthType ntlm\n    PerlAddVar ntdomain \"EXAMPLE dc1\"\n    Require valid-user\n</Location>\n"), 0o644)
	return conf
}

// The outputs are created with their final modes, not the umask's.
func TestOutputModes(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if code, printed := runCapture(t, "-o", out, cookieConf(t, dir)); code != 0 {
		t.Fatalf("exit %d:\n%s", code, printed)
	}
	for name, mode := range map[string]os.FileMode{"conf.toml": 0o640, "goauthenntlm-site.conf": 0o640, "cookie.key": 0o600} {
		st, err := os.Lstat(filepath.Join(out, name))
		if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want a regular file of mode %04o", name, st.Mode(), err, mode)
		}
	}
	if es, _ := os.ReadDir(out); len(es) != 3 {
		t.Errorf("temporary files left: %v", es)
	}
}

// A symlink planted in the output directory (conf.toml → a file of the
// system): the file it points to is left alone and the tool says why.
func TestOutputRefusesSymlinks(t *testing.T) {
	for _, name := range []string{"conf.toml", "goauthenntlm-site.conf", "cookie.key"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			victim := filepath.Join(dir, "victim")
			os.WriteFile(victim, []byte("precious\n"), 0o644)
			out := filepath.Join(dir, "out")
			os.Mkdir(out, 0o755)
			if err := os.Symlink(victim, filepath.Join(out, name)); err != nil {
				t.Fatal(err)
			}
			code, printed := runCapture(t, "-o", out, cookieConf(t, dir))
			if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
				t.Errorf("the file behind the symlink changed: %q", b)
			}
			if st, err := os.Lstat(filepath.Join(out, name)); err != nil || st.Mode()&os.ModeSymlink == 0 {
				t.Errorf("the symlink was replaced: %v %v", st, err)
			}
			if code != 2 || !strings.Contains(printed, "refusing to write "+filepath.Join(out, name)+": it is a symlink") {
				t.Errorf("exit %d, want 2 and a clear error:\n%s", code, printed)
			}
			if es, _ := os.ReadDir(out); len(es) != 1 {
				t.Errorf("written beside the refused link: %v", es)
			}
		})
	}
	// A dangling one for the key: it was taken for an existing key and
	// "kept"; the authorizer would then follow it wherever it points.
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	os.Symlink(filepath.Join(dir, "later"), filepath.Join(out, "cookie.key"))
	if code, printed := runCapture(t, "-o", out, cookieConf(t, dir)); code != 2 || strings.Contains(printed, "exists; kept") {
		t.Errorf("a dangling cookie.key symlink: exit %d:\n%s", code, printed)
	}
	if _, err := os.Lstat(filepath.Join(dir, "later")); err == nil {
		t.Error("a file was created through the dangling symlink")
	}
}

// A cookie key someone else planted (theirs, or readable by others) is
// not kept: its value may be known to them.
func TestOutputRefusesPlantedKey(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	key := filepath.Join(out, "cookie.key")
	os.WriteFile(key, []byte("known-to-everybody\n"), 0o644)
	os.Chmod(key, 0o644)
	if code, printed := runCapture(t, "-o", out, cookieConf(t, dir)); code != 2 || !strings.Contains(printed, "refusing to write "+key) {
		t.Errorf("a key others can read: exit %d:\n%s", code, printed)
	}
	if os.Geteuid() != 0 {
		t.Skip("giving the key to another user needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	os.Chmod(key, 0o600)
	os.Chown(key, uid, -1)
	if code, printed := runCapture(t, "-o", out, cookieConf(t, dir)); code != 2 || !strings.Contains(printed, "another user owns") {
		t.Errorf("a key another user owns: exit %d:\n%s", code, printed)
	}
	if b, _ := os.ReadFile(key); string(b) != "known-to-everybody\n" {
		t.Errorf("the planted key was changed: %q", b)
	}
}

// An output directory every user can write to (-o /tmp): another user
// could plant the key or swap a file before it is installed.
func TestOutputRefusesSharedDir(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "shared")
	os.Mkdir(out, 0o777)
	os.Chmod(out, 0o1777)
	if code, printed := runCapture(t, "-o", out, cookieConf(t, dir)); code != 2 || !strings.Contains(printed, "writable by every user") {
		t.Errorf("exit %d:\n%s", code, printed)
	}
	if es, _ := os.ReadDir(out); len(es) != 0 {
		t.Errorf("written anyway: %v", es)
	}
}

// An output directory another user owns (-o /tmp/migrated, made by them
// beforehand with mode 0755) or that a group can write: they could
// replace the outputs (a site file of theirs) before the admin installs
// them, whatever the files' own modes.
func TestOutputRefusesOthersDir(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "group")
	os.Mkdir(out, 0o775)
	os.Chmod(out, 0o775)
	if code, printed := runCapture(t, "-o", out, cookieConf(t, dir)); code != 2 || !strings.Contains(printed, "refusing to write "+out) {
		t.Errorf("a group-writable directory: exit %d:\n%s", code, printed)
	}
	if os.Geteuid() != 0 {
		t.Skip("a directory of another user needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	out = filepath.Join(dir, "theirs")
	os.Mkdir(out, 0o755)
	os.Chown(out, uid, -1)
	if code, printed := runCapture(t, "-o", out, cookieConf(t, dir)); code != 2 || !strings.Contains(printed, "refusing to write "+out) {
		t.Errorf("a directory another user owns: exit %d:\n%s", code, printed)
	}
	if es, _ := os.ReadDir(out); len(es) != 0 {
		t.Errorf("written anyway: %v", es)
	}
}
