//go:build linux

package e2e

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	ntlmssp "github.com/Azure/go-ntlmssp"
)

// Internet Explorer (and old Edge) on a site that asked for NTLM: a POST on
// an authenticated connection goes out with Content-Length 0 and a Type1,
// and the body follows with the Type3. The body must reach the request
// that is let through, also when a login cookie could have let the empty
// one through.
func TestEmptyBodyPOST(t *testing.T) {
	s := loadStack(t)
	for _, cookieOn := range []bool{false, true} {
		name := "connection"
		if cookieOn {
			name = "connection and cookie"
			withCookie(t, s, "1h", "post")
		}
		t.Run(name, func(t *testing.T) {
			cl := oneConn()
			// Log the connection in first, as the page that holds the form.
			type3 := handshakeParts(t, cl, s.url("/private/whoami"), "jdoe", users["jdoe"])
			code, _, _ := do(t, cl, s.url("/private/whoami"), "NTLM "+b64(type3))
			if code != 200 {
				t.Fatalf("login: %d", code)
			}
			body := []byte("field=value&x=" + strings.Repeat("y", 100))
			type1, _ := ntlmssp.NewNegotiateMessage("", "")
			resp := post(t, cl, s.url("/private/env"), "NTLM "+b64(type1), nil)
			if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "NTLM ") {
				t.Fatalf("empty POST with a Type1: %d %q, want 401 with a challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
			type2, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(resp.Header.Get("WWW-Authenticate"), "NTLM "))
			type3, err := ntlmssp.ProcessChallenge(type2, "jdoe", users["jdoe"], true)
			if err != nil {
				t.Fatal(err)
			}
			resp = post(t, cl, s.url("/private/env"), "NTLM "+b64(type3), body)
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(out), "CONTENT_LENGTH=114\n") || !strings.Contains(string(out), "REMOTE_USER=jdoe\n") {
				t.Errorf("POST with the body and the Type3: %d\n%s", resp.StatusCode, out)
			}
		})
	}
}

func post(t *testing.T, cl *http.Client, url, auth string, body []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", auth)
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp
}
