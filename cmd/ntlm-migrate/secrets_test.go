package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A block every case below adds lines to: enough for the tool to write its
// outputs.
const block = `<Location /app>
    PythonAuthenHandler pyntlm
    PythonOption Domain EXAMPLE
    PythonOption PDC dc1.example.com
@LINES@
    Require valid-user
</Location>
`

// outputs returns every file the tool left in dir, by name.
func outputs(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	es, _ := os.ReadDir(dir)
	for _, e := range es {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err == nil {
			out[e.Name()] = b
		}
	}
	return out
}

// leaks names where marker shows: the printed report or errors, or a file
// the tool wrote.
func leaks(t *testing.T, printed string, dir, marker string) []string {
	t.Helper()
	var where []string
	if strings.Contains(printed, marker) {
		where = append(where, "the report")
	}
	for name, b := range outputs(t, dir) {
		if bytes.Contains(b, []byte(marker)) {
			where = append(where, name)
		}
	}
	return where
}

// The secrets of issue 23: values that may be secret are neither printed
// nor written, and the report says where they are (file:line) so that the
// admin can carry them over by hand.
func TestSecretsNeverCopied(t *testing.T) {
	const marker = "M4RKER-s3cr3t"
	for _, tc := range []struct {
		name, line string
		shown      string // what the report shows instead
	}{
		{"AuthLDAPBindPassword", "AuthLDAPBindPassword " + marker, "AuthLDAPBindPassword <hidden>"},
		{"SetEnv", "SetEnv DB_PASS " + marker, "SetEnv DB_PASS <hidden>"},
		{"SetEnv, harmless name", "SetEnv BACKEND_OPTS " + marker, "SetEnv BACKEND_OPTS <hidden>"},
		{"SetEnvIf", `SetEnvIf Request_URI "^/x" TOKEN=` + marker, "SetEnvIf <hidden>"},
		{"RequestHeader", "RequestHeader set X-Api-Key " + marker, "RequestHeader set X-Api-Key <hidden>"},
		{"RequestHeader always", `RequestHeader always set Authorization "Basic ` + marker + `"`, "RequestHeader always set Authorization <hidden>"},
		{"Header with a secret name", "Header set X-Auth-Token " + marker, "Header <hidden>"},
		{"PerlSetVar", "PerlSetVar MyAppSecret " + marker, "PerlSetVar MyAppSecret <hidden>"},
		{"PerlSetVar DBPass", "PerlSetVar db_pass " + marker, "PerlSetVar db_pass <hidden>"},
		{"PythonOption", "PythonOption ApiToken " + marker, "PythonOption ApiToken <hidden>"},
		{"ProxyPass credentials", "ProxyPass /b http://svc:" + marker + "@backend.example.com/", "ProxyPass <hidden>"},
		{"an @ in the password", "BalancerMember http://svc:p@" + marker + "@backend.example.com/", "BalancerMember <hidden>"},
		{"a token as the user", "ProxyPass /c https://" + marker + "@api.example.com/", "ProxyPass <hidden>"},
		{"a password argument", "DBDParams host=db user=web pass=" + marker, "DBDParams <hidden>"},
		{"an If expression", `<If "%{HTTP:X-Key} == '` + marker + `'">` + "\n        Require all granted\n    </If>", "<If <hidden>>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := filepath.Join(dir, "old.conf")
			os.WriteFile(conf, []byte(strings.Replace(block, "@LINES@", "    "+tc.line, 1)), 0o644)
			out := filepath.Join(dir, "out")
			code, printed := runCapture(t, "-o", out, conf)
			if w := leaks(t, printed, out, marker); len(w) > 0 {
				t.Errorf("the secret shows in %v (exit %d):\n%s\nsite:\n%s", w, code, printed, outputs(t, out)["goauthenntlm-site.conf"])
			}
			// Named with its place, so that it can be carried over by hand.
			if !strings.Contains(printed, conf+":5: PROBLEM: "+tc.shown) {
				t.Errorf("the report does not say %q at %s:5:\n%s", tc.shown, conf, printed)
			}
			if code != 1 {
				t.Errorf("exit %d, want 1 (a line not carried over is a problem)", code)
			}
		})
	}
}

