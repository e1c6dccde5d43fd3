//go:build linux

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/internal/chromium"
	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
)

// lastAnswer is the last response in curl -i output (a handshake prints
// several), with CRLFs as LFs.
func lastAnswer(out string) string {
	out = strings.ReplaceAll(out, "\r\n", "\n")
	return out[strings.LastIndex(out, "HTTP/1.1 "):]
}

// breakWinbind makes the stack's DC answer NTLM logins with
// STATUS_INTERNAL_ERROR, for real: its smbd checks them through winbindd,
// reached over a socket whose name is built into libwbclient, and a new
// smbd process that cannot find the socket fails the login so. smbd
// processes already connected to winbindd are not affected, so the
// authorizer is restarted to get new connections (one smbd process each).
// The socket comes back when the test ends.
func breakWinbind(t *testing.T, s *stack) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("moves the DC's winbindd socket: needs root, as make test runs")
	}
	pipe := filepath.Join(s.env["DC_DIR"], "run", "winbindd", "pipe")
	if err := os.Rename(pipe, pipe+".away"); err != nil {
		t.Fatalf("cannot move the DC's winbindd socket: %v", err)
	}
	t.Cleanup(func() {
		if err := os.Rename(pipe+".away", pipe); err != nil {
			t.Errorf("winbindd socket not restored (restart the DC): %v", err)
		}
	})
	s.ctl(t, "restart-authz")
}

