package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestExampleParses(t *testing.T) {
	c, err := Load("../../conf.toml.example")
	if err != nil {
		t.Fatalf("conf.toml.example: %v", err)
	}
	if got := c.Auth.HandshakeTimeout.D(); got != 10*time.Second {
		t.Errorf("handshake_timeout = %v", got)
	}
	d, ok := c.Domain("example")
	if !ok || len(d.DCs) != 2 || d.LDAPBindPasswordFile != "/etc/goauthenntlm/ldap.pass" {
		t.Errorf("domain = %+v, %v", d, ok)
	}
	if !c.Auth.Offers(SchemeNTLM) || c.Auth.Offers(SchemeBasic) {
		t.Errorf("schemes = %v", c.Auth.Schemes)
	}
}

// The example must show every key with its default, so that it documents
// them all and a user copying it changes nothing by accident.
func TestExampleShowsDefaults(t *testing.T) {
	data, err := os.ReadFile("../../conf.toml.example")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("x.toml", data)
	if err != nil {
		t.Fatal(err)
	}
	def := Defaults()
	if c.Auth.KeepAliveTimeout != def.Auth.KeepAliveTimeout || c.DC != def.DC || c.Groups.CacheTTL != def.Groups.CacheTTL ||
		c.Cookie.Lifetime != def.Cookie.Lifetime || c.Listen != def.Listen || c.Auth.MaxPendingPerIP != def.Auth.MaxPendingPerIP {
		t.Errorf("conf.toml.example differs from Defaults()")
	}
}

const minimal = `
[[domain]]
name = "EXAMPLE"
dcs = ["127.0.0.1"]
`

