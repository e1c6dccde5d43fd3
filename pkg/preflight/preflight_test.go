package preflight

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
)

// filesConf names one file of each kind Files checks, all relative to
// the config's directory.
const filesConf = `caller_secret_file = "caller.secret"

[[domain]]
name = "EXAMPLE"
dcs = ["127.0.0.1"]
ldap_urls = ["ldaps://127.0.0.1"]
ldap_base_dn = "DC=example,DC=test"
ldap_bind_user = "svc"
ldap_bind_password_file = "ldap.pass"
ldap_ca_file = "ca.pem"

[groups]
cache_dir = "nocache"

[cookie]
enabled = true
secret_files = ["cookie.key"]
`

// A config whose every named file is missing gets one problem per file,
// each with the line of the key naming it.
func TestFilesEveryProblem(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "conf.toml")
	cfg, err := config.Parse(path, []byte(filesConf))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Groups.HelperUsers = nil // their group: TestCacheDirGroup
	got := Files(cfg)
	want := []string{
		path + ":1: caller secret: open " + filepath.Join(dir, "caller.secret"),
		path + ":9: domain EXAMPLE: ldap bind password: open",
		path + ":10: domain EXAMPLE: ldap CA: open",
		path + ":17: cookie secret",
		path + ":13: groups.cache_dir: " + filepath.Join(dir, "nocache") + " does not exist",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if !strings.HasPrefix(got[i].Error(), want[i]) {
			t.Errorf("problem %d = %q, want prefix %q", i, got[i], want[i])
		}
	}

	// Filled in, the same config has no problem left.
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("caller.secret", "0123456789abcdef0123\n")
	write("ldap.pass", "pw\n")
	write("cookie.key", strings.Repeat("k", 40)+"\n")
	write("ca.pem", testCA(t))
	if err := os.Mkdir(filepath.Join(dir, "nocache"), 0o700); err != nil {
		t.Fatal(err)
	}
	errs := Files(cfg)
	if os.Geteuid() != 0 && runtime.GOOS != "windows" {
		// The cache is this user's, in a directory of this user's (the
		// test's): it could replace the cache by a link (TestCacheDirMovable).
		if len(errs) == 1 && strings.Contains(errs[0].Error(), "can be replaced by a link") {
			errs = nil
		}
	}
	if len(errs) != 0 {
		t.Errorf("complete config: %v", errs)
	}

	// Contents are checked too, not only that the files open.
	write("caller.secret", "short\n")
	write("ldap.pass", "\n")
	write("ca.pem", "not a certificate\n")
	write("cookie.key", "short\n")
	errs = Files(cfg)
	for i, want := range []string{"at least 16 characters", "is empty", "holds no PEM certificate", "need at least"} {
		if i >= len(errs) || !strings.Contains(errs[i].Error(), want) {
			t.Errorf("bad contents: problems %v, want #%d to say %q", errs, i, want)
		}
	}
}

func TestCacheDirNotWritable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes into any directory; the mode check needs another user")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	if err := cacheDir(dir, nil); err == nil || !strings.Contains(err.Error(), "not writable") {
		t.Errorf("cacheDir(read-only dir) = %v", err)
	}
}

// The cache directory's mode: writable by group or others is refused
// (ntlm-group-check would ignore its entries: anyone could have forged
// them), and so is any access for others (they would read everyone's
// memberships); group read is what the helper needs.
func TestCacheDirMode(t *testing.T) {
	for _, tt := range []struct {
		mode os.FileMode
		want string // "" = accepted
	}{
		{0o2770 | os.ModeSetgid, "writable by group or others"},
		{0o757, "writable by group or others"},
		{0o755, "every local user can read"},
		{0o751, "every local user can read"},
		{0o750, ""},
		{0o750 | os.ModeSetgid, ""},
		{0o700, ""},
	} {
		dir := t.TempDir()
		if err := os.Chmod(dir, tt.mode); err != nil {
			t.Fatal(err)
		}
		err := cacheDir(dir, nil)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("cacheDir(%v dir) = %v, want %q", tt.mode, err, tt.want)
		}
	}
}