// What is not secret is still carried over: the masking must not eat the
// block.
func TestNotSecretKept(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "old.conf")
	lines := []string{
		"Header set X-Frame-Options DENY", "RequestHeader unset Authorization", "SetEnv no-gzip",
		"ProxyPass /b http://backend.example.com/", "PassEnv LANG", `<FilesMatch "\.key$">`, "Require all denied", "</FilesMatch>",
	}
	os.WriteFile(conf, []byte(strings.Replace(block, "@LINES@", "    "+strings.Join(lines, "\n    "), 1)), 0o644)
	out := filepath.Join(dir, "out")
	if code, printed := runCapture(t, "-o", out, conf); code != 0 {
		t.Fatalf("exit %d:\n%s", code, printed)
	}
	site := outputs(t, out)["goauthenntlm-site.conf"]
	for _, l := range lines {
		if !bytes.Contains(site, []byte(l+"\n")) {
			t.Errorf("site lacks %q:\n%s", l, site)
		}
	}
}

// Include of a file that is not configuration (a shadow file, as root
// runs the tool): refused at its first line, and not one byte of it is
// printed or written, whether it is included inside a block or outside.
func TestIncludeShadowLike(t *testing.T) {
	dir := t.TempDir()
	shadow := filepath.Join(dir, "shadow")
	os.WriteFile(shadow, []byte("root:$6$M4RKsalt$M4RKhash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nM4RKuser:!:19000::::::\n"), 0o600)
	for name, body := range map[string]string{
		"in the block": strings.Replace(block, "@LINES@", "    Include "+shadow, 1),
		"at the top":   "Include " + shadow + "\n" + strings.Replace(block, "@LINES@", "", 1),
		"by a glob":    strings.Replace(block, "@LINES@", "    Include "+dir+"/sha*", 1),
	} {
		t.Run(name, func(t *testing.T) {
			conf := filepath.Join(t.TempDir(), "old.conf")
			os.WriteFile(conf, []byte(body), 0o644)
			out := filepath.Join(t.TempDir(), "out")
			code, printed := runCapture(t, "-o", out, conf)
			if w := leaks(t, printed, out, "M4RK"); len(w) > 0 {
				t.Errorf("the shadow file shows in %v:\n%s", w, printed)
			}
			if code != 2 || !strings.Contains(printed, shadow+":1: not Apache configuration") {
				t.Errorf("exit %d, want 2 and the place it stopped:\n%s", code, printed)
			}
		})
	}
}

// The real /etc/shadow, as an admin would run the tool (root): no line of
// it is printed or written.
func TestIncludeEtcShadow(t *testing.T) {
	shadow, err := os.ReadFile("/etc/shadow")
	if err != nil {
		t.Skipf("/etc/shadow is not readable here (%v): the tool run as root is what this checks", err)
	}
	conf := filepath.Join(t.TempDir(), "old.conf")
	os.WriteFile(conf, []byte(strings.Replace(block, "@LINES@", "    Include /etc/shadow", 1)), 0o644)
	out := filepath.Join(t.TempDir(), "out")
	code, printed := runCapture(t, "-o", out, conf)
	if code != 2 {
		t.Errorf("exit %d, want 2:\n%s", code, printed)
	}
	for _, l := range strings.Split(string(shadow), "\n") {
		// Each line whole, and its hash field alone.
		probes := []string{l}
		if f := strings.Split(l, ":"); len(f) > 1 {
			probes = append(probes, f[1])
		}
		for _, s := range probes {
			if len(s) < 4 || s == "*" || s == "!" || s == "!*" {
				continue
			}
			if w := leaks(t, printed, out, s); len(w) > 0 {
				t.Errorf("a line of /etc/shadow shows in %v", w)
			}
		}
	}
}

