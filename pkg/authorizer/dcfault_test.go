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