// The helper users must be in the directory's group, and files written
// there must take that group (setgid) when it is not this process's.
func TestCacheDirGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the directory Apache's group")
	}
	www, err := user.Lookup("www-data")
	if err != nil {
		t.Skip("no www-data user:", err)
	}
	gid, _ := strconv.Atoi(www.Gid)
	dir := t.TempDir()
	os.Chmod(dir, 0o750)
	if err := cacheDir(dir, []string{"www-data"}); err == nil || !strings.Contains(err.Error(), "is not in") {
		t.Errorf("directory of root's group, helper www-data: %v", err)
	}
	if err := os.Chown(dir, 0, gid); err != nil {
		t.Fatal(err)
	}
	if err := cacheDir(dir, []string{"www-data"}); err == nil || !strings.Contains(err.Error(), "no setgid bit") {
		t.Errorf("www-data's group without setgid: %v", err)
	}
	os.Chmod(dir, 0o750|os.ModeSetgid)
	if err := cacheDir(dir, []string{"www-data"}); err != nil {
		t.Errorf("2750 root:www-data: %v", err)
	}
}

// The cache's owner must not be able to replace it by a link, which root
// would follow when it puts the cache right: no directory above it (as
// named, or with links resolved) is the owner's or writable by it, but for
// a sticky one (/tmp) holding only others' entries.
func TestCacheDirMovable(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no file owners")
	}
	if os.Geteuid() != 0 {
		// A user's directory in a directory of its own: always movable.
		dir := filepath.Join(t.TempDir(), "groups")
		if err := os.Mkdir(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := movable(dir); err == nil || !strings.Contains(err.Error(), "is its own") {
			t.Errorf("a cache in its owner's directory: %v", err)
		}
		t.Skip("the other cases need root, to give directories to other users")
	}
	const owner, other, group = 4242, 4343, 4444
	inGroup := func(gid uint32) bool { return gid == group }
	type dir struct {
		rel       string
		mode      os.FileMode
		uid, gid  int
		linkToRel string // a link to base/linkToRel instead
	}
	for _, tt := range []struct {
		name  string
		dirs  []dir  // made in order, under a root-owned base
		cache string // relative to base
		want  string // "" = accepted
	}{
		{"parent root's 0755", []dir{{"p", 0o755, 0, 0, ""}, {"p/groups", 0o2750, owner, group, ""}}, "p/groups", ""},
		{"parent the owner's", []dir{{"p", 0o755, owner, owner, ""}, {"p/groups", 0o2750, owner, group, ""}}, "p/groups", "is its own"},
		{"grandparent the owner's", []dir{{"g", 0o755, owner, owner, ""}, {"g/p", 0o755, 0, 0, ""}, {"g/p/groups", 0o2750, owner, group, ""}}, "g/p/groups", "is its own"},
		{"parent writable by all", []dir{{"p", 0o777, 0, 0, ""}, {"p/groups", 0o2750, owner, group, ""}}, "p/groups", "every user"},
		{"parent writable by the owner's group", []dir{{"p", 0o775, 0, group, ""}, {"p/groups", 0o2750, owner, group, ""}}, "p/groups", "its group 4444"},
		{"parent writable by another group", []dir{{"p", 0o775, 0, other, ""}, {"p/groups", 0o2750, owner, group, ""}}, "p/groups", ""},
		{"sticky parent, the cache the owner's", []dir{{"tmp", 0o1777, 0, 0, ""}, {"tmp/groups", 0o2750, owner, group, ""}}, "tmp/groups", "which is the owner's"},
		{"sticky grandparent, parent root's (the stacks)", []dir{{"tmp", 0o1777, 0, 0, ""}, {"tmp/pub", 0o755, 0, 0, ""}, {"tmp/pub/groups", 0o2750, owner, group, ""}}, "tmp/pub/groups", ""},
		{"a link to a cache in the owner's directory", []dir{{"o", 0o755, owner, owner, ""}, {"o/groups", 0o2750, owner, group, ""}, {"p", 0o755, 0, 0, ""}, {"p/groups", 0, 0, 0, "o/groups"}}, "p/groups", "is its own"},
		{"the cache root's", []dir{{"p", 0o755, owner, owner, ""}, {"p/groups", 0o750, 0, 0, ""}}, "p/groups", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			for _, d := range tt.dirs {
				p := filepath.Join(base, d.rel)
				if d.linkToRel != "" {
					if err := os.Symlink(filepath.Join(base, d.linkToRel), p); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err := os.Mkdir(p, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Chown(p, d.uid, d.gid); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, d.mode&0o777|modeBits(d.mode)); err != nil {
					t.Fatal(err)
				}
			}
			cache := filepath.Join(base, tt.cache)
			var err error
			if fi, _ := os.Stat(cache); fi != nil && fi.Sys() != nil {
				if uid, _ := fileUID(fi); uid == 0 {
					err = movable(cache) // root's: not checked
				} else {
					err = movableBy(cache, owner, "owner", inGroup)
				}
			}
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("movable(%s) = %v, want %q", tt.cache, err, tt.want)
			}
		})
	}
}

