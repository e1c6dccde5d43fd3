//go:build linux

package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestCookieRevocationEndsItsConnections: raising cookie.generation
// revokes every login cookie at once (README), so a connection that a
// now revoked cookie logged in must not stay logged in either: else
// whoever holds a stolen or planted cookie keeps its session across the
// revocation for as long as it keeps the connection busy (up to
// login_lifetime, 10 h), since the connection table outlives a reload.
func TestCookieRevocationEndsItsConnections(t *testing.T) {
	s := loadStack(t)
	s.reconfigure(t, func(conf string) string { return conf + cookieConf(t, s, "1h", "a") + "generation = 0\n" })
	login, binding := loginCookie(t, s, "jdoe")
	cl := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
	defer cl.CloseIdleConnections()
	get := func() (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", s.url("/private/whoami"), nil)
		req.Header.Set("Cookie", pair(login)+"; "+pair(binding))
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	if code, body := get(); code != 200 || body != "jdoe" {
		t.Fatalf("the cookie on a new connection: %d %q, want 200 jdoe", code, body)
	}
	s.reconfigure(t, func(conf string) string { return conf + cookieConf(t, s, "1h", "a") + "generation = 1\n" })
	if code, body := get(); code != 401 {
		t.Errorf("the connection the revoked cookie logged in, after raising generation: %d %q, want 401", code, body)
	}
}
