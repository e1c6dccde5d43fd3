package migrate

import (
	"bytes"
	"strings"
	"testing"
)

// perlSectionConf is Apache::AuthenNTLM's synopsis with what mod_perl
// configurations around it hold: a <Perl> section (Perl code, with a
// secret in it), POD, and __END__.
const perlSectionConf = `<Perl>
  # Perl code, not directives: <Location> and PerlSetVar here are Perl text
  $PerlConfig = "PerlSetVar dbpw MARKER1";
  my %h = (key => 'MARKER2');
  <Location /in-perl>
</Perl>
=pod
Some documentation: MARKER3 <Location />
=cut
<Location />
PerlAuthenHandler Apache::AuthenNTLM
AuthType ntlm,basic
AuthName test
require valid-user
PerlAddVar ntdomain "name_domain1   name_of_pdc1"
PerlSetVar defaultdomain wingr1
<Perl>
  $x = 'MARKER4';
</Perl>
</Location>
__END__
<Location /after-end> MARKER5
`

// TestPerlSectionOpaque: a <Perl> section (and POD, and what follows
// __END__) is not configuration Apache reads as directives, so the file
// is not refused for it: the rest translates, each is reported once as a
// NOTE with its line range, and its text is in no output.
func TestPerlSectionOpaque(t *testing.T) {
	r := translateMap(t, map[string]string{"/a.conf": perlSectionConf}, "/a.conf", Options{})
	rep := report(r)
	if r.Blocks != 1 {
		t.Fatalf("blocks = %d, want 1:\n%s", r.Blocks, rep)
	}
	for _, out := range [][]byte{r.Site, r.Conf, []byte(rep)} {
		if bytes.Contains(out, []byte("MARKER")) || bytes.Contains(out, []byte("in-perl")) || bytes.Contains(out, []byte("after-end")) {
			t.Errorf("an opaque part was copied:\n%s", out)
		}
	}
	for _, want := range []struct {
		line int
		text string
	}{{1, "lines 1-6: not read: Perl code"}, {7, "lines 7-9: not read: POD"}, {17, "lines 17-19: not read: Perl code"}, {21, "not read: everything after __END__"}} {
		if !hasFinding(r, want.line, Note, want.text) {
			t.Errorf("no NOTE %q on line %d:\n%s", want.text, want.line, rep)
		}
	}
	if !strings.Contains(string(r.Site), "AuthnzFcgiCheckAuthnProvider") {
		t.Errorf("the block was not translated:\n%s", r.Site)
	}
}

// TestPerlSectionUnclosed: a <Perl> never closed is refused, without
// repeating its text.
func TestPerlSectionUnclosed(t *testing.T) {
	_, _, err := parseMap(t, map[string]string{"/a.conf": "<Perl>\n$x = 'MARKER';\n"}, "/a.conf")
	if err == nil || strings.Contains(err.Error(), "MARKER") || !strings.Contains(err.Error(), "never closed") {
		t.Fatalf("err = %v", err)
	}
}

// TestOptionAndQuerySecrets: a PerlSetVar/PythonOption that is not an
// option of the old modules is not NTLM's business and may hold anything
// (PerlSetVar Login admin:pw): kept by reference (file:line), its value
// neither written nor shown. A secret in a URL's query string (?sig=,
// &token=, apikey=, access_token=, auth=) in any argument is masked.
func TestOptionAndQuerySecrets(t *testing.T) {
	for _, tc := range []struct {
		line   string
		secret bool
		level  Level // of the finding on the line
	}{
		{"PerlSetVar Login admin:MARKER", true, Problem},
		{"PerlSetVar Backend MARKER", true, Note},
		{"PerlSetVar Backend host:8080", true, Note},
		{"PerlAddVar Login admin:MARKER", true, Problem},
		{"PerlSetEnv DBLOGIN admin:MARKER", true, Problem},
		{"ProxyPass /b http://backend/x?sig=MARKER", true, Problem},
		{"ProxyPass /b http://backend/x?a=1&auth=MARKER", true, Problem},
		{"Redirect /old https://h/new?x=1&token=MARKER", true, Problem},
		{"RewriteRule ^/r https://h/r?apikey=MARKER [R]", true, Problem},
		{"ErrorDocument 401 https://h/e?access_token=MARKER", true, Problem},
		{"ProxyPass /b http://backend/x;jsessionid=MARKER", true, Problem},
		{"ProxyPass /MARKER http://backend/x?page=2", false, Kept},
		{"RewriteRule ^/MARKER /index.php?q=$1 [L]", false, Kept},
	} {
		t.Run(tc.line, func(t *testing.T) {
			r := blockLine(t, tc.line, tc.secret)
			if tc.secret && !bytes.Contains(r.Site, []byte("a.conf:5")) {
				t.Errorf("the site does not name the line:\n%s", r.Site)
			}
			if !hasFinding(r, 5, tc.level, "") {
				t.Errorf("no %v finding on line 5:\n%s", tc.level, report(r))
			}
		})
	}
	// PyAuthenNTLM2: an unknown PythonOption likewise.
	conf := "<Location /x>\nPythonAuthenHandler pyntlm\nAuthType NTLM\nPythonOption Domain E\nPythonOption PDC dc1\nPythonOption Login admin:MARKER\nRequire valid-user\n</Location>\n"
	r := translateMap(t, map[string]string{"/a.conf": conf}, "/a.conf", Options{})
	if rep := report(r); bytes.Contains(r.Site, []byte("MARKER")) || strings.Contains(rep, "MARKER") {
		t.Errorf("PythonOption value copied:\n%s\n%s", r.Site, rep)
	}
}

// TestPODOverToApache: "=over to apache" inside POD resumes the
// configuration (mod_perl's modperl_cmd_pod), "=back" starts POD again.
func TestPODOverToApache(t *testing.T) {
	ds, fs, err := parseMap(t, map[string]string{"/a.conf": "=pod\ndoc MARKER\n=over to apache\nServerName x\n=back\nmore MARKER\n=cut\nListen 80\n"}, "/a.conf")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range ds {
		names = append(names, d.Raw)
	}
	if got := strings.Join(names, "|"); got != "ServerName x|Listen 80" {
		t.Errorf("directives = %q", got)
	}
	if len(fs) != 2 || !strings.Contains(fs[0].What, "lines 1-3") || !strings.Contains(fs[1].What, "lines 5-7") {
		t.Errorf("findings = %v", fs)
	}
}
