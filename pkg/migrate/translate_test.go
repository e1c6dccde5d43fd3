package migrate

import (
	"bytes"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/BurntSushi/toml"
)

// translateMap runs the tool on in-memory files, the first named file
// being the one given on the command line.
func translateMap(t *testing.T, files map[string]string, first string, opt Options) *Result {
	t.Helper()
	ds, fs, err := parseMap(t, files, first)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return Translate(ds, fs, opt)
}

func translateFile(t *testing.T, path string, opt Options) *Result {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	p := &Parser{FS: os.DirFS("/")}
	ds, fs, err := p.Parse(filepath.ToSlash(abs))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return Translate(ds, fs, opt)
}

func report(r *Result) string {
	var b bytes.Buffer
	WriteReport(&b, r)
	return b.String()
}

// finding looks for a finding on line (of any file when line > 0, any
// line when 0) at level whose text contains want.
func hasFinding(r *Result, line int, l Level, want string) bool {
	for _, f := range r.Findings {
		if (line == 0 || f.Pos.Line == line) && f.Level == l && strings.Contains(f.What, want) {
			return true
		}
	}
	return false
}

type expect struct {
	line  int
	level Level
	what  string
}

func checkFindings(t *testing.T, r *Result, want []expect) {
	t.Helper()
	for _, e := range want {
		if !hasFinding(r, e.line, e.level, e.what) {
			t.Errorf("no %v finding on line %d containing %q; report:\n%s", e.level, e.line, e.what, report(r))
		}
	}
}

// The seeds' own examples: everything the text lost (addresses) or got
// wrong (Satify, a default domain that is not configured, placeholders)
// is reported with its line, and both outputs refuse to pass their checks.
func TestSeedExamples(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []expect
	}{
		{"pyauthenntlm2.conf", []expect{
			{7, Translated, "AuthType NTLM"},
			{10, Translated, "PyAuthenNTLM2 → AuthnzFcgiCheckAuthnProvider"},
			{11, Translated, `name = "WDOMAIN"`},
			{12, Problem, "no address given"},
			{13, Problem, "no address given"},
			{19, Problem, "names no host or address"},
			{20, Problem, "a typo for Satisfy"},
		}},
		{"authenntlm.conf", []expect{
			{5, Translated, `schemes = ["ntlm", "basic"]`},
			{10, Translated, `name = "name_domain1", dcs = ["name_of_pdc1"]`},
			{11, Translated, `dcs = ["pdc_for_domain", "bdc_for_domain"]`},
			{14, Translated, `name_format = "sam"`},
			{15, Translated, "ntlm_debug = 1"},
			{0, Problem, `auth.default_domain "wingr1" is not a configured [[domain]]`},
		}},
		{"cookie.conf", []expect{
			{6, Translated, "Apache2::AuthenNTLM::Cookie"},
			{8, Translated, `name = "domain", dcs = ["primary_domain_controller", "other_controller"]`},
			{12, Translated, `[cookie] name = "my_cookie_name"`},
			{16, Problem, "only relative times"},
			{20, Problem, "refresh must be a number of seconds"},
			{22, Note, "new random secret"},
			{6, Note, "no Require line in this block"},
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			r := translateFile(t, filepath.Join("testdata", "seeds", tc.file), Options{CookieSecretFile: "cookie.key"})
			checkFindings(t, r, tc.want)
			if r.Problems() == 0 {
				t.Fatal("no problems reported")
			}
			if !bytes.Contains(r.Conf, []byte("ntlm_migrate_unresolved")) || !bytes.Contains(r.Site, []byte("NTLMMigrateUnresolved")) {
				t.Error("outputs not marked unresolved")
			}
			if err := apacheCheck(t, r.Site); err == nil {
				t.Error("apache2 -t accepts a site with unresolved problems")
			}
			if err := authorizerCheck(t, r.Conf, nil); err == nil {
				t.Error("ntlm-fcgi-authorizer -check accepts a conf.toml with unresolved problems")
			}
		})
	}
}

