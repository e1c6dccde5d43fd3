package authorizer

import (
	"encoding/base64"
	"errors"
	"fmt"
	"testing"

	"github.com/goauthenntlm/goauthenntlm/pkg/dc"
	"github.com/goauthenntlm/goauthenntlm/pkg/dc/dctest"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
)

// TestDCAnswers pins the HTTP answer to each kind of DC outcome, at either
// step of an NTLM login and of a Basic one, with the right password: only
// refused credentials ask for a password again (401 with a challenge); the
// domain's policy gets 403 without one; a DC that failed or cannot be
// reached gets 503 with Retry-After.
func TestDCAnswers(t *testing.T) {
	st := func(s dc.NTStatus) error { return &dc.StatusError{DC: "dc1:445", Status: s} }
	tests := []struct {
		name   string
		err    error
		status int
	}{
		{"wrong password", st(dc.StatusLogonFailure), 401},
		{"locked out", st(dc.StatusAccountLockedOut), 401},
		{"NTLM blocked", st(dc.StatusNTLMBlocked), 403},
		{"logon type not granted", st(dc.StatusLogonTypeNotGranted), 403},
		{"internal error", st(dc.StatusInternalError), 503},
		{"no logon servers", st(dc.StatusNoLogonServers), 503},
		{"unknown status", st(0xC0001234), 503},
		{"every DC failing", fmt.Errorf("%w: %w", dc.ErrUnavailable, errors.Join(st(dc.StatusInternalError), errors.New("dc2: connect: refused"))), 503},
		{"unreachable", fmt.Errorf("%w: dc1: connect: refused", dc.ErrUnavailable), 503},
		{"busy", fmt.Errorf("dc1: %w", dc.ErrBusy), 503},
	}
	s := newFakeSite(t, "[auth]\nschemes = [\"ntlm\", \"basic\"]\nallow_basic_over_http = true")
	d := s.dcs["EXAMPLE"]
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(`EXAMPLE\jdoe:pw-EXAMPLE`))
	port := 40000
	for _, tt := range tests {
		for _, step := range []dctest.Step{dctest.StepNegotiate, dctest.StepAuthenticate} {
			for _, scheme := range []string{"NTLM", "Basic"} {
				t.Run(fmt.Sprintf("%s/%s/step%d", tt.name, scheme, step), func(t *testing.T) {
					d.Fault = func(s dctest.Step) error {
						if s == step {
							return tt.err
						}
						return nil
					}
					defer func() { d.Fault = nil }()
					port++
					c := newClient(port)
					var resp *fcgi.Response
					switch {
					case scheme == "Basic":
						resp = c.do(s.Authorizer, basic)
					case step == dctest.StepAuthenticate:
						resp = c.ntlmLogin(t, s.Authorizer, "jdoe", "EXAMPLE", "pw-EXAMPLE")
					default:
						resp = c.do(s.Authorizer, ntlmHeader(browserType1("")))
					}
					if resp.Status != tt.status {
						t.Fatalf("%d, want %d", resp.Status, tt.status)
					}
					_, challenged := resp.Header[wwwAuthenticate]
					if challenged != (tt.status == 401) {
						t.Errorf("WWW-Authenticate %q on a %d", resp.Header[wwwAuthenticate], resp.Status)
					}
					if (resp.Header.Get("Retry-After") != "") != (tt.status == 503) {
						t.Errorf("Retry-After %q on a %d", resp.Header.Get("Retry-After"), resp.Status)
					}
				})
			}
		}
	}
	if n := d.Open(); n != 0 {
		t.Errorf("%d handshakes left open", n)
	}
	if l := d.Logins(); len(l) != 0 {
		t.Errorf("logins accepted although every step failed: %v", l)
	}
}

// A DC failure answering a login whose name points away from the served
// domain (a typed domain no [[domain]] serves, a UPN suffix that is not its
// dns_name) is answered 503 like any other, but not counted against the
// DC: such a name needs no password, and a trusted domain whose DCs are
// offline would otherwise let anyone mark the DC down for all. Logins for
// the domain's own accounts count as before. Afterwards jdoe still logs
// in on the same DC.
func TestDCFailureForeignNameNotCounted(t *testing.T) {
	tests := []struct {
		name, scheme, user, domain string
		counted                    bool
	}{
		{"trusted domain", "NTLM", "jdoe", "TRUSTEDCORP", false},
		{"UPN of another forest", "NTLM", "jdoe@other.example", "", false},
		{"UPN of another forest, Basic", "Basic", "jdoe@other.example", "", false},
		{"served NetBIOS name", "NTLM", "jdoe", "EXAMPLE", true},
		{"served DNS name", "NTLM", "jdoe", "example.test", true},
		{"served UPN suffix", "NTLM", "jdoe@EXAMPLE.test", "", true},
		{"no domain", "NTLM", "jdoe", "", true},
		// Basic sends fallback_domain's own name, not the typed one.
		{"unserved domain, Basic", "Basic", "jdoe", "TRUSTEDCORP", true},
	}
	s := newFakeSiteWith(t, "[auth]\nschemes = [\"ntlm\", \"basic\"]\nallow_basic_over_http = true\nfallback_domain = \"EXAMPLE\"\nbind_connections = false", Options{Groups: newFakeDir()})
	d := s.dcs["EXAMPLE"]
	port := 41000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d.Fault = func(s dctest.Step) error {
				if s == dctest.StepAuthenticate {
					return &dc.StatusError{DC: d.Name, Status: dc.StatusTrustedDomainFailure}
				}
				return nil
			}
			defer func() { d.Fault = nil }()
			before := d.Failures()
			for i := 0; i < 3; i++ {
				port++
				c := newClient(port)
				var resp *fcgi.Response
				if tt.scheme == "Basic" {
					typed := tt.user
					if tt.domain != "" {
						typed = tt.domain + `\` + tt.user
					}
					resp = c.do(s.Authorizer, "Basic "+base64.StdEncoding.EncodeToString([]byte(typed+":no-password-needed")))
				} else {
					resp = c.ntlmLogin(t, s.Authorizer, tt.user, tt.domain, "no-password-needed")
				}
				if resp.Status != 503 || resp.Header.Get("Retry-After") == "" {
					t.Fatalf("login %d: %d Retry-After %q, want 503 with Retry-After", i+1, resp.Status, resp.Header.Get("Retry-After"))
				}
			}
			want := 0
			if tt.counted {
				want = 3
			}
			if n := d.Failures() - before; n != want {
				t.Errorf("%d failures counted against the DC, want %d", n, want)
			}
			d.Fault = nil
			port++
			if resp := newClient(port).ntlmLogin(t, s.Authorizer, "jdoe", "EXAMPLE", "pw-EXAMPLE"); resp.Status != 200 {
				t.Errorf("jdoe after the failures: %d, want 200", resp.Status)
			}
		})
	}
	if n := d.Open(); n != 0 {
		t.Errorf("%d handshakes left open", n)
	}
}
