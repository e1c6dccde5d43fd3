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

// loginCookie logs user in on a fresh connection and returns the login
// cookie the authorizer set, and the browser's binding cookie its MAC
// covers.
func loginCookie(t *testing.T, s *stack, user string) (login, binding *http.Cookie) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.url("/private/whoami"), nil)
	req.SetBasicAuth(`EXAMPLE\`+user, users[user])
	resp, err := ntlmClient(nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		switch c.Name {
		case "NTLM_AUTHEN":
			login = c
		case "NTLM_CONN":
			binding = c
		}
		if !c.HttpOnly {
			t.Errorf("cookie not HttpOnly: %s", c)
		}
	}
	if login == nil || binding == nil {
		t.Fatalf("no NTLM_AUTHEN and NTLM_CONN cookies in %q", resp.Header.Values("Set-Cookie"))
	}
	return login, binding
}

// withCookieGet fetches whoami on a new connection, without credentials,
// with a Cookie header of these name=value pairs, in this order (a browser
// sends a planted cookie with a longer Path first).
func withCookieGet(t *testing.T, s *stack, pairs ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.url("/private/whoami"), nil)
	if len(pairs) > 0 {
		req.Header.Set("Cookie", strings.Join(pairs, "; "))
	}
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 256)
	n, _ := resp.Body.Read(buf)
	return resp.StatusCode, strings.TrimSpace(string(buf[:n]))
}

func pair(c *http.Cookie) string { return c.Name + "=" + c.Value }

func TestLoginCookie(t *testing.T) {
	s := loadStack(t)

	t.Run("skips the handshake on a new connection", func(t *testing.T) {
		withCookie(t, s, "1h", "a")
		c, b := loginCookie(t, s, "jdoe")
		if code, body := withCookieGet(t, s, pair(c), pair(b)); code != 200 || body != "jdoe" {
			t.Errorf("with the cookie: %d %q, want 200 jdoe", code, body)
		}
		if code, _ := withCookieGet(t, s); code != 401 {
			t.Errorf("without it: %d, want 401", code)
		}
		if code, _ := withCookieGet(t, s, pair(c)); code != 401 {
			t.Errorf("the login cookie without its binding cookie: %d, want 401", code)
		}
	})

	t.Run("tampered", func(t *testing.T) {
		withCookie(t, s, "1h", "a")
		c, b := loginCookie(t, s, "jdoe")
		v := []byte(c.Value)
		for _, i := range []int{0, len(v) / 2, len(v) - 1} {
			w := append([]byte{}, v...)
			if w[i] == 'A' {
				w[i] = 'B'
			} else {
				w[i] = 'A'
			}
			if code, _ := withCookieGet(t, s, "NTLM_AUTHEN="+string(w), pair(b)); code != 401 {
				t.Errorf("byte %d changed: %d, want 401", i, code)
			}
		}
	})

	t.Run("expires", func(t *testing.T) {
		withCookie(t, s, "3s", "a")
		c, b := loginCookie(t, s, "jdoe")
		if code, _ := withCookieGet(t, s, pair(c), pair(b)); code != 200 {
			t.Fatalf("fresh: %d", code)
		}
		time.Sleep(4 * time.Second)
		if code, _ := withCookieGet(t, s, pair(c), pair(b)); code != 401 {
			t.Errorf("after refresh passed: %d, want 401", code)
		}
	})

	t.Run("secret rotation", func(t *testing.T) {
		withCookie(t, s, "1h", "old")
		c, b := loginCookie(t, s, "jdoe")
		withCookie(t, s, "1h", "new", "old")
		if code, body := withCookieGet(t, s, pair(c), pair(b)); code != 200 || body != "jdoe" {
			t.Errorf("old cookie, old secret still listed: %d %q", code, body)
		}
		withCookie(t, s, "1h", "new")
		if code, _ := withCookieGet(t, s, pair(c), pair(b)); code != 401 {
			t.Errorf("old cookie, old secret retired: %d, want 401", code)
		}
	})

	// Issue 23, 4: alice's valid login cookie, planted in jdoe's browser
	// (by a neighbouring host, or on plain HTTP: a longer Path puts it
	// first), does not make jdoe's browser alice's: its MAC covers
	// alice's browser's binding cookie, which jdoe's browser does not
	// hold. (Planting that too still works over plain HTTP: the README
	// says so; over HTTPS both are __Host- cookies no neighbour can set.)
	t.Run("planted from another browser", func(t *testing.T) {
		withCookie(t, s, "1h", "a")
		aliceLogin, aliceBinding := loginCookie(t, s, "alice")
		jdoeLogin, jdoeBinding := loginCookie(t, s, "jdoe")
		if code, body := withCookieGet(t, s, pair(aliceLogin), pair(jdoeBinding)); code == 200 && body == "alice" {
			t.Errorf("jdoe's browser with alice's login cookie planted: logged in as alice, want 401")
		}
		if code, body := withCookieGet(t, s, pair(aliceLogin), pair(jdoeLogin), pair(jdoeBinding)); code != 200 || body != "jdoe" {
			t.Errorf("jdoe's browser with its own and alice's planted login cookie: %d %q, want 200 jdoe", code, body)
		}
		if code, body := withCookieGet(t, s, pair(aliceLogin), pair(aliceBinding)); code != 200 || body != "alice" {
			t.Errorf("alice's own browser: %d %q, want 200 alice", code, body)
		}
	})

	// cookie.generation revokes every login cookie at once on a reload.
	t.Run("revocation", func(t *testing.T) {
		withCookie(t, s, "1h", "a")
		c, b := loginCookie(t, s, "jdoe")
		s.reconfigure(t, func(conf string) string { return conf + cookieConf(t, s, "1h", "a") + "generation = 0\n" })
		if code, body := withCookieGet(t, s, pair(c), pair(b)); code != 200 || body != "jdoe" {
			t.Errorf("same generation after a reload: %d %q, want 200 jdoe", code, body)
		}
		s.reconfigure(t, func(conf string) string { return conf + cookieConf(t, s, "1h", "a") + "generation = 1\n" })
		if code, _ := withCookieGet(t, s, pair(c), pair(b)); code != 401 {
			t.Errorf("cookie of generation 0 after raising it to 1: %d, want 401", code)
		}
	})
}

// Over HTTPS the login and binding cookies are __Host- cookies (Secure,
// Path=/, no Domain), which no neighbouring host can set; cookies under
// the plain names, as a neighbour would plant them, are not read there.
func TestLoginCookieHTTPS(t *testing.T) {
	e := loadEPA(t)
	s := e.s
	withCookie(t, s, "1h", "https")
	aliceLogin, aliceBinding := loginCookie(t, s, "alice") // over plain HTTP

	get := func(user string, pairs ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", e.url("/private/whoami"), nil)
		if user != "" {
			req.SetBasicAuth(`EXAMPLE\`+user, users[user])
		}
		if len(pairs) > 0 {
			req.Header.Set("Cookie", strings.Join(pairs, "; "))
		}
		resp, err := e.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		buf := make([]byte, 256)
		n, _ := resp.Body.Read(buf)
		return resp, strings.TrimSpace(string(buf[:n]))
	}
	resp, _ := get("jdoe")
	if resp.StatusCode != 200 {
		t.Fatalf("Basic login over HTTPS: %d", resp.StatusCode)
	}
	var pairs []string
	for _, h := range resp.Header.Values("Set-Cookie") {
		if !strings.HasPrefix(h, "__Host-") || !strings.Contains(h, "; Secure") || !strings.Contains(h, "; Path=/") || strings.Contains(h, "Domain=") {
			t.Errorf("Set-Cookie over HTTPS: %q, want a __Host- cookie (Secure, Path=/, no Domain)", h)
		}
		kv, _, _ := strings.Cut(h, ";")
		pairs = append(pairs, kv)
	}
	if len(pairs) != 2 {
		t.Fatalf("Set-Cookie over HTTPS: %q, want the login and the binding cookie", resp.Header.Values("Set-Cookie"))
	}
	if resp, body := get("", pairs...); resp.StatusCode != 200 || body != "jdoe" {
		t.Errorf("new HTTPS connection with the __Host- cookies: %d %q, want 200 jdoe", resp.StatusCode, body)
	}
	if resp, body := get("", pair(aliceLogin), pair(aliceBinding)); resp.StatusCode != 401 {
		t.Errorf("HTTPS with alice's cookies under the plain names (as a neighbour plants them): %d %q, want 401", resp.StatusCode, body)
	}
}
