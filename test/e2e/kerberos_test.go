//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
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

// krbStack is the stack, with its Kerberos settings checked.
func krbStack(t *testing.T) *stack {
	t.Helper()
	s := loadStack(t)
	for _, k := range []string{"KRB5_CONFIG", "SPN_HOST", "KEYTAB", "APACHE_PORT"} {
		if s.env[k] == "" {
			t.Fatalf("stack.env lacks %s: bring the stack up again (scripts/stack.sh up)", k)
		}
	}
	krbTool(t, "kinit")
	return s
}

// siteURL is path on the site under host (one of the stack's Kerberos
// host names), as a Kerberos client names it.
func (s *stack) siteURL(host, path string) string {
	return "http://" + host + ":" + s.env["APACHE_PORT"] + path
}

// TestKerberosLogin: kinit then curl --negotiate logs in by Kerberos, and
// the group routes answer as for NTLM (TestGroupMatrix). After each user's
// first login (which may name its groups' SIDs in LDAP, once per SID and
// cache_ttl), the whole matrix runs with no DC login, no memberships
// lookup and no SID search: the metrics say so.
func TestKerberosLogin(t *testing.T) {
	s := krbStack(t)
	host := s.env["SPN_HOST"]
	caches := map[string]string{}
	for user := range membership {
		caches[user] = s.kinit(t, user, users[user])
		if code, body := s.curlNegotiate(t, caches[user], s.siteURL(host, "/private/whoami")); code != 200 || body != user {
			t.Fatalf("%s: %d %q, want 200 %s", user, code, body, user)
		}
	}
	_, before := s.metrics(t, "/metrics")
	off := s.logOffset(t)
	logins := 0
	for _, route := range groupRoutes {
		for user, groups := range membership {
			for group, member := range groups {
				code, body := s.curlNegotiate(t, caches[user], s.siteURL(host, route+"/"+group+"/whoami"))
				logins++
				switch {
				case member && (code != 200 || body != user):
					t.Errorf("%s/%s/%s: member: %d %q, want 200 %q", route, group, user, code, body, user)
				case !member && code != 401 && code != 403:
					t.Errorf("%s/%s/%s: not a member: %d %q, want 401 or 403", route, group, user, code, body)
				}
			}
		}
	}
	_, after := s.metrics(t, "/metrics")
	delta := func(name string, labels ...string) float64 {
		return metricValue(after, name, labels...) - metricValue(before, name, labels...)
	}
	// Each request is a new curl, a new connection: a Kerberos login each
	// (a refused member check still logged in first).
	if got := delta("goauthenntlm_logins_total", `scheme="Kerberos"`, `result="ok"`); got < float64(logins) {
		t.Errorf("%v Kerberos logins counted, want %d", got, logins)
	}
	for _, scheme := range []string{"NTLM", "Negotiate", "Basic"} {
		if got := delta("goauthenntlm_logins_total", `scheme="`+scheme+`"`); got != 0 {
			t.Errorf("%v %s logins at the DC during Kerberos logins", got, scheme)
		}
	}
	if got := delta("goauthenntlm_group_lookups_total"); got != 0 {
		t.Errorf("%v memberships lookups (LDAP) for Kerberos logins; the PAC's groups should answer", got)
	}
	if got := delta("goauthenntlm_pac_sid_searches_total"); got != 0 {
		t.Errorf("%v LDAP searches for PAC SIDs already named", got)
	}
	log, _ := s.logSince(t, off)
	if !strings.Contains(log, "scheme=Kerberos") || strings.Contains(log, "Kerberos login refused") {
		t.Errorf("log:\n%s", log)
	}
}

