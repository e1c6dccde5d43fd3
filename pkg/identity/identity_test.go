package identity

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
)

const twoDomains = `
[[domain]]
name = "EXAMPLE"
dns_name = "example.test"
dcs = ["dc1"]
ldap_urls = ["ldaps://dc1"]
ldap_base_dn = "DC=example,DC=test"
ldap_bind_user = "svc"
ldap_bind_password_file = "p"
[[domain]]
name = "PAYROLL"
dns_name = "payroll.test"
dcs = ["dc1"]
[[domain]]
name = "OTHER"
dcs = ["dc2"]
`

func names(t *testing.T, extra string) *Names {
	t.Helper()
	// Several domains need a name format that names the domain.
	extra = "[auth]\nname_format = \"logon\"\n" + strings.TrimPrefix(extra, "[auth]\n")
	cfg, err := config.Parse("t.toml", []byte(extra+"\n"+twoDomains))
	if err != nil {
		t.Fatal(err)
	}
	return New(cfg)
}

func TestLogin(t *testing.T) {
	const fallback = "[auth]\nfallback_domain = \"EXAMPLE\"\n"
	const def = "[auth]\ndefault_domain = \"PAYROLL\"\n"
	for _, tt := range []struct {
		name, conf           string
		user, domain, dc     string
		wantDomain, wantUser string
		upn                  bool
		notServed            bool
		unserved             string
	}{
		{name: "served by NetBIOS name, any case", user: "jDoE", domain: "example", dc: "EXAMPLE", wantDomain: "EXAMPLE", wantUser: "jDoE"},
		{name: "served by DNS name", user: "jdoe", domain: "Payroll.Test", dc: "EXAMPLE", wantDomain: "PAYROLL", wantUser: "jdoe"},
		{name: "unknown domain refused", user: "alice", domain: "TRUSTEDCORP", dc: "EXAMPLE", notServed: true},
		// Issue 12, 3: the client does not pick the label.
		{name: "unknown domain takes fallback's label", conf: fallback, user: "alice", domain: "TRUSTEDCORP", dc: "EXAMPLE", wantDomain: "EXAMPLE", wantUser: "alice", unserved: "TRUSTEDCORP"},
		{name: "ADMINS takes fallback's label", conf: fallback, user: "alice", domain: "ADMINS", wantDomain: "EXAMPLE", wantUser: "alice", unserved: "ADMINS"},
		{name: "empty domain: the DC's own domain, not the NEGOTIATE's", user: "alice", dc: "EXAMPLE", wantDomain: "EXAMPLE", wantUser: "alice"},
		// PAYROLL shares EXAMPLE's DC, which checks alice as EXAMPLE\alice.
		{name: "empty domain: the DC's own domain before default_domain", conf: def, user: "alice", dc: "EXAMPLE", wantDomain: "EXAMPLE", wantUser: "alice"},
		{name: "empty domain, DC's domain not served: default_domain", conf: def, user: "alice", dc: "ELSEWHERE", wantDomain: "PAYROLL", wantUser: "alice"},
		{name: "Basic: bare user, no DC asked yet: default_domain", conf: def, user: "alice", wantDomain: "PAYROLL", wantUser: "alice"},
		{name: "UPN with another suffix: the DC's domain before default_domain", conf: def, user: "jdoe@corp.example", dc: "EXAMPLE", wantDomain: "EXAMPLE", wantUser: "jdoe@corp.example", upn: true},
		{name: "empty domain, DC's domain not served, no fallback", user: "alice", dc: "ELSEWHERE", notServed: true},
		{name: "empty domain, DC's domain not served, fallback", conf: fallback, user: "alice", dc: "ELSEWHERE", wantDomain: "EXAMPLE", wantUser: "alice"},
		{name: "Basic: bare user, no DC asked yet: first domain", user: "alice", wantDomain: "EXAMPLE", wantUser: "alice"},
		{name: "UPN of a served domain", user: "jdoe@PAYROLL.test", dc: "EXAMPLE", wantDomain: "PAYROLL", wantUser: "jdoe@PAYROLL.test", upn: true},
		{name: "UPN with another suffix: the DC resolves it", user: "jdoe@corp.example", dc: "EXAMPLE", wantDomain: "EXAMPLE", wantUser: "jdoe@corp.example", upn: true},
		{name: "UPN with a domain given keeps the domain", user: "jdoe@payroll.test", domain: "EXAMPLE", wantDomain: "EXAMPLE", wantUser: "jdoe@payroll.test", upn: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n, err := names(t, tt.conf).Login(tt.user, tt.domain, tt.dc)
			if tt.notServed {
				if !errors.Is(err, ErrNotServed) {
					t.Fatalf("got %+v, %v; want ErrNotServed", n, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n.Unserved != tt.unserved {
				t.Errorf("Unserved = %q, want %q", n.Unserved, tt.unserved)
			}
			if n.Domain.Name != tt.wantDomain || n.User != tt.wantUser || n.UPN != tt.upn {
				t.Fatalf("got %s\\%s upn=%v, want %s\\%s upn=%v", n.Domain.Name, n.User, n.UPN, tt.wantDomain, tt.wantUser, tt.upn)
			}
		})
	}
	for _, bad := range [][2]string{
		{"", "EXAMPLE"}, {"alice\x00jdoe", ""}, {"jdoe", "EXAMPLE\x00"}, {"jdoe\nINFO forged", ""},
		{"jdoe\u0085", ""}, {"j\xffdoe", ""}, {strings.Repeat("a", MaxNameLen+1), ""},
		// An empty UPN suffix: Samba answers it as a DC failure.
		{"zzz@", ""}, {"@", ""}, {"jdoe@", "EXAMPLE"},
	} {
		if n, err := names(t, "").Login(bad[0], bad[1], ""); err == nil {
			t.Errorf("Login(%q, %q) accepted: %+v", bad[0], bad[1], n)
		}
	}
}

func TestSplit(t *testing.T) {
	for _, tt := range []struct{ in, user, domain string }{
		{`EXAMPLE\jdoe`, "jdoe", "EXAMPLE"},
		// A UPN is never cut at '@': its prefix need not be the account
		// name, only the DC can say whose it is.
		{"jdoe@example.test", "jdoe@example.test", ""},
		{"jdoe", "jdoe", ""},
		{"@x", "@x", ""},
		{`a\b\c`, `b\c`, "a"},
	} {
		if u, d := Split(tt.in); u != tt.user || d != tt.domain {
			t.Errorf("Split(%q) = %q, %q; want %q, %q", tt.in, u, d, tt.user, tt.domain)
		}
	}
}

func TestRemote(t *testing.T) {
	n := names(t, "")
	for _, tt := range []struct{ in, user, domain string }{
		{"jdoe", "jdoe", "EXAMPLE"},
		{`EXAMPLE\jdoe`, "jdoe", "EXAMPLE"},
		{`payroll\bob`, "bob", "PAYROLL"},
		{"jdoe@Example.Test", "jdoe", "EXAMPLE"},
		{"jdoe@corp.example", "jdoe@corp.example", "EXAMPLE"},
		{"@x", "@x", "EXAMPLE"},
	} {
		u, d, err := n.Remote(tt.in)
		if err != nil || u != tt.user || d.Name != tt.domain {
			t.Errorf("Remote(%q) = %q, %v, %v; want %q, %q", tt.in, u, d, err, tt.user, tt.domain)
		}
	}
	for _, in := range []string{`FAR\x`, "", `EXAMPLE\`} {
		if u, d, err := n.Remote(in); err == nil {
			t.Errorf("Remote(%q) = %q, %v; want an error", in, u, d)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, tt := range []struct{ conf, want string }{
		{"", "JDoe"},
		{"[auth]\nlowercase_user = true", "jdoe"},
		{"[auth]\nname_format = \"logon\"", `EXAMPLE\JDoe`},
		{"[auth]\nname_format = \"upn\"", "JDoe@example.test"},
	} {
		cfg, err := config.Parse("t.toml", []byte(tt.conf+"\n[[domain]]\nname = \"EXAMPLE\"\ndns_name = \"example.test\"\ndcs = [\"dc1\"]\n"))
		if err != nil {
			t.Fatal(err)
		}
		if got := New(cfg).Format("JDoe", "EXAMPLE"); got != tt.want {
			t.Errorf("%q: %q, want %q", tt.conf, got, tt.want)
		}
		if cfg.Auth.NameFormat == config.NameUPN {
			if got := New(cfg).Format("jdoe@corp.example", "EXAMPLE"); got != "jdoe@corp.example" {
				t.Errorf("a UPN as typed: %q", got)
			}
		}
	}
}

func TestShort(t *testing.T) {
	if got := Short("jdoe"); got != "jdoe" {
		t.Errorf("Short(jdoe) = %q", got)
	}
	long := strings.Repeat("é", 100)
	got := Short(long)
	if len(got) > 64+len("…") || !strings.HasSuffix(got, "…") || !utf8.ValidString(got) {
		t.Errorf("Short(long) = %q (%d bytes)", got, len(got))
	}
}
