package adgroup

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Integration tests run against the development Samba AD DC that
// scripts/dc.sh starts. They are skipped when the environment does not
// point at one.
const (
	envLDAP     = "GOAUTHENNTLM_TEST_LDAP"
	envCA       = "GOAUTHENNTLM_TEST_LDAP_CA"
	envBind     = "GOAUTHENNTLM_TEST_LDAP_BIND"
	envPassFile = "GOAUTHENNTLM_TEST_LDAP_PASSFILE"
	// envSmbConf optionally names the DC's smb.conf, for the test that
	// changes a membership with samba-tool; default /tmp/devdc/etc/smb.conf.
	envSmbConf = "GOAUTHENNTLM_TEST_SMBCONF"
)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testConfig returns an LDAPConfig for the dev DC, or skips the test.
func testConfig(t testing.TB) LDAPConfig {
	t.Helper()
	u, ca, bind, pf := os.Getenv(envLDAP), os.Getenv(envCA), os.Getenv(envBind), os.Getenv(envPassFile)
	if u == "" || ca == "" || bind == "" || pf == "" {
		t.Skip(envLDAP + ", " + envCA + ", " + envBind + " or " + envPassFile + " not set: needs a real Samba DC, see scripts/dc.sh")
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", ca)
	}
	pass, err := os.ReadFile(pf)
	if err != nil {
		t.Fatal(err)
	}
	return LDAPConfig{
		URLs:         []string{u},
		BaseDN:       "DC=example,DC=test",
		BindUser:     bind,
		BindPassword: strings.TrimRight(string(pass), "\r\n"),
		RootCAs:      pool,
		StartTLS:     strings.HasPrefix(u, "ldap://"),
		Timeout:      5 * time.Second,
	}
}

func newTestResolver(t testing.TB, cfg LDAPConfig) *Resolver {
	t.Helper()
	r, err := NewResolver(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func samSet(gs []Group) map[string]Group {
	m := make(map[string]Group, len(gs))
	for _, g := range gs {
		m[strings.ToLower(g.SAM)] = g
	}
	return m
}

func TestIntegrationGroups(t *testing.T) {
	r := newTestResolver(t, testConfig(t))
	ctx := testCtx(t)
	tests := []struct {
		user    string
		want    []string
		notWant []string
	}{
		{"jdoe", []string{"WebUsers", "PowerUsers", "Domain Users"}, []string{"Outsiders", "Domain Admins"}},
		{"JDOE", []string{"WebUsers", "PowerUsers", "Domain Users"}, []string{"Outsiders"}}, // AD matches names case-insensitively
		{"bob", []string{"Outsiders", "Domain Users"}, []string{"WebUsers", "PowerUsers"}},
		{"alice", []string{"Domain Users"}, []string{"WebUsers", "PowerUsers", "Outsiders"}},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			gs, err := r.Groups(ctx, tt.user)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %+v", tt.user, gs)
			m := samSet(gs)
			for _, w := range tt.want {
				if _, ok := m[strings.ToLower(w)]; !ok {
					t.Errorf("%s: missing %s in %v", tt.user, w, gs)
				}
			}
			for _, w := range tt.notWant {
				if _, ok := m[strings.ToLower(w)]; ok {
					t.Errorf("%s: unexpected %s in %v", tt.user, w, gs)
				}
			}
		})
	}
	gs, err := r.Groups(ctx, "jdoe")
	if err != nil {
		t.Fatal(err)
	}
	if g := samSet(gs)["powerusers"]; !strings.EqualFold(g.DN, "CN=PowerUsers,CN=Users,DC=example,DC=test") || g.CN != "PowerUsers" {
		t.Errorf("PowerUsers entry = %+v", g)
	}
}