// TestKerberosRefused: each way a Kerberos token can be wrong is refused
// with a 401, its cause logged and counted; none is a 500, and NTLM still
// logs in afterwards.
func TestKerberosRefused(t *testing.T) {
	s := krbStack(t)
	host := s.env["SPN_HOST"]
	cc := s.kinit(t, "jdoe", users["jdoe"])
	port := s.env["APACHE_PORT"]
	cases := []struct {
		cause string
		setup func(t *testing.T) // before the request; undone by t.Cleanup
		do    func(t *testing.T) int
	}{
		{"replay", nil, func(t *testing.T) int {
			// The token of a login, sent again as it was.
			h := s.usedToken(t, cc)
			code, _ := strconv.Atoi(curl(t, "-o", "/dev/null", "-w", "%{http_code}", "-H", h, "--resolve", host+":"+port+":127.0.0.1", s.siteURL(host, "/private/whoami")))
			return code
		}},
		{"no_key", nil, func(t *testing.T) int {
			code, _ := s.curlNegotiate(t, cc, s.siteURL(s.env["OTHER_SPN_HOST"], "/private/whoami"))
			return code
		}},
		{"kvno", func(t *testing.T) {
			s.reconfigure(t, func(c string) string { return strings.Replace(c, s.env["KEYTAB"], s.env["KEYTAB_OLD_KVNO"], 1) })
		}, func(t *testing.T) int {
			code, _ := s.curlNegotiate(t, cc, s.siteURL(host, "/private/whoami"))
			return code
		}},
		{"skew", nil, func(t *testing.T) int {
			s.kvno(t, cc, "HTTP/"+host) // the ticket first: only the authenticator is skewed
			code, _ := s.curlNegotiateSkewed(t, cc, "+10m", s.siteURL(host, "/private/whoami"))
			return code
		}},
		{"realm", func(t *testing.T) {
			// The domain served is now "other.test": EXAMPLE.TEST's users
			// are from a realm it does not serve.
			s.reconfigure(t, func(c string) string {
				return strings.Replace(c, `dns_name = "example.test"`, `dns_name = "other.test"`, 1)
			})
		}, func(t *testing.T) int {
			code, _ := s.curlNegotiate(t, cc, s.siteURL(host, "/private/whoami"))
			return code
		}},
	}
	for _, tc := range cases {
		t.Run(tc.cause, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup(t)
			}
			_, before := s.metrics(t, "/metrics")
			off := s.logOffset(t)
			if code := tc.do(t); code != 401 {
				t.Errorf("answer %d, want 401", code)
			}
			log, _ := s.logSince(t, off)
			if !strings.Contains(log, `msg="Kerberos login refused"`) || !strings.Contains(log, "cause="+tc.cause) || !strings.Contains(log, "remedy=") {
				t.Errorf("no WARN with cause=%s and a remedy; log:\n%s", tc.cause, log)
			}
			_, after := s.metrics(t, "/metrics")
			name, label := "goauthenntlm_kerberos_refused_total", fmt.Sprintf(`cause="%s"`, tc.cause)
			if metricValue(after, name, label)-metricValue(before, name, label) < 1 {
				t.Errorf("refusal not counted under %s", label)
			}
			if metricValue(after, "goauthenntlm_responses_total", `code="500"`) != metricValue(before, "goauthenntlm_responses_total", `code="500"`) {
				t.Error("a 500 was answered")
			}
			// The client falls back to NTLM, which still logs in.
			if code, body := get(t, ntlmClient(nil), s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 200 || body != "jdoe" {
				t.Errorf("NTLM after the refusal: %d %q", code, body)
			}
		})
	}
}

// usedToken logs in by Kerberos with curl --negotiate from cache cc and
// returns the Authorization header it sent, accepted once.
func (s *stack) usedToken(t *testing.T, cc string) string {
	t.Helper()
	host, port := s.env["SPN_HOST"], s.env["APACHE_PORT"]
	out, _ := s.krbRun(t, cc, "", "curl", "-s", "-v", "-o", "/dev/null", "-w", "%{http_code}", "--negotiate", "-u", ":", "--resolve", host+":"+port+":127.0.0.1", s.siteURL(host, "/private/whoami"))
	var h string
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "> Authorization: Negotiate "); ok {
			h = "Authorization: Negotiate " + v
		}
	}
	if h == "" || !strings.HasSuffix(strings.TrimSpace(string(out)), "200") {
		t.Fatalf("no token accepted in curl's trace:\n%s", out)
	}
	return h
}

