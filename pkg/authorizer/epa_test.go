package authorizer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/dc/dctest"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
)

// siteCert makes a certificate for www.example.test, as PEM text, and the
// binding a client that saw it computes.
func siteCert(t testing.TB, curve elliptic.Curve, alg x509.SignatureAlgorithm) (string, ntlmmsg.ChannelBindings) {
	t.Helper()
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "www.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"www.example.test"}, SignatureAlgorithm: alg}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	cb, err := ntlmmsg.TLSChannelBindings(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), cb
}

// epaObserver records Extended Protection refusals.
type epaObserver struct {
	nopObserver
	mu     sync.Mutex
	causes []EPACause
}

func (o *epaObserver) EPARefused(c EPACause) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.causes = append(o.causes, c)
}

func (o *epaObserver) take() []EPACause {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.causes
	o.causes = nil
	return c
}

// epaSite is a fake site under channel_binding mode whose DC counts the
// Type3s relayed to it.
func epaSite(t *testing.T, conf string) (*fakeSite, *epaObserver, *int) {
	obs := &epaObserver{}
	s := newFakeSiteWith(t, conf, Options{Observer: obs})
	var mu sync.Mutex
	relayed := new(int)
	s.dcs["EXAMPLE"].Fault = func(st dctest.Step) error {
		if st == dctest.StepAuthenticate {
			mu.Lock()
			*relayed++
			mu.Unlock()
		}
		return nil
	}
	return s, obs, relayed
}

func cbAV(cb []byte) ntlmmsg.AVPair {
	return ntlmmsg.AVPair{ID: ntlmmsg.MsvAvChannelBindings, Value: cb}
}

func targetAV(name string) ntlmmsg.AVPair {
	return ntlmmsg.AVPair{ID: ntlmmsg.MsvAvTargetName, Value: utf16Bytes(name)}
}

// TestChannelBindingDecisions is Extended Protection's decision table:
// channel_binding off / when-sent / required, against a Type3 without a
// binding, with zeros (what Chromium sends over plain HTTP), with the
// site certificate's, and with another certificate's (a login relayed
// from another TLS server), over plain HTTP and HTTPS; for NTLM and for
// NTLM inside SPNEGO. A refused Type3 never reaches the DC.
func TestChannelBindingDecisions(t *testing.T) {
	sitePEM, right := siteCert(t, elliptic.P256(), x509.ECDSAWithSHA256)
	_, wrong := siteCert(t, elliptic.P256(), x509.ECDSAWithSHA256)
	bindings := []struct {
		name  string
		av    ntlmmsg.AVPairs
		noMIC bool
	}{
		{"none", nil, false},
		{"zeros", ntlmmsg.AVPairs{cbAV(make([]byte, 16))}, false},
		{"right", ntlmmsg.AVPairs{cbAV(right[:])}, false},
		// The site's binding from a client that flags no MIC: curl's
		// blob copies the challenge's TargetInfo, to which a relaying
		// attacker added this site's binding (test/e2e
		// TestEPARelayedCurlWithInjectedBinding).
		{"right without MIC", ntlmmsg.AVPairs{cbAV(right[:])}, true},
		{"wrong", ntlmmsg.AVPairs{cbAV(wrong[:])}, false},
	}
	// want[mode][transport][binding]: "" lets in, else the cause.
	// "default": channel_binding not set (issue 29: on by default over
	// HTTPS, as when-sent).
	want := map[string]map[string]map[string]EPACause{
		"default":   {"http": {}, "https": {"wrong": EPABindingMismatch}},
		"off":       {"http": {}, "https": {}},
		"when-sent": {"http": {}, "https": {"wrong": EPABindingMismatch}},
		"required": {
			"http":  {"right": EPABindingOverHTTP, "right without MIC": EPABindingOverHTTP, "wrong": EPABindingOverHTTP},
			"https": {"none": EPABindingMissing, "zeros": EPABindingMissing, "right without MIC": EPABindingMissing, "wrong": EPABindingMismatch},
		},
	}
	for _, sc := range []loginScheme{ntlmScheme("NTLM"), spnegoScheme()} {
		for _, mode := range []string{"default", "off", "when-sent", "required"} {
			setting := fmt.Sprintf("channel_binding = %q\n", mode)
			if mode == "default" {
				setting = ""
			}
			s, obs, relayed := epaSite(t, "[auth]\nschemes = [\"ntlm\", \"negotiate\"]\n"+setting+"server_names = [\"www.example.test\"]\n")
			port := 41000
			for _, transport := range []string{"http", "https"} {
				for _, b := range bindings {
					t.Run(strings.Join([]string{sc.name, mode, transport, b.name}, "/"), func(t *testing.T) {
						port++
						c := newClient(port)
						c.https = transport == "https"
						c.env = map[string]string{tlsCertParam: sitePEM}
						c.extraAV = append(ntlmmsg.AVPairs{targetAV("HTTP/www.example.test")}, b.av...)
						c.noMIC = b.noMIC
						before := *relayed
						r := sc.login(t, s.Authorizer, c, "jdoe", "EXAMPLE", "pw-EXAMPLE", nil)
						cause := want[mode][transport][b.name]
						if cause == "" {
							if r.Status != 200 {
								t.Fatalf("refused: %d %s", r.Status, r.Body)
							}
							if got := obs.take(); len(got) != 0 {
								t.Errorf("refusals counted: %v", got)
							}
							return
						}
						checkChallenged(t, r)
						if got := obs.take(); len(got) != 1 || got[0] != cause {
							t.Errorf("refusals counted %v, want [%s]", got, cause)
						}
						if *relayed != before {
							t.Errorf("the refused Type3 was relayed to the DC")
						}
					})
				}
			}
		}
	}
}

