package authorizer

import (
	"context"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/adgroup"
	"github.com/goauthenntlm/goauthenntlm/pkg/conntable"
	"github.com/goauthenntlm/goauthenntlm/pkg/dc/dctest"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
	"github.com/goauthenntlm/goauthenntlm/pkg/identity"
	"github.com/goauthenntlm/goauthenntlm/pkg/spnego"
)

// fakeDir is a directory: GroupSource and AccountSource over maps.
type fakeDir struct {
	mu       sync.Mutex
	groups   map[string][]string // by identity.Key
	accounts map[string]string   // lower-case typed name -> sAMAccountName
	err      error               // what Lookup, Account and Trusts fail with
	trusts   []adgroup.Trust
	stale    bool // Lookup serves its answer as stale

	lookups, accountCalls, trustCalls int
}

// calls reads a call counter under the lock: logins start group lookups
// in the background.
func (f *fakeDir) calls(n *int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *n
}

// setErr makes the directory fail with err, under the lock: logins leave
// group lookups running in the background that read it.
func (f *fakeDir) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func newFakeDir() *fakeDir {
	return &fakeDir{
		groups:   map[string][]string{identity.Key("jdoe", "EXAMPLE"): {"WebUsers", "Domain Users"}},
		accounts: map[string]string{"jdoe": "jdoe", "jdoe@example.test": "jdoe"},
	}
}

func (f *fakeDir) Lookup(ctx context.Context, user, domain string) (*adgroup.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if f.err != nil {
		return nil, f.err
	}
	e := &adgroup.Entry{User: user, Domain: domain, Fetched: time.Now()}
	names, ok := f.groups[identity.Key(user, domain)]
	e.Unknown = !ok
	for _, n := range names {
		e.Groups = append(e.Groups, adgroup.Group{SAM: n})
	}
	if f.stale {
		return e, &adgroup.StaleError{Fetched: e.Fetched, Err: errors.New("LDAP down")}
	}
	return e, nil
}

func (f *fakeDir) Expires(e *adgroup.Entry) time.Time { return e.Fetched.Add(time.Minute) }
func (f *fakeDir) Close() error                       { return nil }

func (f *fakeDir) Account(ctx context.Context, name string, upn bool, domain string) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accountCalls++
	if f.err != nil {
		return "", true, f.err
	}
	sam, ok := f.accounts[strings.ToLower(name)]
	if !ok {
		return "", true, adgroup.ErrNoSuchUser
	}
	return sam, true, nil
}

func (f *fakeDir) Trusts(ctx context.Context, domain string) ([]adgroup.Trust, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.trustCalls++
	if f.err != nil {
		return nil, true, f.err
	}
	return f.trusts, true, nil
}

func authzParams(remote, required string) map[string]string {
	p := params("")
	p["FCGI_APACHE_ROLE"] = "AUTHORIZER"
	p["REMOTE_USER"], p["REQUIRED_GROUPS"] = remote, required
	return p
}

