//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/internal/chromium"
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
	if log, _ := s.logSince(t, off); !strings.Contains(log, "how=forwarded") {
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
	if !strings.Contains(log, "outcome=not_delegable") || !strings.Contains(log, "sensitive and cannot be delegated") {
		t.Errorf("no WARN:\n%s", log)
	}
	// By NTLM (protocol transition): the KDC's S4U2Self ticket says so.
	off = s.logOffset(t)
	out := curl(t, "-s", "--ntlm", "-u", `EXAMPLE\`+s.env["NODELEG_USER"]+":"+s.env["NODELEG_PASS"], "-w", " %{http_code}", s.url("/delegate/ldapwho"))
	if !strings.Contains(out, "no KRB5CCNAME") || !strings.HasSuffix(out, " 200") {
		t.Errorf("NTLM, not delegable: %q", out)
	}
	if log, _ := s.logSince(t, off); !strings.Contains(log, "outcome=not_delegable") {
		t.Errorf("NTLM, not delegable: the log says\n%s", log)
	}
}

// A Kerberos login whose client delegates nothing gets tickets to the
// domain's delegate_to by S4U2Proxy, with the ticket it presented (made
// forwardable by a forwardable TGT, as Windows' are).
func TestDelegationS4U2Proxy(t *testing.T) {
	s := delegationStack(t)
	cc := s.kinitForwardable(t, "jdoe", "Secr3t!Pass")
	off := s.logOffset(t)
	st, body := s.curlNegotiate(t, cc, s.env["DELEGATE_URL"]+"ldapwho")
	if st != 200 || !strings.Contains(body, jdoeDN) {
		t.Fatalf("S4U2Proxy: %d %q", st, body)
	}
	if log, _ := s.logSince(t, off); !strings.Contains(log, "how=s4u2proxy") {
		t.Errorf("not by S4U2Proxy:\n%s", log)
	}
	// A TGT that is not forwardable (MIT's default) makes a ticket the KDC
	// takes as no evidence: the login stands, without credentials, and
	// the log names the KDC's error and what to do. Another user than
	// jdoe: a user's delegated tickets serve the user's next logins.
	cc = s.kinit(t, "bob", "B0b!Passw0rd")
	off = s.logOffset(t)
	st, body = s.curlNegotiate(t, cc, s.env["DELEGATE_URL"]+"ldapwho")
	if st != 200 || !strings.Contains(body, "no KRB5CCNAME") {
		t.Fatalf("not forwardable: %d %q", st, body)
	}
	if log, _ := s.logSince(t, off); !strings.Contains(log, "outcome=kdc_refused") || !strings.Contains(log, "KDC_ERR_BADOPTION") ||
		!strings.Contains(log, "not forwardable") || !strings.Contains(log, "remedy=") {
		t.Errorf("the KDC's refusal is not logged with its error and remedy:\n%s", log)
	}
}

// NTLM and Basic logins get the same by protocol transition (S4U2Self,
// then S4U2Proxy); Basic's cache is the user's across requests, not one
// per request.
func TestDelegationProtocolTransition(t *testing.T) {
	s := delegationStack(t)
	off := s.logOffset(t)
	for _, auth := range [][]string{{"--ntlm", "-u", `EXAMPLE\jdoe:Secr3t!Pass`}, {"-u", "jdoe:Secr3t!Pass"}, {"-u", "jdoe:Secr3t!Pass"}} {
		out := curl(t, append(append([]string{"-s"}, auth...), "-w", " %{http_code}", s.url("/delegate/ldapwho"))...)
		if !strings.Contains(out, jdoeDN) || !strings.HasSuffix(out, " 200") {
			t.Errorf("%v: %q", auth[:len(auth)-1], out)
		}
	}
	log, _ := s.logSince(t, off)
	if n := strings.Count(log, "how=protocol_transition"); n != 2 {
		t.Errorf("%d credential caches by protocol transition, want 2 (NTLM, and Basic once):\n%s", n, log)
	}
	// A connection that logged in at a location that does not delegate
	// gets its cache at its first request at one (curl keeps the
	// connection, NTLM-authenticated, for the second URL, and the binding
	// cookie: -b "").
	off = s.logOffset(t)
	out := curl(t, "-s", "-b", "", "--ntlm", "-u", `EXAMPLE\alice:Al1ce!Pass`, "-w", "connects=%{num_connects}\n", s.url("/private/whoami"), s.url("/delegate/ldapwho"))
	if !strings.Contains(out, "dn: CN=alice,CN=Users,DC=example,DC=test\nconnects=0") {
		t.Errorf("a connection logged in elsewhere, at the delegating location: %q", out)
	}
	if log, _ := s.logSince(t, off); strings.Count(log, "msg=login ") != 1 || !strings.Contains(log, "how=protocol_transition") {
		t.Errorf("want one login, then a cache at the delegating location:\n%s", log)
	}
	// Where the location does not delegate: nothing.
	if out := curl(t, "-s", "--ntlm", "-u", `EXAMPLE\jdoe:Secr3t!Pass`, s.url("/private/ldapwho")); !strings.Contains(out, "no KRB5CCNAME") {
		t.Errorf("location without delegation: %q", out)
	}
}

// Real browsers: Chromium logging in by NTLM (credentials typed at its
// prompt: protocol transition), and Chromium told to delegate
// (AuthNegotiateDelegateAllowlist, as its Local State pref) logging in by Kerberos (its forwarded
// TGT).
func TestDelegationChromium(t *testing.T) {
	s := delegationStack(t)
	bin := chromiumBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t.Run("ntlm", func(t *testing.T) {
		b, err := chromium.Launch(ctx, chromium.Options{Binary: bin, Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		u, err := b.NewUser(ctx, `EXAMPLE\alice`, "Al1ce!Pass")
		if err != nil {
			t.Fatal(err)
		}
		p, err := u.Goto(ctx, s.url("/delegate/ldapwho"))
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != 200 || !strings.Contains(p.Body, "dn: CN=alice,CN=Users,DC=example,DC=test") {
			t.Errorf("chromium by NTLM: %d %q (NetLog %s)", p.Status, p.Body, b.NetLogPath)
		}
	})
	t.Run("kerberos-delegating", func(t *testing.T) {
		cc := s.kinitForwardable(t, "jdoe", "Secr3t!Pass")
		_, domain, _ := strings.Cut(s.env["SPN_HOST"], ".")
		off := s.logOffset(t)
		// The policy AuthNegotiateDelegateAllowlist is the Local State
		// pref auth.negotiate_delegate_whitelist (this Chromium has no
		// command-line switch for it).
		dir := t.TempDir()
		flags := s.chromiumKerberos(t, dir, cc)
		state := `{"net":{"received_http_auth_negotiate_headers":true},"auth":{"disable_negotiate_cname_lookup":true,"negotiate_delegate_whitelist":"*.` + domain + `"}}`
		if err := os.WriteFile(filepath.Join(dir, "profile", "Local State"), []byte(state), 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := chromium.Launch(ctx, chromium.Options{Binary: bin, Dir: dir, Flags: flags})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		u, err := b.NewUser(ctx, "", "")
		if err != nil {
			t.Fatal(err)
		}
		p, err := u.Goto(ctx, s.env["DELEGATE_URL"]+"ldapwho")
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != 200 || !strings.Contains(p.Body, jdoeDN) || len(u.Prompts()) != 0 {
			t.Errorf("chromium by Kerberos: %d %q, prompts %v (NetLog %s)", p.Status, p.Body, u.Prompts(), b.NetLogPath)
		}
		if log, _ := s.logSince(t, off); !strings.Contains(log, "how=forwarded") {
			t.Errorf("chromium did not delegate its TGT:\n%s", log)
		}
	})
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

// Firefox told to delegate to the site (network.negotiate-auth.delegation-uris)
// logs in by Kerberos and forwards its TGT, which the application uses.
func TestDelegationFirefox(t *testing.T) {
	s := delegationStack(t)
	cc := s.kinitForwardable(t, "jdoe", "Secr3t!Pass")
	host := s.env["SPN_HOST"]
	opts := s.firefoxKerberos(cc)
	opts.Prefs = map[string]any{"network.negotiate-auth.delegation-uris": host}
	off := s.logOffset(t)
	marker := fmt.Sprintf("c=delegf%d", time.Now().UnixNano()%1e9)
	pages, prompts, _ := firefoxVisit(t, host, marker, opts, "", "", s.env["DELEGATE_URL"]+"ldapwho?"+marker)
	if p := pages[0]; p.Status != 200 || !strings.Contains(p.Body, jdoeDN) || len(prompts[0]) != 0 {
		t.Errorf("firefox: %d %q, prompts %v", p.Status, p.Body, prompts[0])
	}
	if log, _ := s.logSince(t, off); !strings.Contains(log, "how=forwarded") {
		t.Errorf("firefox did not delegate its TGT:\n%s", log)
	}
}

// With no KDC answering, a Kerberos login at the delegating location still
// gets in, without credentials, within delegation.kdc_timeout (3 s), and
// the log says why.
func TestDelegationKDCDown(t *testing.T) {
	s := delegationStack(t)
	// A fresh daemon: no user's delegated tickets held from before.
	s.ctl(t, "restart-authz")
	cc := s.kinitForwardable(t, "jdoe", "Secr3t!Pass")
	s.kvno(t, cc, s.env["SERVICE_PRINCIPAL"]) // the ticket to the site, while the KDC answers
	s.ctl(t, "dc-stop")
	defer s.ctl(t, "dc-start")
	off := s.logOffset(t)
	start := time.Now()
	st, body := s.curlNegotiate(t, cc, s.env["DELEGATE_URL"]+"ldapwho")
	took := time.Since(start)
	if st != 200 || !strings.Contains(body, "no KRB5CCNAME") || took > 10*time.Second {
		t.Fatalf("KDC down: %d %q after %s", st, body, took)
	}
	if log, _ := s.logSince(t, off); !strings.Contains(log, "outcome=kdc_unreachable") {
		t.Errorf("KDC down: the log says\n%s", log)
	}
}