// modeBits are the setgid and sticky bits of m, as os.Chmod takes them.
func modeBits(m os.FileMode) os.FileMode {
	var b os.FileMode
	if m&0o2000 != 0 {
		b |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		b |= os.ModeSticky
	}
	return b
}

// testCA is a fresh self-signed certificate in PEM.
func testCA(t *testing.T) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// Issue 23, 3: secret files others can read. The caller secret and the
// cookie secrets are refused when anyone but the service can read them
// (they let a reader vouch for any user); the LDAP password only when
// every local user can, else a warning.
func TestSecretFilesExposed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "conf.toml")
	if err := os.WriteFile(path, []byte(filesConf), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), []byte(testCA(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(path, []byte(filesConf))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Groups.HelperUsers = nil
	if err := os.Mkdir(filepath.Join(dir, "nocache"), 0o700); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"caller.secret": "0123456789abcdef0123\n", "ldap.pass": "pw\n", "cookie.key": strings.Repeat("k", 40) + "\n"}
	tests := []struct {
		name string
		mode os.FileMode
		want map[string]string // file -> "refused", "warned" or ""
	}{
		{"0600", 0o600, map[string]string{}},
		{"0640", 0o640, map[string]string{}},
		{"0644", 0o644, map[string]string{"caller.secret": "refused", "ldap.pass": "refused", "cookie.key": "refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, content := range files {
				p := filepath.Join(dir, name)
				os.Remove(p)
				if err := os.WriteFile(p, []byte(content), tt.mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, tt.mode); err != nil { // past the umask
					t.Fatal(err)
				}
			}
			got := map[string]string{}
			for _, err := range Files(cfg) {
				for name := range files {
					if strings.Contains(err.Error(), filepath.Join(dir, name)+" has mode") {
						got[name] = "refused"
						if IsWarning(err) {
							got[name] = "warned"
						}
					}
				}
				if !strings.Contains(err.Error(), " has mode ") {
					t.Errorf("unexpected problem: %v", err)
				}
			}
			for name := range files {
				if got[name] != tt.want[name] {
					t.Errorf("%s: %q, want %q", name, got[name], tt.want[name])
				}
			}
		})
	}
}