// checkChallenged checks r is a refusal asking for a new login.
func checkChallenged(t *testing.T, r *fcgi.Response) {
	t.Helper()
	if r.Status != http.StatusUnauthorized || len(r.Header[wwwAuthenticate]) == 0 {
		t.Fatalf("want a fresh challenge, got %d %v %q", r.Status, r.Header, r.Body)
	}
}

// TestTargetNames: under Extended Protection, a target name the client
// sent must be HTTP/ and a name of this site (auth.server_names, else the
// SERVER_NAME Apache passes), case-insensitively; an absent or empty one
// is let in (clients that know no SPN send none).
func TestTargetNames(t *testing.T) {
	sitePEM, right := siteCert(t, elliptic.P384(), x509.ECDSAWithSHA384)
	for _, names := range []string{`server_names = ["intranet.example.test", "www.example.test"]`, ""} {
		s, obs, relayed := epaSite(t, "[auth]\nchannel_binding = \"when-sent\"\n"+names+"\n")
		for i, tt := range []struct {
			target *string
			cause  EPACause
		}{
			{nil, ""},
			{ptr(""), ""},
			{ptr("HTTP/www.example.test"), ""},
			{ptr("http/WWW.Example.TEST"), ""},
			{ptr("HTTP/www.example.test:443"), ""},
			{ptr("cifs/www.example.test"), EPATargetName},
			{ptr("HOST/www.example.test"), EPATargetName},
			{ptr("HTTP/evil.example.test"), EPATargetName},
			{ptr("HTTP/www.example.test.evil.test"), EPATargetName},
			{ptr("HTTP/www.example.test:x"), EPATargetName},
			{ptr("www.example.test"), EPATargetName},
		} {
			name := "absent"
			if tt.target != nil {
				name = *tt.target
			}
			t.Run(fmt.Sprintf("%q/%s", names, name), func(t *testing.T) {
				c := newClient(42000 + i)
				c.https = true
				c.env = map[string]string{tlsCertParam: sitePEM}
				c.extraAV = ntlmmsg.AVPairs{cbAV(right[:])}
				if tt.target != nil {
					c.extraAV = append(c.extraAV, targetAV(*tt.target))
				}
				before := *relayed
				r := ntlmScheme("NTLM").login(t, s.Authorizer, c, "jdoe", "EXAMPLE", "pw-EXAMPLE", nil)
				if tt.cause == "" {
					if r.Status != 200 {
						t.Fatalf("refused: %d %s", r.Status, r.Body)
					}
					return
				}
				checkChallenged(t, r)
				if got := obs.take(); len(got) != 1 || got[0] != tt.cause || *relayed != before {
					t.Errorf("refusals %v (want [%s]), relayed %d", got, tt.cause, *relayed-before)
				}
			})
		}
	}
	// intranet.example.test is accepted only where it is configured.
	s, _, _ := epaSite(t, "[auth]\nchannel_binding = \"when-sent\"\n")
	c := newClient(42100)
	c.https, c.env, c.extraAV = true, map[string]string{tlsCertParam: sitePEM}, ntlmmsg.AVPairs{targetAV("HTTP/intranet.example.test")}
	checkChallenged(t, ntlmScheme("NTLM").login(t, s.Authorizer, c, "jdoe", "EXAMPLE", "pw-EXAMPLE", nil))
}

