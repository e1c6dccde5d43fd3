package authorizer

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goauthenntlm/goauthenntlm/pkg/dc/dctest"
)

// FuzzServeFCGI runs arbitrary Authorization and Cookie headers, two
// requests at a time on one connection, through the whole decision with
// the DC faked. Beside never answering 500, every 200 must be explained: a
// login the DC accepted for that user, in the one domain served. A forged
// cookie, a replayed or anonymous Type3, a binding bypass or a route past
// the DC would show as a 200 for a user no completed login explains.
func FuzzServeFCGI(f *testing.F) {
	secret := filepath.Join(f.TempDir(), "cookie.key")
	if err := os.WriteFile(secret, []byte(strings.Repeat("k", 32)), 0o600); err != nil {
		f.Fatal(err)
	}
	s := newFakeSite(f, "[auth]\nschemes = [\"ntlm\", \"negotiate\", \"basic\"]\nallow_basic_over_http = true\n"+
		"[cookie]\nenabled = true\nsecret_files = [\""+secret+"\"]\n")
	d := s.dcs["EXAMPLE"]
	d.NullSessions = true // a Type3 without credentials gets through only if the authorizer lets it
	d.SetPassword("alice", "pw-alice")

	// A genuine login on the connection the fuzzer uses: its cookies and
	// Type3 seed the corpus, so that mutations start from valid ones.
	c := newClient(40000)
	ch := type2Of(f, c.do(s.Authorizer, ntlmHeader(browserType1(""))))
	type3 := answer(f, ch, "jdoe", "EXAMPLE", "pw-EXAMPLE")
	if r := c.do(s.Authorizer, ntlmHeader(&rawMsg{type3})); r.Status != 200 {
		f.Fatalf("genuine login: %d", r.Status)
	}
	cookies := c.params("")["HTTP_COOKIE"]
	b64 := base64.StdEncoding.EncodeToString
	type1 := ntlmHeader(browserType1(""))
	for _, seed := range [][3]string{
		{"", "", cookies},
		{type1, ntlmHeader(&rawMsg{type3}), cookies},
		{type1, ntlmHeader(&rawMsg{anonymousType3s()[0]}), ""},
		{type1, ntlmHeader(&rawMsg{anonymousType3s()[1]}), ""},
		{"Negotiate YEIGBisGAQUFAqA4MDagMDAuBgorBgEEAYI3AgIKBgkqhkiG9xIBAgIGCSqGSIb3EgECAgYKKwYBBAGCNwICHqICBAA=", "", ""},
		{"Negotiate oRQwEqADCgEBohAEDk5UTE1TU1AAAwAAAA==", "", "NTLM_AUTHEN=AAAA; NTLM_CONN=BBBB"},
		{"Basic " + b64([]byte(`EXAMPLE\alice:pw-alice`)), "", ""},
		{"Basic " + b64([]byte("alice@example.test:pw-alice")), "", ""},
		{"Basic " + b64([]byte("alice:wrong")), "Basic Og==", ""},
		{"NTLM", "Bearer x", cookies + "x"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, auth1, auth2, cookie string) {
		for _, auth := range []string{auth1, auth2} {
			p := params(auth)
			p["HTTP_COOKIE"] = cookie
			r := serve(s.Authorizer, p)
			switch r.Status {
			case 200:
				if !explained(d.Logins(), r.Variables["REMOTE_USER"], r.Variables["AUTH_DOMAIN"]) {
					t.Fatalf("200 for %q in %q, which no login the DC accepted explains (Authorization %q, Cookie %q)",
						r.Variables["REMOTE_USER"], r.Variables["AUTH_DOMAIN"], auth, cookie)
				}
			case 400, 401, 403, 503:
			default:
				t.Fatalf("status %d for Authorization %q", r.Status, auth)
			}
		}
	})
}

// explained reports whether a 200 for user in domain follows from one of
// the logins the DC accepted. With one served domain and no directory,
// REMOTE_USER is the user as the DC read it, and AUTH_DOMAIN the served
// domain whatever the Type3 named.
func explained(logins []dctest.Login, user, domain string) bool {
	if domain != "EXAMPLE" || user == "" {
		return false
	}
	for _, l := range logins {
		if !l.Null && strings.EqualFold(l.User, user) {
			return true
		}
	}
	return false
}