// An included file's lines are never pasted, even a bare word that could
// be a password. When they are all kept, the Include line stays; when the
// file also holds the NTLM options, the Include cannot stay (mod_python's
// options would come back), and its other lines are named by file:line.
func TestIncludedNeverPasted(t *testing.T) {
	for _, tc := range []struct {
		name, inc, block string
		code             int
		site, notInSite  []string // @INC@: the included file
	}{
		{
			name: "kept by reference", inc: "Header set X-Frame-Options DENY\nM4RKhunter2\n",
			block: strings.Replace(block, "@LINES@", "    Include @INC@", 1),
			site:  []string{"\n    Include @INC@\n"}, notInSite: []string{"X-Frame-Options"},
		},
		{
			name: "with the NTLM options", inc: "PythonOption Domain EXAMPLE\nPythonOption PDC dc1.example.com\nSetEnv APP_MODE M4RKmode\nM4RKhunter2\n",
			block: "<Location /app>\n    PythonAuthenHandler pyntlm\n    Include @INC@\n    Require valid-user\n</Location>\n",
			code:  1,
			site: []string{"# ntlm-migrate: not copied: the line at @INC@:3", "# ntlm-migrate: not copied: the line at @INC@:4",
				"PROBLEM", `dcs = ["dc1.example.com"]`},
			notInSite: []string{"    Include ", "PythonOption"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			inc := filepath.Join(dir, "extra.conf")
			os.WriteFile(inc, []byte(tc.inc), 0o600)
			conf := filepath.Join(dir, "old.conf")
			os.WriteFile(conf, []byte(strings.ReplaceAll(tc.block, "@INC@", inc)), 0o644)
			out := filepath.Join(dir, "out")
			code, printed := runCapture(t, "-o", out, conf)
			if code != tc.code {
				t.Errorf("exit %d, want %d:\n%s", code, tc.code, printed)
			}
			if w := leaks(t, printed, out, "M4RK"); len(w) > 0 {
				t.Errorf("the included file shows in %v:\n%s", w, printed)
			}
			// The site and conf.toml together, with the report for PROBLEM.
			all := printed + string(outputs(t, out)["goauthenntlm-site.conf"]) + string(outputs(t, out)["conf.toml"])
			for _, s := range tc.site {
				if !strings.Contains(all, strings.ReplaceAll(s, "@INC@", inc)) {
					t.Errorf("outputs lack %q:\n%s", s, all)
				}
			}
			site := string(outputs(t, out)["goauthenntlm-site.conf"])
			for _, s := range tc.notInSite {
				if strings.Contains(site, s) {
					t.Errorf("site holds %q:\n%s", s, site)
				}
			}
		})
	}
}

// A value quoted in a problem's text (a PDC that is not a host or an
// ldap:// URL) shows no credentials, in the report or in conf.toml.
func TestProblemTextHidesCredentials(t *testing.T) {
	const marker = "M4RKER-s3cr3t"
	dir := t.TempDir()
	conf := filepath.Join(dir, "old.conf")
	os.WriteFile(conf, []byte("<Location /app>\n    PythonAuthenHandler pyntlm\n    PythonOption Domain EXAMPLE\n    PythonOption PDC ldapx://svc:"+marker+"@dc1/\n    Require valid-user\n</Location>\n"), 0o644)
	out := filepath.Join(dir, "out")
	code, printed := runCapture(t, "-o", out, conf)
	if w := leaks(t, printed, out, marker); len(w) > 0 {
		t.Errorf("the password shows in %v:\n%s", w, printed)
	}
	if code != 1 || !strings.Contains(printed, "ldapx://<hidden>@dc1/") {
		t.Errorf("exit %d, want 1 and the URL without its credentials:\n%s", code, printed)
	}
}

// TestPerlSectionConfig: Apache::AuthenNTLM's synopsis in a file that also
// holds a <Perl> section with a password in its code, an option of
// another handler with a user:password value, and a backend URL signed
// in its query string. The tool translates it (it refused the whole file
// before: "not Apache configuration"), and the secrets are in no output
// and not in the report; the report names the <Perl> lines.
func TestPerlSectionConfig(t *testing.T) {
	const marker = "M4RKER-s3cr3t"
	conf := `<Perl>
  my $dbpw = '` + marker + `';
  push @PerlSetVar, [DBPW => $dbpw];
</Perl>
<Location />
    PerlAuthenHandler Apache::AuthenNTLM
    AuthType ntlm,basic
    AuthName test
    require valid-user
    PerlAddVar ntdomain "name_domain1   name_of_pdc1"
    PerlSetVar defaultdomain wingr1
    PerlSetVar Login admin:` + marker + `
    ProxyPass /api http://backend/api?sig=` + marker + `
</Location>
`
	dir := t.TempDir()
	path := filepath.Join(dir, "old.conf")
	os.WriteFile(path, []byte(conf), 0o644)
	out := filepath.Join(dir, "out")
	code, printed := runCapture(t, "-o", out, path)
	if w := leaks(t, printed, out, marker); len(w) > 0 {
		t.Errorf("the secret shows in %v (exit %d):\n%s", w, code, printed)
	}
	if !strings.Contains(printed, path+":1: NOTE") || !strings.Contains(printed, "lines 1-4: not read: Perl code") {
		t.Errorf("the report does not name the <Perl> section:\n%s", printed)
	}
	site := string(outputs(t, out)["goauthenntlm-site.conf"])
	if !strings.Contains(site, "AuthnzFcgiCheckAuthnProvider") || !strings.Contains(site, path+":12") || !strings.Contains(site, path+":13") {
		t.Errorf("the block is not translated, or the lines not named:\n%s", site)
	}
	if code != 1 {
		t.Errorf("exit %d, want 1 (the credentials are lines to carry over by hand)", code)
	}
}