// TestKerberosReplayAfterRestart: a token accepted before the authorizer
// reloads (SIGHUP), restarts or is killed (kill -9) is refused after it
// (the replay cache is kept in its state directory's file, the service
// user's alone, 0600), and a fresh login still works. The cache used to live in memory: the
// replay after a restart was a 200.
func TestKerberosReplayAfterRestart(t *testing.T) {
	s := krbStack(t)
	if s.env["REPLAY_FILE"] == "" {
		t.Fatal("stack.env lacks REPLAY_FILE: bring the stack up again (scripts/stack.sh up)")
	}
	host, port := s.env["SPN_HOST"], s.env["APACHE_PORT"]
	cc := s.kinit(t, "jdoe", users["jdoe"])
	h := s.usedToken(t, cc)
	for _, step := range []string{"reload", "restart"} {
		if step == "reload" {
			s.reload(t)
		} else {
			s.ctl(t, "restart-authz")
		}
		off := s.logOffset(t)
		if code := curl(t, "-o", "/dev/null", "-w", "%{http_code}", "-H", h, "--resolve", host+":"+port+":127.0.0.1", s.siteURL(host, "/private/whoami")); code != "401" {
			t.Fatalf("the token accepted before the %s, sent again after it: %s, want 401", step, code)
		}
		if log, _ := s.logSince(t, off); !strings.Contains(log, "cause=replay ") {
			t.Errorf("after the %s: no refusal with cause=replay; log:\n%s", step, log)
		}
		_, m := s.metrics(t, "/metrics")
		if n, size := metricValue(m, "goauthenntlm_kerberos_replay_entries"), metricValue(m, "goauthenntlm_kerberos_replay_slots"); n < 1 || size != 1<<20 {
			t.Errorf("after the %s: kerberos_replay_entries %v of kerberos_replay_slots %v, want at least 1 of 1048576", step, n, size)
		}
	}
	// A crash: a token accepted just before kill -9 (no flush at exit) is
	// refused after the restart too; the mapping's pages were the kernel's.
	h = s.usedToken(t, cc)
	pid, err := os.ReadFile(s.env["AUTHZ_PID_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(strings.TrimSpace(string(pid)))
	if err := syscall.Kill(p, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100 && syscall.Kill(p, 0) == nil; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	s.ctl(t, "restart-authz")
	if code := curl(t, "-o", "/dev/null", "-w", "%{http_code}", "-H", h, "--resolve", host+":"+port+":127.0.0.1", s.siteURL(host, "/private/whoami")); code != "401" {
		t.Fatalf("the token accepted just before kill -9, sent again after the restart: %s, want 401", code)
	}
	fi, err := os.Stat(s.env["REPLAY_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	u, err := user.Lookup(s.env["AUTHZ_USER"])
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != 0o600 || strconv.Itoa(int(st.Uid)) != u.Uid {
		t.Errorf("replay file mode %04o uid %d, want 0600 and %s's (%s)", fi.Mode().Perm(), st.Uid, u.Username, u.Uid)
	}
	if code, body := s.curlNegotiate(t, cc, s.siteURL(host, "/private/whoami")); code != 200 || body != "jdoe" {
		t.Errorf("a fresh login after the restart: %d %q", code, body)
	}
}

// TestKerberosNTLMDisabled: a domain that blocks NTLM still logs its
// users in by Kerberos, which needs no DC round trip.
func TestKerberosNTLMDisabled(t *testing.T) {
	s := krbStack(t)
	if testing.Short() {
		t.Skip("restarts the DC: not in -short")
	}
	cc := s.kinit(t, "jdoe", users["jdoe"])
	s.dcProfile(t, "ntlm-disabled")
	if code, _ := get(t, ntlmClient(nil), s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 403 {
		t.Errorf("NTLM with NTLM blocked: %d, want 403", code)
	}
	if code, body := s.curlNegotiate(t, cc, s.siteURL(s.env["SPN_HOST"], "/private/whoami")); code != 200 || body != "jdoe" {
		t.Errorf("Kerberos with NTLM blocked: %d %q, want 200 jdoe", code, body)
	}
}

// TestKerberosChromiumLogin: headless Chromium set up as chromiumKerberos
// says logs in to the stack's site by Kerberos from a ticket cache (its
// NetLog shows a SPNEGO token offering Kerberos first, and no NTLM; one
// token per connection, the next pages riding on the connection's memory),
// and with no ticket falls back to NTLM (its prompt answered).
func TestKerberosChromiumLogin(t *testing.T) {
	s := krbStack(t)
	bin := chromiumBinary(t)
	base := s.siteURL(s.env["SPN_HOST"], "")
	for _, tc := range []struct {
		name, ccache, user, pw string
	}{
		{"ticket", s.kinit(t, "jdoe", users["jdoe"]), "", ""},
		{"no ticket", "FILE:" + filepath.Join(t.TempDir(), "empty"), `EXAMPLE\jdoe`, users["jdoe"]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			b, u := s.launchChromiumKerberos(ctx, t, bin, tc.ccache, tc.user, tc.pw)
			run := fmt.Sprint(time.Now().UnixNano())
			for i := 0; i < 3; i++ {
				p, err := u.Goto(ctx, fmt.Sprintf("%s/private/whoami?k=%s-%d", base, run, i))
				if err != nil || p.Status != 200 || strings.TrimSpace(p.Body) != "jdoe" {
					t.Errorf("page %d: %v %d %q, want 200 jdoe", i, err, p.Status, p.Body)
				}
			}
			if err := b.Close(); err != nil {
				t.Errorf("closing chromium: %v", err)
			}
			nl, err := chromium.ReadNetLog(b.NetLogPath)
			if err != nil {
				t.Fatal(err)
			}
			var krb, ntlm, sent int
			for _, e := range nl.For("k=" + run) {
				a := e.Get("Authorization")
				if a == "" {
					continue
				}
				sent++
				tok, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(strings.TrimPrefix(a, "Negotiate "), "NTLM "))
				switch {
				case bytes.Contains(tok, krbOID) || bytes.Contains(tok, krbOIDMS):
					krb++
				case bytes.Contains(tok, []byte("NTLMSSP\x00")):
					ntlm++
				}
			}
			t.Logf("%s: %d requests sent Authorization (%d Kerberos, %d NTLM) over 3 pages", tc.name, sent, krb, ntlm)
			if tc.user == "" && (krb != 1 || ntlm != 0) {
				t.Errorf("with a ticket: %d Kerberos and %d NTLM tokens, want one Kerberos token (then the connection)\n%s", krb, ntlm, nl.Summary("k="+run))
			}
			if tc.user != "" && (ntlm == 0 || krb != 0) {
				t.Errorf("without a ticket: %d NTLM and %d Kerberos tokens, want NTLM\n%s", ntlm, krb, nl.Summary("k="+run))
			}
		})
	}
}

// The Kerberos OIDs as DER, to find in a token.
var (
	krbOID   = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}
	krbOIDMS = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02}
)

// TestKerberosRC4: an account the KDC issues RC4 tickets for (no AES keys)
// still logs in, with a WARN saying to move it to AES.
func TestKerberosRC4(t *testing.T) {
	s := krbStack(t)
	if s.env["KEYTAB_RC4"] == "" || s.env["RC4_SPN_HOST"] == "" {
		t.Fatal("stack.env lacks KEYTAB_RC4 / RC4_SPN_HOST: bring the stack up again")
	}
	cc := s.kinit(t, "jdoe", users["jdoe"])
	s.reconfigure(t, func(c string) string {
		c = strings.Replace(c, s.env["KEYTAB"], s.env["KEYTAB_RC4"], 1)
		return strings.Replace(c, `keytab_file = "`+s.env["KEYTAB_RC4"]+`"`,
			`keytab_file = "`+s.env["KEYTAB_RC4"]+`"`+"\nservice_principals = [\"HTTP/"+s.env["RC4_SPN_HOST"]+"\"]", 1)
	})
	off := s.logOffset(t)
	if code, body := s.curlNegotiate(t, cc, s.siteURL(s.env["RC4_SPN_HOST"], "/private/whoami")); code != 200 || body != "jdoe" {
		t.Errorf("RC4 ticket: %d %q, want 200 jdoe", code, body)
	}
	log, _ := s.logSince(t, off)
	if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "RC4") || !strings.Contains(log, "enctype=arcfour-hmac") {
		t.Errorf("no RC4 WARN, or the login's enctype not logged:\n%s", log)
	}
}

// TestKerberosTools: -check -probe gets a ticket for the SPN (from the
// caller's ticket cache: Samba's KDC does not take an SPN as a client
// name) and opens it with the keytab, or names the cause with the old-kvno
// keytab; -test-kerberos logs in from the ticket cache.
func TestKerberosTools(t *testing.T) {
	s := krbStack(t)
	env := s.krbEnv(t, s.kinit(t, "jdoe", users["jdoe"]))
	run := func(conf string, args ...string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(s.env["BIN"], "ntlm-fcgi-authorizer"), append([]string{"-config", conf}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("%v: %v", args, err)
		}
		return string(out), cmd.ProcessState.ExitCode()
	}
	spn := "HTTP/" + s.env["SPN_HOST"] + "@" + s.env["KRB5_REALM"]
	out, rc := run(s.env["CONF"], "-check", "-probe")
	for _, want := range []string{spn + " kvno 3 aes256-cts-hmac-sha1-96", "kerberos " + spn + ": ok: the KDC issues tickets for it (kvno 3, aes256-cts-hmac-sha1-96)"} {
		if rc != 0 || !strings.Contains(out, want) {
			t.Errorf("-check -probe: exit %d, output lacks %q:\n%s", rc, want, out)
		}
	}
	conf, err := os.ReadFile(s.env["CONF"])
	if err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(t.TempDir(), "conf.toml")
	if err := os.WriteFile(old, []byte(strings.Replace(string(conf), s.env["KEYTAB"], s.env["KEYTAB_OLD_KVNO"], 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, rc := run(old, "-check", "-probe"); rc != 1 || !strings.Contains(out, "FAILED: kerberos: kvno:") || !strings.Contains(out, "remedy: ") {
		t.Errorf("-check -probe with the old-kvno keytab: exit %d, want 1 and the kvno cause:\n%s", rc, out)
	}
	if out, rc := run(s.env["CONF"], "-test-kerberos"); rc != 0 || !strings.Contains(out, "REMOTE_USER: jdoe") || !strings.Contains(out, "principal:   jdoe@"+s.env["KRB5_REALM"]) {
		t.Errorf("-test-kerberos: exit %d:\n%s", rc, out)
	}
}
