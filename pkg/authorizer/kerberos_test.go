package authorizer

import (
	"context"
	"encoding/asn1"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/adgroup"
	"github.com/goauthenntlm/goauthenntlm/pkg/identity"
	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos"
	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos/krbtest"
	"github.com/goauthenntlm/goauthenntlm/pkg/spnego"
)

const krbConf = "[auth]\nschemes = [\"negotiate\", \"ntlm\"]\nserver_names = [\"www.example.test\"]\n"

// krbSite is a fake site whose Kerberos acceptor is real, with the key of
// krbtest's service account.
func krbSite(t testing.TB, opt Options) (*fakeSite, *krbtest.Ticket) {
	kt := krbtest.Keytab("HTTP/www.example.test", "EXAMPLE.TEST", 2)
	if opt.Kerberos == nil {
		opt.Kerberos = kerberos.New(kerberos.Options{
			Services:     []kerberos.Service{{Realm: "EXAMPLE.TEST", Principals: []string{"HTTP/www.example.test"}, Keytab: kt}},
			ClientRealms: []string{"example.test"},
		})
	}
	return newFakeSiteWith(t, krbConf, opt), &krbtest.Ticket{Keytab: kt}
}

func krbToken(t *testing.T, tk krbtest.Ticket, wrapped bool) string {
	t.Helper()
	b, err := krbtest.Token(tk)
	if err != nil {
		t.Fatal(err)
	}
	if wrapped {
		b, err = (&spnego.NegTokenInit{MechTypes: []asn1.ObjectIdentifier{kerberos.OIDKerberosMS, kerberos.OIDKerberos, spnego.OIDNTLM}, MechToken: b}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
	}
	return "Negotiate " + base64.StdEncoding.EncodeToString(b)
}

func TestKerberosLogin(t *testing.T) {
	for _, wrapped := range []bool{false, true} {
		s, tk := krbSite(t, Options{})
		c := newClient(41000)
		tk.Mutual = true
		r := c.do(s.Authorizer, krbToken(t, *tk, wrapped))
		if r.Status != 200 || r.Variables["REMOTE_USER"] != "jdoe" || r.Variables["AUTH_DOMAIN"] != "EXAMPLE" {
			t.Fatalf("spnego %v: %d %v %s", wrapped, r.Status, r.Variables, r.Body)
		}
		if len(s.dcs["EXAMPLE"].Logins()) != 0 {
			t.Errorf("a Kerberos login asked the DC: %v", s.dcs["EXAMPLE"].Logins())
		}
		h := strings.Join(r.Header[wwwAuthenticate], ",")
		tok, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Negotiate "))
		if !strings.HasPrefix(h, "Negotiate ") || err != nil {
			t.Fatalf("no AP-REP on the 200: %q", h)
		}
		if wrapped {
			st, err := spnego.Decode(tok)
			if err != nil || st.Resp == nil || st.Resp.NegState != spnego.StateAcceptCompleted || !kerberos.IsKerberosOID(st.Resp.SupportedMech) {
				t.Errorf("SPNEGO answer %+v %v", st, err)
			}
		} else if !kerberos.IsGSSKerberos(tok) {
			t.Errorf("raw answer is not a Kerberos token")
		}
		// The connection is remembered, as after an NTLM login.
		if r := c.do(s.Authorizer, ""); r.Status != 200 || r.Variables["REMOTE_USER"] != "jdoe" {
			t.Errorf("next request on the connection: %d", r.Status)
		}
	}
}

func TestKerberosRefusedThenNTLM(t *testing.T) {
	s, tk := krbSite(t, Options{})
	h := krbToken(t, *tk, true)
	if r := newClient(41001).do(s.Authorizer, h); r.Status != 200 {
		t.Fatalf("first use: %d", r.Status)
	}
	for name, h := range map[string]string{
		"replay":      h,
		"unserved":    krbToken(t, krbtest.Ticket{Keytab: tk.Keytab, ClientRealm: "OTHER.TEST"}, true),
		"garbage":     "Negotiate " + base64.StdEncoding.EncodeToString([]byte{0x60, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}),
		"other realm": krbToken(t, krbtest.Ticket{Keytab: krbtest.Keytab("HTTP/www.example.test", "OTHER.TEST", 2), Realm: "OTHER.TEST"}, false),
	} {
		c := newClient(41002)
		r := c.do(s.Authorizer, h)
		if r.Status != 401 || !strings.Contains(strings.Join(r.Header[challenge2], ","), "NTLM") {
			t.Fatalf("%s: %d %v", name, r.Status, r.Header)
		}
		// The browser falls back to NTLM on a new connection.
		c = newClient(41003)
		if r := c.ntlmLogin(t, s.Authorizer, "jdoe", "EXAMPLE", "pw-EXAMPLE"); r.Status != 200 {
			t.Fatalf("%s: NTLM after the refusal: %d", name, r.Status)
		}
	}
}

// One account flooding fresh authenticators is refused once the replay
// cache is under pressure (401 with the challenges, so it may still use
// NTLM), while another account still logs in by Kerberos.
func TestKerberosOneAccountFlooding(t *testing.T) {
	kt := krbtest.Keytab("HTTP/www.example.test", "EXAMPLE.TEST", 2)
	s, _ := krbSite(t, Options{Kerberos: kerberos.New(kerberos.Options{
		Services:     []kerberos.Service{{Realm: "EXAMPLE.TEST", Principals: []string{"HTTP/www.example.test"}, Keytab: kt}},
		ClientRealms: []string{"example.test"}, ReplaySlots: 64, // pressure at 48
	})})
	now := time.Now()
	for i := range 50 {
		want := 200
		if i >= 48 {
			want = 401
		}
		h := krbToken(t, krbtest.Ticket{Keytab: kt, Now: now.Add(time.Duration(i) * time.Millisecond)}, true)
		if r := newClient(41100+i).do(s.Authorizer, h); r.Status != want {
			t.Fatalf("jdoe's login %d: %d, want %d", i, r.Status, want)
		}
	}
	h := krbToken(t, krbtest.Ticket{Keytab: kt, Client: "alice", Now: now}, true)
	if r := newClient(41200).do(s.Authorizer, h); r.Status != 200 || r.Variables["REMOTE_USER"] != "alice" {
		t.Fatalf("alice while jdoe floods: %d %v", r.Status, r.Variables)
	}
}

// Without a keytab, a Kerberos token is answered with an NTLM challenge,
// as before.
func TestKerberosNotConfigured(t *testing.T) {
	s := newFakeSite(t, "[auth]\nschemes = [\"negotiate\", \"ntlm\"]\n")
	_, tk := krbSite(t, Options{})
	r := newClient(41004).do(s.Authorizer, krbToken(t, *tk, true))
	if r.Status != 401 || strings.Join(r.Header[wwwAuthenticate], ",") != "NTLM" {
		t.Fatalf("%d %v", r.Status, r.Header)
	}
}

// fakeAcceptor accepts any token as its login: the decision core without
// tickets.
type fakeAcceptor struct{ l *kerberos.Login }

func (f fakeAcceptor) Accept([]byte) (*kerberos.Login, error) { return f.l, nil }

// sidDir is fakeDir naming SIDs, and counting how often.
type sidDir struct {
	*fakeDir
	names      map[string]string // SID -> sAMAccountName
	sidCalls   int
	remembered []adgroup.Group
}

func (d *sidDir) GroupsBySID(ctx context.Context, domain string, sids []string) (map[string]adgroup.Group, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sidCalls++
	out := map[string]adgroup.Group{}
	for _, s := range sids {
		if n, ok := d.names[s]; ok {
			out[s] = adgroup.Group{SAM: n, DN: "CN=" + n}
		}
	}
	return out, true, nil
}

func (d *sidDir) Remember(user, domain string, groups []adgroup.Group) (*adgroup.Entry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.remembered = groups
	return &adgroup.Entry{User: user, Domain: domain, Groups: groups, Fetched: time.Now()}, nil
}

func TestKerberosGroupsFromPAC(t *testing.T) {
	const dom = "S-1-5-21-1-2-3"
	dir := &sidDir{fakeDir: newFakeDir(), names: map[string]string{dom + "-513": "Domain Users", dom + "-1105": "PowerUsers", "S-1-5-21-9-9-9-1200": "Resource Group"}}
	dir.groups[identity.Key("jdoe", "EXAMPLE")] = []string{"LDAP would say this"}
	login := &kerberos.Login{User: "JDoe", Realm: "EXAMPLE.TEST", SPN: "HTTP/www.example.test@EXAMPLE.TEST", EncType: 18,
		PAC: &kerberos.PAC{Account: "jdoe", Domain: "EXAMPLE", GroupSIDs: []string{dom + "-513", dom + "-1105", "S-1-18-1", "S-1-5-21-9-9-9-1200"}}}
	s := newFakeSiteWith(t, krbConf+"[groups]\nvariable = \"AD_GROUPS\"\n", Options{Groups: dir, Kerberos: fakeAcceptor{login}})
	_, tk := krbSite(t, Options{})
	for i := 0; i < 2; i++ {
		r := newClient(41010+i).do(s.Authorizer, krbToken(t, *tk, true))
		if r.Status != 200 || r.Variables["REMOTE_USER"] != "jdoe" {
			t.Fatalf("login %d: %d %v", i, r.Status, r.Variables)
		}
		if got := r.Variables["AD_GROUPS"]; got != "|Domain Users|PowerUsers|Resource Group|" {
			t.Errorf("login %d: AD_GROUPS %q", i, got)
		}
	}
	if dir.calls(&dir.sidCalls) != 1 || dir.calls(&dir.lookups) != 0 || dir.calls(&dir.accountCalls) != 0 {
		t.Errorf("directory asked: %d SID searches (want 1), %d lookups, %d account searches (want 0)", dir.sidCalls, dir.lookups, dir.accountCalls)
	}
	if len(dir.remembered) != 3 {
		t.Errorf("cache written with %v", dir.remembered)
	}
	ok, err := s.CheckGroups(context.Background(), "jdoe", "PowerUsers")
	if !ok || err != nil || dir.calls(&dir.lookups) != 0 {
		t.Errorf("group check from the PAC: %v %v, %d lookups", ok, err, dir.lookups)
	}
}

// A login with the same ticket (the same PAC from the ticket cache) finds
// the memberships it named still held; one with a new ticket whose PAC
// says otherwise must not: its groups replace them at once.
func TestKerberosNewTicketRenamesGroups(t *testing.T) {
	const dom = "S-1-5-21-1-2-3"
	dir := &sidDir{fakeDir: newFakeDir(), names: map[string]string{dom + "-513": "Domain Users", dom + "-1105": "PowerUsers"}}
	login := &kerberos.Login{User: "jdoe", Realm: "EXAMPLE.TEST", SPN: "HTTP/www.example.test@EXAMPLE.TEST", EncType: 18,
		PAC: &kerberos.PAC{Account: "jdoe", Domain: "EXAMPLE", GroupSIDs: []string{dom + "-513", dom + "-1105"}}}
	s := newFakeSiteWith(t, krbConf+"[groups]\nvariable = \"AD_GROUPS\"\n", Options{Groups: dir, Kerberos: fakeAcceptor{login}})
	_, tk := krbSite(t, Options{})
	for i, step := range []struct {
		pac  *kerberos.PAC // nil: the same ticket as before
		want string
	}{
		{nil, "|Domain Users|PowerUsers|"},
		{nil, "|Domain Users|PowerUsers|"},
		{&kerberos.PAC{Account: "jdoe", Domain: "EXAMPLE", GroupSIDs: []string{dom + "-513"}}, "|Domain Users|"},
		{nil, "|Domain Users|"},
		{&kerberos.PAC{Account: "jdoe", Domain: "EXAMPLE", GroupSIDs: []string{dom + "-1105", dom + "-513"}}, "|Domain Users|PowerUsers|"},
	} {
		if step.pac != nil {
			login.PAC = step.pac
		}
		r := newClient(41100+i).do(s.Authorizer, krbToken(t, *tk, true))
		if r.Status != 200 || r.Variables["AD_GROUPS"] != step.want {
			t.Fatalf("login %d: %d AD_GROUPS %q, want %q", i, r.Status, r.Variables["AD_GROUPS"], step.want)
		}
		if got := exportGroups(&adgroup.Entry{Groups: dir.remembered}); got != step.want {
			t.Fatalf("login %d: cache holds %q, want %q", i, got, step.want)
		}
	}
}

// FuzzKerberos runs arbitrary Negotiate tokens through the Kerberos path
// with a real acceptor: never a 500, every 200 is jdoe's (the only client
// the "KDC" issued tickets to), and no sealed authenticator is granted
// twice (a replay, or a mutation the replay cache does not recognise as
// the same use). The tokens differ between the fuzzer's processes (each
// session key is random), so what is tracked is per process.
func FuzzKerberos(f *testing.F) {
	s, tk := krbSite(f, Options{})
	for i, tkt := range []krbtest.Ticket{{}, {Mutual: true}, {OID: kerberos.OIDKerberosMS}} {
		tkt.Keytab = tk.Keytab
		tkt.Now = time.Now().Add(time.Duration(i) * time.Second)
		tok, err := krbtest.Token(tkt)
		if err != nil {
			f.Fatal(err)
		}
		wrapped, _ := kerberos.WrapSPNEGO(tok)
		f.Add(tok)
		f.Add(wrapped)
	}
	f.Add([]byte{0x60, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02})
	granted := map[string]bool{}
	port := 42000
	f.Fuzz(func(t *testing.T, tok []byte) {
		port = 42000 + (port+1)%20000
		p := params("Negotiate " + base64.StdEncoding.EncodeToString(tok))
		p["REMOTE_PORT"] = strconv.Itoa(port)
		r := serve(s.Authorizer, p)
		switch r.Status {
		case 200:
			inner, _, _ := kerberosToken(tok)
			auth := string(krbtest.Authenticator(inner))
			if auth == "" || granted[auth] || r.Variables["REMOTE_USER"] != "jdoe" {
				t.Fatalf("200 as %q (authenticator found %v, granted before %v): %x", r.Variables["REMOTE_USER"], auth != "", granted[auth], tok)
			}
			granted[auth] = true
		case 400, 401, 403, 503:
		default:
			t.Fatalf("status %d for %x", r.Status, tok)
		}
	})
}

// BenchmarkKerberosLogin is a whole Kerberos login through ServeFCGI: a
// fresh AP-REQ (AES256, SPNEGO, mutual authentication as browsers ask)
// checked with the keytab, the answer with REMOTE_USER and the AP-REP.
// The tokens are made before the timer starts (each is good once): each
// with a ticket of its own (new-ticket), or all with one ticket, as a
// browser sends them on its new connections (same-ticket). The goal is no
// DC round trip and under 100 µs of CPU per login.
func BenchmarkKerberosLogin(b *testing.B) {
	for _, same := range []bool{false, true} {
		name := "new-ticket"
		if same {
			name = "same-ticket"
		}
		b.Run(name, func(b *testing.B) {
			s, tk := krbSite(b, Options{})
			const n = 2000
			headers := make([]string, n)
			tkt := *tk
			tkt.Now, tkt.Mutual = time.Now(), true
			var toks [][]byte
			if same {
				var err error
				if toks, err = krbtest.Tokens(tkt, n); err != nil {
					b.Fatal(err)
				}
			}
			for i := range headers {
				if !same {
					t := tkt
					t.Now = tkt.Now.Add(time.Duration(i) * time.Microsecond)
					tok, err := krbtest.Token(t)
					if err != nil {
						b.Fatal(err)
					}
					toks = append(toks, tok)
				}
				w, _ := kerberos.WrapSPNEGO(toks[i])
				headers[i] = "Negotiate " + base64.StdEncoding.EncodeToString(w)
			}
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				if i == n {
					b.StopTimer()
					s, _ = krbSite(b, Options{Kerberos: kerberos.New(kerberos.Options{
						Services:     []kerberos.Service{{Principals: []string{"HTTP/www.example.test"}, Keytab: tk.Keytab}},
						ClientRealms: []string{"example.test"},
					})})
					i = 0
					b.StartTimer()
				}
				p := params(headers[i])
				p["REMOTE_PORT"] = strconv.Itoa(10000 + i)
				if r := serve(s.Authorizer, p); r.Status != 200 {
					b.Fatal(r.Status, string(r.Body))
				}
				i++
			}
		})
	}
}

func TestKerberosWarnOncePerMinute(t *testing.T) {
	var w warnLimiter
	now := time.Now()
	for _, step := range []struct {
		c     kerberos.Cause
		after time.Duration
		want  bool
	}{
		{kerberos.CauseNoKey, 0, true},
		{kerberos.CauseNoKey, time.Second, false},
		{kerberos.CauseSkew, time.Second, true},
		{kerberos.CauseNoKey, 59 * time.Second, false},
		{kerberos.CauseNoKey, 61 * time.Second, true},
	} {
		if got := w.due(string(step.c), now.Add(step.after)); got != step.want {
			t.Errorf("%s after %s: %v, want %v", step.c, step.after, got, step.want)
		}
	}
}
