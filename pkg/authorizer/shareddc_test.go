package authorizer

import (
	"log/slog"
	"testing"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/dc"
	"github.com/goauthenntlm/goauthenntlm/pkg/dc/dctest"
)

// Two domains on one DC, which is EXAMPLE's (it names itself so), and
// default_domain the other: the DC checks a name without a domain, and a
// UPN whose suffix no domain serves, as its own account, so that is the
// label, for NTLM as for Basic. It was default_domain's: EXAMPLE's
// alice became OTHER's.
func TestSharedDCLabelsItsOwnDomain(t *testing.T) {
	d := dctest.New("EXAMPLE")
	d.SetPassword("alice", "pw")
	d.SetPassword("alice@corp.example", "pw")
	conf := `[auth]
schemes = ["ntlm", "basic"]
allow_basic_over_http = true
name_format = "logon"
default_domain = "OTHER"
[[domain]]
name = "EXAMPLE"
dcs = ["127.0.0.1:1"]
[[domain]]
name = "OTHER"
dcs = ["127.0.0.1:1"]
`
	cfg, err := config.Parse("test.toml", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler), NewRelay: func(dc.Config) (dc.Relay, error) { return d, nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	for _, tt := range []struct {
		scheme       loginScheme
		user, domain string
		want         string
	}{
		{ntlmScheme("NTLM"), "alice", "", `EXAMPLE\alice`},
		{ntlmScheme("NTLM"), "alice@corp.example", "", `EXAMPLE\alice@corp.example`},
		// Basic names default_domain in the Type3 it builds: the DC
		// passes OTHER\alice on to OTHER.
		{basicScheme(), "alice", "", `OTHER\alice`},
		// A UPN goes with no domain, typed or not.
		{basicScheme(), "alice@corp.example", "", `EXAMPLE\alice@corp.example`},
		{basicScheme(), "alice@corp.example", "OTHER", `EXAMPLE\alice@corp.example`},
	} {
		c := newClient(40000)
		r := tt.scheme.login(t, a, c, tt.user, tt.domain, "pw", nil)
		if r.Status == 401 {
			r = tt.scheme.login(t, a, c, tt.user, tt.domain, "pw", nil) // a start-over
		}
		if r.Status != 200 || r.Variables["REMOTE_USER"] != tt.want {
			t.Errorf("%s %q in %q: %d REMOTE_USER=%q, want %s", tt.scheme.name, tt.user, tt.domain, r.Status, r.Variables["REMOTE_USER"], tt.want)
		}
	}
}
