//go:build linux

package e2e

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/goauthenntlm/goauthenntlm/pkg/memberships"
)

// Locations of apache/test-site.conf.in's NTLMGroupRoutes, each on the
// three routes (/g/NAME/ ntlm-group-check, /g/expr/NAME/ Require expr,
// /g/authz/NAME/ the authz provider).
var blankRoutes = []string{"/g", "/g/expr", "/g/authz"}

// forgetGroups makes the next check of user ask the directory: its cache
// file goes, and a reload drops the authorizer's in-memory copy.
func forgetGroups(t *testing.T, s *stack, user string) {
	t.Helper()
	os.Remove((&memberships.Cache{Dir: s.env["GROUPS_CACHE"]}).Path(user))
	s.reload(t)
}

// TestGroupNamesWithBlanks: a group name with blanks means that whole
// group on every route. alice, in no group of ours but, like every domain
// user, in the built-in Users, is refused for "Web Users", "Power Users"
// and "Remote Desktop Users" (which a split on blanks would have turned
// into "Users"); jdoe, put in a real group "Web Editors" for the test, is
// admitted to it.
func TestGroupNamesWithBlanks(t *testing.T) {
	s := loadStack(t)
	samba(t, s, "group", "add", "Web Editors")
	t.Cleanup(func() {
		samba(t, s, "group", "delete", "Web Editors")
		forgetGroups(t, s, "jdoe")
	})
	samba(t, s, "group", "addmembers", "Web Editors", "jdoe")
	forgetGroups(t, s, "jdoe")
	forgetGroups(t, s, "alice")

	for _, tc := range []struct {
		user, loc string
		want      bool
	}{
		{"jdoe", "webeditors", true},      // "Web Editors", quoted
		{"jdoe", "webeditors-bare", true}, // Web Editors, unquoted: one name
		{"alice", "webeditors", false},
		{"alice", "webusers-blank", false},
		{"alice", "powerusers-blank", false},
		{"alice", "rdusers", false},
		{"alice", "anyof", false}, // "Web Users" "Power Users" "Remote Desktop Users"
		{"jdoe", "webusers-blank", false},
	} {
		for _, route := range blankRoutes {
			url := route + "/" + tc.loc + "/whoami"
			t.Run(strings.TrimPrefix(url, "/")+"/"+tc.user, func(t *testing.T) {
				code, body := get(t, ntlmClient(nil), s.url(url), `EXAMPLE\`+tc.user, users[tc.user])
				switch {
				case tc.want && (code != 200 || body != tc.user):
					t.Errorf("%s on %s: %d %q, want 200", tc.user, url, code, body)
				case !tc.want && code != 401 && code != 403:
					t.Errorf("%s on %s: %d %q, want a refusal", tc.user, url, code, body)
				}
			})
		}
	}
}

// asApache runs a shell command as Apache's user (www-data).
func asApache(t *testing.T, script string) (string, error) {
	t.Helper()
	out, err := exec.Command("setpriv", "--reuid=www-data", "--regid=www-data", "--init-groups", "--", "sh", "-c", script).CombinedOutput()
	return string(out), err
}

// TestCachePrivateToApache: the memberships cache is readable by Apache's
// group (ntlm-group-check) and by no other local user, and Apache's user
// cannot write it.
func TestCachePrivateToApache(t *testing.T) {
	s := loadStack(t)
	dir := s.env["GROUPS_CACHE"]
	if code, _ := get(t, ntlmClient(nil), s.url("/webusers/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 200 {
		t.Fatalf("jdoe on /webusers: %d", code)
	}
	waitCached(t, s, "jdoe")
	file := (&memberships.Cache{Dir: dir}).Path("jdoe")
	if out, err := asApache(t, "cat "+file); err != nil || !strings.Contains(out, "goauthenntlm-memberships") {
		t.Errorf("as www-data, reading jdoe's entry: %v %q", err, out)
	}
	if out, err := asApache(t, "echo x >> "+file+" || touch "+filepath.Join(dir, "x")+" && exit 0; exit 1"); err == nil {
		t.Errorf("as www-data, writing the cache succeeded (%s)", out)
	}
	// A third user: nobody, in no group of its own that matters.
	for _, script := range []string{"cat " + file, "ls " + dir, "test -r " + file} {
		out, err := exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", "sh", "-c", script).CombinedOutput()
		if err == nil {
			t.Errorf("as nobody, %q succeeded: %s", script, out)
		}
	}
	for path, want := range map[string]os.FileMode{dir: 0o750 | os.ModeSetgid | os.ModeDir, file: 0o640} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want || fi.Sys().(*syscall.Stat_t).Gid != uint32(wwwDataGID(t)) {
			t.Errorf("%s: mode %v gid %d, want %v and www-data's group", path, fi.Mode(), fi.Sys().(*syscall.Stat_t).Gid, want)
		}
	}
}

// TestUnknownNamesLeaveNoFiles: names the directory does not know,
// asked through ntlm-group-check as Apache's user, are refused and leave
// no file behind (the authorizer keeps "no such user" in memory only), so
// a process running as www-data cannot fill the disk with them.
func TestUnknownNamesLeaveNoFiles(t *testing.T) {
	s := loadStack(t)
	dir := s.env["GROUPS_CACHE"]
	before, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	script := `i=0; while [ $i -lt 40 ]; do printf 'no-such-user-%d\nWebUsers\n' $i | ` +
		filepath.Join(s.env["BIN"], "ntlm-group-check") + ` -cache ` + dir + ` 2>/dev/null; [ $? = 1 ] || exit 9; i=$((i+1)); done`
	if out, err := asApache(t, script); err != nil {
		t.Fatalf("unknown names not refused with exit 1: %v %s", err, out)
	}
	after, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) > len(before) {
		t.Errorf("40 unknown names: %d files in the cache, %d before", len(after), len(before))
	}
}

// TestCacheNotWritableByApache: nothing running as Apache's user can
// change what the memberships cache says: it can neither write a file nor
// the directory, and an entry that someone else than the authorizer could
// have written (here, planted by root with www-data as its owner, as a
// cache writable by www-data would allow) is ignored and logged. A cold
// cache is still answered, through the authorizer.
func TestCacheNotWritableByApache(t *testing.T) {
	s := loadStack(t)
	dir := s.env["GROUPS_CACHE"]
	cache := &memberships.Cache{Dir: dir}
	// jdoe's entry exists after a group check.
	if code, _ := get(t, ntlmClient(nil), s.url("/webusers/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 200 {
		t.Fatalf("jdoe on /webusers: %d", code)
	}
	jdoeFile := cache.Path("jdoe")
	for _, script := range []string{
		"echo forged > " + jdoeFile,
		"touch " + filepath.Join(dir, "new-file"),
		"mv " + jdoeFile + " " + jdoeFile + ".x",
		"rm -f " + jdoeFile,
		"chmod 666 " + jdoeFile,
	} {
		if out, err := asApache(t, script); err == nil {
			t.Errorf("as www-data, %q succeeded (%s)", script, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "new-file")); err == nil {
		t.Error("www-data created a file in the cache directory")
	}

	// A forged entry: bob in WebUsers, owned by www-data, planted after
	// his login (whose background lookup would replace it), checked on
	// the same connection (no new login).
	bob := ntlmClient(nil)
	if code, _ := get(t, bob, s.url("/private/whoami"), `EXAMPLE\bob`, users["bob"]); code != 200 {
		t.Fatalf("bob login: %d", code)
	}
	waitCached(t, s, "bob")
	// The forged entry is well-formed: written by this package into a
	// directory of its own, then copied over bob's.
	scratch := &memberships.Cache{Dir: t.TempDir()}
	if _, err := scratch.Put("bob", &memberships.Entry{User: "bob", Domain: "EXAMPLE",
		Groups: []memberships.Group{{SAM: "WebUsers", CN: "WebUsers", DN: "CN=WebUsers,CN=Users,DC=example,DC=test"}}}); err != nil {
		t.Fatal(err)
	}
	forged, err := os.ReadFile(scratch.Path("bob"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cache.Path("bob"), forged, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(cache.Path("bob"), wwwDataUID(t), -1); err != nil {
		t.Fatal(err)
	}
	errOff := fileSize(t, s.env["APACHE_ERROR_LOG"])
	if code, body := get(t, bob, s.url("/webusers/whoami"), "", ""); code == 200 {
		t.Errorf("bob with a forged cache entry: %d %q, want a refusal", code, body)
	}
	if code, body := get(t, bob, s.url("/outsiders/whoami"), "", ""); code != 200 {
		t.Errorf("bob in Outsiders, forged entry ignored, answered by the authorizer: %d %q, want 200", code, body)
	}
	if logged := readFrom(t, s.env["APACHE_ERROR_LOG"], errOff); !strings.Contains(logged, "ignoring the cache entry of bob") ||
		!strings.Contains(logged, "untrusted") {
		t.Errorf("the forged entry was not logged as ignored; the error log has:\n%s", logged)
	}

	// Cold cache, through the authorizer: ntlm-group-check run as Apache runs it.
	forgetGroups(t, s, "bob")
	out, err := asApache(t, "printf 'bob\\nOutsiders\\n' | "+filepath.Join(s.env["BIN"], "ntlm-group-check")+" -cache "+dir)
	if err != nil {
		t.Errorf("cold cache, bob in Outsiders: %v %s", err, out)
	}
	e, fresh, err := cache.Get("bob")
	if err != nil || e == nil || !fresh || e.MemberOfAny([]string{"WebUsers"}) || !e.MemberOfAny([]string{"Outsiders"}) {
		t.Errorf("bob's entry after the cold check (written by the authorizer): %+v %v %v", e, fresh, err)
	}
}

func wwwDataUID(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("id", "-u", "www-data").Output()
	if err != nil {
		t.Fatal(err)
	}
	var uid int
	for _, c := range strings.TrimSpace(string(out)) {
		uid = uid*10 + int(c-'0')
	}
	return uid
}

// wwwDataGID is the gid of Apache's group, www-data.
func wwwDataGID(t *testing.T) int {
	t.Helper()
	g, err := user.LookupGroup("www-data")
	if err != nil {
		t.Fatal(err)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		t.Fatal(err)
	}
	return gid
}