func ptr(s string) *string { return &s }

// TestChannelBindingPerLocation: Apache's CHANNEL_BINDING variable
// overrides auth.channel_binding; a value that is none of the three is
// read as required.
func TestChannelBindingPerLocation(t *testing.T) {
	sitePEM, right := siteCert(t, elliptic.P256(), x509.ECDSAWithSHA256)
	s, obs, _ := epaSite(t, "")
	for i, tt := range []struct {
		env    string
		av     ntlmmsg.AVPairs
		status int
	}{
		{"", nil, 200},
		{"required", nil, 401},
		{"Required", ntlmmsg.AVPairs{cbAV(right[:])}, 200},
		{"when-sent", nil, 200},
		{"strict", nil, 401},
		{"strict", ntlmmsg.AVPairs{cbAV(right[:])}, 200},
	} {
		c := newClient(43000 + i)
		c.https, c.extraAV = true, tt.av
		c.env = map[string]string{tlsCertParam: sitePEM, channelBindingParam: tt.env}
		if r := ntlmScheme("NTLM").login(t, s.Authorizer, c, "jdoe", "EXAMPLE", "pw-EXAMPLE", nil); r.Status != tt.status {
			t.Errorf("CHANNEL_BINDING=%q, binding %v: %d, want %d", tt.env, tt.av != nil, r.Status, tt.status)
		}
	}
	obs.take()
}

// TestChannelBindingServerSide: the certificate as Apache may pass it
// (line breaks, or blanks as mod_headers' %{SSL_SERVER_CERT}s makes
// them); without it a binding cannot be checked, which is Apache's
// configuration's fault (500), not the client's; a binding of the wrong
// length is refused as malformed.
func TestChannelBindingServerSide(t *testing.T) {
	sitePEM, right := siteCert(t, elliptic.P256(), x509.ECDSAWithSHA256)
	s, obs, _ := epaSite(t, "[auth]\nchannel_binding = \"required\"\n")
	for i, tt := range []struct {
		name, cert string
		cb         []byte
		status     int
		cause      EPACause
	}{
		{"PEM", sitePEM, right[:], 200, ""},
		{"PEM with blanks", strings.ReplaceAll(sitePEM, "\n", " "), right[:], 200, ""},
		{"PEM with CRLF", strings.ReplaceAll(sitePEM, "\n", "\r\n"), right[:], 200, ""},
		{"no certificate", "", right[:], 500, ""},
		{"not a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", right[:], 500, ""},
		{"short binding", sitePEM, right[:15], 401, EPAMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(44000 + i)
			c.https, c.extraAV = true, ntlmmsg.AVPairs{cbAV(tt.cb)}
			c.env = map[string]string{tlsCertParam: tt.cert}
			if r := ntlmScheme("NTLM").login(t, s.Authorizer, c, "jdoe", "EXAMPLE", "pw-EXAMPLE", nil); r.Status != tt.status {
				t.Errorf("%d, want %d", r.Status, tt.status)
			}
			if got := obs.take(); (tt.cause == "") != (len(got) == 0) || (tt.cause != "" && got[0] != tt.cause) {
				t.Errorf("refusals %v, want %q", got, tt.cause)
			}
		})
	}
}

