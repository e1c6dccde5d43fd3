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
	"time"
)

// Delegation (README "Delegation"): the stack's /delegate/ hands its CGIs
// the user's credential cache as KRB5CCNAME; its ldapwho binds to the DC's
// LDAP with it (SASL GSSAPI, MIT's library as any application would) and
// prints the DN the DC gives the user it sees.

const jdoeDN = "dn: CN=John Doe,CN=Users,DC=example,DC=test"

func delegationStack(t *testing.T) *stack {
	t.Helper()
	s := loadStack(t)
	if s.env["DELEGATE_URL"] == "" {
		t.Skip("the stack predates delegation (no DELEGATE_URL in stack.env): bring it up again (scripts/stack.sh up)")
	}
	krbTool(t, "kinit")
	if _, err := exec.LookPath("ldapsearch"); err != nil {
		t.Fatal("ldapsearch (Debian ldap-utils, which scripts/deps.sh installs) is missing: the delegating location's CGI cannot run")
	}
	return s
}

// kinitForwardable is kinit -f: a TGT the client may forward (MIT's
// default is not to ask for one; Windows' is).
func (s *stack) kinitForwardable(t *testing.T, user, password string) string {
	t.Helper()
	cc := "FILE:" + filepath.Join(t.TempDir(), "ccache")
	if out, err := s.krbRun(t, cc, password+"\n", "kinit", "-f", user+"@"+s.env["KRB5_REALM"]); err != nil {
		t.Fatalf("kinit -f %s: %v\n%s", user, err, out)
	}
	return cc
}

// ccacheFiles lists the credential caches in the stack's ccache_dir.
func (s *stack) ccacheFiles(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(s.env["CCACHE_DIR"])
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, filepath.Join(s.env["CCACHE_DIR"], e.Name()))
	}
	return out
}

// waitNoCCache waits until ccache_dir is empty: each file goes
// ccache_idle after the last request it was handed to.
func (s *stack) waitNoCCache(t *testing.T, why string) {
	t.Helper()
	idle, err := time.ParseDuration(s.env["CCACHE_IDLE"])
	if err != nil || idle > time.Minute {
		t.Fatalf("stack.env CCACHE_IDLE %q: the stack's ccache_idle should be short (STACK_CCACHE_IDLE; default 10s)", s.env["CCACHE_IDLE"])
	}
	deadline := time.Now().Add(idle + 5*time.Second)
	for len(s.ccacheFiles(t)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s: credential caches left %s after: %v", why, idle+5*time.Second, s.ccacheFiles(t))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// curl --negotiate --delegation always: the forwarded TGT reaches the
// application, which acts as the user at the DC's LDAP; the file is the
// application's group's alone and goes after the login.
func TestDelegationForwarded(t *testing.T) {
	s := delegationStack(t)
	s.waitNoCCache(t, "before the test")
	cc := s.kinitForwardable(t, "jdoe", "Secr3t!Pass")
	off := s.logOffset(t)
	st, body := s.curlNegotiate(t, cc, s.env["DELEGATE_URL"]+"ldapwho", "--delegation", "always")
	if st != 200 || !strings.Contains(body, jdoeDN) {
		t.Fatalf("forwarded: %d %q", st, body)
	}
	if log, _ := s.logSince(t, off); !strings.Contains(log, "delegation: forwarded ticket stored") {
		t.Errorf("no forwarded ticket in the log:\n%s", log)
	}
	files := s.ccacheFiles(t)
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	fi, err := os.Stat(files[0])
	if err != nil {
		t.Fatal(err)
	}
	www, _ := user.LookupGroup("www-data")
	authz, _ := user.Lookup(s.env["AUTHZ_USER"])
	sys := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o640 || www == nil || strconv.Itoa(int(sys.Gid)) != www.Gid || authz == nil || strconv.Itoa(int(sys.Uid)) != authz.Uid {
		t.Errorf("%s: mode %v uid %d gid %d; want 0640, the authorizer's user, www-data", files[0], fi.Mode(), sys.Uid, sys.Gid)
	}
	if out, ok := asNobody(t, files[0]); ok {
		t.Errorf("nobody read %s (%d bytes)", files[0], len(out))
	}
	// The same client at a location that does not delegate: nothing.
	if st, body := s.curlNegotiate(t, cc, s.siteURL(s.env["SPN_HOST"], "/private/ldapwho"), "--delegation", "always"); st != 200 || !strings.Contains(body, "no KRB5CCNAME") {
		t.Errorf("location without delegation: %d %q", st, body)
	}
	if n := len(s.ccacheFiles(t)); n != 1 {
		t.Errorf("%d files after a login at a location without delegation", n)
	}
	s.waitNoCCache(t, "the login ended")
}

// An account "sensitive and cannot be delegated" gets nothing, with a
// WARN naming the setting; the login itself stands.
func TestDelegationNotDelegable(t *testing.T) {
	s := delegationStack(t)
	cc := s.kinitForwardable(t, s.env["NODELEG_USER"], s.env["NODELEG_PASS"])
	off := s.logOffset(t)
	st, body := s.curlNegotiate(t, cc, s.env["DELEGATE_URL"]+"ldapwho", "--delegation", "always")
	if st != 200 || !strings.Contains(body, "no KRB5CCNAME") {
		t.Fatalf("not delegable: %d %q", st, body)
	}
	log, _ := s.logSince(t, off)
	if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "sensitive and cannot be delegated") {
		t.Errorf("no WARN:\n%s", log)
	}
}

// The files go at the daemon's start, even when it died without removing
// them.
func TestDelegationRestart(t *testing.T) {
	s := delegationStack(t)
	cc := s.kinitForwardable(t, "jdoe", "Secr3t!Pass")
	if st, body := s.curlNegotiate(t, cc, s.env["DELEGATE_URL"]+"ldapwho", "--delegation", "always"); st != 200 || !strings.Contains(body, jdoeDN) {
		t.Fatalf("forwarded: %d %q", st, body)
	}
	if len(s.ccacheFiles(t)) == 0 {
		t.Fatal("no file")
	}
	pid, err := os.ReadFile(s.env["AUTHZ_PID_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(pid)))
	t.Cleanup(func() { s.ctl(t, "restart-authz") })
	if err := syscall.Kill(n, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50 && syscall.Kill(n, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if len(s.ccacheFiles(t)) == 0 {
		t.Fatal("the killed daemon's file is gone before the restart: the test shows nothing")
	}
	s.ctl(t, "restart-authz")
	if f := s.ccacheFiles(t); len(f) != 0 {
		t.Errorf("after the restart: %v", f)
	}
	// And a stop removes them too.
	if st, _ := s.curlNegotiate(t, cc, s.env["DELEGATE_URL"]+"ldapwho", "--delegation", "always"); st != 200 || len(s.ccacheFiles(t)) != 1 {
		t.Fatalf("after the restart: %d, files %v", st, s.ccacheFiles(t))
	}
	s.ctl(t, "restart-authz")
	if f := s.ccacheFiles(t); len(f) != 0 {
		t.Errorf("after a stop: %v", f)
	}
}
