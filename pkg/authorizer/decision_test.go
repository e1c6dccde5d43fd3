package authorizer

import (
	"encoding/asn1"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/dc/dctest"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
	"github.com/goauthenntlm/goauthenntlm/pkg/spnego"
)

// loginScheme drives one way of logging in, as a client does.
type loginScheme struct {
	name string
	// login runs a whole login on c's connection; type3 (nil for Basic)
	// replaces the Type3 the password would make.
	login func(t *testing.T, a *Authorizer, c *client, user, domain, password string, type3 []byte) *fcgi.Response
	// type3 is the header carrying a raw Type3, for replays.
	type3 func(t *testing.T, raw []byte) string
}

// ntlmScheme logs in with bare NTLM messages in a header of the given
// scheme name ("NTLM", or "Negotiate" as Firefox sends them).
func ntlmScheme(header string) loginScheme {
	wrap := func(_ *testing.T, raw []byte) string { return header + " " + base64.StdEncoding.EncodeToString(raw) }
	return loginScheme{
		name:  header,
		type3: wrap,
		login: func(t *testing.T, a *Authorizer, c *client, user, domain, password string, type3 []byte) *fcgi.Response {
			t.Helper()
			r := c.do(a, wrap(t, browserType1("").Marshal()))
			ch := type2Of(t, r)
			if type3 == nil {
				type3 = c.answer(t, ch, user, domain, password)
			}
			return c.do(a, wrap(t, type3))
		},
	}
}