// TestCertBindingsCache: each certificate is parsed once, and the cache
// stays bounded whatever Apache passes.
func TestCertBindingsCache(t *testing.T) {
	var c certBindings
	pemA, cbA := siteCert(t, elliptic.P256(), x509.ECDSAWithSHA256)
	for range 3 {
		if got, err := c.bindings(pemA); err != nil || got != cbA {
			t.Fatalf("%x %v, want %x", got, err, cbA)
		}
	}
	if n := testing.AllocsPerRun(100, func() { c.bindings(pemA) }); n != 0 {
		t.Errorf("a cached certificate costs %v allocations", n)
	}
	for i := range 3 * maxCertBindings {
		c.bindings(fmt.Sprintf("junk %d", i))
	}
	if len(c.m) > maxCertBindings {
		t.Errorf("%d entries, more than %d", len(c.m), maxCertBindings)
	}
}

// BenchmarkCertBindings: the binding of a certificate Apache passes,
// cached against computed for each Type3 (PEM decode, X.509 parse, hash).
func BenchmarkCertBindings(b *testing.B) {
	pemText, _ := siteCert(b, elliptic.P256(), x509.ECDSAWithSHA256)
	b.Run("cached", func(b *testing.B) {
		var c certBindings
		for b.Loop() {
			c.bindings(pemText)
		}
	})
	b.Run("uncached", func(b *testing.B) {
		for b.Loop() {
			cert, _ := parseCertText(pemText)
			ntlmmsg.TLSChannelBindings(cert)
		}
	})
}

// FuzzEPAVerdict feeds arbitrary AV pair lists, as an NTLMv2 blob carries
// them, to the decision under required over HTTPS: it never panics, and
// whatever it lets in carries the site certificate's binding, the MIC flag,
// and either no target name or this site's.
func FuzzEPAVerdict(f *testing.F) {
	sitePEM, right := siteCert(f, elliptic.P256(), x509.ECDSAWithSHA256)
	s := newFakeSite(f, "[auth]\nchannel_binding = \"required\"\nserver_names = [\"www.example.test\"]\n")
	r := &request{Request: &fcgi.Request{Params: map[string]string{"REQUEST_SCHEME": "https", tlsCertParam: sitePEM}}}
	mic := ntlmmsg.AVPair{ID: ntlmmsg.MsvAvFlags, Value: []byte{2, 0, 0, 0}}
	f.Add(ntlmmsg.AVPairs{mic, cbAV(right[:]), targetAV("HTTP/www.example.test")}.Marshal())
	f.Add(ntlmmsg.AVPairs{cbAV(right[:]), targetAV("HTTP/www.example.test")}.Marshal())
	f.Add(ntlmmsg.AVPairs{targetAV("cifs/www.example.test"), cbAV(right[:])}.Marshal())
	f.Add(ntlmmsg.AVPairs{cbAV(right[:15])}.Marshal())
	f.Fuzz(func(t *testing.T, av []byte) {
		nt := append(make([]byte, 16+28), av...)
		cause, _, err := s.epaVerdict(r, config.ChannelBindingRequired, &ntlmmsg.Authenticate{NtChallengeResponse: nt}, false)
		if err != nil || cause != "" {
			return
		}
		p, perr := ntlmmsg.ParseAVPairs(av)
		cb, _ := p.Get(ntlmmsg.MsvAvChannelBindings)
		if perr != nil || string(cb) != string(right[:]) {
			t.Fatalf("let in without the site's binding: %x", av)
		}
		if fl, _ := p.Get(ntlmmsg.MsvAvFlags); len(fl) != 4 || fl[0]&2 == 0 {
			t.Fatalf("let in without the MIC flag: %x", av)
		}
		if tn, ok := p.Get(ntlmmsg.MsvAvTargetName); ok && len(tn) > 0 {
			name := strings.ToLower(p.String(ntlmmsg.MsvAvTargetName))
			if name != "http/www.example.test" && !strings.HasPrefix(name, "http/www.example.test:") {
				t.Fatalf("let in with target name %q", name)
			}
		}
	})
}

