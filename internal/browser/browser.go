// Package browser makes github.com/Azure/go-ntlmssp behave like a browser
// in front of Apache, for the end-to-end tests and the soak test: the
// project's two NTLM clients that are not curl.
//
// go-ntlmssp needs one thing a browser does on its own: the first 401's
// body read before the handshake goes on (go-ntlmssp keeps that response
// open while it handshakes, which would hold the keep-alive connection and
// force a second one). The WWW-Authenticate fields are left as Apache sent
// them: like a browser, go-ntlmssp reads one challenge per field, so a
// merged field fails here as it fails in Chromium.
package browser

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
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

// NewClient is an NTLM client on rt (below go-ntlmssp: wrap it in
// Transport, or in something that ends in one), with a cookie jar of its
// own, as a new browser has: bind_connections ties each login to a cookie.
// Credentials go on each request with SetBasicAuth(`DOMAIN\user`, pass).
func NewClient(rt http.RoundTripper, timeout time.Duration) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: ntlmssp.Negotiator{RoundTripper: rt}, Jar: jar, Timeout: timeout}
}
