//go:build linux

package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/internal/chromium"
	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
	"github.com/goauthenntlm/goauthenntlm/pkg/spnego"
)

// The Extended Protection tests (issue 24) run against the stack's HTTPS
// port, where Apache passes the site certificate to the authorizer, and
// its /epa/required/ and /epa/when-sent/ locations, which set the
// authorizer's channel_binding per location (CHANNEL_BINDING). The site's
// host name is not in DNS: every client is told where it is (curl
// --resolve, Chromium --host-resolver-rules, a dialer), never /etc/hosts.

// epaSite is the stack's HTTPS site, as a client that connects to it sees
// it.
type epaSite struct {
	s          *stack
	host, port string
	roots      *x509.CertPool
	cert       *x509.Certificate // the certificate the site presents
	binding    ntlmmsg.ChannelBindings
}

func loadEPA(t *testing.T) *epaSite {
	t.Helper()
	s := loadStack(t)
	if s.env["HTTPS_URL"] == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("the stack has no HTTPS_URL: scripts/stack.sh up must serve HTTPS")
		}
		t.Skip("the stack has no HTTPS_URL (made before stack.sh served HTTPS; stack.sh down and up again)")
	}
	e := &epaSite{s: s, host: s.env["HTTPS_HOST"], port: s.env["HTTPS_PORT"], roots: x509.NewCertPool()}
	ca, err := os.ReadFile(s.env["HTTPS_CA"])
	if err != nil || !e.roots.AppendCertsFromPEM(ca) {
		t.Fatalf("the stack's HTTPS CA %s: %v", s.env["HTTPS_CA"], err)
	}
	// The certificate as a client sees it, from a handshake.
	c, err := tls.Dial("tcp", "127.0.0.1:"+e.port, &tls.Config{ServerName: e.host, RootCAs: e.roots})
	if err != nil {
		t.Fatalf("TLS to the stack's HTTPS port: %v", err)
	}
	e.cert = c.ConnectionState().PeerCertificates[0]
	c.Close()
	if e.binding, err = ntlmmsg.TLSChannelBindings(e.cert); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *epaSite) url(path string) string { return "https://" + e.host + ":" + e.port + path }

// client is an HTTPS client on one keep-alive connection that reaches the
// site's name at 127.0.0.1 and trusts the stack's CA.
func (e *epaSite) client() *http.Client {
	tr := &http.Transport{
		MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true,
		TLSClientConfig: &tls.Config{RootCAs: e.roots},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, "127.0.0.1:"+e.port)
		},
	}
	jar, _ := cookiejar.New(nil) // the connection's binding cookie (auth.bind_connections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// craftedLogin logs jdoe in at url on one connection with a Type3 whose
