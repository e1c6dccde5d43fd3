package migrate

import (
	"bytes"
	"strings"
	"testing"
)

// TestSecretsMissedByName: lines inside an NTLM block whose secret hides
// behind a name secretWord's "pass on its own" did not see (CamelCase or
// capitals), behind a directive that carries values without naming them
// (Define, Use), or in a comparison with a request header (<If>, Require
// expr, RewriteCond: the value a client must send): neither written to
// the site nor shown in the report. The lines that are no secret stay copied.
func TestSecretsMissedByName(t *testing.T) {
	for _, tc := range []struct {
		line   string
		secret bool
	}{
		{"PerlSetVar DBPass MARKER", true},
		{"PerlSetVar ApiPass MARKER", true},
		{"Define DBPASS MARKER", true},
		{"RewriteRule ^ - [E=DBPASS:MARKER]", true},
		{"Use DBSetup MARKER", true},
		{"PerlSetVar SharedSalt MARKER", true},
		{"PerlSetVar HMAC MARKER", true},
		{"<If \"%{HTTP:X-Admin} == 'MARKER'\">\nRequire all granted\n</If>", true},
		{"Require expr %{HTTP:X-Auth} == \"MARKER\"", true},
		{"Require expr %{HTTP:X-Token} == \"MARKER\"", true},
		{"Require expr req('X-Auth') == 'MARKER'", true},
		{"RewriteCond %{HTTP:X-Admin} ^MARKER$", true},
		{"RewriteCond %{HTTP_COOKIE} session=MARKER", true},
		{"RewriteCond %{HTTP_HOST} ^MARKER$", false},
		{"<If \"%{REQUEST_URI} =~ m#MARKER#\">\n</If>", false},
		{"Require expr %{REMOTE_ADDR} == 'MARKER'", false},
		{"ProxyPass /MARKER http://backend/", false},
		{"ProxyPassReverse /MARKER http://backend/", false},
		{"PassEnv MARKER", false},
		{"Define MARKER", false},
		{"Use MARKER", false},
		{"PerlSetVar Passenger MARKER", false},
	} {
		t.Run(tc.line, func(t *testing.T) {
			conf := "<Location /x>\nPerlAuthenHandler Apache2::AuthenNTLM\nAuthType ntlm\nPerlAddVar ntdomain \"EXAMPLE dc1\"\n" + tc.line + "\nRequire valid-user\n</Location>\n"
			r := translateMap(t, map[string]string{"/a.conf": conf}, "/a.conf", Options{})
			rep := report(r)
			inSite, inReport := bytes.Contains(r.Site, []byte("MARKER")), strings.Contains(rep, "MARKER")
			if tc.secret && (inSite || inReport) {
				t.Errorf("the value was copied (site %v, report %v):\n%s\n%s", inSite, inReport, r.Site, rep)
			}
			if !tc.secret && !inSite {
				t.Errorf("a line that is no secret was not copied:\n%s\n%s", r.Site, rep)
			}
		})
	}
}
