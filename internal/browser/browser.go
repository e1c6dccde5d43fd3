// Package browser makes github.com/Azure/go-ntlmssp behave like a browser
// in front of Apache, for the end-to-end tests and the soak test: the
// project's two NTLM clients that are not curl.
//
// go-ntlmssp needs two things a browser does on its own: the
// WWW-Authenticate values that Apache merges into one comma-separated line
// (RFC 9110 allows either form) split again, and the first 401's body read
// before the handshake goes on (go-ntlmssp keeps that response open while
// it handshakes, which would hold the keep-alive connection and force a
// second one).
package browser

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
)

// Transport wraps next (the connection pool) as a browser reads answers.
type Transport struct {
	Next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.Next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	SplitChallenges(resp.Header)
	if resp.StatusCode == http.StatusUnauthorized {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	return resp, nil
}

// SplitChallenges undoes the merging of several WWW-Authenticate values
// into one line. Parameters of a challenge (Basic's realm and charset)
// stay with it.
func SplitChallenges(h http.Header) {
	var out []string
	for _, line := range h.Values("WWW-Authenticate") {
		for _, part := range strings.Split(line, ", ") {
			name, _, _ := strings.Cut(part, " ")
			switch name {
			case "NTLM", "Negotiate", "Basic":
				out = append(out, part)
			default:
				if len(out) == 0 {
					out = append(out, part)
				} else {
					out[len(out)-1] += ", " + part
				}
			}
		}
	}
	if out != nil {
		h["Www-Authenticate"] = out
	}
}

// NewClient is an NTLM client on rt (below go-ntlmssp: wrap it in
// Transport, or in something that ends in one), with a cookie jar of its
// own, as a new browser has: bind_connections ties each login to a cookie.
// Credentials go on each request with SetBasicAuth(`DOMAIN\user`, pass).
func NewClient(rt http.RoundTripper, timeout time.Duration) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: ntlmssp.Negotiator{RoundTripper: rt}, Jar: jar, Timeout: timeout}
}