// TestChannelBindingOnLaterRequests: a connection's later requests (no
// Authorization) are let through only where its login met the location's
// channel_binding. Else an attacker would relay the victim's login to a
// location without Extended Protection and then, on the same connection
// or with the login cookie it got, fetch the protected ones.
func TestChannelBindingOnLaterRequests(t *testing.T) {
	sitePEM, right := siteCert(t, elliptic.P256(), x509.ECDSAWithSHA256)
	_, wrong := siteCert(t, elliptic.P256(), x509.ECDSAWithSHA256)
	key := filepath.Join(t.TempDir(), "cookie.key")
	if err := os.WriteFile(key, []byte(strings.Repeat("k", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	s, _, _ := epaSite(t, "[auth]\nserver_names = [\"www.example.test\"]\n[cookie]\nenabled = true\nsecret_files = [\""+key+"\"]\n")
	at := func(c *client, mode string) int {
		c.env[channelBindingParam] = mode
		return c.do(s.Authorizer, "").Status
	}
	for i, tt := range []struct {
		name string
		av   ntlmmsg.AVPairs
		want map[string]int // by the later request's CHANNEL_BINDING
	}{
		{"the site's binding", ntlmmsg.AVPairs{cbAV(right[:])}, map[string]int{"off": 200, "when-sent": 200, "required": 200}},
		{"no binding", nil, map[string]int{"off": 200, "when-sent": 200, "required": 401}},
		{"another certificate's binding", ntlmmsg.AVPairs{cbAV(wrong[:])}, map[string]int{"off": 200, "when-sent": 401, "required": 401}},
		{"a file share's target name", ntlmmsg.AVPairs{cbAV(right[:]), targetAV("cifs/www.example.test")}, map[string]int{"off": 200, "when-sent": 401, "required": 401}},
	} {
		for _, later := range []string{"off", "when-sent", "required"} {
			t.Run(tt.name+"/then "+later, func(t *testing.T) {
				// The login at a location without Extended Protection.
				c := newClient(45000 + 10*i + len(later))
				c.https, c.extraAV = true, tt.av
				c.env = map[string]string{tlsCertParam: sitePEM, channelBindingParam: "off"}
				if r := ntlmScheme("NTLM").login(t, s.Authorizer, c, "jdoe", "EXAMPLE", "pw-EXAMPLE", nil); r.Status != 200 {
					t.Fatalf("login: %d", r.Status)
				}
				if got := at(c, later); got != tt.want[later] {
					t.Errorf("same connection: %d, want %d", got, tt.want[later])
				}
				// The login cookie on a new connection: it proves no
				// channel, so only locations without Extended Protection.
				c2 := newClient(c.port + 5000)
				c2.https, c2.cookies, c2.env = true, c.cookies, map[string]string{}
				want := 200
				if later != "off" {
					want = 401
				}
				if got := at(c2, later); got != want {
					t.Errorf("login cookie on a new connection: %d, want %d", got, want)
				}
			})
		}
	}
}

// TLS ended at a front end: Apache passes the front end's certificate's
// tls-server-end-point hash (GOAUTHENNTLM_TLS_END_POINT); a client's
// binding for that certificate matches, one for any other does not, and
// the request counts as HTTPS although it reached Apache over HTTP.
func TestChannelBindingTLSOffload(t *testing.T) {
	a := newTest(t, "")
	lbPEM, lbCB := siteCert(t, elliptic.P256(), x509.ECDSAWithSHA256)
	_, otherCB := siteCert(t, elliptic.P256(), x509.ECDSAWithSHA256)
	lb, err := parseCertText(lbPEM)
	if err != nil {
		t.Fatal(err)
	}
	ep := fmt.Sprintf("%x", sha256.Sum256(lb.Raw))
	for _, tt := range []struct {
		name, param string
		sent        ntlmmsg.ChannelBindings
		want        bool
		err         bool
	}{
		{"the front end's certificate", ep, lbCB, true, false},
		{"another certificate", ep, otherCB, false, false},
		{"during a replacement, the new one listed first", strings.Repeat("ab", 32) + ", " + ep, lbCB, true, false},
		{"zeros (plain HTTP to an attacker)", ep, ntlmmsg.ChannelBindings{}, false, false},
		{"not hex", "not-a-hash", lbCB, false, true},
		{"too short", ep[:40], lbCB, false, true},
	} {
		p := map[string]string{"REQUEST_SCHEME": "http", tlsEndPointParam: tt.param}
		got, err := a.bindingMatches(p, tt.sent)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("%s: %v, %v; want %v, error %v", tt.name, got, err, tt.want, tt.err)
		}
		if !isHTTPS(p) {
			t.Errorf("%s: a request whose TLS a front end ended does not count as HTTPS", tt.name)
		}
	}
	if isHTTPS(map[string]string{"REQUEST_SCHEME": "http"}) {
		t.Error("plain HTTP counts as HTTPS")
	}
}

// TestChannelBindingDefault: with channel_binding unset, a target name is
// checked over HTTPS only against auth.server_names (ServerName alone
// would refuse clients that reach the site by an alias), while the level
// a login meets for later locations is still measured with it; a site
// whose Apache passes no certificate lets logins in as before (the log
// says what to add) instead of failing them all with 500; a
// connection's later requests are not held to it.
func TestChannelBindingDefault(t *testing.T) {
	sitePEM, right := siteCert(t, elliptic.P256(), x509.ECDSAWithSHA256)
	_, wrong := siteCert(t, elliptic.P256(), x509.ECDSAWithSHA256)
	for i, tt := range []struct {
		conf, target, cert string
		binding            ntlmmsg.ChannelBindings
		status             int
	}{
		{"", "HTTP/alias.example.test", sitePEM, right, 200},
		{"", "HTTP/alias.example.test", sitePEM, wrong, 401},
		{`server_names = ["www.example.test"]`, "HTTP/alias.example.test", sitePEM, right, 401},
		{`server_names = ["www.example.test"]`, "HTTP/www.example.test", sitePEM, right, 200},
		// No certificate from Apache: in under the default...
		{"", "HTTP/www.example.test", "", wrong, 200},
		// ...a 500 under an explicit setting, as before.
		{`channel_binding = "when-sent"`, "HTTP/www.example.test", "", wrong, 500},
	} {
		t.Run(fmt.Sprintf("%d", i), func(t *testing.T) {
			s, obs, _ := epaSite(t, "[auth]\n"+tt.conf+"\n")
			c := newClient(44000 + i)
			c.https = true
			c.env = map[string]string{}
			if tt.cert != "" {
				c.env[tlsCertParam] = tt.cert
			}
			c.extraAV = ntlmmsg.AVPairs{targetAV(tt.target), cbAV(tt.binding[:])}
			if r := ntlmScheme("NTLM").login(t, s.Authorizer, c, "jdoe", "EXAMPLE", "pw-EXAMPLE", nil); r.Status != tt.status {
				t.Errorf("%q, target %s: %d, want %d", tt.conf, tt.target, r.Status, tt.status)
			}
			obs.take()
		})
	}

	// A login let in by the default despite another host's target name
	// met nothing: an explicit when-sent location on its connection
	// wants a new login.
	s, obs, _ := epaSite(t, "[auth]\n")
	c := newClient(44100)
	c.https = true
	c.env = map[string]string{tlsCertParam: sitePEM}
	c.extraAV = ntlmmsg.AVPairs{targetAV("HTTP/alias.example.test"), cbAV(right[:])}
	if r := ntlmScheme("NTLM").login(t, s.Authorizer, c, "jdoe", "EXAMPLE", "pw-EXAMPLE", nil); r.Status != 200 {
		t.Fatalf("login under the default: %d", r.Status)
	}
	if r := c.do(s.Authorizer, ""); r.Status != 200 {
		t.Errorf("the connection's next request under the default: %d, want 200", r.Status)
	}
	c.env[channelBindingParam] = "when-sent"
	if r := c.do(s.Authorizer, ""); r.Status != 401 {
		t.Errorf("the connection's next request under an explicit when-sent: %d, want 401", r.Status)
	}
	obs.take()
}