// NTLMv2 blob carries the challenge's AV pairs plus extra: what a client
// computes that adds those (an Extended Protection client adds its target
// name and channel binding). It is how an attacker's message is made: the
// victim's client computed the Type3 with what it saw, the attacker
// forwards it here.
func (e *epaSite) craftedLogin(t *testing.T, cl *http.Client, url string, extra ntlmmsg.AVPairs) (int, string) {
	t.Helper()
	type1 := &ntlmmsg.Negotiate{Flags: ntlmmsg.NegotiateUnicode | ntlmmsg.NegotiateNTLM | ntlmmsg.RequestTarget |
		ntlmmsg.ExtendedSessionSecurity | ntlmmsg.AlwaysSign | ntlmmsg.Negotiate128}
	resp := ntlmRequest(t, cl, url, type1.Marshal())
	var ch *ntlmmsg.Challenge
	var type2 []byte
	for _, h := range resp.Header.Values("WWW-Authenticate") {
		if tok, ok := strings.CutPrefix(h, "NTLM "); ok {
			b, err := base64.StdEncoding.DecodeString(tok)
			if err != nil {
				t.Fatal(err)
			}
			type2 = b
			if ch, err = ntlmmsg.ParseChallenge(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	if resp.StatusCode != 401 || ch == nil {
		t.Fatalf("Type1: %d %v, want 401 with an NTLM challenge", resp.StatusCode, resp.Header)
	}
	av, err := ch.AVPairs()
	if err != nil {
		t.Fatal(err)
	}
	// A client that adds a binding flags and sends a MIC, as Windows,
	// Chromium and requests-ntlm do (else required refuses it).
	_, bound := extra.Get(ntlmmsg.MsvAvChannelBindings)
	if bound {
		av = append(av, ntlmmsg.AVPair{ID: ntlmmsg.MsvAvFlags, Value: []byte{2, 0, 0, 0}})
	}
	ch.TargetInfo = append(av, extra...).Marshal()
	var cc [8]byte
	rand.Read(cc[:])
	type3, key, err := ntlmmsg.NewAuthenticateV2(ch, "jdoe", "EXAMPLE", "Secr3t!Pass", "WS", cc, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if bound {
		type3.MIC = make([]byte, 16)
		type3.MIC = mic(key, type1.Marshal(), type2, type3.Marshal())
	}
	resp = ntlmRequest(t, cl, url, type3.Marshal())
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// mic is the MIC of MS-NLMP 3.1.5.1.2: HMAC_MD5 of the three messages
// (the AUTHENTICATE with a zero MIC) under the exported session key,
// which without key exchange is the NTLMv2 session base key.
func mic(key []byte, msgs ...[]byte) []byte {
	h := hmac.New(md5.New, key)
	for _, m := range msgs {
		h.Write(m)
	}
	return h.Sum(nil)
}

func ntlmRequest(t *testing.T, cl *http.Client, url string, msg []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "NTLM "+base64.StdEncoding.EncodeToString(msg))
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	return resp
}

func avTarget(name string) ntlmmsg.AVPair {
	u := make([]byte, 0, 2*len(name))
	for _, r := range name { // ASCII names only here
		u = append(u, byte(r), 0)
	}
	return ntlmmsg.AVPair{ID: ntlmmsg.MsvAvTargetName, Value: u}
}

func avBinding(cb ntlmmsg.ChannelBindings) ntlmmsg.AVPair {
	return ntlmmsg.AVPair{ID: ntlmmsg.MsvAvChannelBindings, Value: cb[:]}
}

// refusedWith checks that the authorizer logged, after off, an Extended
// Protection refusal with cause.
func (e *epaSite) refusedWith(t *testing.T, off int64, cause string) {
	t.Helper()
	log, _ := e.s.logSince(t, off)
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "login refused by Extended Protection") && strings.Contains(l, "cause="+cause+" ") &&
			strings.Contains(l, "client=127.0.0.1:") && strings.Contains(l, "user=jdoe") {
			return
		}
	}
	t.Errorf("no WARN \"login refused by Extended Protection\" with cause=%s, client and user in the authorizer's log:\n%s", cause, log)
}

// TestEPACraftedType3s: what an attacker forwards is refused, each with
// its cause in the log and in /metrics, before the DC sees it; the same
// crafting with the site's own binding and name logs in (the control that
// the crafted messages are otherwise what the DC accepts).
func TestEPACraftedType3s(t *testing.T) {
	e := loadEPA(t)
	other, err := ntlmmsg.TLSChannelBindings(&x509.Certificate{Raw: []byte("another server's certificate"), SignatureAlgorithm: x509.SHA256WithRSA})
	if err != nil {
		t.Fatal(err)
	}
	site := avTarget("HTTP/" + e.host)
	for _, tt := range []struct {
		name, path string
		av         ntlmmsg.AVPairs
		cause      string // "" logs in
	}{
		{"own binding and name", "/epa/required/whoami", ntlmmsg.AVPairs{site, avBinding(e.binding)}, ""},
		{"own binding, upper-case name", "/epa/required/whoami", ntlmmsg.AVPairs{avTarget("HTTP/" + strings.ToUpper(e.host)), avBinding(e.binding)}, ""},
		{"another certificate's binding", "/epa/required/whoami", ntlmmsg.AVPairs{site, avBinding(other)}, "binding_mismatch"},
		{"another certificate's binding under when-sent", "/epa/when-sent/whoami", ntlmmsg.AVPairs{site, avBinding(other)}, "binding_mismatch"},
		// Issue 29: on by default over HTTPS. /private/ sets no
		// CHANNEL_BINDING and the stack's config no channel_binding.
		{"another certificate's binding, no setting", "/private/whoami", ntlmmsg.AVPairs{site, avBinding(other)}, "binding_mismatch"},
		{"own binding, no setting", "/private/whoami", ntlmmsg.AVPairs{site, avBinding(e.binding)}, ""},
		{"no binding, no setting", "/private/whoami", ntlmmsg.AVPairs{site}, ""},
		{"no binding under required", "/epa/required/whoami", ntlmmsg.AVPairs{site}, "binding_missing"},
		// A victim that logs in over plain HTTP to the name an attacker
		// answers (a poisoned name), which relays it to the HTTPS site:
		// the victim's client saw no TLS, so it sent zeros, as Chromium
		// does over HTTP.
		{"relayed from plain HTTP", "/epa/required/whoami", ntlmmsg.AVPairs{site, avBinding(ntlmmsg.ChannelBindings{})}, "binding_missing"},
		{"meant for a file share", "/epa/required/whoami", ntlmmsg.AVPairs{avTarget("cifs/" + e.host), avBinding(e.binding)}, "target_name"},
		{"meant for another host", "/epa/when-sent/whoami", ntlmmsg.AVPairs{avTarget("HTTP/intranet.elsewhere.test"), avBinding(e.binding)}, "target_name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			off := e.s.logOffset(t)
			status, body := e.craftedLogin(t, e.client(), e.url(tt.path), tt.av)
			if tt.cause == "" {
				if status != 200 || body != "jdoe" {
					t.Fatalf("%d %q, want 200 jdoe", status, body)
				}
				return
			}
			if status != 401 {
				t.Errorf("%d %q, want 401", status, body)
			}
			e.refusedWith(t, off, tt.cause)
			if log, _ := e.s.logSince(t, off); strings.Contains(log, "msg=login ") {
				t.Errorf("the refused login was relayed and accepted:\n%s", log)
			}
		})
	}
	_, m := e.s.metrics(t, "/metrics")
	for _, c := range []string{"binding_mismatch", "binding_missing", "target_name"} {
		if !strings.Contains(m, `goauthenntlm_epa_refused_total{cause="`+c+`"}`) {
			t.Errorf("/metrics has no goauthenntlm_epa_refused_total for %s", c)
		}
	}
}

// TestEPALaterRequests: a login relayed to a location without Extended
// Protection does not open a protected one on its connection; a login
// that met required opens both.
func TestEPALaterRequests(t *testing.T) {
	e := loadEPA(t)
	get := func(cl *http.Client, path string) int {
		t.Helper()
		resp, err := cl.Get(e.url(path))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	relayed := e.client()
	if status, body := e.craftedLogin(t, relayed, e.url("/private/whoami"), nil); status != 200 || body != "jdoe" {
		t.Fatalf("login at /private/: %d %q", status, body)
	}
	if got := get(relayed, "/private/whoami"); got != 200 {
		t.Errorf("/private/ again on the connection: %d, want 200", got)
	}
	if got := get(relayed, "/epa/required/whoami"); got != 401 {
		t.Errorf("/epa/required/ on the connection of a login without binding: %d, want 401", got)
	}
	bound := e.client()
	if status, _ := e.craftedLogin(t, bound, e.url("/epa/required/whoami"), ntlmmsg.AVPairs{avBinding(e.binding)}); status != 200 {
		t.Fatalf("login with the binding at /epa/required/: %d", status)
	}
	for _, p := range []string{"/private/whoami", "/epa/required/whoami", "/epa/when-sent/whoami"} {
		if got := get(bound, p); got != 200 {
			t.Errorf("%s on the connection of a bound login: %d, want 200", p, got)
		}
	}
}

// TestEPACurl: Debian 12's curl (7.88, its own NTLM code) sends no
// channel binding: it logs in under when-sent, and under required it is
// refused as binding_missing over HTTPS; over plain HTTP required lets it
// in (there is no channel to bind to).
func TestEPACurl(t *testing.T) {
	e := loadEPA(t)
	args := []string{"--ntlm", "-u", `EXAMPLE\jdoe:Secr3t!Pass`, "--cacert", e.s.env["HTTPS_CA"],
		"--resolve", e.host + ":" + e.port + ":127.0.0.1", "-w", " %{http_code}"}
	if out := curl(t, append(args, e.url("/epa/when-sent/whoami"))...); out != "jdoe\n 200" {
		t.Errorf("when-sent over HTTPS: %q, want jdoe and 200", out)
	}
	// The default over HTTPS (issue 29: when-sent) lets it in too.
	if out := curl(t, append(args, e.url("/private/whoami"))...); out != "jdoe\n 200" {
		t.Errorf("no setting over HTTPS: %q, want jdoe and 200", out)
	}
	off := e.s.logOffset(t)
	if out := curl(t, append(args, "-o", "/dev/null", e.url("/epa/required/whoami"))...); out != " 401" {
		t.Errorf("required over HTTPS: %q, want 401", out)
	}
	e.refusedWith(t, off, "binding_missing")
	if out := curl(t, append(args, e.s.url("/epa/required/whoami"))...); out != "jdoe\n 200" {
		t.Errorf("required over plain HTTP: %q, want jdoe and 200", out)
	}
}

// TestEPARequestsNTLM: Debian's python3-requests-ntlm (HttpNtlmAuth,
// send_cbt=True, its default) sends the certificate's binding and logs in
// under when-sent; under required it is refused: its Type1 asks for no
// target info, so Samba's challenge carries no timestamp, and ntlm-auth
// 1.4 then flags no MIC, without which a binding may be a relaying
// attacker's (TestEPARelayedCurlWithInjectedBinding).
func TestEPARequestsNTLM(t *testing.T) {
	e := loadEPA(t)
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import requests_ntlm").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3-requests-ntlm is not installed (scripts/deps.sh installs it)")
		}
		t.Skip("python3-requests-ntlm is not installed")
	}
	script := filepath.Join(t.TempDir(), "login.py")
	// The site's name resolves to 127.0.0.1 by a wrapped connect, as
	// --resolve does for curl; everything else is the library's own.
	if err := os.WriteFile(script, []byte(`import sys, requests
import urllib3.util.connection as conn
from requests_ntlm import HttpNtlmAuth
url, ca, host = sys.argv[1:4]
create = conn.create_connection
def resolve(addr, *a, **k):
    return create(("127.0.0.1" if addr[0] == host else addr[0], addr[1]), *a, **k)
conn.create_connection = resolve
s = requests.Session()
s.auth = HttpNtlmAuth("EXAMPLE\\jdoe", "Secr3t!Pass", send_cbt=True)
r = s.get(url, verify=ca)
print(r.status_code, r.text.strip())
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{
		{"/epa/when-sent/whoami", "200 jdoe"},
		{"/private/whoami", "200 jdoe"}, // the default over HTTPS (issue 29)
		{"/epa/required/whoami", "401 authentication required"},
	} {
		off := e.s.logOffset(t)
		out, err := exec.Command("/usr/bin/python3", script, e.url(tt.path), e.s.env["HTTPS_CA"], e.host).CombinedOutput()
		log, _ := e.s.logSince(t, off)
		if err != nil || strings.TrimSpace(string(out)) != tt.want {
			t.Fatalf("requests-ntlm at %s: %v %q, want %q; authorizer:\n%s", tt.path, err, out, tt.want, log)
		}
		if tt.want != "200 jdoe" && !strings.Contains(log, "without a MIC") {
			t.Errorf("no refusal of a binding without a MIC in the authorizer's log:\n%s", log)
		}
	}
}

// launchChromium starts a headless Chromium that reaches e's host name at
// 127.0.0.1 and trusts the certificate e presents, with one user whose
// prompts are answered as jdoe. The caller closes the browser.
func (e *epaSite) launchChromium(ctx context.Context, t *testing.T) (*chromium.Browser, *chromium.User) {
	t.Helper()
	spki := sha256.Sum256(e.cert.RawSubjectPublicKeyInfo)
	b, err := chromium.Launch(ctx, chromium.Options{Binary: chromiumBinary(t), Dir: t.TempDir(), Flags: []string{
		// The last --host-resolver-rules counts: the site's name too.
		"--host-resolver-rules=MAP " + e.host + " 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		// Trust the stack's throwaway certificate by its key (the
		// binding is of the certificate the browser saw, whoever signed it).
		"--ignore-certificate-errors-spki-list=" + base64.StdEncoding.EncodeToString(spki[:]),
	}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := b.NewUser(ctx, `EXAMPLE\jdoe`, users["jdoe"])
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	return b, u
}

// TestEPAChromium: headless Chromium logs in over HTTPS under required;
// its NetLog shows the Type3 it sent, whose NTLMv2 blob carries the
// binding of the certificate it saw and the target name HTTP/<host>:<port>.
func TestEPAChromium(t *testing.T) {
	e := loadEPA(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, u := e.launchChromium(ctx, t)
	off := e.s.logOffset(t)
	marker := fmt.Sprintf("c=epa%d", time.Now().UnixNano()%1e9)
	p, perr := u.Goto(ctx, e.url("/epa/required/whoami?"+marker))
	if err := b.Close(); err != nil {
		t.Errorf("closing chromium: %v", err)
	}
	nl, err := chromium.ReadNetLog(b.NetLogPath)
	if err != nil {
		t.Fatal(err)
	}
	if perr != nil || p.Status != 200 || strings.TrimSpace(p.Body) != "jdoe" {
		log, _ := e.s.logSince(t, off)
		t.Fatalf("Chromium under required: %v %d %q, want 200 jdoe\nNetLog:\n%s\nauthorizer:\n%s", perr, p.Status, p.Body, nl.Summary(marker), log)
	}
	var type3 []byte
	for _, x := range nl.For(marker) {
		auth := x.Get("Authorization")
		scheme, tok, _ := strings.Cut(auth, " ")
		raw, err := base64.StdEncoding.DecodeString(tok)
		if err != nil || auth == "" {
			continue
		}
		if scheme == "Negotiate" && !strings.HasPrefix(string(raw), "NTLMSSP\x00") {
			st, err := spnego.Decode(raw)
			if err != nil || st.Resp == nil {
				continue
			}
			raw = st.Resp.ResponseToken
		}
		if typ, err := ntlmmsg.Type(raw); err == nil && typ == ntlmmsg.TypeAuthenticate {
			type3 = raw
		}
	}
	if type3 == nil {
		t.Fatalf("no Type3 in Chromium's NetLog:\n%s", nl.Summary(marker))
	}
	m, err := ntlmmsg.ParseAuthenticate(type3)
	if err != nil {
		t.Fatal(err)
	}
	av, v2, err := m.ClientAVPairs()
	if err != nil || !v2 {
		t.Fatalf("Chromium's Type3: NTLMv2 %v, %v", v2, err)
	}
	cb, _ := av.Get(ntlmmsg.MsvAvChannelBindings)
	t.Logf("Chromium's Type3 over HTTPS: MsvAvChannelBindings %x (the certificate's: %x), MsvAvTargetName %q",
		cb, e.binding, av.String(ntlmmsg.MsvAvTargetName))
	if string(cb) != string(e.binding[:]) {
		t.Errorf("Chromium's binding %x, want the certificate's %x", cb, e.binding)
	}
	// Chromium names the port when it is not 443 (seen:
	// HTTP/www.example.test:35638); the authorizer accepts either.
	if tn := av.String(ntlmmsg.MsvAvTargetName); !strings.EqualFold(tn, "HTTP/"+e.host+":"+e.port) && !strings.EqualFold(tn, "HTTP/"+e.host) {
		t.Errorf("Chromium's target name %q, want HTTP/%s[:%s]", tn, e.host, e.port)
	}
}
