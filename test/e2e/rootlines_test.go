//go:build linux

package e2e

import (
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestUnitRootLines is the attack of a compromised daemon on what root does
// for it: as the service user, it replaces the groups cache directory by a
// symbolic link to a directory it must never own (a throwaway directory of
// this test, root's, standing for /etc), then lets root do what it does
// for the service, in a make install DESTDIR: the installation again
// (scripts/setup.sh, as make install and the package's postinst run it)
// and the unit's root ("+") ExecStartPre lines, as systemd runs them at
// every start. The throwaway directory must stay root's, with its mode.
//
// Twice: on a fresh install, where the service user must not even be able
// to replace the cache directory; and on an install made before the cache
// directory's parent was root's (owned by the service user, as
// CacheDirectory= made it), where the link is planted and the upgrade and
// the start must not follow it.
func TestUnitRootLines(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the attack is on what root does for the service user")
	}
	for _, tool := range []string{"make", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed (scripts/deps.sh)", tool)
			}
			t.Skipf("%s not installed (scripts/deps.sh)", tool)
		}
	}
	unit := parseUnit(t, repoFile(t, "apache/ntlm-fcgi-authorizer.service"))
	for _, tc := range []struct {
		name string
		// oldLayout: the cache's parent given to the service user, as the
		// installs before this test did.
		oldLayout bool
	}{
		{"fresh install", false},
		{"upgrade of an install whose cache parent was the service user's", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			// The service user reaches the DESTDIR, as it reaches /var/cache.
			for _, d := range []string{filepath.Dir(tmp), tmp} {
				if err := os.Chmod(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			dest := filepath.Join(tmp, "dest")
			makeInstall(t, dest)
			parent := filepath.Join(dest, "var/cache/goauthenntlm")
			cache := filepath.Join(parent, "groups")
			if tc.oldLayout {
				uid, gid := uidOf(t, unit.user), gidOf(t, unit.group)
				if err := os.Chown(parent, uid, gid); err != nil {
					t.Fatal(err)
				}
			}
			// -check, as the unit's ExecStartPre runs it, catches the old
			// layout and is content with the new.
			check := cacheCheck(t, unit, dest)
			if tc.oldLayout && !strings.Contains(check, "can be replaced by a link") {
				t.Errorf("-check as %s does not refuse a cache whose parent is theirs: %q", unit.user, check)
			} else if !tc.oldLayout && check != "" {
				t.Errorf("-check as %s complains about the installed cache: %s", unit.user, check)
			}

			// What the service must never own: root's, 0755, a file in it.
			victim := filepath.Join(tmp, "etc-standin")
			if err := os.Mkdir(victim, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(victim, "passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644); err != nil {
				t.Fatal(err)
			}

			// The attack, as the service user.
			plant := unitCmd(unit, false, "sh", "-c", `mv -T "$1" "$1.old" && ln -s "$2" "$1"`, "sh", cache, victim)
			out, err := plant.CombinedOutput()
			planted := err == nil
			switch {
			case planted && !tc.oldLayout:
				t.Errorf("the service user %s replaced %s by a link to %s: the directory holding it must not be theirs", unit.user, cache, victim)
			case !planted && tc.oldLayout:
				t.Fatalf("the service user could not plant the link in the old layout (the test's premise): %v\n%s", err, out)
			case !planted:
				t.Logf("the service user cannot replace the cache directory: %s", strings.TrimSpace(string(out)))
			}

			if tc.oldLayout {
				// The upgrade: make install (and the package's postinst) run
				// scripts/setup.sh as root.
				makeInstall(t, dest)
			}
			// The start: every root line of the unit, its paths moved under
			// DESTDIR.
			roots := 0
			for _, line := range unit.pre {
				args, asRoot := execLine(t, line)
				if !asRoot {
					continue
				}
				roots++
				args = destArgs(t, dest, args)
				old := syscall.Umask(0o022) // the unit's UMask
				b, err := unitCmd(unit, true, args...).CombinedOutput()
				syscall.Umask(old)
				t.Logf("ExecStartPre=%s (as %v): %v\n%s", line, args, err, b)
			}
			t.Logf("%d root ExecStartPre lines run", roots)

			for _, p := range []string{victim, filepath.Join(victim, "passwd")} {
				fi, err := os.Lstat(p)
				if err != nil {
					t.Fatal(err)
				}
				st := fi.Sys().(*syscall.Stat_t)
				want := fs.FileMode(0o644)
				if fi.IsDir() {
					want = fs.ModeDir | 0o755
				}
				if st.Uid != 0 || st.Gid != 0 || fi.Mode() != want {
					t.Errorf("root followed the service user's link: %s is now %d:%d %v (was 0:0 %v)", p, st.Uid, st.Gid, fi.Mode(), want)
				}
			}
		})
	}
}

// destArgs moves the arguments of a root line of the unit under dest, as
// make install DESTDIR=dest moved the files: paths under /etc/goauthenntlm
// and /var/cache/goauthenntlm, and the tmpfiles.d file systemd-tmpfiles is
// given by name (copied with its paths moved). Any other absolute path is
// fatal: the test must never let root act on the real system.
func destArgs(t *testing.T, dest string, args []string) []string {
	t.Helper()
	moved := []string{"/etc/goauthenntlm", "/var/cache/goauthenntlm"}
	out := []string{args[0]}
	tmpfiles := filepath.Base(args[0]) == "systemd-tmpfiles"
	for _, a := range args[1:] {
		switch {
		case tmpfiles && !strings.HasPrefix(a, "-"):
			// A tmpfiles.d file, by name (searched in the tmpfiles.d
			// directories) or path.
			src := filepath.Join(dest, "etc/tmpfiles.d", filepath.Base(a))
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatalf("systemd-tmpfiles is given %s, which make install did not put in %s: %v", a, src, err)
			}
			conf := string(b)
			for _, m := range moved {
				conf = strings.ReplaceAll(conf, " "+m, " "+dest+m)
			}
			moved := filepath.Join(t.TempDir(), filepath.Base(a))
			if err := os.WriteFile(moved, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			a = moved
		case strings.HasPrefix(a, "/"):
			ok := false
			for _, m := range moved {
				if a == m || strings.HasPrefix(a, m+"/") {
					a, ok = dest+a, true
					break
				}
			}
			if !ok {
				t.Fatalf("a root line of the unit names %s, which this test cannot move under DESTDIR: adapt it", a)
			}
		}
		out = append(out, a)
	}
	return out
}

func uidOf(t *testing.T, name string) int {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(u.Uid)
	return n
}

// cacheCheck runs the installed ntlm-fcgi-authorizer -check as the unit's
// user on the installed config, its paths moved under dest, and returns
// what it says about groups.cache_dir (the LDAP password and CA are the
// admin's to add: TestInstall).
func cacheCheck(t *testing.T, unit unitExec, dest string) string {
	t.Helper()
	conf := strings.NewReplacer(`"/etc/goauthenntlm/`, `"`+dest+`/etc/goauthenntlm/`, `"/var/cache/goauthenntlm/`, `"`+dest+`/var/cache/goauthenntlm/`).
		Replace(string(readFile(t, filepath.Join(dest, "etc/goauthenntlm/conf.toml"))))
	path := filepath.Join(dest, "check.toml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, rc := runAsUser(t, unit, "", filepath.Join(dest, "usr/local/bin/ntlm-fcgi-authorizer"), "-config", path, "-check")
	if rc != 2 && rc != 0 {
		t.Fatalf("-check: exit %d\n%s%s", rc, out, errOut)
	}
	var cache []string
	for _, l := range strings.Split(errOut, "\n") {
		if strings.Contains(l, "groups.cache_dir") {
			cache = append(cache, l)
		}
	}
	return strings.Join(cache, "\n")
}