// The in-chain fallback must agree with tokenGroups on the dev DC.
func TestIntegrationInChainFallback(t *testing.T) {
	r := newTestResolver(t, testConfig(t))
	ctx := testCtx(t)
	err := r.withConn(ctx, func(pc *pconn) error {
		for _, user := range []string{"jdoe", "bob", "alice"} {
			res, err := r.search(ctx, pc, userSearch(r.cfg.BaseDN, user), false)
			if err != nil || len(res.Entries) != 1 {
				t.Fatalf("find %s: %v", user, err)
			}
			u := res.Entries[0]
			userSID, err := parseSID(u.GetRawAttributeValue("objectSid"))
			if err != nil {
				t.Fatal(err)
			}
			pgid, _ := parseRID(u.GetAttributeValue("primaryGroupID"))
			dom, _ := userSID.domain()
			primary, _ := dom.withRID(pgid)
			chain, err := r.inChainGroups(ctx, pc, u.DN, primary)
			if err != nil {
				t.Fatal(err)
			}
			tg, err := r.groups(ctx, pc, user)
			if err != nil {
				t.Fatal(err)
			}
			// tokenGroups also carries builtin groups (BUILTIN\Users) that
			// hold Domain Users; the in-chain filter does not see
			// membership through the primary group, so compare only the
			// in-chain result as a subset.
			tgm := samSet(tg)
			for _, g := range chain {
				if _, ok := tgm[strings.ToLower(g.SAM)]; !ok {
					t.Errorf("%s: in-chain has %s, tokenGroups not (%v)", user, g.SAM, tg)
				}
			}
			cm := samSet(chain)
			for _, w := range map[string][]string{"jdoe": {"webusers", "powerusers", "domain users"}, "bob": {"outsiders", "domain users"}, "alice": {"domain users"}}[user] {
				if _, ok := cm[w]; !ok {
					t.Errorf("%s: in-chain lacks %s: %v", user, w, chain)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestIntegrationNoSuchUser(t *testing.T) {
	r := newTestResolver(t, testConfig(t))
	ctx := testCtx(t)
	for _, user := range []string{
		"nosuchuser-xyz",
		"*",
		"*)(x",
		"jdoe)(|(sAMAccountName=*",
		"*)(objectClass=*",
		"j*",
		`jdoe\`,
		"jdoe\x00",
		"",
	} {
		_, err := r.Groups(ctx, user)
		if !errors.Is(err, ErrNoSuchUser) {
			t.Errorf("Groups(%q) err = %v, want ErrNoSuchUser", user, err)
		}
	}
}

func TestIntegrationWrongCA(t *testing.T) {
	cfg := testConfig(t)
	cfg.RootCAs = x509.NewCertPool() // trusts nothing
	if !strings.HasPrefix(cfg.URLs[0], "ldaps://") {
		t.Skip("wrong-CA check written for ldaps://")
	}
	r := newTestResolver(t, cfg)
	_, err := r.Groups(testCtx(t), "jdoe")
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Fatalf("err = %v, want a TLS certificate verification error", err)
	}
	t.Log(err)

	// System roots (nil) must not trust the dev CA either.
	cfg.RootCAs = nil
	r2 := newTestResolver(t, cfg)
	if _, err := r2.Groups(testCtx(t), "jdoe"); !errors.As(err, &verr) {
		t.Fatalf("system roots: err = %v, want a TLS certificate verification error", err)
	}
}

func TestIntegrationWrongPassword(t *testing.T) {
	cfg := testConfig(t)
	cfg.BindPassword = "wrong-" + cfg.BindPassword
	pw := cfg.BindPassword
	r := newTestResolver(t, cfg)
	_, err := r.Groups(testCtx(t), "jdoe")
	if err == nil {
		t.Fatal("bind with a wrong password succeeded")
	}
	if strings.Contains(err.Error(), pw) {
		t.Fatal("error message contains the password")
	}
}

func TestIntegrationStartTLS(t *testing.T) {
	cfg := testConfig(t)
	host := strings.TrimPrefix(strings.TrimPrefix(cfg.URLs[0], "ldaps://"), "ldap://")
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	cfg.URLs = []string{"ldap://" + host}
	cfg.StartTLS = true
	r := newTestResolver(t, cfg)
	gs, err := r.Groups(testCtx(t), "jdoe")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := samSet(gs)["powerusers"]; !ok {
		t.Errorf("StartTLS: %v", gs)
	}
}

// A dead first URL is skipped, marked down, and not dialed again while
// the mark lasts; pooled connections are reused.
func TestIntegrationFailoverAndPool(t *testing.T) {
	cfg := testConfig(t)
	cfg.URLs = append([]string{"ldaps://127.0.0.12:1"}, cfg.URLs...)
	r := newTestResolver(t, cfg)
	ctx := testCtx(t)
	for i := 0; i < 5; i++ {
		if _, err := r.Groups(ctx, "jdoe"); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.dials.Load(); n != 2 {
		t.Errorf("dials = %d, want 2 (dead server once, live server once, then pooled)", n)
	}
	// A pooled connection that the server dropped is replaced transparently.
	r.mu.Lock()
	for _, pc := range r.idle {
		pc.raw.Close()
	}
	r.mu.Unlock()
	if _, err := r.Groups(ctx, "jdoe"); err != nil {
		t.Fatalf("after server-side close: %v", err)
	}
}

func TestIntegrationConcurrent(t *testing.T) {
	r := newTestResolver(t, testConfig(t))
	ctx := testCtx(t)
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		user := []string{"jdoe", "bob", "alice", "nobody-here"}[i%4]
		go func() {
			_, err := r.Groups(ctx, user)
			if user == "nobody-here" && errors.Is(err, ErrNoSuchUser) {
				err = nil
			}
			errs <- err
		}()
	}
	for i := 0; i < 20; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := r.dials.Load(); n > int64(DefaultMaxConns) {
		t.Errorf("dials = %d, want <= %d", n, DefaultMaxConns)
	}
}

func TestIntegrationMembershipChange(t *testing.T) {
	cfg := testConfig(t)
	conf := os.Getenv(envSmbConf)
	if conf == "" {
		conf = "/tmp/devdc/etc/smb.conf"
	}
	if _, err := os.Stat(conf); err != nil {
		t.Skipf("no smb.conf at %s (set %s)", conf, envSmbConf)
	}
	if _, err := exec.LookPath("samba-tool"); err != nil {
		t.Skip("samba-tool not installed")
	}
	sambaTool := func(args ...string) {
		t.Helper()
		out, err := exec.Command("samba-tool", append(args, "-s", conf)...).CombinedOutput()
		if err != nil {
			t.Fatalf("samba-tool %v: %v\n%s", args, err, out)
		}
	}
	r := newTestResolver(t, cfg)
	ctx := testCtx(t)
	has := func(g string) bool {
		gs, err := r.Groups(ctx, "jdoe")
		if err != nil {
			t.Fatal(err)
		}
		_, ok := samSet(gs)[strings.ToLower(g)]
		return ok
	}
	if !has("WebUsers") || !has("PowerUsers") {
		t.Fatal("precondition: jdoe in WebUsers and PowerUsers")
	}
	sambaTool("group", "removemembers", "WebUsers", "jdoe")
	restored := false
	restore := func() {
		if !restored {
			restored = true
			sambaTool("group", "addmembers", "WebUsers", "jdoe")
		}
	}
	t.Cleanup(restore)
	if has("WebUsers") || has("PowerUsers") {
		t.Error("after removal, jdoe still in WebUsers or PowerUsers")
	}
	restore()
	if !has("WebUsers") || !has("PowerUsers") {
		t.Error("after restore, jdoe not back in WebUsers and PowerUsers")
	}
}

// The service account can read the trustedDomain objects; the test
// domain has no trust (Samba cannot make one here without a second
// forest), so the list is empty, not an error.
func TestIntegrationTrusts(t *testing.T) {
	r := newTestResolver(t, testConfig(t))
	trusts, err := r.Trusts(testCtx(t))
	if err != nil || len(trusts) != 0 {
		t.Fatalf("Trusts = %+v, %v; want none", trusts, err)
	}
}