// With a directory, REMOTE_USER is the account's own name, the groups go
// out with the login, and the authz role answers from them.
func TestGroupsAndAccounts(t *testing.T) {
	dir := newFakeDir()
	s := newFakeSiteWith(t, "[groups]\nvariable = \"AD_GROUPS\"\n", Options{Groups: dir})
	s.dcs["EXAMPLE"].SetPassword("JDoe", "pw-EXAMPLE")
	c := newClient(42000)
	r := c.ntlmLogin(t, s.Authorizer, "JDOE", "example", "pw-EXAMPLE")
	if r.Status != 200 || r.Variables["REMOTE_USER"] != "jdoe" || r.Variables["AD_GROUPS"] != "|WebUsers|Domain Users|" {
		t.Fatalf("login: %d %v", r.Status, r.Variables)
	}
	if r := c.do(s.Authorizer, ""); r.Variables["AD_GROUPS"] != "|WebUsers|Domain Users|" {
		t.Errorf("next request: %v", r.Variables)
	}

	for _, tt := range []struct {
		name, remote, required, authDomain string
		status                             int
	}{
		{"member", "jdoe", "WebUsers", "", 200},
		{"member, logon form", `EXAMPLE\jdoe`, `"Admins" "WebUsers"`, "", 200},
		{"a list is quoted", "jdoe", "Admins, WebUsers", "", 403},
		{"member, AUTH_DOMAIN", "jdoe", "webusers", "example", 200},
		{"not a member", "jdoe", "Admins", "", 403},
		{"unknown user", "nobody", "WebUsers", "", 403},
		{"domain not served", `ELSEWHERE\jdoe`, "WebUsers", "", 403},
		{"AUTH_DOMAIN not served", "jdoe", "WebUsers", "ELSEWHERE", 403},
		{"no user", "", "WebUsers", "", 403},
		{"no required groups", "jdoe", "  ", "", 500},
	} {
		p := authzParams(tt.remote, tt.required)
		if tt.authDomain != "" {
			p["AUTH_DOMAIN"] = tt.authDomain
		}
		if r := serve(s.Authorizer, p); r.Status != tt.status {
			t.Errorf("%s: %d, want %d", tt.name, r.Status, tt.status)
		}
	}

	// The directory knows no such account: the DC's yes is not enough.
	s.dcs["EXAMPLE"].SetPassword("ghost", "pw")
	if r := newClient(42001).ntlmLogin(t, s.Authorizer, "ghost", "EXAMPLE", "pw"); r.Status != 403 {
		t.Errorf("login the directory cannot name: %d, want 403", r.Status)
	}
	// The directory is down: no login under a name it did not confirm,
	// and no group answer.
	dir.setErr(errors.New("LDAP down"))
	s.dcs["EXAMPLE"].SetPassword("newcomer", "pw")
	if r := newClient(42002).ntlmLogin(t, s.Authorizer, "newcomer", "EXAMPLE", "pw"); r.Status != 503 {
		t.Errorf("login while the directory is down: %d, want 503", r.Status)
	}
	if r := serve(s.Authorizer, authzParams("someone", "WebUsers")); r.Status != 403 {
		t.Errorf("group check while the directory is down: %d, want 403", r.Status)
	}
	// A name it confirmed lately is still known.
	if r := newClient(42003).ntlmLogin(t, s.Authorizer, "jdoe", "EXAMPLE", "pw-EXAMPLE"); r.Status != 200 || r.Variables["REMOTE_USER"] != "jdoe" {
		t.Errorf("recent user while the directory is down: %d %v", r.Status, r.Variables)
	}
}

func TestStaleGroupsServed(t *testing.T) {
	dir := newFakeDir()
	dir.stale = true
	s := newFakeSiteWith(t, "", Options{Groups: dir})
	if r := serve(s.Authorizer, authzParams("jdoe", "WebUsers")); r.Status != 200 {
		t.Errorf("stale memberships within the grace: %d, want 200", r.Status)
	}
}

func TestNoGroupsConfigured(t *testing.T) {
	s := newFakeSite(t, "")
	if r := serve(s.Authorizer, authzParams("jdoe", "WebUsers")); r.Status != 500 {
		t.Errorf("%d, want 500", r.Status)
	}
}

