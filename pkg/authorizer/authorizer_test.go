package authorizer

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/conntable"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
)

// newTest builds an Authorizer whose DC is a closed loopback port: the
// cases here are decided before any relay.
func newTest(t testing.TB, extra string) *Authorizer {
	t.Helper()
	cfg, err := config.Parse("test.toml", []byte(extra+"\n[[domain]]\nname = \"EXAMPLE\"\ndns_name = \"example.test\"\ndcs = [\"127.0.0.1:1\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func params(auth string) map[string]string {
	p := map[string]string{
		"FCGI_APACHE_ROLE": "AUTHENTICATOR",
		"REMOTE_ADDR":      "127.0.0.1", "REMOTE_PORT": "40000",
		"SERVER_ADDR": "127.0.0.1", "SERVER_PORT": "80",
	}
	if auth != "" {
		p["HTTP_AUTHORIZATION"] = auth
	}
	return p
}

func serve(a *Authorizer, p map[string]string) *fcgi.Response {
	return a.ServeFCGI(context.Background(), &fcgi.Request{ID: 1, Role: fcgi.RoleAuthorizer, Params: p})
}

func ntlmHeader(m interface{ Marshal() []byte }) string {
	return "NTLM " + base64.StdEncoding.EncodeToString(m.Marshal())
}

func TestDecisionsBeforeTheDC(t *testing.T) {
	a := newTest(t, "[auth]\nschemes = [\"ntlm\", \"basic\"]")
	type3 := &ntlmmsg.Authenticate{Flags: ntlmmsg.NegotiateUnicode | ntlmmsg.NegotiateNTLM, User: "jdoe", Domain: "EXAMPLE",
		NtChallengeResponse: make([]byte, 48), LmChallengeResponse: make([]byte, 24)}
	challenge := &ntlmmsg.Challenge{Flags: ntlmmsg.NegotiateNTLM}
	tests := []struct {
		name   string
		p      map[string]string
		status int
		header string // a WWW-Authenticate or Connection value expected
	}{
		{"no credentials", params(""), 401, "NTLM"},
		{"unknown scheme", params("Bearer x"), 401, "NTLM"},
		{"bad base64", params("NTLM @@@"), 400, ""},
		{"not NTLM", params("NTLM " + base64.StdEncoding.EncodeToString([]byte("hello world"))), 400, ""},
		{"Type2 from a client", params(ntlmHeader(challenge)), 400, ""},
		{"Type3 without Type1", params(ntlmHeader(type3)), 401, "close"},
		{"Basic over plain HTTP", params("Basic amRvZTpw"), 403, ""},
		{"no client address", map[string]string{"HTTP_AUTHORIZATION": "NTLM x"}, 500, ""},
		{"unknown Apache role", func() map[string]string { p := params(""); p["FCGI_APACHE_ROLE"] = "X"; return p }(), 500, ""},
		{"authz role without LDAP", func() map[string]string {
			p := params("")
			p["FCGI_APACHE_ROLE"] = "AUTHORIZER"
			p["REMOTE_USER"], p["REQUIRED_GROUPS"] = "jdoe", "WebUsers"
			return p
		}(), 500, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := serve(a, tt.p)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d (%s)", r.Status, tt.status, r.Body)
			}
			if tt.header == "" {
				return
			}
			got := strings.Join(r.Header[wwwAuthenticate], ", ") + " " + r.Header.Get("Connection")
			if !strings.Contains(got, tt.header) {
				t.Errorf("headers %q lack %q", got, tt.header)
			}
		})
	}
}

func TestAuthenticatedConnection(t *testing.T) {
	a := newTest(t, "[auth]\nname_format = \"logon\"\nlowercase_user = true")
	p := params("")
	k, err := connKey(p)
	if err != nil {
		t.Fatal(err)
	}
	a.table.SetAuthenticated(k, conntable.Login{User: "JDoe", Domain: "EXAMPLE", At: time.Now()})
	r := serve(a, p)
	if r.Status != 200 || r.Variables["REMOTE_USER"] != `EXAMPLE\jdoe` {
		t.Fatalf("authenticated connection: %d %v", r.Status, r.Variables)
	}
	// Another port of the same client is another connection.
	p2 := params("")
	p2["REMOTE_PORT"] = "40001"
	if r := serve(a, p2); r.Status != 401 {
		t.Errorf("other connection: %d, want 401", r.Status)
	}
}