// The testdata copies of the seeds' examples must stay what the seeds say:
// every directive line of a copy is in its seed file.
func TestSeedCopiesMatchSeeds(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "seeds")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("the seeds (%s) are not here: %v", dir, err)
	}
	for copyName, seeds := range map[string][]string{
		"pyauthenntlm2.conf": {"000_e0e6ba7a7e8c1b9a.txt"},
		"authenntlm.conf":    {"001_69d9e4110890040d.txt"},
		"cookie.conf":        {"003_74f37d528b3cd0aa.txt", "004_6a47b8cbad0a5709.txt"},
	} {
		var seedText string
		for _, s := range seeds {
			b, err := os.ReadFile(filepath.Join(dir, s))
			if err != nil {
				t.Fatal(err)
			}
			seedText += string(b)
		}
		b, err := os.ReadFile(filepath.Join("testdata", "seeds", copyName))
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range strings.Split(string(b), "\n") {
			l = strings.TrimSpace(l)
			if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "</") {
				continue
			}
			if !strings.Contains(seedText, l) {
				t.Errorf("%s:%d: %q is not in %v", copyName, i+1, l, seeds)
			}
		}
	}
}

// Configurations of our own: several blocks, Include files, comma lists,
// groups, Allow/Satisfy, Basic and cookies. Everything translates, and the
// outputs pass apache2 -t (with apache/goauthenntlm.conf) and
// ntlm-fcgi-authorizer -check.
func TestOwnConfigs(t *testing.T) {
	tmp := t.TempDir()
	pass := filepath.Join(tmp, "ldap.pass")
	os.WriteFile(pass, []byte("x\n"), 0o600)
	opt := Options{LDAPBindUser: "svc-ntlm@EXAMPLE.COM", LDAPBindPasswordFile: pass, CookieSecretFile: "cookie.key", GroupsCacheDir: groupsCache(t)}
	for _, tc := range []struct {
		name       string
		file       string
		opt        Options
		site, conf []string
		notInSite  []string
		want       []expect
	}{
		{
			name: "PyAuthenNTLM2", file: "py/apache2.conf", opt: opt,
			site: []string{
				"Require user jdoe bob\n",
				"Require user carol\n",
				"Header set X-Frame-Options DENY\n",
				`Require expr "%{REMOTE_USER} != '' && (%{reqenv:AD_GROUPS} -strcmatch '*|Administrators|*' || %{reqenv:AD_GROUPS} -strcmatch '*|Power Users|*')"`,
				"    <RequireAny>\n        Require ip 10.1.0.0/16 192.168.1.5\n        Require host monitor.example.com\n        Require valid-user\n    </RequireAny>\n",
				"    <RequireAll>\n        Require ip 10.2\n        <RequireAny>\n            Require valid-user\n        </RequireAny>\n    </RequireAll>\n",
				"# From ", ", inside <VirtualHost *:80>",
			},
			notInSite: []string{"Python", "Order", "Allow", "Satisfy"},
			conf: []string{
				`schemes = ["ntlm", "basic"]`, `name_format = "sam"`, `default_domain = "EXAMPLE"`,
				`dcs = ["dc1.example.com", "dc2.example.com"]`, `ldap_urls = ["ldaps://dc1.example.com"]`, `ldap_base_dn = "DC=example,DC=com"`,
				`realm = "Intranet reports"`,
			},
			want: []expect{
				{7, Note, "matches no file"},
				{2, Note, "outside the NTLM blocks"},
				{6, Translated, "Require user jdoe bob"},
			},
		},
		{
			name: "PyAuthenNTLM2, external groups", file: "py/apache2.conf",
			opt:  Options{Groups: GroupsExternal, LDAPBindUser: "u", LDAPBindPasswordFile: pass, GroupCheck: "/usr/local/bin/ntlm-group-check", ConfPath: "/etc/goauthenntlm/conf.toml"},
			want: []expect{{16, Translated, `Require external-group "Administrators" "Power Users"`}},
		},
		{
			name: "Apache2::AuthenNTLM::Cookie", file: "perl/apache2.conf", opt: opt,
			site: []string{"Require user jdoe alice\n", "<Location /app/api>\n    AuthType NTLM\n", "    require valid-user\n"},
			notInSite: []string{
				"Perl", "IfModule", "AuthBasicAuthoritative", "s3cr3t",
			},
			conf: []string{
				`schemes = ["ntlm", "basic"]`, `name_format = "sam"`, `default_domain = "EXAMPLE"`, `dcs = ["dc1.example.com", "dc2.example.com"]`,
				"[cookie]\nenabled = true\n", `name = "APPAUTH"`, `refresh = "1h0m0s"`, `lifetime = "8h0m0s"`, `secret_files = ["cookie.key"]`,
			},
			want: []expect{
				{22, Note, "a guard on mod_perl/mod_python"},
				{28, Dropped, "not needed: logins are not serialised"},
				{30, Dropped, "removed in Apache 2.4"},
				{17, Note, "not carried over"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := translateFile(t, filepath.Join("testdata", tc.file), tc.opt)
			checkFindings(t, r, tc.want)
			rep := report(r)
			if strings.Contains(rep, "s3cr3t") {
				t.Errorf("the report shows a secret:\n%s", rep)
			}
			if tc.site == nil {
				return
			}
			if r.Problems() != 0 {
				t.Fatalf("problems:\n%s", rep)
			}
			for _, s := range tc.site {
				if !bytes.Contains(r.Site, []byte(s)) {
					t.Errorf("site lacks %q:\n%s", s, r.Site)
				}
			}
			for _, s := range tc.notInSite {
				if bytes.Contains(r.Site, []byte(s)) {
					t.Errorf("site still has %q:\n%s", s, r.Site)
				}
			}
			for _, s := range tc.conf {
				if !bytes.Contains(r.Conf, []byte(s)) {
					t.Errorf("conf.toml lacks %q:\n%s", s, r.Conf)
				}
			}
			if err := apacheCheck(t, r.Site); err != nil {
				t.Errorf("apache2 -t: %v\n%s", err, r.Site)
			}
			extra := map[string][]byte{}
			if r.CookieSecret {
				extra["cookie.key"] = []byte("0123456789abcdef0123456789abcdef0123456789\n")
			}
			if err := authorizerCheck(t, r.Conf, extra); err != nil {
				t.Errorf("ntlm-fcgi-authorizer -check: %v\n%s", err, r.Conf)
			}
		})
	}
}

func TestTranslateCases(t *testing.T) {
	py := func(body string) string {
		return "<Location /x>\nAuthType NTLM\nPythonAuthenHandler pyntlm\nPythonOption Domain EXAMPLE\nPythonOption PDC dc1\n" + body + "</Location>\n"
	}
	perl := func(path, body string) string {
		return "<Location " + path + ">\nPerlAuthenHandler Apache2::AuthenNTLM\nAuthType ntlm\nPerlAddVar ntdomain \"EXAMPLE dc1\"\n" + body + "</Location>\n"
	}
	for _, tc := range []struct {
		name    string
		file    string // the input's name, /a.conf when empty
		conf    string
		opt     Options
		site    string // in the site, when not empty
		problem string // a problem containing this, when not empty
		note    string
	}{
		{name: "comma list", conf: py("Require user a,b, c\n"), site: "Require user a b c\n"},
		{name: "backslash user", conf: perl("/x", "Require user EXAMPLE\\jdoe\n"), site: "Require user \"EXAMPLE\\\\jdoe\"\n"},
		{name: "perl comma kept", conf: perl("/x", "Require user a,b\n"), site: "Require user a,b\n", note: "never matched"},
		{name: "perl default is logon", conf: perl("/x", "Require valid-user\n"), site: "Require valid-user"},
		{name: "group quote", conf: py("Require group O'Brien\n"), opt: Options{LDAPBindUser: "u", LDAPBindPasswordFile: "/p"}, problem: "cannot go into Require expr"},
		{name: "group wildcard", conf: py("Require group Web*\n"), opt: Options{LDAPBindUser: "u", LDAPBindPasswordFile: "/p"}, problem: "cannot go into Require expr"},
		{name: "group needs base DN", conf: py("Require group WebUsers\n"), opt: Options{LDAPBindUser: "u", LDAPBindPasswordFile: "/p"}, problem: "LDAP base DN"},
		{name: "group needs account", conf: py("Require group WebUsers\n"), problem: "LDAP service account"},
		{name: "external group", conf: py("Require group WebUsers,PowerUsers\n"), opt: Options{Groups: GroupsExternal, GroupCheck: "/g", ConfPath: "/c"}, site: "GroupExternal adgroup\n    Require external-group \"WebUsers\" \"PowerUsers\"\n", problem: "LDAP base DN"},
		{name: "perl group with groupfile", conf: perl("/x", "AuthGroupFile /etc/groups\nRequire group staff\n"), site: "Require group staff\n"},
		{name: "deny particular host", conf: py("Require valid-user\nOrder allow,deny\nAllow from all\nDeny from 10.0.0.1\n"), problem: "Deny from particular hosts"},
		{name: "allow all satisfy any", conf: py("Require valid-user\nOrder deny,allow\nDeny from all\nAllow from all\nSatisfy any\n"), site: "    Require all granted\n", note: "no login is asked for"},
		{name: "allow env", conf: py("Require valid-user\nOrder deny,allow\nDeny from all\nAllow from env=internal\nSatisfy any\n"), site: "Require env internal\n"},
		{name: "nested access", conf: py("<Limit POST>\nOrder deny,allow\n</Limit>\nRequire valid-user\n"), problem: "inside a nested section"},
		{name: "nested require rewritten", conf: py("<Limit POST>\nRequire user a,b\n</Limit>\n"), site: "    <Limit POST>\n        Require user a b\n    </Limit>\n"},
		{name: "ldap port", conf: "<Location /x>\nPythonAuthenHandler pyntlm\nPythonOption Domain E\nPythonOption PDC ldap://dc:3268/DC=e\nRequire valid-user\n</Location>\n", problem: "port 3268"},
		{name: "variable", conf: perl("/x", "PerlSetVar defaultdomain ${DOM}\nRequire valid-user\n"), problem: "${VARIABLE}"},
		{name: "name formats disagree", conf: py("PythonOption NameFmt SAM\nRequire valid-user\n") + strings.Replace(py("PythonOption NameFmt LogOn\nRequire valid-user\n"), "/x", "/y", 1), problem: "blocks disagree on [auth] name_format"},
		{name: "schemes disagree", conf: perl("/x", "Require valid-user\n") + strings.Replace(perl("/y", "Require valid-user\n"), "AuthType ntlm", "AuthType ntlm,basic", 1), problem: "disagree on the schemes"},
		{name: "domain sets differ", conf: perl("/x", "Require valid-user\n") + "<Location /y>\nPerlAuthenHandler Apache::AuthenNTLM\nAuthType ntlm\nPerlAddVar ntdomain \"OTHER dc9\"\nRequire valid-user\n</Location>\n", problem: "accepted logins of"},
		{name: "sam with two domains", conf: perl("/x", "PerlAddVar ntdomain \"OTHER dc9\"\nPerlSetVar splitdomainprefix 1\nRequire valid-user\n"), site: "Require valid-user", problem: "bare user name for 2 domains (EXAMPLE, OTHER)"},
		{name: "fallback needs LDAP", conf: perl("/x", "PerlSetVar fallbackdomain EXAMPLE\nRequire valid-user\n"), site: "Require valid-user", problem: "fallback_domain needs domain EXAMPLE's LDAP base DN", note: "fallback_domain needs its domain's directory"},
		{name: "dcs differ", conf: perl("/x", "Require valid-user\n") + strings.Replace(perl("/y", "Require valid-user\n"), "EXAMPLE dc1", "EXAMPLE dc2", 1), problem: "which ones?"},
		{name: "unknown subclass", conf: "<Location /x>\nPerlAuthenHandler Apache::MyAuthenNTLM\n</Location>\n", problem: "does not know"},
		{name: "server level", conf: "PythonAuthenHandler pyntlm\n", problem: "outside any <Location>"},
		{name: "unquoted ntdomain", conf: "<Location /x>\nPerlAuthenHandler Apache::AuthenNTLM\nPerlAddVar ntdomain EXAMPLE dc1\n</Location>\n", problem: "one quoted string"},
		{name: "authoritative off", conf: perl("/x", "PerlSetVar ntlmauthoritative off\nRequire valid-user\n"), site: "Authoritative Off RequireBasicAuth Off", note: "Authoritative Off"},
		{name: "outer option per vhost", conf: "<VirtualHost *:80>\nPerlAddVar ntdomain \"A dca\"\n<Location /x>\nPerlAuthenHandler Apache::AuthenNTLM\nRequire valid-user\n</Location>\n</VirtualHost>\n<VirtualHost *:81>\nPerlAddVar ntdomain \"B dcb\"\n<Location /y>\nPerlAuthenHandler Apache::AuthenNTLM\nRequire valid-user\n</Location>\n</VirtualHost>\n", problem: "this block accepted logins of A only"},
		{name: "closer outer option wins", conf: "PythonOption Domain OUTER\nPythonOption PDC dc0\n<VirtualHost *:80>\nPythonOption Domain INNER\n<Location /x>\nPythonAuthenHandler pyntlm\nRequire valid-user\n</Location>\n</VirtualHost>\n", site: "Require valid-user", note: "outside the NTLM blocks"},
		{name: "option in a sibling section", conf: perl("/x", "Require valid-user\n") + "<Location />\nPerlSetVar ntlmdebug 2\n</Location>\n", problem: "not around any of them"},
		{name: "htaccess", file: "/var/www/x/.htaccess", conf: "AuthType ntlm\nPerlAuthenHandler Apache::AuthenNTLM\nPerlAddVar ntdomain \"E dc\"\nrequire valid-user\n", site: "<Directory \"/var/www/x\">\n    AuthType NTLM\n", note: "an .htaccess file"},
		{name: "nothing to migrate", conf: "<Location /x>\nRequire valid-user\n</Location>\n", problem: "nothing to migrate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.file == "" {
				tc.file = "/a.conf"
			}
			r := translateMap(t, map[string]string{tc.file: tc.conf}, tc.file, tc.opt)
			if tc.site != "" && !bytes.Contains(r.Site, []byte(tc.site)) {
				t.Errorf("site lacks %q:\n%s\n%s", tc.site, r.Site, report(r))
			}
			if tc.problem != "" && !hasFinding(r, 0, Problem, tc.problem) {
				t.Errorf("no problem %q:\n%s", tc.problem, report(r))
			}
			if tc.problem == "" && r.Problems() > 0 {
				t.Errorf("problems:\n%s", report(r))
			}
			if tc.name == "sam with two domains" && !bytes.Contains(r.Conf, []byte(`name_format = "logon"`)) {
				t.Errorf("two domains, conf.toml without name_format = \"logon\":\n%s", r.Conf)
			}
			if tc.name == "closer outer option wins" && !bytes.Contains(r.Conf, []byte(`name = "INNER"`)) {
				t.Errorf("the closer Domain lost:\n%s", r.Conf)
			}
			if tc.note != "" && !hasFinding(r, 0, Note, tc.note) {
				t.Errorf("no note %q:\n%s", tc.note, report(r))
			}
		})
	}
}

