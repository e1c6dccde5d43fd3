//go:build linux

package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"

	"github.com/goauthenntlm/goauthenntlm/internal/browser"

	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
	"github.com/goauthenntlm/goauthenntlm/pkg/spnego"
)

// Helpers of the security tests. Clients here connect from a loopback
// source address of their own (127.100-199.x.y), so that what the
// authorizer counts per client IP (pending handshakes) or keys on
// (address and port) is this test's alone, whatever other tests left.

// testSourceIP picks a random loopback address to connect from.
func testSourceIP(t *testing.T) net.IP {
	t.Helper()
	n := func(lo, hi int64) byte {
		v, err := rand.Int(rand.Reader, big.NewInt(hi-lo))
		if err != nil {
			t.Fatal(err)
		}
		return byte(lo + v.Int64())
	}
	return net.IPv4(127, n(100, 200), n(0, 256), n(1, 255))
}

// freePort returns a port that ip:port can bind now, outside the kernel's
// ephemeral range (so that no connect() elsewhere picks it meanwhile).
func freePort(t *testing.T, ip net.IP) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		v, _ := rand.Int(rand.Reader, big.NewInt(10000))
		port := 20000 + int(v.Int64())
		ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip, Port: port})
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no free port in 20000-29999")
	return 0
}

func stackHostPort(t *testing.T, s *stack) string {
	t.Helper()
	u, err := url.Parse(s.env["URL"])
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// rawGet sends one GET with the given extra header lines on a new
// connection made by d, with Connection: close, and returns the response
// (body read). A dial that fails because the local address is still in
// use is retried for up to 5 s; if it never succeeds, errPortBusy.
func rawGet(t *testing.T, s *stack, d *net.Dialer, path string, extra ...string) (*http.Response, string, error) {
	t.Helper()
	host := stackHostPort(t, s)
	var conn net.Conn
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err = d.Dial("tcp", host)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EADDRINUSE) && !errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Fatalf("dial %s from %s: %v", host, d.LocalAddr, err)
		}
		if time.Now().After(deadline) {
			return nil, "", fmt.Errorf("%w: %v", errPortBusy, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n"
	for _, h := range extra {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("response from %s: %v", host, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// Wait for Apache to close (Connection: close), so that the TIME_WAIT
	// is on its side and this address can connect again at once.
	io.Copy(io.Discard, br)
	return resp, strings.TrimSpace(string(b)), nil
}

// dialRetry dials with d, retrying for up to 5 s while the local address
// is still in use (a TIME_WAIT of an earlier connection from it).
func dialRetry(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := d.DialContext(ctx, network, addr)
		if err == nil || (!errors.Is(err, syscall.EADDRINUSE) && !errors.Is(err, syscall.EADDRNOTAVAIL)) || time.Now().After(deadline) {
			return conn, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var errPortBusy = errors.New("the local address stayed in use")

// portClient is an NTLM client (go-ntlmssp) whose single connection
// always comes from d's local address, with a cookie jar.
func portClient(t *testing.T, d *net.Dialer, c *counter) (*http.Client, *http.Transport) {
	t.Helper()
	tr := &http.Transport{
		MaxConnsPerHost:     1,
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c.conns.Add(1)
			return dialRetry(ctx, d, network, addr)
		},
	}
	return browser.NewClient(countingRT{c: c, next: browser.Transport{Next: tr}}, 60*time.Second), tr
}

// getClose is get with Connection: close: Apache answers and closes first,
// so that the TIME_WAIT is Apache's and the client's port is free.
func getClose(t *testing.T, cl *http.Client, tr *http.Transport, url, user, password string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.SetBasicAuth(user, password)
	req.Close = true
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tr.CloseIdleConnections()
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// keepaliveTimeout is [auth] keepalive_timeout of the stack's config.
func keepaliveTimeout(t *testing.T, s *stack) time.Duration {
	t.Helper()
	b, err := os.ReadFile(s.env["CONF"])
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^keepalive_timeout\s*=\s*"([^"]+)"`).FindSubmatch(b)
	if m == nil {
		return 5 * time.Second // the default
	}
	d, err := time.ParseDuration(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func addToAuth(line string) func(string) string {
	return func(c string) string {
		if !strings.Contains(c, "[auth]\n") {
			panic("config has no [auth] table")
		}
		return strings.Replace(c, "[auth]\n", "[auth]\n"+line+"\n", 1)
	}
}

// TestPortReuseAttack: client B connects from the address and port of
// client A's authenticated connection after A closed it, and sends no
// credentials. Apache tells the authorizer only the address and port.
func TestPortReuseAttack(t *testing.T) {
	s := loadStack(t)
	whoami := s.url("/private/whoami")
	ka := keepaliveTimeout(t, s)

	// loginThenClose logs A in from ip:port, makes extra requests on the
	// same connection, the last with Connection: close.
	loginThenClose := func(t *testing.T, d *net.Dialer, extra int) (*http.Client, *counter) {
		c := &counter{}
		cl, tr := portClient(t, d, c)
		if code, body := get(t, cl, whoami, `EXAMPLE\jdoe`, users["jdoe"]); code != 200 || body != "jdoe" {
			t.Fatalf("A's login: %d %q", code, body)
		}
		for i := 0; i < extra; i++ {
			if code, body := get(t, cl, whoami, `EXAMPLE\jdoe`, users["jdoe"]); code != 200 || body != "jdoe" {
				t.Fatalf("A's request %d: %d %q", i+2, code, body)
			}
		}
		if code, body := getClose(t, cl, tr, whoami, `EXAMPLE\jdoe`, users["jdoe"]); code != 200 || body != "jdoe" {
			t.Fatalf("A's last request (Connection: close): %d %q", code, body)
		}
		if n := c.conns.Load(); n != 1 {
			t.Fatalf("A used %d connections, want 1 (the attack needs A's port to be the login's)", n)
		}
		return cl, c
	}
	attack := func(t *testing.T, d *net.Dialer, extra ...string) (int, string) {
		resp, body, err := rawGet(t, s, d, "/private/whoami", extra...)
		if errors.Is(err, errPortBusy) {
			t.Skipf("cannot test: the kernel would not let B bind A's address %s again within 5 s: %v", d.LocalAddr, err)
		}
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}

	t.Run("bind_connections off: the idle limit bounds the window", func(t *testing.T) {
		s.reconfigure(t, addToAuth("bind_connections = false"))
		ip := testSourceIP(t)
		d := reuseDialer(ip, freePort(t, ip))
		loginThenClose(t, d, 1)
		code, body := attack(t, d)
		switch {
		case code == 200 && body == "jdoe":
			t.Logf("measured: B, on A's address and port %s right after A closed, got 200 as jdoe: the documented residual risk of bind_connections = false", d.LocalAddr)
		case code == 401:
			t.Logf("measured: B, on A's address and port %s right after A closed, got 401", d.LocalAddr)
		default:
			t.Fatalf("B right after A closed: %d %q, want 200 jdoe (residual risk) or 401", code, body)
		}
		// B's request (if it got in) counts as use; wait out the idle limit
		// from there.
		time.Sleep(ka + time.Second)
		if code, body := attack(t, d); code != 401 {
			t.Errorf("B after keepalive_timeout (%v) + 1 s idle: %d %q, want 401", ka, code, body)
		}
	})

	t.Run("bind_connections", func(t *testing.T) {
		off := s.logOffset(t)
		s.reconfigure(t, addToAuth("bind_connections = true"))
		ip := testSourceIP(t)
		d := reuseDialer(ip, freePort(t, ip))

		for _, b := range []struct{ name, cookie string }{
			{"no cookie", ""},
			{"forged cookie", "Cookie: NTLM_CONN=" + base64.RawURLEncoding.EncodeToString(randBytes(t, 24))},
		} {
			cl, c := loginThenClose(t, d, 3)
			// A keeps its login across requests on one connection, with
			// the cookie its jar holds.
			if n1, n3 := c.type1.Load(), c.type3.Load(); n1 != 1 || n3 != 1 {
				t.Errorf("A with its cookie jar: %d Type1 and %d Type3 over 5 requests on one connection, want one handshake", n1, n3)
			}
			u, _ := url.Parse(whoami)
			var bound bool
			for _, ck := range cl.Jar.Cookies(u) {
				bound = bound || ck.Name == "NTLM_CONN"
			}
			if !bound {
				t.Fatalf("A got no NTLM_CONN binding cookie")
			}
			var extra []string
			if b.cookie != "" {
				extra = append(extra, b.cookie)
			}
			if code, body := attack(t, d, extra...); code != 401 {
				t.Errorf("B (%s) right after A closed: %d %q, want 401", b.name, code, body)
			}
		}
		if log, _ := s.logSince(t, off); !strings.Contains(log, "without this connection's binding cookie") {
			t.Errorf("the authorizer did not log the refused reuse:\n%s", log)
		}
	})
}

func randBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// recorder keeps what a client sent in Authorization headers and what it
// received in Set-Cookie headers.
type recorder struct {
	mu         sync.Mutex
	auths      []string
	setCookies []string
}

func (r *recorder) addAuth(h string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.auths = append(r.auths, h)
}

type recordingRT struct {
	rec  *recorder
	next http.RoundTripper
}

func (rt recordingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	if h := req.Header.Get("Authorization"); h != "" {
		rt.rec.addAuth(h)
	}
	resp, err := rt.next.RoundTrip(req)
	if err == nil {
		rt.rec.mu.Lock()
		rt.rec.setCookies = append(rt.rec.setCookies, resp.Header.Values("Set-Cookie")...)
		rt.rec.mu.Unlock()
	}
	return resp, err
}

// recordingClient is ntlmClient recording what crosses it; with a cookie
// jar.
func recordingClient(rec *recorder) *http.Client {
	tr := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true}
	return browser.NewClient(countingRT{c: &counter{}, next: browser.Transport{Next: recordingRT{rec: rec, next: tr}}}, 60*time.Second)
}

// spnegoLoginRecorded is negotiateLogin (SPNEGO-wrapped) with the tokens
// it sends recorded.
func spnegoLoginRecorded(t *testing.T, rec *recorder, url, user, password string) int {
	t.Helper()
	cl := &http.Client{Transport: recordingRT{rec: rec, next: &http.Transport{MaxConnsPerHost: 1}}}
	type1, err := ntlmssp.NewNegotiateMessage("", "")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := (&spnego.NegTokenInit{MechTypes: []asn1.ObjectIdentifier{spnego.OIDNTLM}, MechToken: type1}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	code, hdr, _ := do(t, cl, url, "Negotiate "+base64.StdEncoding.EncodeToString(tok))
	if code != 401 || !strings.HasPrefix(hdr, "Negotiate ") {
		t.Fatalf("answer to the SPNEGO Type1: %d %q", code, hdr)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(hdr, "Negotiate "))
	if err != nil {
		t.Fatal(err)
	}
	st, err := spnego.Decode(raw)
	if err != nil || st.Resp == nil {
		t.Fatalf("SPNEGO answer: %+v %v", st, err)
	}
	u, _, needed := ntlmssp.GetDomain(user)
	type3, err := ntlmssp.ProcessChallenge(st.Resp.ResponseToken, u, password, needed)
	if err != nil {
		t.Fatal(err)
	}
	tok, err = (&spnego.NegTokenResp{NegState: spnego.StateAbsent, ResponseToken: type3}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	code, _, _ = do(t, cl, url, "Negotiate "+base64.StdEncoding.EncodeToString(tok))
	return code
}

// secretNeedles returns the forms in which the NTLM or SPNEGO token tok
// (base64, as sent) must not show up in a log: itself, and the Type3's
// responses and keys in hex, base64 and Go's %v.
func secretNeedles(t *testing.T, tok string) map[string]string {
	out := map[string]string{"token sent": tok}
	raw, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		return out
	}
	msg := raw
	if i := strings.Index(string(raw), "NTLMSSP\x00"); i > 0 {
		msg = raw[i:] // inside SPNEGO
	}
	if t3, err := ntlmmsg.ParseAuthenticate(msg); err == nil {
		for name, b := range map[string][]byte{
			"NT response": t3.NtChallengeResponse,
			"LM response": t3.LmChallengeResponse,
			"session key": t3.EncryptedRandomSessionKey,
			"MIC":         t3.MIC,
		} {
			if len(b) < 8 {
				continue
			}
			out[name+" (hex)"] = hex.EncodeToString(b)
			out[name+" (HEX)"] = strings.ToUpper(hex.EncodeToString(b))
			out[name+" (base64)"] = base64.StdEncoding.EncodeToString(b)
			out[name+" (%v)"] = strings.Trim(fmt.Sprint(b[:8]), "[]")
			if len(b) >= 16 {
				out[name+" first 16 bytes (hex)"] = hex.EncodeToString(b[:16])
			}
		}
	}
	return out
}

// TestNoSecretsInLogs runs every scheme, right and wrong, with the most
// verbose logging there is, and looks for the secrets that crossed in the
// authorizer's and Apache's logs.
func TestNoSecretsInLogs(t *testing.T) {
	s := loadStack(t)
	if !regexp.MustCompile(`(?m)^log_level\s*=\s*"debug"`).MatchString(string(s.originalConf(t))) {
		t.Skip("the stack does not run log_level debug (make test and make e2e-up do: STACK_LOG_LEVEL=debug)")
	}
	logs := map[string]string{"authorizer": s.env["AUTHZ_LOG"], "apache error": s.env["APACHE_ERROR_LOG"], "apache access": s.env["APACHE_ACCESS_LOG"]}
	offsets := map[string]int64{}
	for name, p := range logs {
		if p == "" {
			t.Fatalf("stack env lacks the %s log", name)
		}
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		offsets[name] = st.Size()
	}

	// The login cookie on, connection binding on, NTLM debug at its most.
	secret := base64.StdEncoding.EncodeToString(randBytes(t, 32))
	key := s.daemonFile(t, "cookie-nosecrets.key", []byte(secret+"\n"))
	s.reconfigure(t, func(c string) string {
		c = strings.Replace(c, "[auth]\n", "ntlm_debug = 2\n\n[auth]\nbind_connections = true\n", 1)
		return c + fmt.Sprintf("\n[cookie]\nenabled = true\nrefresh = \"1h\"\nsecret_files = [%q]\n", key)
	})

	// Wrong passwords unique to this run, so that finding one is no accident.
	wrongNTLM := "Wr0ng-ntlm-" + hex.EncodeToString(randBytes(t, 6))
	wrongBasic := "Wr0ng-basic-" + hex.EncodeToString(randBytes(t, 6))
	wrongSPNEGO := "Wr0ng-spnego-" + hex.EncodeToString(randBytes(t, 6))
	rec := &recorder{}
	check := func(what string, code int, want ...int) {
		t.Helper()
		for _, w := range want {
			if code == w {
				return
			}
		}
		t.Errorf("%s: %d, want %v", what, code, want)
	}

	// NTLM, right and wrong; group routes on the logged-in connections.
	for _, u := range []string{"jdoe", "alice"} {
		cl := recordingClient(rec)
		code, _ := get(t, cl, s.url("/private/whoami"), `EXAMPLE\`+u, users[u])
		check("NTLM "+u, code, 200)
		for _, route := range groupRoutes {
			code, _ := get(t, cl, s.url(route+"/webusers/whoami"), `EXAMPLE\`+u, users[u])
			if membership[u]["webusers"] {
				check(route+"/webusers "+u, code, 200)
			} else {
				check(route+"/webusers "+u, code, 401, 403)
			}
		}
	}
	code, _ := get(t, recordingClient(rec), s.url("/private/whoami"), `EXAMPLE\jdoe`, wrongNTLM)
	check("NTLM wrong password", code, 401)

	// Basic, right and wrong.
	for _, b := range []struct {
		user, password string
		want           int
	}{{`EXAMPLE\bob`, users["bob"], 200}, {`EXAMPLE\jdoe`, wrongBasic, 401}} {
		req, _ := http.NewRequest("GET", s.url("/private/whoami"), nil)
		req.SetBasicAuth(b.user, b.password)
		resp, err := (&http.Client{Transport: recordingRT{rec: rec, next: &http.Transport{}}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		check("Basic "+b.user, resp.StatusCode, b.want)
	}

	// Negotiate (SPNEGO), right and wrong.
	check("SPNEGO right password", spnegoLoginRecorded(t, rec, s.url("/private/whoami"), `EXAMPLE\alice`, users["alice"]), 200)
	check("SPNEGO wrong password", spnegoLoginRecorded(t, rec, s.url("/private/whoami"), `EXAMPLE\alice`, wrongSPNEGO), 401)

	// The login cookie: used on a new connection, and tampered with.
	// It counts next to the binding cookie of its login, set in the same
	// answer (each client here logs in once, with an empty jar).
	var loginCookie, bindingCookie, lastBinding string
	rec.mu.Lock()
	for _, sc := range rec.setCookies {
		if v, ok := strings.CutPrefix(sc, "NTLM_CONN="); ok {
			lastBinding, _, _ = strings.Cut(v, ";")
		}
		if v, ok := strings.CutPrefix(sc, "NTLM_AUTHEN="); ok {
			loginCookie, _, _ = strings.Cut(v, ";")
			bindingCookie = lastBinding
		}
	}
	rec.mu.Unlock()
	if loginCookie == "" {
		t.Fatal("no login cookie was set")
	}
	tampered := []byte(loginCookie)
	tampered[len(tampered)/2] ^= 1
	for _, v := range []struct {
		value string
		want  int
	}{{loginCookie, 200}, {string(tampered), 401}} {
		req, _ := http.NewRequest("GET", s.url("/private/whoami"), nil)
		req.AddCookie(&http.Cookie{Name: "NTLM_AUTHEN", Value: v.value})
		req.AddCookie(&http.Cookie{Name: "NTLM_CONN", Value: bindingCookie})
		resp, err := (&http.Client{Transport: recordingRT{rec: rec, next: &http.Transport{DisableKeepAlives: true}}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		check("login cookie", resp.StatusCode, v.want)
	}

	// What must not be logged.
	needles := map[string]string{
		"cookie secret file": secret,
		"tampered cookie":    string(tampered),
	}
	if kb, err := base64.StdEncoding.DecodeString(secret); err == nil {
		needles["cookie secret (hex)"] = hex.EncodeToString(kb)
	}
	for name, pw := range map[string]string{
		"jdoe's password": users["jdoe"], "alice's password": users["alice"], "bob's password": users["bob"],
		"wrong NTLM password": wrongNTLM, "wrong Basic password": wrongBasic, "wrong SPNEGO password": wrongSPNEGO,
	} {
		needles[name] = pw
		needles[name+" (base64)"] = base64.StdEncoding.EncodeToString([]byte(pw))
		needles[name+" (base64 of UTF-16)"] = base64.StdEncoding.EncodeToString(utf16le(pw))
	}
	if p := s.env["LDAP_PASSFILE"]; p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		pw := strings.TrimSpace(string(b))
		needles["LDAP bind password"] = pw
		needles["LDAP bind password (base64)"] = base64.StdEncoding.EncodeToString([]byte(pw))
	} else {
		t.Error("stack env lacks LDAP_PASSFILE")
	}
	rec.mu.Lock()
	for i, h := range rec.auths {
		_, tok, _ := strings.Cut(h, " ")
		for name, v := range secretNeedles(t, tok) {
			needles[fmt.Sprintf("Authorization #%d: %s", i+1, name)] = v
		}
	}
	for i, sc := range rec.setCookies {
		name, v, _ := strings.Cut(sc, "=")
		v, _, _ = strings.Cut(v, ";")
		needles[fmt.Sprintf("Set-Cookie #%d (%s) value", i+1, name)] = v
	}
	nAuth, nCookies := len(rec.auths), len(rec.setCookies)
	rec.mu.Unlock()
	if nAuth < 8 || nCookies < 2 {
		t.Fatalf("recorded %d Authorization headers and %d Set-Cookie headers: the scenario did not run as meant", nAuth, nCookies)
	}

	// Let the logs settle (Apache writes the access log after the answer).
	time.Sleep(300 * time.Millisecond)
	got := map[string]string{}
	for name, p := range logs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if off := offsets[name]; off <= int64(len(b)) {
			b = b[off:]
		}
		got[name] = string(b)
	}

	// The scenario reached the logs: an empty log must not pass.
	for _, re := range []string{
		`msg=login .*user=jdoe .*scheme=NTLM`,
		`msg=login .*user=alice .*scheme=NTLM`,
		`msg=login .*user=alice .*scheme=Negotiate`,
		`msg=login .*user=bob .*scheme=Basic`,
		`Basic login refused by the domain controller.* user=jdoe`,
		`msg="login refused by the domain controller".* user=jdoe`,
		`msg="ntlm: authenticate"`,
		`msg="ntlm: challenge"`,
		`login cookie refused`,
		`group check: not a member.* user=alice`,
	} {
		if !regexp.MustCompile(re).MatchString(got["authorizer"]) {
			t.Errorf("the authorizer's log lacks %q: the scenario did not reach it", re)
		}
	}
	if !strings.Contains(got["apache access"], "/webusers/whoami") {
		t.Errorf("Apache's access log lacks the scenario's requests")
	}
	if t.Failed() {
		t.Fatalf("authorizer log since the start:\n%s", got["authorizer"])
	}
	t.Logf("looking for %d secrets in %d + %d + %d bytes of logs", len(needles), len(got["authorizer"]), len(got["apache error"]), len(got["apache access"]))

	for logName, text := range got {
		for name, v := range needles {
			if len(v) < 6 {
				t.Fatalf("needle %s too short to search for: %q", name, v)
			}
			if i := strings.Index(text, v); i >= 0 {
				line := text[strings.LastIndexByte(text[:i], '\n')+1:]
				if j := strings.IndexByte(line, '\n'); j >= 0 {
					line = line[:j]
				}
				t.Errorf("%s log contains %s:\n%s", logName, name, line)
			}
		}
	}
}

func utf16le(s string) []byte {
	var b []byte
	for _, r := range s {
		if r > 0xffff {
			continue
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(r))
	}
	return b
}

// TestLimits: handshakes waiting for their Type3 are capped per client
// address; past the cap a new Type1 still gets its challenge and the
// address's oldest handshake is dropped: its Type3 is challenged again,
// while the newer ones complete.
func TestLimits(t *testing.T) {
	s := loadStack(t)
	s.reconfigure(t, addToAuth("max_pending_per_ip = 3"))
	ip := testSourceIP(t)
	whoami := s.url("/private/whoami")

	type client struct {
		cl    *http.Client
		dials int
		type2 []byte
	}
	type1, err := ntlmssp.NewNegotiateMessage("", "")
	if err != nil {
		t.Fatal(err)
	}
	var cs []*client
	for i := 0; i < 5; i++ {
		c := &client{}
		d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: ip}}
		tr := &http.Transport{
			MaxConnsPerHost: 1,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c.dials++
				return d.DialContext(ctx, network, addr)
			},
		}
		defer tr.CloseIdleConnections()
		c.cl = &http.Client{Transport: tr, Timeout: 30 * time.Second}
		cs = append(cs, c)

		code, hdr, _ := do(t, c.cl, whoami, "NTLM "+base64.StdEncoding.EncodeToString(type1))
		if code != 401 || !strings.HasPrefix(hdr, "NTLM ") {
			t.Fatalf("Type1 #%d: %d %q, want 401 with a challenge (over the cap too)", i+1, code, hdr)
		}
		if c.type2, err = base64.StdEncoding.DecodeString(strings.TrimPrefix(hdr, "NTLM ")); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cs {
		type3, err := ntlmssp.ProcessChallenge(c.type2, "jdoe", users["jdoe"], true)
		if err != nil {
			t.Fatal(err)
		}
		code, hdr, body := do(t, c.cl, whoami, "NTLM "+base64.StdEncoding.EncodeToString(type3))
		if i < 2 { // dropped for #4 and #5
			if code != 401 || hdr == "" {
				t.Errorf("Type3 #%d (its handshake dropped): %d %q, want 401 with a new challenge", i+1, code, hdr)
			}
			continue
		}
		if code != 200 || body != "jdoe" {
			t.Errorf("Type3 #%d: %d %q, want 200 jdoe", i+1, code, body)
		}
		if c.dials != 1 {
			t.Errorf("client #%d dialed %d times: its Type3 did not go on its Type1's connection", i+1, c.dials)
		}
	}
}

// TestAbandonedHandshakes: a client that sends Type1s and never answers
// does not lock its address (everyone behind its NAT or proxy) out: right
// after 200 abandoned handshakes, jdoe logs in from the same address.
func TestAbandonedHandshakes(t *testing.T) {
	s := loadStack(t)
	ip := testSourceIP(t)
	whoami := s.url("/private/whoami")
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: ip}}
	flood := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: d.DialContext}}
	type1, _ := ntlmssp.NewNegotiateMessage("", "")
	for i := range 200 {
		code, hdr, _ := do(t, flood, whoami, "NTLM "+b64(type1))
		if code != 401 || !strings.HasPrefix(hdr, "NTLM ") {
			t.Fatalf("abandoned Type1 #%d: %d %q, want 401 with a challenge", i+1, code, hdr)
		}
	}
	tr := &http.Transport{MaxConnsPerHost: 1, DialContext: d.DialContext}
	defer tr.CloseIdleConnections()
	cl := browser.NewClient(browser.Transport{Next: tr}, 30*time.Second)
	if code, body := get(t, cl, whoami, `EXAMPLE\jdoe`, users["jdoe"]); code != 200 || body != "jdoe" {
		t.Fatalf("jdoe from the same address after 200 abandoned handshakes: %d %q, want 200 jdoe", code, body)
	}
}