func TestCallerSecret(t *testing.T) {
	cfg, err := config.Parse("t.toml", []byte("[[domain]]\nname = \"EXAMPLE\"\ndcs = [\"127.0.0.1:1\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Options{CallerSecret: "0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if r := serve(a, params("")); r.Status != 403 {
		t.Errorf("no secret: %d, want 403", r.Status)
	}
	for _, k := range []string{"HTTP_GOAUTHENNTLM_SECRET", "AUTHORIZER_SECRET"} {
		for v, want := range map[string]int{"0123456789abcdef": 401, "0123456789abcdeF": 403, "0123456789abcde": 403, "": 403} {
			p := params("")
			p[k] = v
			if r := serve(a, p); r.Status != want {
				t.Errorf("%s=%q: %d, want %d", k, v, r.Status, want)
			}
		}
	}
	// A client's own header of that name does not spoil Apache's variable.
	p := params("")
	p["HTTP_GOAUTHENNTLM_SECRET"] = "forged"
	p["AUTHORIZER_SECRET"] = "0123456789abcdef"
	if r := serve(a, p); r.Status != 401 {
		t.Errorf("variable right, header forged: %d, want 401", r.Status)
	}
}

func TestConnectionBinding(t *testing.T) {
	a := newTest(t, "") // bind_connections is on by default
	p := params("")
	k, _ := connKey(p)
	l := conntable.Login{User: "jdoe", Domain: "EXAMPLE", At: time.Now()}
	resp := &fcgi.Response{}
	l.Binding = sha256.Sum256([]byte(a.browserValue(l, p, resp)))
	set := resp.Header.Get("Set-Cookie")
	v, _, _ := strings.Cut(strings.TrimPrefix(set, "NTLM_CONN="), ";")
	if len(v) < 32 || !strings.Contains(set, "HttpOnly") {
		t.Fatalf("binding cookie: %q", set)
	}
	a.table.SetAuthenticated(k, l)

	withCookie := params("")
	withCookie["HTTP_COOKIE"] = "other=1; NTLM_CONN=" + v
	if r := serve(a, withCookie); r.Status != 200 {
		t.Fatalf("with the binding cookie: %d", r.Status)
	}
	wrong := params("")
	wrong["HTTP_COOKIE"] = "NTLM_CONN=" + strings.Repeat("x", 32)
	if r := serve(a, wrong); r.Status != 401 {
		t.Errorf("another client on the same address and port: %d, want 401", r.Status)
	}
	// The login is forgotten: not even the right cookie brings it back.
	if r := serve(a, withCookie); r.Status != 401 {
		t.Errorf("after a refused binding: %d, want 401", r.Status)
	}

	// A browser that has a binding cookie keeps it on its next login
	// as the same account.
	l2 := conntable.Login{User: "jdoe", Domain: "EXAMPLE"}
	resp2 := &fcgi.Response{}
	l2.Binding = sha256.Sum256([]byte(a.browserValue(l2, withCookie, resp2)))
	if l2.Binding != l.Binding || resp2.Header.Get("Set-Cookie") != "" {
		t.Errorf("existing binding cookie not reused")
	}
}

// A binding value the authorizer did not issue is not taken over: else a
// value planted in a victim's browser would let its planter in.
func TestPlantedBindingRefused(t *testing.T) {
	a := newTest(t, "")
	p := params("")
	p["HTTP_COOKIE"] = "NTLM_CONN=" + strings.Repeat("A", 40)
	l := conntable.Login{User: "jdoe"}
	resp := &fcgi.Response{}
	l.Binding = sha256.Sum256([]byte(a.browserValue(l, p, resp)))
	if resp.Header.Get("Set-Cookie") == "" {
		t.Fatal("planted value taken over; want a new binding cookie")
	}
	if a.issuedBinding(strings.Repeat("A", 40), l) {
		t.Error("issuedBinding accepts a made-up value")
	}
	// Another process's (or an old key's) values are not ours either.
	b := newTest(t, "")
	v, _, _ := strings.Cut(strings.TrimPrefix(resp.Header.Get("Set-Cookie"), "NTLM_CONN="), ";")
	if !a.issuedBinding(v, l) || b.issuedBinding(v, l) {
		t.Errorf("issuedBinding: own %v, other key %v", a.issuedBinding(v, l), b.issuedBinding(v, l))
	}
}

// Issue 12, 4: alice's own value, planted in jdoe's browser, is not kept
// through jdoe's login; else alice, on jdoe's address and port after his
// connection closes, would be let in as jdoe.
func TestBindingOfAnotherAccountRefused(t *testing.T) {
	a := newTest(t, "")
	alice := conntable.Login{User: "alice", Domain: "EXAMPLE"}
	resp := &fcgi.Response{}
	alice.Binding = sha256.Sum256([]byte(a.browserValue(alice, params(""), resp)))
	v, _, _ := strings.Cut(strings.TrimPrefix(resp.Header.Get("Set-Cookie"), "NTLM_CONN="), ";")

	p := params("")
	p["HTTP_COOKIE"] = "NTLM_CONN=" + v
	for _, l := range []conntable.Login{{User: "jdoe", Domain: "EXAMPLE"}, {User: "alice", Domain: "OTHER"}} {
		resp := &fcgi.Response{}
		l.Binding = sha256.Sum256([]byte(a.browserValue(l, p, resp)))
		if resp.Header.Get("Set-Cookie") == "" || l.Binding == alice.Binding {
			t.Errorf("%s\\%s kept alice's binding value", l.Domain, l.User)
		}
	}
	// Her value still binds her own next login (any spelling: names are
	// canonical by then, the key lower-cases).
	again := conntable.Login{User: "ALICE", Domain: "example"}
	resp = &fcgi.Response{}
	again.Binding = sha256.Sum256([]byte(a.browserValue(again, p, resp)))
	if resp.Header.Get("Set-Cookie") != "" || again.Binding != alice.Binding {
		t.Error("alice's own value not reused for her next login")
	}
}

// login_lifetime ends a connection's login, however busy the connection.
func TestLoginLifetime(t *testing.T) {
	a := newTest(t, "[auth]\nlogin_lifetime = \"1h\"\nbind_connections = false")
	p := params("")
	k, err := connKey(p)
	if err != nil {
		t.Fatal(err)
	}
	a.table.SetAuthenticated(k, conntable.Login{User: "jdoe", Domain: "EXAMPLE", At: time.Now().Add(-59 * time.Minute)})
	if r := serve(a, p); r.Status != 200 {
		t.Fatalf("within login_lifetime: %d", r.Status)
	}
	a.table.SetAuthenticated(k, conntable.Login{User: "jdoe", Domain: "EXAMPLE", At: time.Now().Add(-61 * time.Minute)})
	if r := serve(a, p); r.Status != 401 {
		t.Fatalf("past login_lifetime: %d, want 401", r.Status)
	}
	if _, ok := a.table.Authenticated(k); ok {
		t.Error("the expired login is still remembered")
	}
}

// A front end that pools its connections to Apache sends another client's
// request over a connection someone logged in: the X-Forwarded-For it adds
// tells them apart, with the binding cookie off too, and a forged
// X-Forwarded-For (the front end appends the address it saw) never
// matches the login's.
func TestFrontEndSharedConnection(t *testing.T) {
	for _, bind := range []bool{true, false} {
		a := newTest(t, fmt.Sprintf("[auth]\nbind_connections = %v\n", bind))
		p := params("")
		p["HTTP_X_FORWARDED_FOR"] = "10.0.0.1"
		k, _ := connKey(p)
		l := conntable.Login{User: "jdoe", Domain: "EXAMPLE", At: time.Now(), Forwarded: forwardedHash(p)}
		if bind {
			resp := &fcgi.Response{}
			l.Binding = sha256.Sum256([]byte(a.browserValue(l, p, resp)))
			v, _, _ := strings.Cut(strings.TrimPrefix(resp.Header.Get("Set-Cookie"), "NTLM_CONN="), ";")
			p["HTTP_COOKIE"] = "NTLM_CONN=" + v
		}
		a.table.SetAuthenticated(k, l)
		if r := serve(a, p); r.Status != 200 {
			t.Fatalf("bind %v: the login's own client: %d", bind, r.Status)
		}
		for _, xff := range []string{"10.0.0.2", "10.0.0.1, 10.0.0.2", ""} {
			q := maps.Clone(p)
			q["HTTP_X_FORWARDED_FOR"] = xff
			if r := serve(a, q); r.Status != 401 {
				t.Errorf("bind %v: X-Forwarded-For %q on the connection 10.0.0.1 logged in: %d, want 401", bind, xff, r.Status)
			}
			a.table.SetAuthenticated(k, l)
		}
	}
}

// mod_remoteip makes REMOTE_ADDR an address from X-Forwarded-For and keeps
// REMOTE_PORT the connection's: the connection is keyed by the peer
// address Apache passes (GOAUTHENNTLM_PEER), so a forged X-Forwarded-For
// naming a logged-in client's address, from that client's port, is
// another connection; and a login through such a front end remembers
// which client it was for.
func TestRemoteIPPeerKey(t *testing.T) {
	a := newTest(t, "[auth]\nbind_connections = false\n")
	victim := params("")
	victim["REMOTE_ADDR"], victim["REMOTE_PORT"], victim[peerParam] = "10.0.0.7", "40000", "10.0.0.7"
	k, _ := connKey(victim)
	a.table.SetAuthenticated(k, conntable.Login{User: "jdoe", Domain: "EXAMPLE", At: time.Now(), Forwarded: forwardedHash(victim)})
	if r := serve(a, victim); r.Status != 200 {
		t.Fatalf("the victim's own connection: %d", r.Status)
	}
	forged := maps.Clone(victim)
	forged[peerParam] = "10.0.0.99" // a trusted proxy's address; REMOTE_ADDR from its forged X-Forwarded-For
	if r := serve(a, forged); r.Status != 401 {
		t.Errorf("a forged X-Forwarded-For from the victim's port: %d, want 401", r.Status)
	}
	// Two clients of one front end (10.0.0.5), which mod_remoteip tells
	// apart by REMOTE_ADDR, on one pooled connection.
	first := params("")
	first["REMOTE_ADDR"], first["REMOTE_PORT"], first[peerParam] = "192.0.2.1", "50000", "10.0.0.5"
	k, _ = connKey(first)
	a.table.SetAuthenticated(k, conntable.Login{User: "jdoe", Domain: "EXAMPLE", At: time.Now(), Forwarded: forwardedHash(first)})
	second := maps.Clone(first)
	second["REMOTE_ADDR"] = "192.0.2.2"
	if r := serve(a, second); r.Status != 401 {
		t.Errorf("another client of the front end on the pooled connection: %d, want 401", r.Status)
	}
}
