//go:build linux

package e2e

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// addDomain returns a config edit that adds a second [[domain]] OTHER with
// the given DC list, and optionally a fallback domain. REMOTE_USER becomes
// DOMAIN\user: with two domains a bare user name is refused (it cannot
// tell OTHER\jdoe from EXAMPLE\jdoe).
func addDomain(dcs, fallback string) func(string) string {
	return func(c string) string {
		c = logonFormat(c)
		if fallback != "" {
			c = strings.Replace(c, "[auth]\n", "[auth]\nfallback_domain = \""+fallback+"\"\n", 1)
		}
		return c + "\n[[domain]]\nname = \"OTHER\"\ndns_name = \"other.test\"\ndcs = [" + dcs + "]\n"
	}
}

// logonFormat sets name_format = "logon" in the stack's config.
func logonFormat(c string) string {
	if !strings.Contains(c, "\nname_format = \"sam\"\n") {
		panic("the stack's config has no name_format = \"sam\" line")
	}
	return strings.Replace(c, "\nname_format = \"sam\"\n", "\nname_format = \"logon\"\n", 1)
}

// loginTwice logs in with a new Go NTLM client, allowing the one restart
// a browser makes when its Type3 names a domain served by other DCs than
// the ones that issued its challenge: the start-over 401 sets the
// NTLM_DOMAIN cookie that sends the retry to that domain's DCs.
func loginTwice(t *testing.T, s *stack, user string) (int, string) {
	t.Helper()
	cl := ntlmClient(nil)
	code, body := get(t, cl, s.url("/private/env"), user, users["jdoe"])
	if code == 401 {
		code, body = get(t, cl, s.url("/private/env"), user, users["jdoe"])
	}
	return code, body
}

func envVar(body, name string) string {
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+"="); ok {
			return v
		}
	}
	return ""
}

