package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"time"

	"github.com/goauthenntlm/goauthenntlm/internal/browser"
)

// The test domain of scripts/dc.sh.
var passwords = map[string]string{
	"jdoe":  "Secr3t!Pass",
	"alice": "Al1ce!Pass",
	"bob":   "B0b!Passw0rd",
}

// newTransport is one client's connection pool: one keep-alive connection.
func newTransport() *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Transport{
		MaxConnsPerHost:     1,
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
		DialContext:         d.DialContext,
	}
}

// ntlmClient is an NTLM client (go-ntlmssp) on its own connection, with a
// cookie jar of its own, as a new browser.
func ntlmClient() (*http.Client, *http.Transport) {
	tr := newTransport()
	return browser.NewClient(browser.Transport{Next: tr}, 30*time.Second), tr
}

// kinds of requests, in the order they are reported.
var kinds = []string{"handshake", "keepalive", "group", "basic", "wrong-password"}

// weights of the kinds in the mix (percent).
var weights = []int{15, 50, 15, 10, 10}

func pickKind(r *rand.Rand) string {
	n := r.IntN(100)
	for i, w := range weights {
		if n < w {
			return kinds[i]
		}
		n -= w
	}
	return kinds[len(kinds)-1]
}

// worker is one simulated browser-ish client. It keeps a logged-in
// connection (jdoe) for keep-alive and group requests, and makes fresh
// connections for full handshakes, Basic and wrong passwords.
type worker struct {
	base string
	r    *rand.Rand
	kept *http.Client
	ktr  *http.Transport
}

// outcome of one request.
type outcome struct {
	kind     string
	expected bool // the status was the one this request should get
	denied   bool // an expected 401/403 (wrong password, not a member)
	err      string
	dur      time.Duration
	at       time.Time
	local    string // the client address of the last connection used
}

func (w *worker) close() { w.ktr.CloseIdleConnections() }

func (w *worker) do(kind string) outcome {
	start := time.Now()
	o := outcome{kind: kind, at: start}
	code, body, err := 0, "", error(nil)
	want := []int{200}
	wantBody := ""
	switch kind {
	case "handshake":
		// A full NTLM handshake on a new connection, as a random user.
		users := []string{"jdoe", "alice", "bob"}
		u := users[w.r.IntN(len(users))]
		cl, tr := ntlmClient()
		code, body, err = get(cl, w.base+"/private/whoami", `EXAMPLE\`+u, passwords[u], &o.local)
		tr.CloseIdleConnections()
		wantBody = u
	case "keepalive":
		code, body, err = get(w.kept, w.base+"/private/file.txt", `EXAMPLE\jdoe`, passwords["jdoe"], &o.local)
	case "group":
		routes := []string{"/expr/webusers/", "/authz/webusers/"}
		route := routes[w.r.IntN(len(routes))]
		if w.r.IntN(4) == 0 {
			// alice is in no group: denied, on a connection of her own.
			cl, tr := ntlmClient()
			code, body, err = get(cl, w.base+route+"file.txt", `EXAMPLE\alice`, passwords["alice"], &o.local)
			tr.CloseIdleConnections()
			want, o.denied = []int{401, 403}, true
		} else {
			code, body, err = get(w.kept, w.base+route+"file.txt", `EXAMPLE\jdoe`, passwords["jdoe"], &o.local)
		}
	case "basic":
		cl := &http.Client{Transport: newTransport(), Timeout: 30 * time.Second}
		code, body, err = get(cl, w.base+"/private/whoami", `EXAMPLE\bob`, passwords["bob"], &o.local)
		cl.Transport.(*http.Transport).CloseIdleConnections()
		wantBody = "bob"
	case "wrong-password":
		wrong := fmt.Sprintf("wrong-%d", w.r.IntN(1e6))
		if w.r.IntN(2) == 0 {
			cl, tr := ntlmClient()
			code, body, err = get(cl, w.base+"/private/whoami", `EXAMPLE\jdoe`, wrong, &o.local)
			tr.CloseIdleConnections()
		} else {
			cl := &http.Client{Transport: newTransport(), Timeout: 30 * time.Second}
			code, body, err = get(cl, w.base+"/private/whoami", `EXAMPLE\jdoe`, wrong, &o.local)
			cl.Transport.(*http.Transport).CloseIdleConnections()
		}
		want, o.denied = []int{401}, true
	}
	o.dur = time.Since(start)
	if err != nil {
		o.err = err.Error()
		return o
	}
	for _, c := range want {
		o.expected = o.expected || c == code
	}
	if o.expected && code == 200 && wantBody != "" && body != wantBody {
		o.expected = false
		o.err = fmt.Sprintf("200 with body %q, want %q", trim(body), wantBody)
		return o
	}
	if !o.expected {
		o.err = fmt.Sprintf("status %d, want %v", code, want)
		if code == 200 && len(body) <= 20 {
			o.err = fmt.Sprintf("status 200 as %q, want %v", body, want)
		}
	}
	return o
}

// get fetches url as user; local receives the client address of the last
// connection the request went on.
func get(cl *http.Client, url, user, password string, local *string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		*local = i.Conn.LocalAddr().String()
	}})
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, "", err
	}
	req.SetBasicAuth(user, password)
	resp, err := cl.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, "", err
	}
	return resp.StatusCode, strings.TrimSpace(string(b)), nil
}

func trim(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
