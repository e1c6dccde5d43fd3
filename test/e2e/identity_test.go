//go:build linux

package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	neturl "net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
)

// The identity Apache gets is the account the DC checked, in one
// spelling (issue 12): these are the attacks that showed otherwise.

// typedNames are spellings the DC accepts for jdoe.
var typedNames = []string{"JDOE", "jdoe@example.test", `EXAMPLE\jDoE`, "JDOE@EXAMPLE.TEST", "jdoe@EXAMPLE"}

func TestTypedNamesAreOneAccount(t *testing.T) {
	s := loadStack(t)
	for _, typed := range typedNames {
		t.Run(typed, func(t *testing.T) {
			cl := ntlmClient(nil)
			if code, body := get(t, cl, s.url("/private/whoami"), typed, users["jdoe"]); code != 200 || body != "jdoe" {
				t.Errorf("NTLM as %q: %d REMOTE_USER %q, want 200 jdoe", typed, code, body)
			}
			if code := basicCode(t, s, typed, users["jdoe"]); code != 200 {
				t.Errorf("Basic as %q: %d", typed, code)
			}
			req, _ := http.NewRequest("GET", s.url("/private/whoami"), nil)
			req.SetBasicAuth(typed, users["jdoe"])
			if code, body := doReq(t, http.DefaultClient, req); code != 200 || body != "jdoe" {
				t.Errorf("Basic as %q: %d REMOTE_USER %q, want 200 jdoe", typed, code, body)
			}
			// The same group answers on the three routes.
			for _, route := range []string{"/webusers/", "/expr/webusers/", "/authz/webusers/"} {
				if code, body := get(t, ntlmClient(nil), s.url(route+"whoami"), typed, users["jdoe"]); code != 200 || body != "jdoe" {
					t.Errorf("%s as %q: %d %q, want 200 jdoe", route, typed, code, body)
				}
			}
			for _, route := range []string{"/outsiders/", "/expr/outsiders/", "/authz/outsiders/"} {
				if code, _ := get(t, ntlmClient(nil), s.url(route+"whoami"), typed, users["jdoe"]); code == 200 {
					t.Errorf("%s as %q: 200 for a non-member", route, typed)
				}
			}
		})
	}
}

func doReq(t *testing.T, cl *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, strings.TrimSpace(b.String())
}

// rawType3 is an AUTHENTICATE message with raw name bytes and the given
// flags: what a hostile client sends.
func rawType3(flags ntlmmsg.NegotiateFlags, domain, user, lm, nt []byte) []byte {
	b := make([]byte, 64)
	copy(b, "NTLMSSP\x00")
	binary.LittleEndian.PutUint32(b[8:], 3)
	binary.LittleEndian.PutUint32(b[60:], uint32(flags))
	field := func(pos int, data []byte) {
		binary.LittleEndian.PutUint16(b[pos:], uint16(len(data)))
		binary.LittleEndian.PutUint16(b[pos+2:], uint16(len(data)))
		binary.LittleEndian.PutUint32(b[pos+4:], uint32(len(b)))
		b = append(b, data...)
	}
	field(28, domain)
	field(36, user)
	field(44, nil)
	field(12, lm)
	field(20, nt)
	field(52, nil)
	return b
}