func basicCode(t *testing.T, s *stack, user, password string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", s.url("/private/whoami"), nil)
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestTwoDomains(t *testing.T) {
	s := loadStack(t)
	dc := `"` + s.env["DC_IP"] + `:445"`

	// Finding 1 of the red team: with the default name_format "sam",
	// OTHER\jdoe (another account) was REMOTE_USER "jdoe" like EXAMPLE\jdoe.
	t.Run("sam refused with two domains", func(t *testing.T) {
		path, orig := s.restoreConf(t)
		two := string(orig) + "\n[[domain]]\nname = \"OTHER\"\ndns_name = \"other.test\"\ndcs = [" + dc + "]\n"
		if err := os.WriteFile(path, []byte(two), 0o644); err != nil {
			t.Fatal(err)
		}
		log, reloaded := s.hup(t)
		if reloaded {
			t.Fatalf("two domains with name_format \"sam\" were accepted:\n%s", log)
		}
		if !strings.Contains(log, `name_format = \"logon\"`) && !strings.Contains(log, `name_format = "logon"`) {
			t.Errorf("the refusal does not say what to use:\n%s", log)
		}
		if code, body := loginTwice(t, s, `EXAMPLE\jdoe`); code != 200 || envVar(body, "REMOTE_USER") != "jdoe" {
			t.Errorf("after the refused reload: %d REMOTE_USER=%q", code, envVar(body, "REMOTE_USER"))
		}
	})

	t.Run("second domain on the same DC", func(t *testing.T) {
		s.reconfigure(t, addDomain(dc, ""))
		for _, d := range []string{"OTHER", "EXAMPLE", "OTHER"} {
			code, body := loginTwice(t, s, d+`\jdoe`)
			if code != 200 || envVar(body, "REMOTE_USER") != d+`\jdoe` || envVar(body, "AUTH_DOMAIN") != d {
				t.Errorf("%s\\jdoe: %d REMOTE_USER=%q AUTH_DOMAIN=%q", d, code, envVar(body, "REMOTE_USER"), envVar(body, "AUTH_DOMAIN"))
			}
		}
		if code := basicCode(t, s, `OTHER\jdoe`, users["jdoe"]); code != 200 {
			t.Errorf("Basic OTHER\\jdoe: %d", code)
		}
	})

	// The domain picks the DCs: OTHER's are down, EXAMPLE's are not.
	t.Run("each domain its own DCs", func(t *testing.T) {
		s.reconfigure(t, addDomain(`"127.0.0.1:1"`, ""))
		if code, _ := loginTwice(t, s, `OTHER\jdoe`); code != 503 {
			t.Errorf("OTHER, whose DCs are down: %d, want 503", code)
		}
		if code, body := loginTwice(t, s, `EXAMPLE\jdoe`); code != 200 || envVar(body, "AUTH_DOMAIN") != "EXAMPLE" {
			t.Errorf("EXAMPLE: %d %q", code, envVar(body, "AUTH_DOMAIN"))
		}
		if code := basicCode(t, s, `OTHER\jdoe`, users["jdoe"]); code != 503 {
			t.Errorf("Basic OTHER\\jdoe: %d, want 503", code)
		}
	})

	// OTHER on a pool of its own (the same DC, listed with its port, is
	// another DC list than EXAMPLE's): a Type3 for OTHER on EXAMPLE's challenge makes the client start
	// over, and only its own browser learns (NTLM_DOMAIN cookie) to send
	// its next Type1 to OTHER's DCs. Before, the hint was kept per client
	// address: anyone there (all these clients are 127.0.0.1) could make
	// jdoe's next login start over with a password prompt.
	t.Run("domain hint per browser", func(t *testing.T) {
		s.reconfigure(t, addDomain(dc, ""))
		whoami := s.url("/private/whoami")
		login := func(jar, user, password string) string {
			args := []string{"-i", "--ntlm", "-u", user + ":" + password}
			if jar != "" {
				args = append(args, "-b", jar, "-c", jar)
			}
			return lastAnswer(curl(t, append(args, whoami)...))
		}
		status := func(ans string) string { l, _, _ := strings.Cut(ans, "\n"); return l }

		// The red team's attack, from the same address: jdoe is not
		// made to start over.
		attacker := filepath.Join(t.TempDir(), "attacker.jar")
		if ans := login(attacker, `OTHER\nobody`, "nopassword"); !strings.HasPrefix(ans, "HTTP/1.1 401") || !strings.Contains(ans, "NTLM_DOMAIN=OTHER") {
			t.Errorf("attacker's login for OTHER: want a 401 that sets NTLM_DOMAIN=OTHER, got\n%s", ans)
		}
		for range 2 {
			if ans := login("", `EXAMPLE\jdoe`, users["jdoe"]); !strings.HasPrefix(ans, "HTTP/1.1 200") || !strings.HasSuffix(strings.TrimSpace(ans), `EXAMPLE\jdoe`) {
				t.Errorf("jdoe after the attacker's OTHER login: %s, want 200 at once", status(ans))
			}
		}

		// OTHER's user: one start-over, then none for this browser.
		jar := filepath.Join(t.TempDir(), "other.jar")
		if ans := login(jar, `OTHER\jdoe`, users["jdoe"]); !strings.HasPrefix(ans, "HTTP/1.1 401") {
			t.Fatalf("OTHER\\jdoe's first login: %s, want the start-over 401", status(ans))
		}
		for range 2 {
			if ans := login(jar, `OTHER\jdoe`, users["jdoe"]); !strings.HasPrefix(ans, "HTTP/1.1 200") || !strings.HasSuffix(strings.TrimSpace(ans), `OTHER\jdoe`) {
				t.Errorf("OTHER\\jdoe with the hint cookie: %s, want 200 at once\n%s", status(ans), ans)
			}
		}

		// A forged hint naming no served domain is ignored.
		forged := filepath.Join(t.TempDir(), "forged.jar")
		u, _ := url.Parse(whoami)
		if err := os.WriteFile(forged, []byte(u.Hostname()+"\tFALSE\t/\tFALSE\t0\tNTLM_DOMAIN\tFAR\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if ans := login(forged, `EXAMPLE\jdoe`, users["jdoe"]); !strings.HasPrefix(ans, "HTTP/1.1 200") {
			t.Errorf("EXAMPLE\\jdoe with NTLM_DOMAIN=FAR: %s, want 200 at once", status(ans))
		}

		// Issue 23, 5: a hint planted for a longer path (by a neighbouring
		// host, or over plain HTTP) came first and was followed, so this
		// browser started over on every login under that path. Now a
		// second value makes both ignored: after the one start-over that
		// sets this host's own hint, logins go through at once.
		planted := filepath.Join(t.TempDir(), "planted.jar")
		if err := os.WriteFile(planted, []byte(u.Hostname()+"\tFALSE\t/private/\tFALSE\t0\tNTLM_DOMAIN\tOTHER\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		login(planted, `EXAMPLE\jdoe`, users["jdoe"])
		for range 2 {
			if ans := login(planted, `EXAMPLE\jdoe`, users["jdoe"]); !strings.HasPrefix(ans, "HTTP/1.1 200") {
				t.Errorf("EXAMPLE\\jdoe with NTLM_DOMAIN=OTHER planted for /private/: %s, want 200", status(ans))
			}
		}
		if jar, _ := os.ReadFile(planted); !regexp.MustCompile(`(?m)^(#HttpOnly_)?127\.0\.0\.1\tFALSE\t/\tFALSE\t\d+\tNTLM_DOMAIN\tEXAMPLE$`).Match(jar) {
			t.Errorf("the start-over's hint is not host-only with Path=/:\n%s", jar)
		}
	})

	t.Run("unknown domain", func(t *testing.T) {
		off := s.logOffset(t)
		if code, _ := loginTwice(t, s, `FAR\jdoe`); code != 401 {
			t.Errorf("FAR without a fallback: %d, want 401", code)
		}
		if log, _ := s.logSince(t, off); !strings.Contains(log, "not served") {
			t.Errorf("no log line for the refused domain:\n%s", log)
		}
		// The client does not pick the label: a name no domain serves
		// is fallback_domain's, whose DCs checked it.
		s.reconfigure(t, addDomain(dc, "EXAMPLE"))
		off = s.logOffset(t)
		for _, d := range []string{"FAR", "TRUSTEDCORP", "ADMINS"} {
			if code, body := loginTwice(t, s, d+`\jdoe`); code != 200 || envVar(body, "AUTH_DOMAIN") != "EXAMPLE" || envVar(body, "REMOTE_USER") != `EXAMPLE\jdoe` {
				t.Errorf("%s\\jdoe with fallback_domain EXAMPLE: %d AUTH_DOMAIN=%q REMOTE_USER=%q", d, code, envVar(body, "AUTH_DOMAIN"), envVar(body, "REMOTE_USER"))
			}
		}
		// The DC checked its own account because EXAMPLE trusts no
		// domain: its directory said so (the stack logs at debug).
		if log, _ := s.logSince(t, off); !strings.Contains(log, `msg="trusted domains read" domain=EXAMPLE trusts=0`) {
			t.Errorf("no trust list read from the directory:\n%s", log)
		}
	})
}