// spnegoScheme logs in with NTLM inside SPNEGO, as Chrome and Edge do.
func spnegoScheme() loginScheme {
	resp := func(t *testing.T, raw []byte) string {
		b, err := (&spnego.NegTokenResp{NegState: spnego.StateAbsent, ResponseToken: raw}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return "Negotiate " + base64.StdEncoding.EncodeToString(b)
	}
	return loginScheme{
		name:  "SPNEGO",
		type3: resp,
		login: func(t *testing.T, a *Authorizer, c *client, user, domain, password string, type3 []byte) *fcgi.Response {
			t.Helper()
			init, err := (&spnego.NegTokenInit{MechTypes: []asn1.ObjectIdentifier{spnego.OIDNTLM}, MechToken: browserType1("").Marshal()}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			r := c.do(a, "Negotiate "+base64.StdEncoding.EncodeToString(init))
			h := strings.Join(r.Header[wwwAuthenticate], ", ")
			tok, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Negotiate "))
			if r.Status != 401 || err != nil {
				t.Fatalf("SPNEGO challenge: %d %q", r.Status, h)
			}
			st, err := spnego.Decode(tok)
			if err != nil || st.Resp == nil {
				t.Fatalf("SPNEGO challenge: %v", err)
			}
			ch, err := ntlmmsg.ParseChallenge(st.Resp.ResponseToken)
			if err != nil {
				t.Fatal(err)
			}
			if type3 == nil {
				type3 = c.answer(t, ch, user, domain, password)
			}
			return c.do(a, resp(t, type3))
		},
	}
}

func basicScheme() loginScheme {
	return loginScheme{
		name: "Basic",
		login: func(t *testing.T, a *Authorizer, c *client, user, domain, password string, _ []byte) *fcgi.Response {
			name := user
			if domain != "" {
				name = domain + `\` + user
			}
			return c.do(a, "Basic "+base64.StdEncoding.EncodeToString([]byte(name+":"+password)))
		},
	}
}

func answer(t testing.TB, ch *ntlmmsg.Challenge, user, domain, password string) []byte {
	t.Helper()
	auth, _, err := ntlmmsg.NewAuthenticateV2(ch, user, domain, password, "WS", [8]byte{9}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return auth.Marshal()
}

// anonymousType3s are Type3s without credentials: an anonymous logon
// (MS-NLMP 3.2.5.1.2), and a user named without responses. Samba accepts
// them as a null session.
func anonymousType3s() [][]byte {
	f := ntlmmsg.NegotiateUnicode | ntlmmsg.NegotiateNTLM
	return [][]byte{
		(&ntlmmsg.Authenticate{Flags: f | ntlmmsg.Anonymous, LmChallengeResponse: []byte{0}}).Marshal(),
		(&ntlmmsg.Authenticate{Flags: f, User: "mallory", Domain: "EXAMPLE", LmChallengeResponse: []byte{0}}).Marshal(),
	}
}

// TestLoginDecisions runs the login decision table through ServeFCGI, with
// the DC faked: every scheme, against each outcome.
func TestLoginDecisions(t *testing.T) {
	schemes := []loginScheme{ntlmScheme("NTLM"), ntlmScheme("Negotiate"), spnegoScheme(), basicScheme()}
	conf := "[auth]\nschemes = [\"negotiate\", \"ntlm\", \"basic\"]\n"
	port := 41000
	newC := func() *client {
		port++
		c := newClient(port)
		c.https = true
		return c
	}
	checkChallenged := func(t *testing.T, r *fcgi.Response) {
		t.Helper()
		if r.Status != http.StatusUnauthorized || len(r.Header[wwwAuthenticate]) == 0 || r.Header.Get("Connection") != "close" {
			t.Fatalf("want a fresh challenge closing the connection, got %d %v %q", r.Status, r.Header, r.Body)
		}
	}
	for _, sc := range schemes {
		t.Run(sc.name+"/success", func(t *testing.T) {
			s := newFakeSite(t, conf)
			c := newC()
			r := sc.login(t, s.Authorizer, c, "jdoe", "EXAMPLE", "pw-EXAMPLE", nil)
			if r.Status != 200 || r.Variables["REMOTE_USER"] != "jdoe" || r.Variables["AUTH_DOMAIN"] != "EXAMPLE" {
				t.Fatalf("%d %v %s", r.Status, r.Variables, r.Body)
			}
			if !s.dcs["EXAMPLE"].Accepted("jdoe", "EXAMPLE") {
				t.Error("a 200 the DC did not accept")
			}
			// NTLM authenticates the connection; Basic each request.
			next := c.do(s.Authorizer, "")
			if want := map[bool]int{true: 401, false: 200}[sc.name == "Basic"]; next.Status != want {
				t.Errorf("next request on the connection: %d, want %d", next.Status, want)
			}
			if n := s.dcs["EXAMPLE"].Open(); n != 0 {
				t.Errorf("%d handshakes left open at the DC", n)
			}
		})
		t.Run(sc.name+"/refused", func(t *testing.T) {
			s := newFakeSite(t, conf)
			c := newC()
			checkChallenged(t, sc.login(t, s.Authorizer, c, "jdoe", "EXAMPLE", "wrong", nil))
			if r := c.do(s.Authorizer, ""); r.Status != 401 {
				t.Errorf("after a refused login: %d", r.Status)
			}
		})
		t.Run(sc.name+"/DC failure", func(t *testing.T) {
			s := newFakeSite(t, conf)
			s.dcs["EXAMPLE"].Fault = func(st dctest.Step) error {
				if st == dctest.StepAuthenticate {
					return dctest.Unavailable()
				}
				return nil
			}
			r := sc.login(t, s.Authorizer, newC(), "jdoe", "EXAMPLE", "pw-EXAMPLE", nil)
			if r.Status != 503 || r.Header.Get("Retry-After") == "" {
				t.Fatalf("%d %v", r.Status, r.Header)
			}
		})
		t.Run(sc.name+"/anonymous", func(t *testing.T) {
			s := newFakeSite(t, conf)
			s.dcs["EXAMPLE"].NullSessions = true // the refusal must be the authorizer's
			if sc.type3 == nil {
				checkChallenged(t, sc.login(t, s.Authorizer, newC(), "", "", "pw", nil)) // ":pw"
			} else {
				for _, m := range anonymousType3s() {
					checkChallenged(t, sc.login(t, s.Authorizer, newC(), "", "", "", m))
				}
			}
			if l := s.dcs["EXAMPLE"].Logins(); len(l) != 0 {
				t.Errorf("DC logins %v", l)
			}
		})
		t.Run(sc.name+"/wrong domain", func(t *testing.T) {
			s := newFakeSite(t, conf)
			// The fake DC would accept jdoe in any domain, as Samba
			// does: the authorizer must refuse a domain it does not
			// serve before asking.
			checkChallenged(t, sc.login(t, s.Authorizer, newC(), "jdoe", "ELSEWHERE", "pw-EXAMPLE", nil))
			if l := s.dcs["EXAMPLE"].Logins(); len(l) != 0 {
				t.Errorf("DC logins %v", l)
			}
		})
		if sc.type3 != nil {
			t.Run(sc.name+"/replay", func(t *testing.T) {
				s := newFakeSite(t, conf)
				victim := newC()
				var type3 []byte
				sniff := func(t *testing.T, a *Authorizer, c *client) *fcgi.Response {
					ch := type2Of(t, c.do(a, ntlmHeader(browserType1(""))))
					type3 = answer(t, ch, "jdoe", "EXAMPLE", "pw-EXAMPLE")
					return c.do(a, ntlmHeader(&rawMsg{type3}))
				}
				if r := sniff(t, s.Authorizer, victim); r.Status != 200 {
					t.Fatalf("victim's login: %d", r.Status)
				}
				// On another connection, with or without a challenge of
				// its own: the Type3 answers the victim's challenge only.
				attacker := newC()
				checkChallenged(t, attacker.do(s.Authorizer, sc.type3(t, type3)))
				r := sc.login(t, s.Authorizer, attacker, "", "", "", type3)
				if r.Status == 200 {
					t.Fatal("a replayed Type3 logged in")
				}
				// On the victim's own connection, after the login.
				checkChallenged(t, victim.do(s.Authorizer, sc.type3(t, type3)))
				if n := len(s.dcs["EXAMPLE"].Logins()); n != 1 {
					t.Errorf("%d logins at the DC, want the victim's only", n)
				}
			})
		}
		t.Run(sc.name+"/binding", func(t *testing.T) {
			s := newFakeSite(t, conf)
			c := newC()
			if r := sc.login(t, s.Authorizer, c, "jdoe", "EXAMPLE", "pw-EXAMPLE", nil); r.Status != 200 {
				t.Fatalf("login: %d", r.Status)
			}
			// Another client comes to hold the same address and port,
			// without the browser's binding cookie.
			other := newClient(c.port)
			if r := other.do(s.Authorizer, ""); r.Status != 401 {
				t.Fatalf("another client on the login's connection: %d", r.Status)
			}
			// The login is forgotten, even for its own browser.
			if r := c.do(s.Authorizer, ""); r.Status != 401 {
				t.Errorf("after a refused binding: %d", r.Status)
			}
		})
	}
}

// rawMsg marshals to fixed bytes, for ntlmHeader.
type rawMsg struct{ b []byte }

func (m *rawMsg) Marshal() []byte { return m.b }
