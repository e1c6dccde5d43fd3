//go:build linux

package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/internal/firefox"
)

// A domain with NTLM switched off (the DC's ntlm-disabled profile) still
// serves Basic: the password goes to the KDC (basic = "kerberos"), the
// service ticket it gets is opened with our keytab, and each refusal has
// its cause. The cases of mod_auth_gssapi's t_basic_k5,
// t_basic_k5_fail_second and t_basic_k5_two_users, plus the account
// states and a KDC outage.
func TestBasicKDC(t *testing.T) {
	e := loadEPA(t)
	s := e.s
	if testing.Short() {
		t.Skip("restarts the DC: not in -short")
	}
	conf := s.env["DC_DIR"] + "/etc/smb.conf"
	sambaTool := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("samba-tool", append(args, "-s", conf)...).CombinedOutput(); err != nil && !strings.Contains(string(out), "already exists") {
			t.Fatalf("samba-tool %v: %v\n%s", args, err, out)
		}
	}
	const pw = "Kdc!Pass1"
	for _, u := range []string{"kdc-disabled", "kdc-expired", "kdc-locked"} {
		sambaTool("user", "create", u, pw)
	}
	sambaTool("user", "create", "kdc-mustchange", pw, "--must-change-at-next-login")
	sambaTool("user", "disable", "kdc-disabled")
	sambaTool("user", "setexpiry", "kdc-expired", "--days=0")
	// Locked out as the DC's lockout leaves it (lockoutTime set): the
	// domain's lockout threshold stays 0, so other tests' wrong passwords
	// lock nobody.
	nt := (time.Now().Unix() + 11644473600) * 10000000
	mod := exec.Command("ldbmodify", "-H", s.env["DC_DIR"]+"/private/sam.ldb")
	mod.Stdin = strings.NewReader("dn: CN=kdc-locked,CN=Users,DC=example,DC=test\nchangetype: modify\nreplace: lockoutTime\nlockoutTime: " + strconv.FormatInt(nt, 10) + "\n")
	if out, err := mod.CombinedOutput(); err != nil {
		t.Fatalf("ldbmodify: %v\n%s", err, out)
	}

	s.dcProfile(t, "ntlm-disabled")
	s.reconfigure(t, func(c string) string {
		c = strings.Replace(c, `schemes = ["ntlm", "negotiate", "basic"]`, `schemes = ["negotiate", "basic"]`, 1)
		c = regexp.MustCompile(`(?m)^basic = .*\n`).ReplaceAllString(c, "")
		return regexp.MustCompile(`(?m)^keytab_file = .*$`).ReplaceAllString(c, "$0\nbasic = \"kerberos\"")
	})
	url := e.url("/private/whoami")
	basic := func(cl *http.Client, user, password string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		req.SetBasicAuth(user, password)
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 512)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		return resp.StatusCode, strings.TrimSpace(b.String()), resp.Header
	}

	off := s.logOffset(t)
	for _, tc := range []struct{ user, password, want string }{
		{"jdoe", users["jdoe"], "jdoe"},
		{`EXAMPLE\jdoe`, users["jdoe"], "jdoe"},
		{"jdoe@example.test", users["jdoe"], "jdoe"},
		{"JDOE", users["jdoe"], "jdoe"},
	} {
		if code, body, _ := basic(e.client(), tc.user, tc.password); code != 200 || body != tc.want {
			t.Errorf("Basic %s over HTTPS, NTLM off: %d %q, want 200 %q", tc.user, code, body, tc.want)
		}
	}
	for _, tc := range []struct{ user, password, cause string }{
		{"jdoe", "wrong", "wrong_credentials"},
		{"nosuchuser", "x", "wrong_credentials"},
		{"kdc-disabled", pw, "account_disabled"},
		{"kdc-expired", pw, "account_expired"},
		{"kdc-locked", pw, "account_locked"},
		{"kdc-mustchange", pw, "password_must_change"},
	} {
		start := time.Now()
		code, _, h := basic(e.client(), tc.user, tc.password)
		if code != 401 || !strings.Contains(strings.Join(h.Values("WWW-Authenticate"), ","), "Basic") {
			t.Errorf("Basic %s: %d %v, want 401 with a Basic challenge", tc.user, code, h.Values("WWW-Authenticate"))
		}
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Errorf("Basic %s refused after %s, before auth.refusal_floor (100ms)", tc.user, d)
		}
	}
	log, _ := s.logSince(t, off)
	for _, c := range []string{"account_disabled", "account_expired", "account_locked", "password_must_change"} {
		if !regexp.MustCompile(`level=WARN msg="Basic login refused by the KDC: [^"]*" .*cause=` + c + ` .*remedy=`).MatchString(log) {
			t.Errorf("no WARN line with cause %s and its remedy:\n%s", c, log)
		}
	}
	if strings.Contains(log, pw) || strings.Contains(log, users["jdoe"]) {
		t.Errorf("a password is in the log:\n%s", log)
	}

	// One connection: a right password, then a wrong one, is refused
	// (t_basic_k5_fail_second); jdoe then alice is alice (t_basic_k5_two_users).
	cl := e.client()
	if code, _, _ := basic(cl, "jdoe", users["jdoe"]); code != 200 {
		t.Errorf("first request: %d", code)
	}
	if code, _, _ := basic(cl, "jdoe", "not-the-password"); code != 401 {
		t.Errorf("right password then a wrong one on one connection: %d, want 401", code)
	}
	cl = e.client()
	if code, body, _ := basic(cl, "jdoe", users["jdoe"]); code != 200 || body != "jdoe" {
		t.Errorf("jdoe: %d %q", code, body)
	}
	if code, body, _ := basic(cl, "alice", users["alice"]); code != 200 || body != "alice" {
		t.Errorf("jdoe then alice on one connection: %d %q, want alice", code, body)
	}
	// Repeated requests do not each cost the KDC two exchanges.
	off = s.logOffset(t)
	for i := 0; i < 5; i++ {
		if code, _, _ := basic(cl, "alice", users["alice"]); code != 200 {
			t.Errorf("alice again: %d", code)
		}
	}
	if log, _ := s.logSince(t, off); strings.Contains(log, "checked_by=kdc") {
		t.Errorf("a repeated Basic login went to the KDC again:\n%s", log)
	}

	// A real browser at its Basic prompt (NTLM is not offered here; its
	// Negotiate has no ticket).
	if status, prompts := chromiumLogin(t, s, "/private/whoami", "bob", users["bob"]); status != 200 || prompts != 1 {
		t.Errorf("Chromium by Basic, NTLM off: %d after %d prompts, want 200 after 1", status, prompts)
	}

	// Firefox at its Basic prompt, over HTTPS (the stack's throwaway
	// certificate accepted as WebDriver allows).
	marker := fmt.Sprintf("c=bkdc%d", time.Now().UnixNano()%1e9)
	ffOff := s.logOffset(t)
	pages, prompts, _ := firefoxVisit(t, e.host, marker, firefox.Options{AcceptInsecureCerts: true}, "alice", users["alice"], e.url("/private/whoami?"+marker))
	if p := pages[0]; p.Status != 200 || strings.TrimSpace(p.Body) != "alice" || len(prompts[0]) != 1 {
		t.Errorf("Firefox by Basic over HTTPS, NTLM off: %d %q after prompts %+v, want 200 alice after one prompt", p.Status, p.Body, prompts[0])
	}
	// Its Negotiate has no ticket: what it sent was the Basic password
	// (alice's, from the Basic cache: she logged in above).
	if log, _ := s.logSince(t, ffOff); !regexp.MustCompile(`msg=login .*user=alice .*scheme=Basic checked_by=kdc|msg="Basic login from the cache" .*user=alice`).MatchString(log) {
		t.Errorf("Firefox's login is not a Basic login checked by the KDC:\n%s", log)
	}

	// python3-requests, as a script would.
	py := `import requests, sys
r = requests.get(sys.argv[1], auth=(sys.argv[2], sys.argv[3]), verify=sys.argv[4])
print(r.status_code, r.text.strip())`
	out, err := exec.Command("/usr/bin/python3", "-c", py, "https://127.0.0.1:"+e.port+"/private/whoami", "jdoe", users["jdoe"], s.env["HTTPS_CA"]).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "200 jdoe" {
		t.Errorf("python3-requests Basic: %v %s, want 200 jdoe", err, out)
	}

	// A user in 1,000 groups (scripts/dc.sh many_groups): by Kerberos
	// (a ticket of about 12 KiB in base64, over Apache's default
	// LimitRequestFieldSize) and by Basic, with every group in AD_GROUPS
	// (domain-local and nested ones too) and the same Require decisions.
	ccache := s.kinit(t, "manygroups", users["manygroups"])
	host := strings.TrimSuffix(s.env["HOST_URL"], "/")
	for _, via := range []string{"kerberos", "basic"} {
		get := func(path string) (int, string) {
			if via == "kerberos" {
				return s.curlNegotiate(t, ccache, host+path)
			}
			out := curl(t, "-u", "manygroups:"+users["manygroups"], "-w", "\n%{http_code}",
				"--resolve", s.env["SPN_HOST"]+":"+s.env["APACHE_PORT"]+":127.0.0.1", host+path)
			i := strings.LastIndex(out, "\n")
			body := out[:max(i, 0)]
			n, _ := strconv.Atoi(strings.TrimSpace(out[i+1:]))
			return n, strings.TrimSpace(body)
		}
		code, env := get("/private/env")
		var groups []string
		for _, line := range strings.Split(env, "\n") {
			if v, ok := strings.CutPrefix(line, "AD_GROUPS="); ok {
				groups = strings.Split(strings.Trim(v, "|"), "|")
			}
		}
		big := 0
		for _, g := range groups {
			if strings.HasPrefix(g, "big") {
				big++
			}
		}
		if code != 200 || big != 1000 {
			t.Errorf("manygroups by %s: %d, %d of the 1,000 groups in AD_GROUPS", via, code, big)
		}
		for _, tc := range []struct {
			path string
			want int
		}{
			{"/g/big0001/whoami", 200}, {"/g/expr/big0001/whoami", 200}, {"/g/authz/big0001/whoami", 200}, // domain-local
			{"/g/big0999/whoami", 200}, {"/g/expr/big0999/whoami", 200}, {"/g/authz/big0999/whoami", 200}, // nested
			{"/webusers/whoami", nonMember[""]}, {"/expr/webusers/whoami", nonMember["/expr"]}, {"/authz/webusers/whoami", nonMember["/authz"]},
		} {
			if code, _ := get(tc.path); code != tc.want {
				t.Errorf("manygroups by %s at %s: %d, want %d", via, tc.path, code, tc.want)
			}
		}
	}

	// No KDC: 503 with Retry-After, not a password prompt.
	s.ctl(t, "dc-stop")
	code, _, h := basic(e.client(), "kdc-mustchange", "another")
	s.ctl(t, "dc-start")
	if code != 503 || h.Get("Retry-After") == "" {
		t.Errorf("Basic with the KDC down: %d Retry-After %q, want 503 with Retry-After", code, h.Get("Retry-After"))
	}
}
