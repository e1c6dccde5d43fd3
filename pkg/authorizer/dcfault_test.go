package authorizer

import (
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/goauthenntlm/goauthenntlm/pkg/dc"
)

// TestDCAnswers pins the HTTP answer to each kind of DC outcome, at the
// login's last step and at its first: only refused credentials ask for a
// password again (401 with a challenge); the domain's policy gets 403
// without one; a DC that failed or cannot be reached gets 503 with
// Retry-After.
func TestDCAnswers(t *testing.T) {
	a := newTest(t, "")
	r := &request{log: slog.New(slog.DiscardHandler)}
	rt := a.domains[0]
	st := func(s dc.NTStatus) error { return &dc.StatusError{DC: "dc1:445", Status: s} }
	tests := []struct {
		name   string
		err    error
		status int
	}{
		{"wrong password", st(dc.StatusLogonFailure), 401},
		{"locked out", st(dc.StatusAccountLockedOut), 401},
		{"guest", fmt.Errorf("dc x: %w", dc.ErrGuestSession), 401},
		{"NTLM blocked", st(dc.StatusNTLMBlocked), 403},
		{"logon type not granted", st(dc.StatusLogonTypeNotGranted), 403},
		{"internal error", st(dc.StatusInternalError), 503},
		{"no logon servers", st(dc.StatusNoLogonServers), 503},
		{"unknown status", st(0xC0001234), 503},
		{"every DC failing", fmt.Errorf("%w: %w", dc.ErrUnavailable, errors.Join(st(dc.StatusInternalError), errors.New("dc2: connect: refused"))), 503},
		{"unreachable", fmt.Errorf("%w: dc1: connect: refused", dc.ErrUnavailable), 503},
		{"busy", fmt.Errorf("dc1: %w", dc.ErrBusy), 503},
	}
	for _, tt := range tests {
		for _, step := range []string{"first", "last"} {
			t.Run(tt.name+"/"+step, func(t *testing.T) {
				resp := a.dcFailed(r, "negotiate", rt, tt.err)
				if step == "last" {
					resp = a.loginFailed(r, "login", "authenticate", rt, "dc1:445", "jdoe", "EXAMPLE", tt.err)
				}
				if tt.name == "guest" && step == "first" {
					return // a Type1 is never answered as a guest session
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