// The login cookie logs a browser's new connection in without a
// handshake; a forged or altered one does not.
func TestLoginCookie(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "cookie.key")
	if err := os.WriteFile(secret, []byte(strings.Repeat("k", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newFakeSite(t, "[cookie]\nenabled = true\nsecret_files = [\""+secret+"\"]\n")
	c := newClient(43000)
	if r := c.ntlmLogin(t, s.Authorizer, "jdoe", "EXAMPLE", "pw-EXAMPLE"); r.Status != 200 {
		t.Fatalf("login: %d", r.Status)
	}
	if len(c.cookies) < 2 {
		t.Fatalf("cookies after login: %v", c.cookies)
	}
	next := &client{port: 43001, cookies: c.cookies}
	if r := next.do(s.Authorizer, ""); r.Status != 200 || r.Variables["REMOTE_USER"] != "jdoe" {
		t.Fatalf("new connection with the cookie: %d %v", r.Status, r.Variables)
	}
	forged := newClient(43002)
	for k, v := range c.cookies {
		forged.cookies[k] = strings.Replace(v, "A", "B", 1) + "x"
	}
	if r := forged.do(s.Authorizer, ""); r.Status != 401 {
		t.Errorf("altered cookie: %d, want 401", r.Status)
	}
	if n := len(s.dcs["EXAMPLE"].Logins()); n != 1 {
		t.Errorf("%d logins at the DC, want 1", n)
	}
}

// A Type3 for another domain than the DCs that challenged it makes the
// client start over, and its browser's hint cookie sends it to that
// domain's DCs.
func TestOtherDomainsDCs(t *testing.T) {
	s := newFakeSite(t, "ntlm_debug = 2\n[auth]\nname_format = \"logon\"\n", "EXAMPLE", "OTHER")
	c := newClient(44000)
	if r := c.ntlmLogin(t, s.Authorizer, "jdoe", "OTHER", "pw-OTHER"); r.Status != 401 {
		t.Fatalf("Type3 for OTHER on EXAMPLE's challenge: %d, want 401", r.Status)
	}
	if c.cookies[hintCookie] != "OTHER" {
		t.Fatalf("start-over cookies: %v", c.cookies)
	}
	// The browser's next handshake, on a new connection, goes to OTHER's DCs.
	c.port = 44001
	r := c.ntlmLogin(t, s.Authorizer, "jdoe", "OTHER", "pw-OTHER")
	if r.Status != 200 || r.Variables["AUTH_DOMAIN"] != "OTHER" {
		t.Fatalf("second try: %d %v", r.Status, r.Variables)
	}
	if !s.dcs["OTHER"].Accepted("jdoe", "OTHER") || len(s.dcs["EXAMPLE"].Logins()) != 0 {
		t.Errorf("logins: EXAMPLE %v, OTHER %v", s.dcs["EXAMPLE"].Logins(), s.dcs["OTHER"].Logins())
	}
	// Without a hint, a Type1 naming its domain goes there at once.
	ch := type2Of(t, newClient(44002).do(s.Authorizer, ntlmHeader(browserType1("OTHER"))))
	if ch.TargetName != "OTHER" {
		t.Errorf("Type1 for OTHER challenged by %q", ch.TargetName)
	}
	// The hint beats the Type1's domain (the machine's): an OTHER user on
	// an EXAMPLE machine starts over once, not at every login.
	hinted := &client{port: 44003, cookies: map[string]string{hintCookie: "OTHER"}}
	if ch := type2Of(t, hinted.do(s.Authorizer, ntlmHeader(browserType1("EXAMPLE")))); ch.TargetName != "OTHER" {
		t.Errorf("Type1 for EXAMPLE with the OTHER hint challenged by %q", ch.TargetName)
	}
	// When the hinted domain's DCs are down, the client is told (503)
	// and its browser's next Type1 goes the default way again.
	s.dcs["OTHER"].Fault = func(dctest.Step) error { return dctest.Unavailable() }
	c.port = 44004
	if r := c.do(s.Authorizer, ntlmHeader(browserType1(""))); r.Status != 503 {
		t.Errorf("hinted DCs down: %d, want 503", r.Status)
	}
	if v, ok := c.cookies[hintCookie]; ok {
		t.Errorf("hint cookie after its DCs failed: %q", v)
	}
	c.port = 44005
	if ch := type2Of(t, c.do(s.Authorizer, ntlmHeader(browserType1("")))); ch.TargetName != "EXAMPLE" {
		t.Errorf("after the hinted DCs failed, challenged by %q", ch.TargetName)
	}
}

// The domain hint is the browser's, not its address's: another client at
// the same address (the red team's attack, or two domains' users behind
// one NAT) cannot make a login start over, and a forged hint only ever
// picks among the served domains' DCs, never the label.
func TestDomainHintPerBrowser(t *testing.T) {
	s := newFakeSite(t, "[auth]\nname_format = \"logon\"\n", "EXAMPLE", "OTHER")
	attacker := newClient(44100)
	if r := attacker.ntlmLogin(t, s.Authorizer, "nobody", "OTHER", "nopassword"); r.Status != 401 {
		t.Fatalf("attacker's Type3 for OTHER: %d, want 401", r.Status)
	}
	if r := newClient(44101).ntlmLogin(t, s.Authorizer, "jdoe", "EXAMPLE", "pw-EXAMPLE"); r.Status != 200 || r.Variables["REMOTE_USER"] != `EXAMPLE\jdoe` {
		t.Fatalf("jdoe at the attacker's address: %d %v, want 200 at once", r.Status, r.Variables)
	}

	tests := []struct {
		name, hint string
		want       string // the challenging domain
	}{
		{"no hint", "", "EXAMPLE"},
		{"served domain", "OTHER", "OTHER"},
		{"served domain, other case", "other", "OTHER"},
		{"escaped", "%4FTHER", "OTHER"},
		{"unserved domain", "FAR", "EXAMPLE"},
		{"bad escape", "%ZZ", "EXAMPLE"},
		{"quoted", `"OTHER"`, "OTHER"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &client{port: 44200 + i, cookies: map[string]string{}}
			if tt.hint != "" {
				c.cookies[hintCookie] = tt.hint
			}
			if ch := type2Of(t, c.do(s.Authorizer, ntlmHeader(browserType1("")))); ch.TargetName != tt.want {
				t.Errorf("hint %q: challenged by %q, want %q", tt.hint, ch.TargetName, tt.want)
			}
		})
	}

	// A forged hint for OTHER does not change who EXAMPLE's jdoe is: the
	// login starts over at EXAMPLE's DCs, labelled by what they checked.
	// On HTTPS the hint is __Host-NTLM_DOMAIN.
	forged := &client{port: 44300, cookies: map[string]string{hostPrefix + hintCookie: "OTHER"}, https: true}
	r := forged.ntlmLogin(t, s.Authorizer, "jdoe", "EXAMPLE", "pw-EXAMPLE")
	if r.Status != 401 || forged.cookies[hostPrefix+hintCookie] != "EXAMPLE" {
		t.Fatalf("EXAMPLE login on the forged hint's challenge: %d %v", r.Status, forged.cookies)
	}
	set := strings.Join(r.Header.Values("Set-Cookie"), "\n")
	for _, attr := range []string{"Path=/", "HttpOnly", "SameSite=Lax", "Secure", "Max-Age="} {
		if !strings.Contains(set, attr) {
			t.Errorf("hint cookie %q lacks %s", set, attr)
		}
	}
	forged.port = 44301
	r = forged.ntlmLogin(t, s.Authorizer, "jdoe", "EXAMPLE", "pw-EXAMPLE")
	if r.Status != 200 || r.Variables["REMOTE_USER"] != `EXAMPLE\jdoe` || r.Variables["AUTH_DOMAIN"] != "EXAMPLE" {
		t.Fatalf("after the start-over: %d %v", r.Status, r.Variables)
	}
	if n := len(s.dcs["OTHER"].Logins()); n != 0 {
		t.Errorf("%d logins at OTHER's DC, want 0", n)
	}
}

func TestSPNEGOEdges(t *testing.T) {
	s := newFakeSite(t, "[auth]\nschemes = [\"negotiate\"]\n")
	krb := asn1.ObjectIdentifier{1, 2, 840, 113554, 1, 2, 2}
	tok := func(t *testing.T, m interface{ Marshal() ([]byte, error) }) string {
		b, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return "Negotiate " + base64.StdEncoding.EncodeToString(b)
	}
	// Kerberos first: ask for NTLM alone, twice (logged once).
	for range 2 {
		r := newClient(45000).do(s.Authorizer, tok(t, &spnego.NegTokenInit{MechTypes: []asn1.ObjectIdentifier{krb, spnego.OIDNTLM}, MechToken: []byte("krb")}))
		if r.Status != 401 || strings.Join(r.Header[wwwAuthenticate], ",") != "NTLM" {
			t.Errorf("Kerberos offer: %d %v", r.Status, r.Header)
		}
	}
	if r := newClient(45001).do(s.Authorizer, tok(t, &spnego.NegTokenResp{NegState: spnego.StateAbsent})); r.Status != 400 {
		t.Errorf("NegTokenResp without a token: %d, want 400", r.Status)
	}
	if r := newClient(45002).do(s.Authorizer, "Negotiate "+base64.StdEncoding.EncodeToString([]byte{0x60, 1, 2})); r.Status != 400 {
		t.Errorf("broken SPNEGO: %d, want 400", r.Status)
	}
	// A scheme that is not offered gets the offered ones.
	if r := newClient(45003).do(s.Authorizer, "Basic "+base64.StdEncoding.EncodeToString([]byte("jdoe:pw"))); r.Status != 401 {
		t.Errorf("Basic not offered: %d", r.Status)
	}
}

func TestBasicLatin1(t *testing.T) {
	s := newFakeSite(t, "[auth]\nschemes = [\"basic\"]\nallow_basic_over_http = true\n")
	s.dcs["EXAMPLE"].SetPassword("jdoe", "pwé")
	// A browser that ignores charset="UTF-8" sends ISO-8859-1.
	r := newClient(46000).do(s.Authorizer, "Basic "+base64.StdEncoding.EncodeToString([]byte("jdoe:pw\xe9")))
	if r.Status != 200 {
		t.Errorf("ISO-8859-1 password: %d", r.Status)
	}
	if r := newClient(46001).do(s.Authorizer, "NTLM "+base64.StdEncoding.EncodeToString(browserType1("").Marshal())); r.Status != 401 || r.Header.Get("Connection") != "close" {
		t.Errorf("NTLM not offered: %d %v", r.Status, r.Header)
	}
}

// Run sweeps until its context ends; Table hands the table on.
func TestRunAndTable(t *testing.T) {
	s := newFakeSite(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	cancel()
	<-done
	if s.Table() != s.table {
		t.Error("Table")
	}
	var _ *fcgi.Response
}

// obsRecorder is an Observer that keeps what it was told.
type obsRecorder struct {
	mu       sync.Mutex
	logins   []Outcome
	answered map[int]int
	reused   []Via
	cached   []bool
	lookups  []LookupResult
}

func (o *obsRecorder) Login(x Outcome) { o.mu.Lock(); o.logins = append(o.logins, x); o.mu.Unlock() }
func (o *obsRecorder) Answered(s int) {
	o.mu.Lock()
	if o.answered == nil {
		o.answered = map[int]int{}
	}
	o.answered[s]++
	o.mu.Unlock()
}
func (o *obsRecorder) Reused(v Via) { o.mu.Lock(); o.reused = append(o.reused, v); o.mu.Unlock() }
func (o *obsRecorder) GroupsCached(hit bool) {
	o.mu.Lock()
	o.cached = append(o.cached, hit)
	o.mu.Unlock()
}
func (o *obsRecorder) GroupLookup(r LookupResult) {
	o.mu.Lock()
	o.lookups = append(o.lookups, r)
	o.mu.Unlock()
}

// The Observer hears each login's outcome, each answer and each reuse.
func TestObserver(t *testing.T) {
	obs := &obsRecorder{}
	s := newFakeSiteWith(t, "[groups]\nvariable = \"AD_GROUPS\"\n", Options{Observer: obs, Groups: newFakeDir()})
	c := newClient(47000)
	if r := c.ntlmLogin(t, s.Authorizer, "jdoe", "EXAMPLE", "wrong"); r.Status != 401 {
		t.Fatalf("wrong password: %d", r.Status)
	}
	c = newClient(47001)
	if r := c.ntlmLogin(t, s.Authorizer, "jdoe", "EXAMPLE", "pw-EXAMPLE"); r.Status != 200 {
		t.Fatalf("login: %d", r.Status)
	}
	c.do(s.Authorizer, "")
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.logins) != 2 || obs.logins[0].Result != ResultRefused || obs.logins[1].Result != ResultOK ||
		obs.logins[1].User != "jdoe" || obs.logins[1].Scheme != conntable.SchemeNTLM {
		t.Errorf("logins %+v", obs.logins)
	}
	if obs.answered[200] != 2 || obs.answered[401] < 3 {
		t.Errorf("answered %v", obs.answered)
	}
	if len(obs.reused) != 1 || obs.reused[0] != ViaConnection {
		t.Errorf("reused %v", obs.reused)
	}
	if len(obs.lookups) == 0 || obs.lookups[0] != LookupOK {
		t.Errorf("group lookups %v", obs.lookups)
	}
	for r, want := range map[Result]string{ResultOK: "ok", ResultRefused: "refused", ResultNotAllowed: "not_allowed", ResultDCFailure: "dc_failure"} {
		if r.String() != want {
			t.Errorf("%d: %q", r, r.String())
		}
	}
	// DCStats lists each domain; a fake reports no DC state.
	if st := s.DCStats(); len(st) != 1 || st[0].Domain != "EXAMPLE" {
		t.Errorf("DCStats %+v", st)
	}
}

// CheckGroups answers ntlm-group-check's questions the cache could not.
func TestCheckGroups(t *testing.T) {
	s := newFakeSiteWith(t, "", Options{Groups: newFakeDir()})
	for _, tt := range []struct {
		user, line string
		member, ok bool
	}{
		{"jdoe", "WebUsers", true, true},
		{`EXAMPLE\jdoe`, `"Admins" "Domain Users"`, true, true},
		{"jdoe", "Admins", false, true},
		{"jdoe", "", false, false},
		{"", "WebUsers", false, false},
		{`ELSEWHERE\jdoe`, "WebUsers", false, false},
	} {
		member, err := s.CheckGroups(context.Background(), tt.user, tt.line)
		if member != tt.member || (err == nil) != tt.ok {
			t.Errorf("%q in %q: %v %v", tt.user, tt.line, member, err)
		}
	}
	if _, err := newFakeSite(t, "").CheckGroups(context.Background(), "jdoe", "WebUsers"); err == nil {
		t.Error("CheckGroups without groups configured")
	}
}

func TestHelperUIDs(t *testing.T) {
	uids, err := HelperUIDs([]string{"1234", "root"})
	if err != nil || !uids[0] || !uids[1234] || !uids[uint32(os.Geteuid())] {
		t.Errorf("%v %v", uids, err)
	}
	if _, err := HelperUIDs([]string{"no-such-user-here"}); err == nil {
		t.Error("unknown user accepted")
	}
}
