//go:build linux

package e2e

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// Bad Authorization headers get 400 or 401 through Apache, never 500, and
// the authorizer stays up.
func TestMalformedAuthorization(t *testing.T) {
	s := loadStack(t)
	type1, _ := ntlmssp.NewNegotiateMessage("", "")
	sig := []byte("NTLMSSP\x00")
	msg := func(typ byte, rest ...byte) []byte {
		return append(append(append([]byte{}, sig...), typ, 0, 0, 0), rest...)
	}
	// A Type3 whose fields point past its end.
	badType3 := msg(3, make([]byte, 56)...)
	badType3[12], badType3[16] = 0x40, 0xf0
	headers := map[string]string{
		"bad base64":               "NTLM ***not-base64***",
		"empty token":              "NTLM ",
		"not NTLMSSP":              "NTLM " + b64([]byte("hello, this is not NTLM")),
		"signature only":           "NTLM " + b64(sig),
		"truncated Type1":          "NTLM " + b64(type1[:10]),
		"Type2 from a client":      "NTLM " + b64(msg(2, make([]byte, 40)...)),
		"unknown message type":     "NTLM " + b64(msg(9, make([]byte, 40)...)),
		"Type3 out of bounds":      "NTLM " + b64(badType3),
		"Type3 without Type1":      "NTLM " + b64(msg(3, make([]byte, 60)...)),
		"Negotiate garbage":        "Negotiate " + b64([]byte{0x60, 0x82, 0xff, 0xff, 1, 2, 3}),
		"Negotiate empty":          "Negotiate",
		"Basic no colon":           "Basic " + b64([]byte("jdoe")),
		"Basic bad base64":         "Basic %%%",
		"unknown scheme":           "Digest username=\"x\"",
		"long but legal header":    "NTLM " + strings.Repeat("A", 6000),
		"over Apache's line limit": "NTLM " + strings.Repeat("A", 9000),
		"control characters":       "NTLM \x01\x02",
	}
	for name, h := range headers {
		t.Run(name, func(t *testing.T) {
			// Raw bytes on the wire: Go's client refuses to send some of
			// these (control characters), an attacker does not.
			c, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(s.env["URL"], "http://"), "/"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			fmt.Fprintf(c, "GET /private/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: %s\r\nConnection: close\r\n\r\n", h)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 400 && resp.StatusCode != 401 {
				t.Errorf("status %d, want 400 or 401", resp.StatusCode)
			}
		})
	}
	// Still up and serving.
	if code, body := get(t, ntlmClient(nil), s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 200 || body != "jdoe" {
		t.Errorf("after the bad headers: %d %q", code, body)
	}
}

// handshakeParts does a Type1 on cl and returns the Type2 and a Type3 for
// it, without sending the Type3.
func handshakeParts(t *testing.T, cl *http.Client, url, user, password string) []byte {
	t.Helper()
	type1, _ := ntlmssp.NewNegotiateMessage("", "")
	code, hdr, _ := do(t, cl, url, "NTLM "+b64(type1))
	if code != 401 || !strings.HasPrefix(hdr, "NTLM ") {
		t.Fatalf("Type1: %d %q", code, hdr)
	}
	type2, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(hdr, "NTLM "))
	if err != nil {
		t.Fatal(err)
	}
	type3, err := ntlmssp.ProcessChallenge(type2, user, password, true)
	if err != nil {
		t.Fatal(err)
	}
	return type3
}

// oneConn is a client on one keep-alive connection, with a cookie jar.
func oneConn() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}, Jar: jar}
}

// A Type3 counts only on the connection that got its challenge, and only
// once.
func TestType3Binding(t *testing.T) {
	s := loadStack(t)
	url := s.url("/private/whoami")

	t.Run("on another connection", func(t *testing.T) {
		a, b := oneConn(), oneConn()
		type3 := handshakeParts(t, a, url, "jdoe", users["jdoe"])
		if code, _, _ := do(t, b, url, "NTLM "+b64(type3)); code != 401 {
			t.Errorf("Type3 on another connection: %d, want 401", code)
		}
		// The handshake is still pending on its own connection.
		if code, _, body := do(t, a, url, "NTLM "+b64(type3)); code != 200 || body != "jdoe" {
			t.Errorf("Type3 on its own connection: %d %q", code, body)
		}
	})

	t.Run("replayed", func(t *testing.T) {
		a := oneConn()
		type3 := handshakeParts(t, a, url, "jdoe", users["jdoe"])
		if code, _, _ := do(t, a, url, "NTLM "+b64(type3)); code != 200 {
			t.Fatalf("first use: %d", code)
		}
		// Replayed on a new connection: no handshake there.
		if code, _, _ := do(t, oneConn(), url, "NTLM "+b64(type3)); code != 401 {
			t.Errorf("replay on a new connection: %d, want 401", code)
		}
		// Replayed after a new Type1 on another connection: the challenge
		// differs, the DC refuses it.
		c := oneConn()
		handshakeParts(t, c, url, "jdoe", users["jdoe"])
		if code, _, _ := do(t, c, url, "NTLM "+b64(type3)); code != 401 {
			t.Errorf("replay against another challenge: %d, want 401", code)
		}
	})
}
