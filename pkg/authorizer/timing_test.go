package authorizer

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
)

// Issue 23, 6: a refused login (NTLM or Basic, unknown account or wrong
// password) is answered no sooner than auth.refusal_floor; an accepted one
// does not wait, and a request whose context ends stops waiting.
func TestRefusalFloor(t *testing.T) {
	const floor = 150 * time.Millisecond
	s := newFakeSite(t, fmt.Sprintf("[auth]\nschemes = [\"ntlm\", \"basic\"]\nallow_basic_over_http = true\nrefusal_floor = %q\n", floor))
	basic := func(user, pw string) func(*client) *fcgi.Response {
		return func(c *client) *fcgi.Response {
			return c.do(s.Authorizer, "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pw)))
		}
	}
	ntlm := func(user, pw string) func(*client) *fcgi.Response {
		return func(c *client) *fcgi.Response { return c.ntlmLogin(t, s.Authorizer, user, "EXAMPLE", pw) }
	}
	tests := []struct {
		name   string
		login  func(*client) *fcgi.Response
		status int
		waits  bool
	}{
		{"Basic, wrong password", basic(`EXAMPLE\jdoe`, "wrong"), 401, true},
		{"Basic, unknown account", basic(`EXAMPLE\nosuchuser`, "wrong"), 401, true},
		{"Basic, accepted", basic(`EXAMPLE\jdoe`, "pw-EXAMPLE"), 200, false},
		{"NTLM, wrong password", ntlm("jdoe", "wrong"), 401, true},
		{"NTLM, unknown account", ntlm("nosuchuser", "wrong"), 401, true},
		{"NTLM, accepted", ntlm("jdoe", "pw-EXAMPLE"), 200, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			r := tt.login(newClient(46000 + i))
			took := time.Since(start)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d", r.Status, tt.status)
			}
			if tt.waits && took < floor {
				t.Errorf("refused after %v, want at least %v", took, floor)
			}
			if !tt.waits && took >= floor {
				t.Errorf("accepted after %v: an accepted login must not wait for the floor", took)
			}
		})
	}

	// The wait ends with the request's context (a shutdown).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	r := &request{start: time.Now()}
	start := time.Now()
	s.refusalFloor(ctx, r)
	if took := time.Since(start); took >= floor {
		t.Errorf("refusalFloor with an ended context waited %v", took)
	}
}