func TestTOMLQuoting(t *testing.T) {
	for _, s := range []string{`a"b`, `a\b`, "é", `\u0041`, "x'''y"} {
		var v struct{ K string }
		if _, err := toml.Decode("K = "+tomlString(s), &v); err != nil || v.K != s {
			t.Errorf("%q: got %q, %v", s, v.K, err)
		}
	}
}

func FuzzTranslate(f *testing.F) {
	for _, name := range []string{"seeds/pyauthenntlm2.conf", "seeds/authenntlm.conf", "seeds/cookie.conf", "perl/apache2.conf", "py/sites/locations.conf"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("<Location /a>\nPythonAuthenHandler pyntlm\nPythonOption Domain E\nPythonOption PDC d\nSetEnv DB_PASS x1\nRequestHeader set X-Api-Key x2\n" +
		"AuthLDAPBindPassword x3\nPerlSetVar MySecret x4\nProxyPass / http://u:x5@h/\n<If \"%{HTTP:X-Token} == 'x6'\">\n</If>\nRequire valid-user\n</Location>\n")
	f.Add("<Location /a>\nPythonAuthenHandler pyntlm\nPythonOption Domain E\nPythonOption PDC d\nRequire expr %{HTTP:X-Token} == 'x7'\n</Location>\n")
	f.Fuzz(func(t *testing.T, data string) {
		ds, fs, err := parseMap(t, map[string]string{"/a": data}, "/a")
		if err != nil {
			return
		}
		r := Translate(ds, fs, Options{LDAPBindUser: "u", LDAPBindPasswordFile: "/p", CookieSecretFile: "k"})
		if r.Blocks == 0 {
			return
		}
		// conf.toml is always TOML (a problem adds a key the check refuses,
		// never a syntax error), and the site is Apache syntax we can read
		// back with balanced sections.
		var v map[string]any
		if _, err := toml.Decode(string(r.Conf), &v); err != nil {
			t.Fatalf("conf.toml does not decode: %v\n%s", err, r.Conf)
		}
		if _, _, err := parseMap(t, map[string]string{"/s": string(r.Site)}, "/s"); err != nil {
			t.Fatalf("site does not parse: %v\n%s", err, r.Site)
		}
		// No directive that may hold a secret is written or shown as it
		// was: no line of the site is one, no finding shows one.
		secret := map[string]bool{}
		var walk func([]*Directive)
		walk = func(ds []*Directive) {
			for _, d := range ds {
				if secretBearing(d) {
					secret[d.Raw] = true
				}
				walk(d.Children)
			}
		}
		walk(ds)
		for _, l := range strings.Split(string(r.Site), "\n") {
			if secret[strings.TrimSpace(l)] {
				t.Fatalf("the site holds %q", l)
			}
		}
		// Nor inside a line (a comment quoting it).
		for raw := range secret {
			if bytes.Contains(r.Site, []byte(raw)) {
				t.Fatalf("the site quotes %q", raw)
			}
		}
		for _, f := range r.Findings {
			if secret[f.Directive] {
				t.Fatalf("the report shows %q", f.Directive)
			}
		}
	})
}

// apacheCheck runs apache2 -t on the site with the project's snippet, in a
// minimal server configuration of its own.
func apacheCheck(t *testing.T, site []byte) error {
	t.Helper()
	bin, err := exec.LookPath("apache2")
	if err != nil {
		t.Skip("apache2 is not installed (scripts/deps.sh installs it): the generated site cannot be checked")
	}
	dir := t.TempDir()
	snippet, err := filepath.Abs(filepath.Join("..", "..", "apache", "goauthenntlm.conf"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "site.conf"), site, 0o644)
	var conf strings.Builder
	conf.WriteString("ServerRoot " + dir + "\nServerName localhost\nListen 127.0.0.1:8\nPidFile " + dir + "/pid\nErrorLog " + dir + "/error.log\nDefaultRuntimeDir " + dir + "\n")
	for _, m := range []string{"mpm_event", "authn_core", "authz_core", "authz_user", "authz_host", "authnz_fcgi", "authnz_external", "headers", "setenvif"} {
		conf.WriteString("LoadModule " + m + "_module /usr/lib/apache2/modules/mod_" + m + ".so\n")
	}
	conf.WriteString("Include " + snippet + "\nInclude " + dir + "/site.conf\n")
	os.WriteFile(filepath.Join(dir, "httpd.conf"), []byte(conf.String()), 0o644)
	out, err := exec.Command(bin, "-t", "-f", filepath.Join(dir, "httpd.conf")).CombinedOutput()
	if err != nil {
		return &checkError{err, out}
	}
	return nil
}

type checkError struct {
	err error
	out []byte
}

func (e *checkError) Error() string { return e.err.Error() + ": " + string(e.out) }

func TestMain(m *testing.M) {
	code := m.Run()
	if authzBin != "" {
		os.RemoveAll(filepath.Dir(authzBin))
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	authzBin  string
	buildErr  error
)

// authorizerCheck runs the real ntlm-fcgi-authorizer -check on conf, in a
// directory holding the extra files it names.
func authorizerCheck(t *testing.T, conf []byte, extra map[string][]byte) error {
	t.Helper()
	buildOnce.Do(func() {
		goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
		dir, err := os.MkdirTemp("", "migrate-test-")
		if err != nil {
			buildErr = err
			return
		}
		authzBin = filepath.Join(dir, "ntlm-fcgi-authorizer")
		out, err := exec.Command(goBin, "build", "-o", authzBin, "github.com/goauthenntlm/goauthenntlm/cmd/ntlm-fcgi-authorizer").CombinedOutput()
		if err != nil {
			buildErr = &checkError{err, out}
		}
	})
	if buildErr != nil {
		t.Fatalf("build ntlm-fcgi-authorizer: %v", buildErr)
	}
	dir := t.TempDir()
	for name, b := range extra {
		os.WriteFile(filepath.Join(dir, name), b, 0o600)
	}
	path := filepath.Join(dir, "conf.toml")
	os.WriteFile(path, conf, 0o644)
	out, err := exec.Command(authzBin, "-config", path, "-check").CombinedOutput()
	if err != nil {
		return &checkError{err, out}
	}
	return nil
}

// groupsCache is a groups cache directory as -check wants it: 2750, in the
// group of the default helper user, www-data. Only root can give it that
// group; elsewhere the test is skipped if www-data exists (-check would
// rightly say it cannot read the cache).
func groupsCache(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "groups")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o750) // past the umask
	g, err := user.LookupGroup("www-data")
	if err != nil {
		return dir // no such group: -check has no helper user to check
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the groups cache www-data's group, as -check requires")
	}
	gid, _ := strconv.Atoi(g.Gid)
	if err := os.Chown(dir, -1, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o750|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	return dir
}

// An Include inside a block whose lines are all kept stays an Include line
// (its contents are never pasted), and Apache reads it where it is.
func TestIncludeKeptApacheReads(t *testing.T) {
	dir := t.TempDir()
	inc := filepath.Join(dir, "extra.conf")
	os.WriteFile(inc, []byte("Header set X-Frame-Options DENY\nSetEnvIf Request_URI ^/app APP_MODE=Z3KRIT\n"), 0o644)
	conf := filepath.Join(dir, "old.conf")
	os.WriteFile(conf, []byte("<Location /app>\n    PythonAuthenHandler pyntlm\n    PythonOption Domain E\n    PythonOption PDC dc1\n    Include "+inc+"\n    Require valid-user\n</Location>\n"), 0o644)
	r := translateFile(t, conf, Options{})
	if r.Problems() != 0 || !bytes.Contains(r.Site, []byte("\n    Include "+inc+"\n")) || bytes.Contains(r.Site, []byte("Z3KRIT")) || strings.Contains(report(r), "Z3KRIT") {
		t.Fatalf("site:\n%s\nreport:\n%s", r.Site, report(r))
	}
	if err := apacheCheck(t, r.Site); err != nil {
		t.Errorf("apache2 -t: %v\n%s", err, r.Site)
	}
}
