//go:build linux

package e2e

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	ntlmssp "github.com/Azure/go-ntlmssp"
)

// TestChallengeFields checks what a client receives for every combination
// and order of auth.schemes: one WWW-Authenticate field per scheme on the
// first 401 and on the 401 after a failed login (with Connection: close),
// and a single field with the token in the answer to a Type1. Browsers
// read one challenge per field; Apache merges same-named lines of the
// authorizer's answer, so the other fields come from the mod_headers lines
// of the Apache config.
func TestChallengeFields(t *testing.T) {
	s := loadStack(t)
	challenge := map[string]string{"ntlm": "NTLM", "negotiate": "Negotiate", "basic": `Basic realm="Intranet", charset="UTF-8"`}
	schemesLine := regexp.MustCompile(`(?m)^schemes = .*$`)
	var combos [][]string
	var permute func(prefix, rest []string)
	permute = func(prefix, rest []string) {
		if len(prefix) > 0 {
			combos = append(combos, prefix)
		}
		for i, r := range rest {
			others := append(append([]string{}, rest[:i]...), rest[i+1:]...)
			permute(append(append([]string{}, prefix...), r), others)
		}
	}
	permute(nil, []string{"ntlm", "negotiate", "basic"})
	if len(combos) != 15 {
		t.Fatalf("%d combinations", len(combos))
	}
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	fields := func(auth string) (*http.Response, []string) {
		t.Helper()
		return challengeGet(t, s, cl, "/private/whoami", auth)
	}
	for _, combo := range combos {
		t.Run(strings.Join(combo, ","), func(t *testing.T) {
			var quoted, want []string
			for _, c := range combo {
				quoted = append(quoted, fmt.Sprintf("%q", c))
				want = append(want, challenge[c])
			}
			s.reconfigure(t, func(c string) string {
				return schemesLine.ReplaceAllString(c, "schemes = ["+strings.Join(quoted, ", ")+"]")
			})
			slices.Sort(want)
			same := func(what string, resp *http.Response, got []string, close bool) {
				t.Helper()
				g := slices.Clone(got)
				slices.Sort(g)
				if resp.StatusCode != 401 || !slices.Equal(g, want) {
					t.Errorf("%s: %d, fields %q, want 401 and one field each of %q", what, resp.StatusCode, got, want)
				}
				if close && !resp.Close {
					t.Errorf("%s: the connection stays open", what)
				}
				helperFields(t, what, resp)
			}
			resp, got := fields("")
			same("first challenge", resp, got, false)
			resp, got = fields("Basic " + base64.StdEncoding.EncodeToString([]byte(`EXAMPLE\jdoe:wrong`)))
			same("after a failed login", resp, got, true)

			scheme := "NTLM"
			if !slices.Contains(combo, "ntlm") {
				if !slices.Contains(combo, "negotiate") {
					return
				}
				scheme = "Negotiate"
			}
			type1, err := ntlmssp.NewNegotiateMessage("", "")
			if err != nil {
				t.Fatal(err)
			}
			resp, got = fields(scheme + " " + base64.StdEncoding.EncodeToString(type1))
			if resp.StatusCode != 401 || len(got) != 1 || !strings.HasPrefix(got[0], scheme+" TlRMTVNTUAAC") {
				t.Errorf("answer to a Type1: %d %q, want 401 and one field: %s and the Type2", resp.StatusCode, got, scheme)
			}
		})
	}
}

// helperFields fails the test if a GoAuthenNTLM-Challenge-* field reached
// the client: the test site serves its 401s through a local ErrorDocument,
// where mod_headers drops them.
func helperFields(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	for _, name := range []string{"GoAuthenNTLM-Challenge-2", "GoAuthenNTLM-Challenge-3"} {
		if v := resp.Header.Values(name); len(v) > 0 {
			t.Errorf("%s: %s %q reached the client", what, name, v)
		}
	}
}

// TestChallengeFieldsApachePage documents the Apache behaviour the test
// site's ErrorDocument 401 works around: on Apache's own 401 page (here
// /private/apache-page/, which sets ErrorDocument 401 default) the
// authorizer's helper fields reach the client, as "Header always unset"
// cannot remove them, while the WWW-Authenticate fields are still added.
func TestChallengeFieldsApachePage(t *testing.T) {
	s := loadStack(t)
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, got := challengeGet(t, s, cl, "/private/apache-page/whoami", "")
	if resp.StatusCode != 401 || len(got) != 3 {
		t.Errorf("Apache's own 401 page: %d, fields %q, want 401 and three", resp.StatusCode, got)
	}
	if resp.Header.Get("GoAuthenNTLM-Challenge-2") == "" {
		t.Errorf("on Apache's own 401 page the helper fields no longer reach the client: " +
			"Apache changed; see whether the ErrorDocument in apache/goauthenntlm.conf is still needed")
	}
	resp, _ = challengeGet(t, s, cl, "/private/whoami", "")
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 401 || !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("the test site's ErrorDocument 401 was not used: %d %q", resp.StatusCode, ct)
	}
	helperFields(t, "with the ErrorDocument", resp)
}

// challengeGet sends one request to path on the stack, with Authorization auth if
// not "", and returns the answer and its WWW-Authenticate fields.
func challengeGet(t *testing.T, s *stack, cl *http.Client, path, auth string) (*http.Response, []string) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.url(path), nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp, resp.Header.Values("WWW-Authenticate")
}
