package authorizer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cookieSite is a fake site with the login cookie on; extra is more TOML
// for [cookie]. Its DC knows jdoe and alice.
func cookieSite(t *testing.T, secret, extra string) *fakeSite {
	t.Helper()
	s := newFakeSite(t, "[cookie]\nenabled = true\nsecret_files = [\""+secret+"\"]\n"+extra)
	s.dcs["EXAMPLE"].SetPassword("alice", "pw-alice")
	return s
}

func cookieSecret(t *testing.T) string {
	t.Helper()
	secret := filepath.Join(t.TempDir(), "cookie.key")
	if err := os.WriteFile(secret, []byte(strings.Repeat("k", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	return secret
}

// pairs lists a jar as name=value pairs, to plant elsewhere.
func pairs(jar map[string]string, names ...string) []string {
	var out []string
	for _, n := range names {
		if v, ok := jar[n]; ok {
			out = append(out, n+"="+v)
		}
	}
	return out
}

// Issue 23, 4: alice's valid login cookie, planted in jdoe's browser (by
// a neighbouring host, or over plain HTTP), does not log jdoe's browser in
// as alice: the cookie's MAC covers alice's browser's binding value, which
// jdoe's browser does not hold. Planting that too works over HTTP (what
// remains there, and why the README says use HTTPS); over HTTPS the names
// carry __Host-, which a neighbour cannot set, and plain names are not
// read.
func TestPlantedLoginCookie(t *testing.T) {
	for _, https := range []bool{false, true} {
		t.Run(fmt.Sprintf("https=%v", https), func(t *testing.T) {
			s := cookieSite(t, cookieSecret(t), "")
			alice := &client{port: 45000, cookies: map[string]string{}, https: https}
			if r := alice.ntlmLogin(t, s.Authorizer, "alice", "EXAMPLE", "pw-alice"); r.Status != 200 {
				t.Fatalf("alice's login: %d", r.Status)
			}
			login, conn := "NTLM_AUTHEN", "NTLM_CONN"
			if https {
				login, conn = hostPrefix+login, hostPrefix+conn
			}
			if alice.cookies[login] == "" || alice.cookies[conn] == "" {
				t.Fatalf("alice's cookies: %v", alice.cookies)
			}
			// alice's browser itself gets in on a new connection.
			again := &client{port: 45001, cookies: alice.cookies, https: https}
			if r := again.do(s.Authorizer, ""); r.Status != 200 || r.Variables["REMOTE_USER"] != "alice" {
				t.Fatalf("alice's own browser, new connection: %d %v", r.Status, r.Variables)
			}

			// jdoe's browser, logged in before (its own binding cookie and
			// login cookie), then alice's login cookie planted.
			jdoe := &client{port: 45002, cookies: map[string]string{}, https: https}
			if r := jdoe.ntlmLogin(t, s.Authorizer, "jdoe", "EXAMPLE", "pw-EXAMPLE"); r.Status != 200 {
				t.Fatalf("jdoe's login: %d", r.Status)
			}
			victim := &client{port: 45003, cookies: jdoe.cookies, https: https, planted: pairs(alice.cookies, login)}
			if r := victim.do(s.Authorizer, ""); r.Status != 200 || r.Variables["REMOTE_USER"] != "jdoe" {
				t.Errorf("jdoe's browser with alice's login cookie planted: %d %v, want 200 as jdoe", r.Status, r.Variables)
			}
			// Without a login cookie of its own: nobody.
			bare := &client{port: 45004, cookies: map[string]string{conn: jdoe.cookies[conn]}, https: https, planted: pairs(alice.cookies, login)}
			if r := bare.do(s.Authorizer, ""); r.Status != 401 {
				t.Errorf("jdoe's binding cookie and alice's planted login cookie: %d %v, want 401", r.Status, r.Variables)
			}
			// Both of alice's cookies planted. Over HTTPS a neighbour can
			// only plant them without the prefix.
			both := pairs(alice.cookies, login, conn)
			if https {
				both = []string{"NTLM_AUTHEN=" + alice.cookies[login], "NTLM_CONN=" + alice.cookies[conn]}
			}
			planted := &client{port: 45005, cookies: map[string]string{conn: jdoe.cookies[conn]}, https: https, planted: both}
			r := planted.do(s.Authorizer, "")
			switch {
			case https && r.Status != 401:
				t.Errorf("HTTPS, alice's cookies planted without __Host-: %d %v, want 401", r.Status, r.Variables)
			case !https && (r.Status != 200 || r.Variables["REMOTE_USER"] != "alice"):
				t.Errorf("HTTP, both of alice's cookies planted: %d %v; the README says this remains over HTTP", r.Status, r.Variables)
			}
		})
	}
}

// Over HTTPS the login and binding cookies are __Host- cookies: Secure,
// Path=/, no Domain. Without HTTPS they keep their names and are Secure
// only if configured.
func TestCookieAttributes(t *testing.T) {
	for _, https := range []bool{false, true} {
		s := cookieSite(t, cookieSecret(t), "")
		c := &client{port: 45100, cookies: map[string]string{}, https: https}
		r := c.ntlmLogin(t, s.Authorizer, "jdoe", "EXAMPLE", "pw-EXAMPLE")
		sets := r.Header.Values("Set-Cookie")
		if len(sets) != 2 {
			t.Fatalf("https=%v: Set-Cookie %q, want the binding and the login cookie", https, sets)
		}
		for _, h := range sets {
			if https != strings.HasPrefix(h, hostPrefix) || https != strings.Contains(h, "; Secure") ||
				!strings.Contains(h, "; Path=/") || strings.Contains(h, "Domain=") || !strings.Contains(h, "HttpOnly") {
				t.Errorf("https=%v: Set-Cookie %q", https, h)
			}
		}
	}
	// A configured Domain rules the prefix out: the name stays, Secure
	// is still on over HTTPS.
	s := cookieSite(t, cookieSecret(t), "domain = \"example.test\"\n")
	c := &client{port: 45110, cookies: map[string]string{}, https: true}
	r := c.ntlmLogin(t, s.Authorizer, "jdoe", "EXAMPLE", "pw-EXAMPLE")
	for _, h := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(h, "NTLM_AUTHEN=") && (!strings.Contains(h, "; Secure") || !strings.Contains(h, "Domain=example.test")) {
			t.Errorf("login cookie with a domain over HTTPS: %q", h)
		}
	}
	if r := (&client{port: 45111, cookies: c.cookies, https: true}).do(s.Authorizer, ""); r.Status != 200 {
		t.Errorf("login cookie with a domain, new connection: %d", r.Status)
	}
}

// cookie.generation revokes every login cookie issued before it was
// raised; the same generation (a reload that changes nothing) keeps them.
func TestCookieGeneration(t *testing.T) {
	secret := cookieSecret(t)
	s := cookieSite(t, secret, "")
	c := newClient(45200)
	if r := c.ntlmLogin(t, s.Authorizer, "jdoe", "EXAMPLE", "pw-EXAMPLE"); r.Status != 200 {
		t.Fatalf("login: %d", r.Status)
	}
	for _, tt := range []struct {
		gen  string
		want int
	}{{"generation = 0\n", 200}, {"generation = 1\n", 401}} {
		next := cookieSite(t, secret, tt.gen)
		if r := (&client{port: 45201, cookies: c.cookies}).do(next.Authorizer, ""); r.Status != tt.want {
			t.Errorf("%s: cookie from generation 0: %d, want %d", strings.TrimSpace(tt.gen), r.Status, tt.want)
		}
	}
}

// Issue 23, 5: a second NTLM_DOMAIN value (a neighbour's, or one with a
// longer Path) makes the authorizer ignore both, instead of following the
// one the browser sends first.
func TestHintDuplicatesIgnored(t *testing.T) {
	s := newFakeSite(t, "[auth]\nname_format = \"logon\"\n", "EXAMPLE", "OTHER")
	for i, tt := range []struct {
		name    string
		planted []string
		own     string
		want    string
	}{
		{"own hint alone", nil, "OTHER", "OTHER"},
		{"planted on a longer path, own hint", []string{hintCookie + "=EXAMPLE"}, "OTHER", "EXAMPLE"},
		{"planted OTHER, own EXAMPLE", []string{hintCookie + "=OTHER"}, "EXAMPLE", "EXAMPLE"},
		{"planted twice, no own", []string{hintCookie + "=OTHER", hintCookie + "=OTHER"}, "", "EXAMPLE"},
	} {
		c := &client{port: 45300 + i, cookies: map[string]string{}, planted: tt.planted}
		if tt.own != "" {
			c.cookies[hintCookie] = tt.own
		}
		if ch := type2Of(t, c.do(s.Authorizer, ntlmHeader(browserType1("")))); ch.TargetName != tt.want {
			t.Errorf("%s: challenged by %q, want %q", tt.name, ch.TargetName, tt.want)
		}
	}
}

// Raising cookie.generation also ends the connections a login cookie of
// the older generation logged in: the connection table outlives a reload,
// and a stolen or planted cookie's holder would otherwise keep its
// session for as long as it kept the connection busy (login_lifetime).
// A connection logged in by a handshake stays.
func TestCookieGenerationEndsCookieConnections(t *testing.T) {
	secret := cookieSecret(t)
	s := cookieSite(t, secret, "")
	shake := newClient(45300)
	if r := shake.ntlmLogin(t, s.Authorizer, "jdoe", "EXAMPLE", "pw-EXAMPLE"); r.Status != 200 {
		t.Fatalf("login: %d", r.Status)
	}
	byCookie := &client{port: 45301, cookies: shake.cookies}
	if r := byCookie.do(s.Authorizer, ""); r.Status != 200 {
		t.Fatalf("the cookie on a new connection: %d", r.Status)
	}
	for _, tt := range []struct {
		gen               string
		cookie, handshake int
	}{{"generation = 0\n", 200, 200}, {"generation = 1\n", 401, 200}} {
		// The reload: a new Authorizer with the old one's table.
		next := newFakeSiteWith(t, "[cookie]\nenabled = true\nsecret_files = [\""+secret+"\"]\n"+tt.gen, Options{Table: s.Table()})
		if r := (&client{port: byCookie.port, cookies: map[string]string{"NTLM_CONN": shake.cookies["NTLM_CONN"]}}).do(next.Authorizer, ""); r.Status != tt.cookie {
			t.Errorf("%s: the connection the cookie logged in: %d, want %d", strings.TrimSpace(tt.gen), r.Status, tt.cookie)
		}
		if r := shake.do(next.Authorizer, ""); r.Status != tt.handshake {
			t.Errorf("%s: the connection of the handshake: %d, want %d", strings.TrimSpace(tt.gen), r.Status, tt.handshake)
		}
	}
}
