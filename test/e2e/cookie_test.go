//go:build linux

package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// withCookie turns the login cookie on with the given secrets (file names
// in the stack directory, created on first use) and refresh.
func withCookie(t *testing.T, s *stack, refresh string, secrets ...string) {
	t.Helper()
	conf := cookieConf(t, s, refresh, secrets...)
	s.reconfigure(t, func(c string) string { return c + conf })
}

// cookieConf is the [cookie] table withCookie adds, its secret files
// created on first use.
func cookieConf(t *testing.T, s *stack, refresh string, secrets ...string) string {
	t.Helper()
	var files []string
	for _, name := range secrets {
		// The same name is the same secret for the whole run (a test
		// rotates by listing an old name after a new one).
		p := filepath.Join(s.env["PUB"], "cookie-"+name+".key")
		if _, err := os.Stat(p); err != nil {
			k := make([]byte, 32)
			rand.Read(k)
			p = s.daemonFile(t, "cookie-"+name+".key", []byte(base64.StdEncoding.EncodeToString(k)+"\n"))
		}
		files = append(files, fmt.Sprintf("%q", p))
	}
	return fmt.Sprintf("\n[cookie]\nenabled = true\nrefresh = %q\nsecret_files = [%s]\n", refresh, strings.Join(files, ", "))
}

// loginCookie logs jdoe in on a fresh connection and returns the cookie
// the authorizer set.
func loginCookie(t *testing.T, s *stack) *http.Cookie {
	t.Helper()
	req, _ := http.NewRequest("GET", s.url("/private/whoami"), nil)
	req.SetBasicAuth(`EXAMPLE\jdoe`, users["jdoe"])
	resp, err := ntlmClient(nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "NTLM_AUTHEN" {
			if !c.HttpOnly {
				t.Errorf("cookie not HttpOnly: %s", c)
			}
			return c
		}
	}
	t.Fatalf("no NTLM_AUTHEN cookie in %q", resp.Header.Values("Set-Cookie"))
	return nil
}

// withCookieGet fetches whoami on a new connection, without credentials,
// presenting cookie value v.
func withCookieGet(t *testing.T, s *stack, v string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.url("/private/whoami"), nil)
	req.AddCookie(&http.Cookie{Name: "NTLM_AUTHEN", Value: v})
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = fmt.Fprint(&b, "")
	buf := make([]byte, 256)
	n, _ := resp.Body.Read(buf)
	return resp.StatusCode, strings.TrimSpace(string(buf[:n]))
}

func TestLoginCookie(t *testing.T) {
	s := loadStack(t)

	t.Run("skips the handshake on a new connection", func(t *testing.T) {
		withCookie(t, s, "1h", "a")
		c := loginCookie(t, s)
		if code, body := withCookieGet(t, s, c.Value); code != 200 || body != "jdoe" {
			t.Errorf("with the cookie: %d %q, want 200 jdoe", code, body)
		}
		if code, _ := withCookieGet(t, s, ""); code != 401 {
			t.Errorf("without it: %d, want 401", code)
		}
	})

	t.Run("tampered", func(t *testing.T) {
		withCookie(t, s, "1h", "a")
		v := []byte(loginCookie(t, s).Value)
		for _, i := range []int{0, len(v) / 2, len(v) - 1} {
			w := append([]byte{}, v...)
			if w[i] == 'A' {
				w[i] = 'B'
			} else {
				w[i] = 'A'
			}
			if code, _ := withCookieGet(t, s, string(w)); code != 401 {
				t.Errorf("byte %d changed: %d, want 401", i, code)
			}
		}
	})

	t.Run("expires", func(t *testing.T) {
		withCookie(t, s, "3s", "a")
		c := loginCookie(t, s)
		if code, _ := withCookieGet(t, s, c.Value); code != 200 {
			t.Fatalf("fresh: %d", code)
		}
		time.Sleep(4 * time.Second)
		if code, _ := withCookieGet(t, s, c.Value); code != 401 {
			t.Errorf("after refresh passed: %d, want 401", code)
		}
	})

	t.Run("secret rotation", func(t *testing.T) {
		withCookie(t, s, "1h", "old")
		c := loginCookie(t, s)
		withCookie(t, s, "1h", "new", "old")
		if code, body := withCookieGet(t, s, c.Value); code != 200 || body != "jdoe" {
			t.Errorf("old cookie, old secret still listed: %d %q", code, body)
		}
		withCookie(t, s, "1h", "new")
		if code, _ := withCookieGet(t, s, c.Value); code != 401 {
			t.Errorf("old cookie, old secret retired: %d, want 401", code)
		}
	})
}
