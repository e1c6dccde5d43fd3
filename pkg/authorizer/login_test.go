package authorizer

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/dc"
	"github.com/goauthenntlm/goauthenntlm/pkg/dc/dctest"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
)

// fakeSite is an Authorizer whose domains' DCs are dctest fakes: the whole
// login decision runs without a DC.
type fakeSite struct {
	*Authorizer
	dcs map[string]*dctest.DC // by NetBIOS domain name
}

// newFakeSite builds an Authorizer for conf (TOML before the [[domain]]
// tables) serving domains, each with its own fake DC that knows jdoe with
// password "pw-" + domain.
func newFakeSite(t testing.TB, conf string, domains ...string) *fakeSite {
	t.Helper()
	return newFakeSiteWith(t, conf, Options{}, domains...)
}

// newFakeSiteWith is newFakeSite with options (a fake group source, say);
// the relays and the logger are the test's.
func newFakeSiteWith(t testing.TB, conf string, opt Options, domains ...string) *fakeSite {
	t.Helper()
	return newFakeSiteDomains(t, conf, "", opt, domains...)
}

// newFakeSiteDomains is newFakeSiteWith with domainConf added to each
// [[domain]] table.
func newFakeSiteDomains(t testing.TB, conf, domainConf string, opt Options, domains ...string) *fakeSite {
	t.Helper()
	if len(domains) == 0 {
		domains = []string{"EXAMPLE"}
	}
	s := &fakeSite{dcs: map[string]*dctest.DC{}}
	byAddr := map[string]*dctest.DC{}
	for i, name := range domains {
		d := dctest.New(name)
		d.SetPassword("jdoe", "pw-"+name)
		s.dcs[name] = d
		addr := fmt.Sprintf("127.0.0.1:%d", i+1)
		byAddr[addr] = d
		conf += fmt.Sprintf("\n[[domain]]\nname = %q\ndns_name = %q\ndcs = [%q]\n", name, d.DNSDomain, addr) + domainConf
		if opt.Groups != nil {
			// The directory is the fake one; the settings only say there is one.
			conf += "ldap_urls = [\"ldaps://" + addr + "\"]\nldap_base_dn = \"DC=x\"\nldap_bind_user = \"u\"\nldap_bind_password_file = \"p\"\n"
		}
	}
	cfg, err := config.Parse("test.toml", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	opt.Logger = slog.New(slog.DiscardHandler)
	opt.NewRelay = func(c dc.Config) (dc.Relay, error) {
		d, ok := byAddr[strings.Join(c.Addrs, ",")]
		if !ok {
			return nil, fmt.Errorf("no fake DC for %v", c.Addrs)
		}
		return d, nil
	}
	a, err := New(cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	s.Authorizer = a
	return s
}

// client is a browser on one connection: it keeps the connection's port
// and its cookies.
type client struct {
	port    int
	cookies map[string]string
	https   bool
	// planted are name=value pairs another host put in the jar (a Domain
	// cookie of the parent domain, or one with a longer Path): the
	// browser sends them before the host's own.
	planted []string
	// extraAV are AV pairs the client adds to its NTLMv2 blob, as an
	// Extended Protection client adds its binding and target name.
	extraAV ntlmmsg.AVPairs
	// noMIC: a client whose extraAV carry a binding flags a MIC
	// (MsvAvFlags 0x2) before them, as Windows, Chromium and
	// requests-ntlm do, unless noMIC (a client such as curl, which copies
	// the challenge's TargetInfo and sends no MIC: its binding may be an
	// attacker's).
	noMIC bool
	// env are variables Apache adds to each request (the certificate,
	// a location's CHANNEL_BINDING).
	env map[string]string
}

// answer is the client's Type3 to ch, with its extraAV.
func (c *client) answer(t testing.TB, ch *ntlmmsg.Challenge, user, domain, password string) []byte {
	t.Helper()
	if len(c.extraAV) > 0 {
		av, err := ch.AVPairs()
		if err != nil {
			t.Fatal(err)
		}
		cp := *ch
		if _, bound := c.extraAV.Get(ntlmmsg.MsvAvChannelBindings); bound && !c.noMIC {
			av = append(av, ntlmmsg.AVPair{ID: ntlmmsg.MsvAvFlags, Value: []byte{2, 0, 0, 0}})
		}
		cp.TargetInfo = append(av, c.extraAV...).Marshal()
		ch = &cp
	}
	return answer(t, ch, user, domain, password)
}

func newClient(port int) *client { return &client{port: port, cookies: map[string]string{}} }

func (c *client) params(auth string) map[string]string {
	p := params(auth)
	p["REMOTE_PORT"] = fmt.Sprint(c.port)
	cs := slices.Clone(c.planted)
	for k, v := range c.cookies {
		cs = append(cs, k+"="+v)
	}
	if len(cs) > 0 {
		p["HTTP_COOKIE"] = strings.Join(cs, "; ")
	}
	if c.https {
		// What Apache passes at authentication: REQUEST_SCHEME, not
		// HTTPS=on (mod_ssl sets that later, in fixups).
		p["REQUEST_SCHEME"], p["SERVER_NAME"] = "https", "www.example.test"
	}
	for k, v := range c.env {
		p[k] = v
	}
	return p
}

// do sends one request and keeps the cookies the answer sets.
func (c *client) do(a *Authorizer, auth string) *fcgi.Response {
	r := a.ServeFCGI(context.Background(), &fcgi.Request{ID: 1, Role: fcgi.RoleAuthorizer, Params: c.params(auth)})
	for _, h := range r.Header.Values("Set-Cookie") {
		kv, _, _ := strings.Cut(h, ";")
		if k, v, ok := strings.Cut(kv, "="); ok {
			c.cookies[k] = v
			if v == "" || strings.Contains(h, "Max-Age=0") {
				delete(c.cookies, k) // removed
			}
		}
	}
	return r
}

// type2Of takes the DC's challenge out of a 401.
func type2Of(t testing.TB, r *fcgi.Response) *ntlmmsg.Challenge {
	t.Helper()
	h := strings.Join(r.Header[wwwAuthenticate], ", ")
	_, tok, ok := strings.Cut(h, " ")
	if r.Status != 401 || !ok {
		t.Fatalf("want a 401 with a challenge, got %d %q", r.Status, h)
	}
	b, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := ntlmmsg.ParseChallenge(b)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func browserType1(domain string) *ntlmmsg.Negotiate {
	n := &ntlmmsg.Negotiate{Flags: ntlmmsg.NegotiateUnicode | ntlmmsg.NegotiateNTLM | ntlmmsg.RequestTarget |
		ntlmmsg.ExtendedSessionSecurity | ntlmmsg.AlwaysSign | ntlmmsg.Negotiate128}
	if domain != "" {
		n.Flags |= ntlmmsg.OEMDomainSupplied
		n.Domain = domain
	}
	return n
}

// ntlmLogin runs an NTLM handshake on c's connection; it returns the
// answer to the Type3.
func (c *client) ntlmLogin(t testing.TB, a *Authorizer, user, domain, password string) *fcgi.Response {
	t.Helper()
	ch := type2Of(t, c.do(a, ntlmHeader(browserType1(""))))
	auth, _, err := ntlmmsg.NewAuthenticateV2(ch, user, domain, password, "WS", [8]byte{7}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c.do(a, ntlmHeader(auth))
}

func TestNTLMLoginThroughFakeDC(t *testing.T) {
	s := newFakeSite(t, "")
	c := newClient(40000)
	r := c.ntlmLogin(t, s.Authorizer, "jdoe", "EXAMPLE", "pw-EXAMPLE")
	if r.Status != 200 || r.Variables["REMOTE_USER"] != "jdoe" || r.Variables["AUTH_DOMAIN"] != "EXAMPLE" {
		t.Fatalf("login: %d %v %s", r.Status, r.Variables, r.Body)
	}
	if r := c.do(s.Authorizer, ""); r.Status != 200 {
		t.Errorf("next request on the connection: %d", r.Status)
	}
	if !s.dcs["EXAMPLE"].Accepted("jdoe", "EXAMPLE") || s.dcs["EXAMPLE"].Open() != 0 {
		t.Errorf("DC: logins %v, %d open", s.dcs["EXAMPLE"].Logins(), s.dcs["EXAMPLE"].Open())
	}
}