// A group that is not the service's: refused for the secrets that let a
// reader vouch for anyone, a warning for the LDAP password; not checked
// when the service's groups are unknown (-check run as root).
func TestSecretFileGroup(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no file modes")
	}
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte("s\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o640); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	gid, _ := fileGID(fi)
	if gid == 0 {
		// Root's group is always accepted: make the file another's.
		gid = 4242
		if err := os.Chown(p, -1, int(gid)); err != nil {
			t.Skipf("cannot give the file a group other than root's: %v", err)
		}
	}
	own := service{uid: os.Geteuid(), groups: []uint32{gid}}
	other := service{uid: os.Geteuid(), groups: []uint32{gid + 1}}
	for _, tt := range []struct {
		name string
		kind secretKind
		svc  service
		want string
	}{
		{"caller or cookie secret or keytab, the service's group", impersonation, own, ""},
		{"caller or cookie secret or keytab, another group", impersonation, other, "refused"},
		{"LDAP password, another group", directoryRead, other, "warned"},
		{"service unknown (root)", impersonation, service{uid: -1}, ""},
	} {
		got := ""
		if err := exposure(p, tt.kind, tt.svc); err != nil {
			got = "refused"
			if IsWarning(err) {
				got = "warned"
			}
			if !strings.Contains(err.Error(), "which is not the authorizer's") {
				t.Errorf("%s: %v", tt.name, err)
			}
		}
		if got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// Issue 29, 4: who could change or replace a secret knows it (a keytab of
// theirs mints tickets for anyone): a file writable by a group or user
// other than the service's, owned by another user, or in a directory
// another user can write to is refused as an impersonation secret and
// warned about as the LDAP password.
func TestSecretFileReplaceable(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no file modes")
	}
	me := uint32(os.Getegid())
	svc := service{uid: os.Geteuid(), groups: []uint32{me}}
	type setup func(t *testing.T, dir string) string
	file := func(mode os.FileMode) setup {
		return func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "secret")
			if err := os.WriteFile(p, []byte("s\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	in := func(dirMode os.FileMode) setup {
		return func(t *testing.T, dir string) string {
			sub := filepath.Join(dir, "sub")
			if err := os.Mkdir(sub, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(sub, dirMode); err != nil {
				t.Fatal(err)
			}
			return file(0o600)(t, sub)
		}
	}
	chown := func(uid, gid int, s setup) setup {
		return func(t *testing.T, dir string) string {
			p := s(t, dir)
			if err := os.Chown(p, uid, gid); err != nil {
				t.Skipf("needs root to give a file away: %v", err)
			}
			return p
		}
	}
	for _, tt := range []struct {
		name string
		make setup
		want string // "" or part of the problem
	}{
		{"0600, ours", file(0o600), ""},
		{"0640, our group", file(0o640), ""},
		{"0602: every user writes", file(0o602), "every local user can write"},
		{"0660, another group", chown(-1, 4242, file(0o660)), "group gid 4242, which is not the authorizer's"},
		{"0640 of another owner", chown(4243, -1, file(0o640)), "owned by uid 4243, neither root nor the authorizer's user"},
		{"in a directory every user writes", in(0o777), "is writable by every user"},
		{"in a sticky directory every user writes, ours", in(os.ModeSticky | 0o777), ""},
		{"in a directory another group writes", func(t *testing.T, dir string) string {
			p := in(0o770)(t, dir)
			if err := os.Chown(filepath.Dir(p), -1, 4242); err != nil {
				t.Skipf("needs root to give a directory away: %v", err)
			}
			return p
		}, "is writable by its group gid 4242"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.make(t, t.TempDir())
			for _, kind := range []secretKind{impersonation, directoryRead} {
				err := exposure(p, kind, svc)
				switch {
				case tt.want == "" && err != nil:
					t.Errorf("kind %d: %v", kind, err)
				case tt.want == "":
				case err == nil || !strings.Contains(err.Error(), tt.want):
					t.Errorf("kind %d: %v, want %q", kind, err, tt.want)
				case kind == impersonation && IsWarning(err):
					t.Errorf("an impersonation secret is only warned about: %v", err)
				case kind == directoryRead && !IsWarning(err) && !strings.Contains(tt.want, "every local user"):
					t.Errorf("the LDAP password is refused, not warned about: %v", err)
				}
			}
		})
	}
}

// kerberosConfig is a configuration in a new directory with a keytab_file
// (line 7, a 0600 file http.keytab) and [replay] file "replay" (line 9).
func kerberosConfig(t *testing.T) (dir, path string, cfg *config.Config) {
	t.Helper()
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "http.keytab"), []byte{5, 2}, 0o600); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "conf.toml")
	conf := "[auth]\nserver_names = [\"www.example.test\"]\n[[domain]]\nname = \"EXAMPLE\"\ndns_name = \"example.test\"\ndcs = [\"127.0.0.1\"]\nkeytab_file = \"http.keytab\"\n[replay]\nfile = \"replay\"\n"
	cfg, err := config.Parse(path, []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	return dir, path, cfg
}