// waitLogin waits until jdoe logs in again, after the DC was repaired or
// restarted.
func waitLogin(t *testing.T, s *stack) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := get(t, ntlmClient(nil), s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"])
		if code == 200 && body == "jdoe" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("DC back for 60 s, jdoe still gets %d %q", code, body)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// A DC that fails to check a login (here STATUS_INTERNAL_ERROR) is not a
// wrong password: 503 with Retry-After and no new challenge, for NTLM and
// Basic, logged at WARN with the DC and status, never as a refusal.
func TestDCFailureIs503(t *testing.T) {
	s := loadStack(t)
	if testing.Short() {
		t.Skip("breaks the DC: not in -short")
	}
	t.Run("broken", func(t *testing.T) {
		breakWinbind(t, s)
		off := s.logOffset(t)
		if code, _ := get(t, ntlmClient(nil), s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 503 {
			t.Errorf("NTLM login, DC failing: %d, want 503", code)
		}
		last := lastAnswer(curl(t, "-i", "--ntlm", "-u", `EXAMPLE\jdoe:`+users["jdoe"], s.url("/private/whoami")))
		if !strings.HasPrefix(last, "HTTP/1.1 503") || !strings.Contains(last, "\nRetry-After: ") || strings.Contains(last, "WWW-Authenticate") {
			t.Errorf("curl --ntlm, DC failing: want 503 with Retry-After and no challenge, got:\n%s", last)
		}
		if code := basicCode(t, s, `EXAMPLE\jdoe`, users["jdoe"]); code != 503 {
			t.Errorf("Basic login, DC failing: %d, want 503", code)
		}
		log, _ := s.logSince(t, off)
		want := regexp.MustCompile(`level=WARN msg="dc: the domain controller failed to check a login" .*dc=` +
			regexp.QuoteMeta(s.env["DC_IP"]) + `:445 step=authenticate status=STATUS_INTERNAL_ERROR`)
		if !want.MatchString(log) {
			t.Errorf("no WARN line with the DC and STATUS_INTERNAL_ERROR:\n%s", log)
		}
		if strings.Contains(log, "refused") {
			t.Errorf("a DC failure logged as a refusal:\n%s", log)
		}
		// A real browser shows the 503 and does not ask again.
		if status, prompts := chromiumLogin(t, s, "/private/whoami", `EXAMPLE\jdoe`, users["jdoe"]); status != 503 || prompts != 1 {
			t.Errorf("Chromium, DC failing: %d after %d prompts, want 503 after 1", status, prompts)
		}
	})
	waitLogin(t, s)
	// The control: a wrong password makes Chromium ask again.
	if status, prompts := chromiumLogin(t, s, "/private/whoami", `EXAMPLE\jdoe`, "wrong"); status != 401 || prompts != 2 {
		t.Errorf("Chromium, wrong password: %d after %d prompts, want 401 after 2", status, prompts)
	}
}

// After the first DC in the list fails logins, the next handshakes go to
// the second. The second DC is the hardened stack's (make test brings it
// up): another Samba DC provisioned with the same domain name, users and
// passwords. Not a replica, but NTLM logins cannot tell.
func TestDCFailover(t *testing.T) {
	s := loadStack(t)
	dc2 := os.Getenv("GOAUTHENNTLM_TEST_DC2")
	if dc2 == "" {
		t.Skip("GOAUTHENNTLM_TEST_DC2 not set: needs a second DC for domain EXAMPLE (make test and make e2e start one)")
	}
	if testing.Short() {
		t.Skip("breaks the DC: not in -short")
	}
	dc1 := s.env["DC_IP"] + ":445"
	t.Run("first DC failing", func(t *testing.T) {
		s.reconfigure(t, func(c string) string {
			return regexp.MustCompile(`(?m)^dcs = \[.*\]$`).ReplaceAllString(c, `dcs = ["`+dc1+`", "`+dc2+`"]`)
		})
		breakWinbind(t, s)
		off := s.logOffset(t)
		var codes []int
		for i := 0; i < 6; i++ {
			code, _ := get(t, ntlmClient(nil), s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"])
			codes = append(codes, code)
		}
		// Three failures in a row mark the first DC down; no 401 ever.
		if want := []int{503, 503, 503, 200, 200, 200}; !equalInts(codes, want) {
			t.Errorf("logins while the first DC fails: %v, want %v", codes, want)
		}
		log, _ := s.logSince(t, off)
		if !strings.Contains(log, `msg="dc: marked down" domain=EXAMPLE dc=`+dc1) {
			t.Errorf("first DC not marked down:\n%s", log)
		}
		if n := strings.Count(log, "msg=login "); n != 3 || strings.Count(log, "dc="+dc2+" scheme=NTLM") != 3 {
			t.Errorf("want the 3 logins on %s:\n%s", dc2, log)
		}
	})
	waitLogin(t, s)
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A DC whose domain blocks NTLM (Samba's ntlm auth = disabled) answers
// STATUS_NTLM_BLOCKED: 403 without a challenge, so the browser does not
// ask for a password no password can satisfy, and one WARN line saying
// what the administrator can do, not one per request.
func TestNTLMBlocked(t *testing.T) {
	s := loadStack(t)
	if testing.Short() {
		t.Skip("restarts the DC: not in -short")
	}
	s.dcProfile(t, "ntlm-disabled")
	// A fresh authorizer: the WARN line is once an hour per DC and status.
	s.ctl(t, "restart-authz")
	off := s.logOffset(t)

	for i := 0; i < 2; i++ {
		if code, _ := get(t, ntlmClient(nil), s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 403 {
			t.Errorf("NTLM login %d, NTLM blocked: %d, want 403", i, code)
		}
	}
	last := lastAnswer(curl(t, "-i", "--ntlm", "-u", `EXAMPLE\jdoe:`+users["jdoe"], s.url("/private/whoami")))
	if !strings.HasPrefix(last, "HTTP/1.1 403") || strings.Contains(last, "WWW-Authenticate") {
		t.Errorf("curl --ntlm, NTLM blocked: want 403 without a challenge, got:\n%s", last)
	}
	if code := basicCode(t, s, `EXAMPLE\jdoe`, users["jdoe"]); code != 403 {
		t.Errorf("Basic login, NTLM blocked: %d, want 403", code)
	}
	if status, prompts := chromiumLogin(t, s, "/private/whoami", `EXAMPLE\jdoe`, users["jdoe"]); status != 403 || prompts != 1 {
		t.Errorf("Chromium, NTLM blocked: %d after %d prompts, want 403 after 1", status, prompts)
	}
	log, _ := s.logSince(t, off)
	warn := regexp.MustCompile(`level=WARN msg="dc: the domain's policy does not allow the login; asking the user again will not help" .*dc=` +
		regexp.QuoteMeta(s.env["DC_IP"]) + `:445 step=authenticate status=STATUS_NTLM_BLOCKED fix=".*ntlm auth`)
	if n := len(warn.FindAllString(log, -1)); n != 1 {
		t.Errorf("%d WARN lines with the status and the fix for 5 blocked logins, want 1:\n%s", n, log)
	}
	if n := strings.Count(log, "not allowed by the domain's policy"); n != 5 {
		t.Errorf("%d INFO lines for 5 blocked logins, want 5:\n%s", n, log)
	}
}

// An anonymous NTLM login (empty user and responses), which the DC itself
// would accept, is refused.
func TestAnonymousRefused(t *testing.T) {
	s := loadStack(t)
	cl, url := oneConn(), s.url("/private/whoami")
	ch := ntlmChallenge(t, cl, url, &ntlmmsg.Negotiate{Flags: ntlmmsg.NegotiateUnicode | ntlmmsg.NegotiateNTLM | ntlmmsg.RequestTarget})
	anon := &ntlmmsg.Authenticate{Flags: ch.Flags | ntlmmsg.Anonymous, LmChallengeResponse: []byte{0}}
	off := s.logOffset(t)
	if code, _, body := do(t, cl, url, "NTLM "+b64(anon.Marshal())); code != 401 {
		t.Errorf("anonymous Type3: %d %q, want 401", code, body)
	}
	if log, _ := s.logSince(t, off); !strings.Contains(log, "anonymous NTLM login refused") {
		t.Errorf("authorizer log lacks the refusal:\n%s", log)
	}
}

// The hardened stack's DC really is hardened, so that the core tests run
// against it (make test) show the relay working with such a DC: it refuses
// SMB dialects below 3.1.1 and carries the profile's settings, and the
// relay's connections to it are SMB 3.1.1.
func TestHardenedDC(t *testing.T) {
	s := loadStack(t)
	b, _ := os.ReadFile(filepath.Join(s.env["DC_DIR"], "profile"))
	if strings.TrimSpace(string(b)) != "hardened" {
		t.Skip("the stack's DC is not hardened (make test runs this against its hardened stack)")
	}
	conf := filepath.Join(s.env["DC_DIR"], "etc", "smb.conf")
	for param, want := range map[string]string{
		"server min protocol": "SMB3", // testparm's name for SMB3_11
		"server signing":      "required",
		"ntlm auth":           "ntlmv2-only",
		"lanman auth":         "No",
		"restrict anonymous":  "2",
	} {
		out, err := exec.Command("testparm", "-s", "--parameter-name="+param, conf).Output()
		if got := strings.TrimSpace(string(out)); err != nil || got != want {
			t.Errorf("%s = %q (%v), want %q", param, got, err, want)
		}
	}
	out, _ := exec.Command("smbclient", "-s", "/dev/null", "-m", "SMB3_02", "-N", "-L", "//"+s.env["DC_IP"]).CombinedOutput()
	if !strings.Contains(string(out), "NT_STATUS_NOT_SUPPORTED") {
		t.Errorf("the DC accepted SMB 3.0.2:\n%s", out)
	}
	if code, body := get(t, ntlmClient(nil), s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 200 || body != "jdoe" {
		t.Fatalf("login: %d %q", code, body)
	}
	log, _ := s.logSince(t, 0)
	if !strings.Contains(log, `msg="dc: connected" domain=EXAMPLE dc=`+s.env["DC_IP"]+":445 dialect=0x0311") {
		t.Errorf("no SMB 3.1.1 connection to the DC in the authorizer's log")
	}
}

// chromiumLogin opens path in a real, headless Chromium as user, the
// credentials typed at its prompt, and returns the page's status and how
// many times Chromium prompted: once for a login it then sent, twice when
// the answer to its Type3 invited it to ask for the password again.
func chromiumLogin(t *testing.T, s *stack, path, user, password string) (status, prompts int) {
	t.Helper()
	bin := chromiumBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := chromium.Launch(ctx, chromium.Options{Binary: bin, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	u, err := b.NewUser(ctx, user, password)
	if err != nil {
		t.Fatal(err)
	}
	p, err := u.Goto(ctx, s.url(path))
	if err != nil {
		t.Fatal(err)
	}
	return p.Status, len(u.Prompts())
}

// dcProfile restarts the stack's DC with profile (scripts/dc.sh: default,
// hardened, ntlm-disabled), and with the profile it had when t ends.
func (s *stack) dcProfile(t *testing.T, profile string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.env["DC_DIR"], "profile"))
	was := strings.TrimSpace(string(b))
	if err != nil || was == "" {
		was = "default"
	}
	s.ctl(t, "dc-restart", profile)
	t.Cleanup(func() { s.ctl(t, "dc-restart", was) })
}