// ntlmChallenge sends neg on cl and returns the challenge it gets.
func ntlmChallenge(t *testing.T, cl *http.Client, url string, neg *ntlmmsg.Negotiate) *ntlmmsg.Challenge {
	t.Helper()
	code, hdr, _ := do(t, cl, url, "NTLM "+base64.StdEncoding.EncodeToString(neg.Marshal()))
	if code != 401 || !strings.HasPrefix(hdr, "NTLM ") {
		t.Fatalf("Type1: %d %q", code, hdr)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(hdr, "NTLM "))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := ntlmmsg.ParseChallenge(raw)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// forged runs a handshake on one connection: a Type1 with type1Flags, then
// a Type3 whose NTLMv2 response is computed for dcUser (the name the DC
// will read) with password, but whose user bytes and flags are the
// attacker's. It returns the answer to the Type3.
func forged(t *testing.T, url string, type1Flags, type3Flags ntlmmsg.NegotiateFlags, userBytes []byte, dcUser, password string) (int, string) {
	t.Helper()
	return forgedFrom(t, url, &ntlmmsg.Negotiate{Flags: type1Flags}, type3Flags, userBytes, dcUser, password)
}

// forgedFrom is forged with a Type1 of the caller's (its flags completed).
func forgedFrom(t *testing.T, url string, neg *ntlmmsg.Negotiate, type3Flags ntlmmsg.NegotiateFlags, userBytes []byte, dcUser, password string) (int, string) {
	t.Helper()
	cl := oneConn()
	neg.Flags |= ntlmmsg.NegotiateNTLM | ntlmmsg.RequestTarget | ntlmmsg.ExtendedSessionSecurity | ntlmmsg.AlwaysSign
	ch := ntlmChallenge(t, cl, url, neg)
	var cc [8]byte
	rand.Read(cc[:])
	// No domain: an odd-length OEM domain would make the message
	// malformed for a UTF-16 reader, which is not the attack tested.
	au, _, err := ntlmmsg.NewAuthenticateV2(ch, dcUser, "", password, "", cc, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t3 := rawType3(type3Flags|ntlmmsg.NegotiateNTLM|ntlmmsg.ExtendedSessionSecurity, nil, userBytes, au.LmChallengeResponse, au.NtChallengeResponse)
	code, _, body := do(t, cl, url, "NTLM "+base64.StdEncoding.EncodeToString(t3))
	return code, body
}

func TestCharsetDesync(t *testing.T) {
	s := loadStack(t)
	url := s.url("/private/whoami")
	const uni, oem = ntlmmsg.NegotiateUnicode, ntlmmsg.NegotiateOEM

	// The forged messages are right when sent honestly: the DC accepts
	// them, so a refusal below is ours.
	if code, body := forged(t, url, oem, oem, []byte("jdoe"), "jdoe", users["jdoe"]); code != 200 || body != "jdoe" {
		t.Fatalf("honest OEM login: %d %q", code, body)
	}
	if code, body := forged(t, url, uni, uni, utf16le("jdoe"), "jdoe", users["jdoe"]); code != 200 || body != "jdoe" {
		t.Fatalf("honest UNICODE login: %d %q", code, body)
	}

	// The second account: "j", the DC's reading of jdoe's UTF-16 bytes
	// in OEM (it stops at the first NUL).
	ensureUser(t, s, "j", "J!Passw0rd-e2e")
	t.Cleanup(func() {
		exec.Command("samba-tool", "user", "delete", "j", "-s", s.env["DC_DIR"]+"/etc/smb.conf").Run()
	})

	for _, tt := range []struct {
		name                   string
		type1, type3           ntlmmsg.NegotiateFlags
		user                   []byte
		dcUser, password, want string
	}{
		// The DC reads OEM "jdoe"; a parser following the Type3's flag
		// reads 摪敯.
		{"OEM agreed, UNICODE claimed", oem, uni, []byte("jdoe"), "jdoe", users["jdoe"], "jdoe"},
		// The DC reads UTF-16 "jdoe"; following the flag: "j\0d\0o\0e\0".
		{"UNICODE agreed, OEM claimed", uni, oem, utf16le("jdoe"), "jdoe", users["jdoe"], "jdoe"},
		// The DC reads "j" and checks j's password; following the flag
		// gives jdoe, with jdoe's groups.
		{"j's login with jdoe's bytes", oem, uni, utf16le("jdoe"), "j", "J!Passw0rd-e2e", "j"},
		// The DC stops at the NUL and checks alice.
		{"NUL in the user", uni, uni, utf16le("alice\x00jdoe"), "alice", users["alice"], "alice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			off := s.logOffset(t)
			code, body := forged(t, url, tt.type1, tt.type3, tt.user, tt.dcUser, tt.password)
			// Refused, or (never) the account the DC checked.
			if code == 200 && body != tt.want {
				t.Fatalf("200 as %q; the DC checked %q", body, tt.want)
			}
			if code != 400 && code != 401 {
				t.Errorf("%d %q, want 400 or 401", code, body)
			}
			if log, _ := s.logSince(t, off); !strings.Contains(log, "could read differently") {
				t.Errorf("no log line for the refused message:\n%s", log)
			}
		})
	}
}

// TestPlantedBinding: alice's own binding value, planted in jdoe's
// browser, must not be adopted by jdoe's login; else alice, from jdoe's
// address and port right after his connection closes, presenting her
// value, is let in as jdoe.
func TestPlantedBinding(t *testing.T) {
	s := loadStack(t)
	whoami := s.url("/private/whoami")
	u, _ := neturl.Parse(whoami)
	bindingOf := func(cl *http.Client) string {
		for _, ck := range cl.Jar.Cookies(u) {
			if ck.Name == "NTLM_CONN" {
				return ck.Value
			}
		}
		return ""
	}

	aip := testSourceIP(t)
	acl, atr := portClient(t, reuseDialer(aip, freePort(t, aip)), &counter{})
	if code, body := getClose(t, acl, atr, whoami, `EXAMPLE\alice`, users["alice"]); code != 200 || body != "alice" {
		t.Fatalf("alice's login: %d %q", code, body)
	}
	planted := bindingOf(acl)
	if planted == "" {
		t.Fatal("alice got no NTLM_CONN binding cookie")
	}

	ip := testSourceIP(t)
	d := reuseDialer(ip, freePort(t, ip))
	jcl, jtr := portClient(t, d, &counter{})
	jcl.Jar.SetCookies(u, []*http.Cookie{{Name: "NTLM_CONN", Value: planted, Path: "/"}})
	if code, body := get(t, jcl, whoami, `EXAMPLE\jdoe`, users["jdoe"]); code != 200 || body != "jdoe" {
		t.Fatalf("jdoe's login: %d %q", code, body)
	}
	if code, body := getClose(t, jcl, jtr, whoami, `EXAMPLE\jdoe`, users["jdoe"]); code != 200 || body != "jdoe" {
		t.Fatalf("jdoe's last request: %d %q", code, body)
	}
	if got := bindingOf(jcl); got == planted {
		t.Errorf("jdoe's login kept alice's planted binding value")
	}

	resp, body, err := rawGet(t, s, d, "/private/whoami", "Cookie: NTLM_CONN="+planted)
	if errors.Is(err, errPortBusy) {
		t.Skipf("cannot test: the kernel would not let alice bind jdoe's address %s again within 5 s: %v", d.LocalAddr, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 401 {
		t.Errorf("alice on jdoe's address and port with her value: %d %q, want 401", resp.StatusCode, body)
	}
}

// fcgiCall sends one AUTHORIZER request with params straight to the
// authorizer, as a local process other than Apache could, and returns the
// status line of its answer.
func fcgiCall(t *testing.T, s *stack, kv ...string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.env["AUTHZ_ADDR"], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	params := fcgiPairs(append([]string{
		"REMOTE_ADDR", "127.0.0.1", "REMOTE_PORT", "40001",
		"SERVER_ADDR", "127.0.0.1", "SERVER_PORT", s.env["APACHE_PORT"],
		"REQUEST_METHOD", "GET", "REQUEST_URI", "/private/whoami",
	}, kv...)...)
	req := fcgiRecord(1, 1, []byte{0, 2, 0, 0, 0, 0, 0, 0})
	req = append(req, fcgiRecord(4, 1, params)...)
	req = append(req, fcgiRecord(4, 1, nil)...)
	req = append(req, fcgiRecord(5, 1, nil)...)
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	out, err := fcgiReadAnswer(conn, 1)
	if err != nil {
		t.Fatalf("answer: %v (%q)", err, out)
	}
	line, _, _ := strings.Cut(out, "\r\n")
	return line
}

// The stack runs as installed: Apache passes the caller secret, and
// whoever does not have it is refused, whatever it asks.
func TestCallerSecretRequired(t *testing.T) {
	s := loadStack(t)
	sec := callerSecret(t, s)
	if sec == nil {
		t.Fatal("the stack's config has no caller_secret_file: the shipped setup must run with one")
	}
	for _, tc := range []struct {
		name string
		kv   []string
	}{
		{"authz role asking about jdoe", []string{"FCGI_APACHE_ROLE", "AUTHORIZER", "REMOTE_USER", "jdoe", "REQUIRED_GROUPS", "WebUsers"}},
		{"authn role", []string{"FCGI_APACHE_ROLE", "AUTHENTICATOR"}},
		{"wrong secret", []string{"FCGI_APACHE_ROLE", "AUTHORIZER", "REMOTE_USER", "jdoe", "REQUIRED_GROUPS", "WebUsers", "HTTP_GOAUTHENNTLM_SECRET", "not-it"}},
		{"wrong secret as a variable", []string{"FCGI_APACHE_ROLE", "AUTHENTICATOR", "AUTHORIZER_SECRET", "not-it"}},
		{"empty secret", []string{"FCGI_APACHE_ROLE", "AUTHENTICATOR", "HTTP_GOAUTHENNTLM_SECRET", ""}},
	} {
		if got := fcgiCall(t, s, tc.kv...); !strings.HasPrefix(got, "Status: 403") {
			t.Errorf("%s without the secret: %q, want Status: 403", tc.name, got)
		}
	}
	// With it, the same question is answered.
	if got := fcgiCall(t, s, append([]string{"FCGI_APACHE_ROLE", "AUTHORIZER", "REMOTE_USER", "jdoe", "REQUIRED_GROUPS", "WebUsers"}, sec...)...); strings.HasPrefix(got, "Status: 403") {
		t.Errorf("with the secret: %q", got)
	}
	// And Apache passes it: logins work (and the application never sees it).
	code, body := get(t, ntlmClient(nil), s.url("/private/env"), `EXAMPLE\jdoe`, users["jdoe"])
	if code != 200 || strings.Contains(body, "SECRET") || strings.Contains(body, sec[1]) {
		t.Errorf("through Apache: %d, secret in the application's environment: %v", code, strings.Contains(body, sec[1]))
	}
}

// The application behind a protected location sees no Authorization
// header: not the NTLM tokens, and not a Basic password.
func TestNoAuthorizationForTheApplication(t *testing.T) {
	s := loadStack(t)
	for _, path := range []string{"/private/env", "/webusers/env", "/authz/webusers/env"} {
		code, body := get(t, ntlmClient(nil), s.url(path), `EXAMPLE\jdoe`, users["jdoe"])
		if code != 200 || envVar(body, "REMOTE_USER") != "jdoe" {
			t.Fatalf("NTLM %s: %d", path, code)
		}
		if strings.Contains(body, "HTTP_AUTHORIZATION") {
			t.Errorf("NTLM %s: the application sees the Authorization header", path)
		}
		req, _ := http.NewRequest("GET", s.url(path), nil)
		req.SetBasicAuth(`EXAMPLE\jdoe`, users["jdoe"])
		code, body = doReq(t, http.DefaultClient, req)
		if code != 200 || envVar(body, "REMOTE_USER") != "jdoe" {
			t.Fatalf("Basic %s: %d", path, code)
		}
		if strings.Contains(body, "HTTP_AUTHORIZATION") || strings.Contains(body, base64.StdEncoding.EncodeToString([]byte(`EXAMPLE\jdoe:`+users["jdoe"]))) {
			t.Errorf("Basic %s: the application sees the password", path)
		}
	}
}

func TestTraceOff(t *testing.T) {
	s := loadStack(t)
	for _, path := range []string{"/private/whoami", "/public/file.txt"} {
		req, _ := http.NewRequest("TRACE", s.url(path), nil)
		req.SetBasicAuth(`EXAMPLE\jdoe`, users["jdoe"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed && resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("TRACE %s: %d, want 405", path, resp.StatusCode)
		}
	}
}

// SERVER_PORT, part of the connection identity, is the port the client
// connected to, whatever its Host header says.
func TestServerPortFromSocket(t *testing.T) {
	s := loadStack(t)
	port := s.env["APACHE_PORT"]
	for _, host := range []string{"127.0.0.1:9999", "127.0.0.1:" + port, "127.0.0.1", "other.example:1"} {
		req, _ := http.NewRequest("GET", s.url("/private/env"), nil)
		req.Host = host
		req.SetBasicAuth(`EXAMPLE\jdoe`, users["jdoe"])
		code, body := doReq(t, http.DefaultClient, req)
		if code != 200 || envVar(body, "SERVER_PORT") != port {
			t.Errorf("Host %q: %d SERVER_PORT=%q, want %s", host, code, envVar(body, "SERVER_PORT"), port)
		}
	}
}

// login_lifetime ends a kept-alive connection's login: its next request
// handshakes again.
func TestLoginLifetimeEndsConnection(t *testing.T) {
	s := loadStack(t)
	s.reconfigure(t, addToAuth(`login_lifetime = "3s"`))
	c := &counter{}
	cl := ntlmClient(c)
	if code, body := get(t, cl, s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 200 || body != "jdoe" {
		t.Fatalf("login: %d %q", code, body)
	}
	// Keep the connection busy (under keepalive_timeout) past the lifetime.
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		if code, _ := get(t, cl, s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 200 {
			t.Fatalf("request: %d", code)
		}
		time.Sleep(time.Second)
	}
	if n := c.conns.Load(); n != 1 {
		t.Skipf("the client used %d connections; the test needs one", n)
	}
	if n := c.type3.Load(); n < 2 {
		t.Errorf("%d handshakes on one connection over 4 s with login_lifetime 3s, want a second one", n)
	}
}

// With two domains on one DC list, a Type3 without a domain is labelled
// with the domain the DC named itself, not the one the client's Type1
// named (issue 12, 3: PAYROLL\alice out of alice's password).
func TestType1HintIsNoLabel(t *testing.T) {
	s := loadStack(t)
	dc := `"` + s.env["DC_IP"] + `"` // as EXAMPLE's, so that both share one pool
	s.reconfigure(t, func(c string) string {
		return logonFormat(c) + "\n[[domain]]\nname = \"PAYROLL\"\ndns_name = \"payroll.test\"\ndcs = [" + dc + "]\n"
	})
	neg := &ntlmmsg.Negotiate{Flags: ntlmmsg.NegotiateUnicode | ntlmmsg.OEMDomainSupplied, Domain: "PAYROLL"}
	cl := s.url("/private/env")
	code, body := forgedFrom(t, cl, neg, ntlmmsg.NegotiateUnicode, utf16le("alice"), "alice", users["alice"])
	if code != 200 || envVar(body, "AUTH_DOMAIN") != "EXAMPLE" || envVar(body, "REMOTE_USER") != `EXAMPLE\alice` {
		t.Errorf("Type1 naming PAYROLL, Type3 without a domain: %d AUTH_DOMAIN=%q REMOTE_USER=%q, want 200 EXAMPLE EXAMPLE\\alice",
			code, envVar(body, "AUTH_DOMAIN"), envVar(body, "REMOTE_USER"))
	}
}
