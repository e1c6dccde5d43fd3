package authorizer

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
)

// Each challenge leaves the authorizer in a header field of its own name,
// the first scheme in WWW-Authenticate: Apache merges same-named lines
// into one field, which browsers cannot read.
func TestChallengeFields(t *testing.T) {
	ntlm, neg, basic := "NTLM", "Negotiate", `Basic realm="Intranet", charset="UTF-8"`
	tests := []struct {
		schemes string
		want    []string // WWW-Authenticate, Challenge-2, Challenge-3
	}{
		{`"ntlm"`, []string{ntlm}},
		{`"negotiate"`, []string{neg}},
		{`"basic"`, []string{basic}},
		{`"ntlm", "basic"`, []string{ntlm, basic}},
		{`"basic", "ntlm"`, []string{basic, ntlm}},
		{`"negotiate", "ntlm"`, []string{neg, ntlm}},
		{`"ntlm", "negotiate", "basic"`, []string{ntlm, neg, basic}},
		{`"basic", "negotiate", "ntlm"`, []string{basic, neg, ntlm}},
		{`"negotiate", "basic", "ntlm"`, []string{neg, basic, ntlm}},
	}
	names := []string{wwwAuthenticate, challenge2, challenge3}
	for _, tt := range tests {
		t.Run(tt.schemes, func(t *testing.T) {
			a := newTest(t, "[auth]\nrealm = \"Intranet\"\nschemes = ["+tt.schemes+"]")
			for _, failed := range []bool{false, true} {
				r := a.challenge(failed)
				if r.Status != 401 {
					t.Fatalf("status %d", r.Status)
				}
				for i, name := range names {
					var want []string
					if i < len(tt.want) {
						want = tt.want[i : i+1]
					}
					if got := r.Header[name]; fmt.Sprint(got) != fmt.Sprint(want) {
						t.Errorf("failed=%v: %s = %q, want %q", failed, name, got, want)
					}
				}
				if len(r.Body) != 0 {
					t.Errorf("failed=%v: a body %q would hide the site's ErrorDocument 401", failed, r.Body)
				}
				if got := r.Header.Get("Connection") == "close"; got != failed {
					t.Errorf("failed=%v: Connection close = %v", failed, got)
				}
			}
		})
	}
}

// A Type2 answer is one field with the token: no other challenge may ride
// along (mod_headers adds one only where the authorizer asks for it).
func TestChallengeTokenAlone(t *testing.T) {
	for _, s := range []config.Scheme{config.SchemeNTLM, config.SchemeNegotiate} {
		r := challengeToken(s, []byte("NTLMSSP\x00\x02"))
		if len(r.Header) != 2 || len(r.Header[wwwAuthenticate]) != 1 || r.Header.Get("Content-Type") == "" {
			t.Errorf("%s: header %q, want one WWW-Authenticate and the Content-Type", s, r.Header)
		}
	}
	a := newTest(t, "[auth]\nschemes = [\"negotiate\", \"ntlm\", \"basic\"]")
	if r := a.challengeNTLM(); len(r.Header[wwwAuthenticate]) != 1 || r.Header[challenge2] != nil || r.Header[challenge3] != nil {
		t.Errorf("NTLM after Kerberos: header %q, want NTLM alone", r.Header)
	}
}

// The Apache lines that turn the extra fields into WWW-Authenticate fields,
// then drop them, are in the documented snippet and in the test site,
// spelled as the authorizer names the fields.
func TestApacheConfigAddsChallenges(t *testing.T) {
	for _, f := range []string{"../../apache/goauthenntlm.conf", "../../apache/test-site.conf.in"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{challenge2, challenge3} {
			line := fmt.Sprintf(`Header always add WWW-Authenticate "expr=%%{resp:%s}" "expr=-n %%{resp:%[1]s}"`, name)
			add := strings.Index(string(b), "\n"+line+"\n")
			if add < 0 {
				t.Errorf("%s lacks the line\n%s", f, line)
			}
			// mod_headers runs its lines in order: the field is dropped
			// only after it was copied.
			unset := "Header always unset " + name
			if i := strings.Index(string(b), "\n"+unset+"\n"); i < add {
				t.Errorf("%s lacks the line %q after the add line", f, unset)
			}
		}
	}
}