func TestErrors(t *testing.T) {
	tests := []struct {
		name, conf, want string
	}{
		{"unknown key", "listen = \"127.0.0.1:1\"\nlisten_adress = \"x\"\n" + minimal, `x.toml:2: unknown key "listen_adress"`},
		{"unknown nested key", "[auth]\nshemes = [\"ntlm\"]\n" + minimal, `x.toml:2: unknown key "auth.shemes"`},
		{"bad duration", "[auth]\n\nhandshake_timeout = \"60\"\n" + minimal, `x.toml:3:`},
		{"scheme twice", "[auth]\nschemes = [\"ntlm\", \"basic\", \"NTLM\"]\n" + minimal, `x.toml:2: auth.schemes: ntlm is listed twice`},
		{"channel binding", "[auth]\nchannel_binding = \"accept\"\n" + minimal, `x.toml:2: auth.channel_binding: channel_binding "accept": use off, when-sent or required`},
		{"server name with port", "[auth]\nserver_names = [\"www.example.test:8443\"]\n" + minimal, `x.toml:2: auth.server_names: "www.example.test:8443" is not a host name`},
		{"server name as URL", "[auth]\nserver_names = [\"https://www.example.test\"]\n" + minimal, `is not a host name`},
		{"basic kerberos without keytab", minimal + "basic = \"kerberos\"\n", `x.toml:5: domain "EXAMPLE": basic = "kerberos" needs keytab_file`},
		{"basic unknown", minimal + "basic = \"ldap\"\n", `x.toml:5: domain "EXAMPLE": basic = "ldap": use "ntlm", "kerberos" or "auto"`},
		{"basic cache too long", "[auth]\nbasic_cache_ttl = \"2h\"\n" + minimal, `auth.basic_cache_ttl must be between`},
		{"keytab without dns_name", minimal + "keytab_file = \"/k\"\nservice_principals = [\"HTTP/www.example.test\"]\n", `x.toml:5: domain "EXAMPLE": keytab_file needs dns_name`},
		{"keytab without principals", minimal + "dns_name = \"example.test\"\nkeytab_file = \"/k\"\n", `x.toml:6: domain "EXAMPLE": keytab_file needs service_principals, or auth.server_names`},
		{"principal with realm", minimal + "dns_name = \"example.test\"\nkeytab_file = \"/k\"\nservice_principals = [\"HTTP/www.example.test@EXAMPLE.TEST\"]\n", `x.toml:7: domain "EXAMPLE": service principal "HTTP/www.example.test@EXAMPLE.TEST": write it as HTTP/host.name`},
		{"principals without keytab", minimal + "service_principals = [\"HTTP/www.example.test\"]\n", `x.toml:5: domain "EXAMPLE": service_principals needs keytab_file`},
		{"trusted realms without keytab", minimal + "trusted_realms = [\"other.test\"]\n", `x.toml:5: domain "EXAMPLE": trusted_realms needs keytab_file`},
		{"trusted realm not served", minimal + "dns_name = \"example.test\"\nkeytab_file = \"/k\"\nservice_principals = [\"HTTP/www.example.test\"]\ntrusted_realms = [\"other.test\"]\n", `x.toml:8: domain "EXAMPLE": trusted realm "other.test" is no [[domain]]'s dns_name`},
		{"negative skew", minimal + "max_clock_skew = \"-1m\"\n", `x.toml:5: domain "EXAMPLE": max_clock_skew must not be negative`},
		{"skew past the replay file's horizon", minimal + "max_clock_skew = \"13h\"\n", `x.toml:5: domain "EXAMPLE": max_clock_skew must be at most 1h`},
		{"delegate_to without ccache_dir", minimal + "dns_name = \"example.test\"\nkeytab_file = \"/k\"\nservice_principals = [\"HTTP/w.test\"]\nservice_account = \"svc\"\ndelegate_to = [\"ldap/dc1.example.test\"]\n", `x.toml:9: domain EXAMPLE: delegate_to needs [delegation] ccache_dir`},
		{"delegate_to without service_account", "[delegation]\nccache_dir = \"/run/cc\"\n" + minimal + "dns_name = \"example.test\"\nkeytab_file = \"/k\"\nservice_principals = [\"HTTP/w.test\"]\ndelegate_to = [\"ldap/dc1.example.test\"]\n", `delegate_to needs keytab_file, service_account`},
		{"delegate_to with realm", "[delegation]\nccache_dir = \"/run/cc\"\n" + minimal + "dns_name = \"example.test\"\nkeytab_file = \"/k\"\nservice_principals = [\"HTTP/w.test\"]\nservice_account = \"svc\"\ndelegate_to = [\"ldap/dc1@EXAMPLE.TEST\"]\n", `a service principal without realm`},
		{"server name as SPN", "[auth]\nserver_names = [\"HTTP/www.example.test\"]\n" + minimal, `is not a host name`},
		{"server name upper case", "[auth]\nserver_names = [\"WWW.example.test\"]\n" + minimal, `x.toml:2: auth.server_names: write "WWW.example.test" in lower case`},
		{"server name twice", "[auth]\nserver_names = [\"a.test\", \"a.test\"]\n" + minimal, `auth.server_names: "a.test" is listed twice`},
		{"bad scheme", "[auth]\nschemes = [\"kerberos\"]\n" + minimal, `use ntlm, negotiate or basic`},
		{"cookie name with __Host-", "[cookie]\nenabled = true\nsecret_files = [\"k\"]\nname = \"__Host-X\"\n" + minimal, `x.toml:4: cookie.name "__Host-X": leave out the prefix`},
		{"binding cookie with __Secure-", "[auth]\nbinding_cookie = \"__secure-X\"\n" + minimal, `x.toml:2: auth.binding_cookie "__secure-X": leave out the prefix`},
		{"refusal floor negative", "[auth]\nrefusal_floor = \"-1s\"\n" + minimal, `x.toml:2: auth.refusal_floor must be between 0s and 10s`},
		{"refusal floor too long", "[auth]\nrefusal_floor = \"1m\"\n" + minimal, `x.toml:2: auth.refusal_floor must be between 0s and 10s`},
		{"bad name format", "[auth]\nname_format = \"SAMx\"\n" + minimal, `x.toml:2:`},
		{"no domain", "listen = \"127.0.0.1:1\"\n", "no [[domain]]"},
		{"domain without dcs", "[[domain]]\nname = \"EXAMPLE\"\n", `x.toml:1: domain "EXAMPLE": dcs needs`},
		{"unknown fallback", "[auth]\nfallback_domain = \"OTHER\"\n" + minimal, `x.toml:2: auth.fallback_domain "OTHER" is not a configured`},
		{"ldap in the clear", minimal + "ldap_urls = [\"ldap://dc\"]\nldap_base_dn=\"DC=x\"\nldap_bind_user=\"u\"\nldap_bind_password_file=\"p\"\n", "must be ldaps://"},
		{"syntax", "listen = \n" + minimal, "x.toml:1:"},
		{"upn needs dns name", "[auth]\nname_format = \"upn\"\n" + minimal, "dns_name is required"},
		{"sam with two domains (default)", minimal + "[[domain]]\nname = \"OTHER\"\ndcs = [\"127.0.0.2\"]\n", `name_format = "sam" (the default) cannot tell the users of 2 domains apart`},
		{"sam with two domains", "[auth]\nname_format = \"SAM\"\n" + minimal + "[[domain]]\nname = \"OTHER\"\ndcs = [\"127.0.0.2\"]\n", `x.toml:2: auth.name_format = "sam"`},
		{"fallback without LDAP", "[auth]\nfallback_domain = \"EXAMPLE\"\n" + minimal, `x.toml:2: auth.fallback_domain "EXAMPLE" needs that domain's LDAP settings`},
		{"cookie without secret", "[cookie]\nenabled = true\n" + minimal, "secret_files is required"},
		{"bad listen", "listen = \"9301\"\n" + minimal, "x.toml:1: listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.toml", []byte(tt.conf))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestRelativePaths(t *testing.T) {
	c, err := Parse("/etc/goauthenntlm/conf.toml", []byte(minimal+"ldap_urls=[\"ldaps://dc\"]\nldap_base_dn=\"DC=x\"\nldap_bind_user=\"u\"\nldap_bind_password_file=\"ldap.pass\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Domains[0].LDAPBindPasswordFile; got != "/etc/goauthenntlm/ldap.pass" {
		t.Errorf("password file = %q", got)
	}
}

func TestListenIsLoopback(t *testing.T) {
	for listen, want := range map[string]bool{
		"127.0.0.1:9301": true, "[::1]:9301": true, "localhost:9301": true,
		"10.0.0.5:9301": false, "0.0.0.0:9301": false, ":9301": false,
	} {
		if got := (&Config{Listen: listen}).ListenIsLoopback(); got != want {
			t.Errorf("ListenIsLoopback(%q) = %v, want %v", listen, got, want)
		}
	}
}

// Every value of the wrong type is reported with its line, not only the
// first one the TOML decoder meets.
func TestTypeErrorsAllReported(t *testing.T) {
	conf := "listen = 9301\n[auth]\nschemes = \"ntlm\"\nmax_pending = \"lots\"\n[dc]\ndial_timeout = 5\n[[domain]]\nname = \"EXAMPLE\"\ndcs = \"dc1\"\nbogus = 1\n"
	_, err := Parse("x.toml", []byte(conf))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"x.toml:1: listen: incompatible types",
		"x.toml:3: auth.schemes: incompatible types",
		"x.toml:4: auth.max_pending: incompatible types",
		`x.toml:6: dc.dial_timeout: "5" is not a duration`,
		"x.toml:9: domain.dcs: incompatible types",
		`x.toml:10: unknown key "domain.bogus"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nwant it to contain %q", err, want)
		}
	}
}

// TestTwoDomainsNameFormat: two domains parse with a name format whose
// REMOTE_USER names the domain; see the "sam with two domains" errors.
func TestTwoDomainsNameFormat(t *testing.T) {
	two := minimal + "dns_name = \"example.test\"\n[[domain]]\nname = \"OTHER\"\ndns_name = \"other.test\"\ndcs = [\"127.0.0.2\"]\n"
	for _, f := range []string{"logon", "upn"} {
		if _, err := Parse("x.toml", []byte("[auth]\nname_format = \""+f+"\"\n"+two)); err != nil {
			t.Errorf("name_format %s with two domains: %v", f, err)
		}
	}
}

func TestKerberosDefaults(t *testing.T) {
	c, err := Parse("/etc/x.toml", []byte("[auth]\nserver_names = [\"www.example.test\", \"intranet\"]\n"+minimal+"dns_name = \"example.test\"\nkeytab_file = \"http.keytab\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := &c.Domains[0]
	if got := strings.Join(c.Principals(d), ","); got != "HTTP/www.example.test,HTTP/intranet" {
		t.Errorf("principals %s", got)
	}
	if d.ClockSkew() != 5*time.Minute || d.KeytabFile != "/etc/http.keytab" {
		t.Errorf("skew %v keytab %s", d.ClockSkew(), d.KeytabFile)
	}
	if c.Replay.File != "/var/lib/goauthenntlm/replay" || len(d.TrustedRealms) != 0 {
		t.Errorf("replay file %q, trusted realms %v", c.Replay.File, d.TrustedRealms)
	}
}