// A keytab is checked as the other impersonation secrets are: Files
// refuses one every user can read, on the line of its keytab_file.
func TestFilesKeytabExposed(t *testing.T) {
	dir, path, cfg := kerberosConfig(t)
	kt := filepath.Join(dir, "http.keytab")
	if err := os.Chmod(kt, 0o644); err != nil {
		t.Fatal(err)
	}
	errs := Files(cfg)
	if len(errs) != 1 || IsWarning(errs[0]) || !strings.Contains(errs[0].Error(), path+":7: domain EXAMPLE: keytab: "+kt+" has mode -rw-r--r--: every local user can read") {
		t.Errorf("Files = %v, want the keytab refused on line 7", errs)
	}
	if err := os.Chmod(kt, 0o600); err != nil {
		t.Fatal(err)
	}
	if errs := Files(cfg); len(errs) != 0 {
		t.Errorf("Files with a 0600 keytab = %v", errs)
	}
}

// Issue 29, 1: an address any local user could bind while the daemon is
// down is warned about: a port at or above ip_unprivileged_port_start.
func TestSquattable(t *testing.T) {
	for _, tt := range []struct {
		listen string
		start  int
		want   string
	}{
		{"127.0.0.1:930", 1024, ""},
		{"127.0.0.1:9301", 1024, "port 9301 is not below 1024"},
		{"[::1]:1024", 1024, "port 1024 is not below 1024"},
		{"127.0.0.1:930", 0, "net.ipv4.ip_unprivileged_port_start is 0, so every user may bind port 930"},
		{"127.0.0.1:930", 931, ""},
	} {
		err := squattable(tt.listen, tt.start)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s, start %d: %v", tt.listen, tt.start, err)
		case tt.want != "" && (err == nil || !IsWarning(err) || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s, start %d: %v, want a warning saying %q", tt.listen, tt.start, err, tt.want)
		}
	}
}

// With Kerberos, the replay file is checked as the daemon would open it:
// one another user could write is refused, on the line of [replay] file.
func TestFilesReplayFile(t *testing.T) {
	dir, path, cfg := kerberosConfig(t)
	rf := filepath.Join(dir, "replay")
	if err := os.WriteFile(rf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if errs := Files(cfg); len(errs) != 0 {
		t.Fatalf("Files = %v", errs)
	}
	if err := os.Chmod(rf, 0o620); err != nil {
		t.Fatal(err)
	}
	if errs := Files(cfg); len(errs) != 1 || !strings.Contains(errs[0].Error(), path+":9: replay file "+rf+": is writable by group or others") {
		t.Errorf("Files = %v, want the replay file refused on line 9", errs)
	}
}

// The Redis password of the shared replay store ([replay]
// redis_password_file) is checked as the other secrets: whoever reads it
// can delete a captured token's replay entry from Redis, and replay the
// token on any node, so every reader but the service is refused. It was
// not checked at all (a 0644 file passed).
func TestRedisPasswordFileExposed(t *testing.T) {
	p := filepath.Join(t.TempDir(), "redis.pass")
	if err := os.WriteFile(p, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{}
	cfg.Replay.RedisURL, cfg.Replay.RedisPasswordFile = "redis://127.0.0.1:6379/0", p
	errs := Secrets(cfg)
	if len(errs) != 1 || IsWarning(errs[0]) || !strings.Contains(errs[0].Error(), p+" has mode") {
		t.Fatalf("0644 Redis password: %v, want it refused", errs)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if errs := Secrets(cfg); len(errs) != 0 {
		t.Fatalf("0600 Redis password: %v", errs)
	}
}
