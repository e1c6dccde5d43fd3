//go:build linux

package e2e

import (
	"encoding/asn1"
	"encoding/base64"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	ntlmssp "github.com/Azure/go-ntlmssp"

	"github.com/goauthenntlm/goauthenntlm/pkg/spnego"
)

// The test stack offers NTLM, Negotiate and Basic (Basic over plain HTTP
// allowed there: loopback only).

// ensureUser creates a user for one test, if it is not there yet.
func ensureUser(t *testing.T, s *stack, name, password string) {
	t.Helper()
	out, err := exec.Command("samba-tool", "user", "create", name, password, "-s", s.env["DC_DIR"]+"/etc/smb.conf").CombinedOutput()
	if err != nil && !strings.Contains(string(out), "already exists") {
		t.Fatalf("samba-tool user create %s: %v\n%s", name, err, out)
	}
}

func TestBasic(t *testing.T) {
	s := loadStack(t)
	ensureUser(t, s, "colon", "Pa:ss:w0rd!")
	ensureUser(t, s, "umlaut", "Pässwörd!9€")
	tests := []struct{ name, user, password, want string }{
		{"domain\\user", `EXAMPLE\jdoe`, users["jdoe"], "200 jdoe"},
		{"bare user", `bob`, users["bob"], "200 bob"},
		{"upn", `alice@example.test`, users["alice"], "200 alice"},
		{"wrong password", `EXAMPLE\jdoe`, "Secr3t!Pas", "401"},
		{"password with a colon", `EXAMPLE\colon`, "Pa:ss:w0rd!", "200 colon"},
		{"non-ASCII password", `EXAMPLE\umlaut`, "Pässwörd!9€", "200 umlaut"},
		{"domain not served", `OTHER\jdoe`, users["jdoe"], "401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", s.url("/private/whoami"), nil)
			req.SetBasicAuth(tt.user, tt.password)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			got := resp.Status[:3]
			if resp.StatusCode == 200 {
				got += " " + strings.TrimSpace(string(b))
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	// Offered beside NTLM.
	resp, err := http.Get(s.url("/private/whoami"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if h := strings.Join(resp.Header.Values("WWW-Authenticate"), ", "); !strings.Contains(h, "NTLM") || !strings.Contains(h, `Basic realm="Intranet"`) {
		t.Errorf("WWW-Authenticate: %q", h)
	}
}

// negotiateLogin does an NTLM handshake in Negotiate headers, the token
// raw or wrapped in SPNEGO as Windows browsers send it, on one connection.
func negotiateLogin(t *testing.T, url, user, password string, wrap bool) (int, string) {
	t.Helper()
	cl := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	type1, err := ntlmssp.NewNegotiateMessage("", "")
	if err != nil {
		t.Fatal(err)
	}
	tok := type1
	if wrap {
		tok, err = (&spnego.NegTokenInit{MechTypes: []asn1.ObjectIdentifier{spnego.OIDNTLM}, MechToken: type1}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
	}
	code, hdr, _ := do(t, cl, url, "Negotiate "+base64.StdEncoding.EncodeToString(tok))
	if code != 401 || !strings.HasPrefix(hdr, "Negotiate ") {
		t.Fatalf("answer to the Type1: %d %q", code, hdr)
	}
	type2, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(hdr, "Negotiate "))
	if err != nil {
		t.Fatal(err)
	}
	if wrap {
		st, err := spnego.Decode(type2)
		if err != nil || st.Resp == nil || !st.Resp.SupportedMech.Equal(spnego.OIDNTLM) || st.Resp.NegState != spnego.StateAcceptIncomplete {
			t.Fatalf("SPNEGO answer: %+v %v", st, err)
		}
		type2 = st.Resp.ResponseToken
	} else if !strings.HasPrefix(string(type2), "NTLMSSP\x00") {
		t.Fatalf("raw Negotiate answered with a non-NTLM token")
	}
	u, _, needed := ntlmssp.GetDomain(user)
	type3, err := ntlmssp.ProcessChallenge(type2, u, password, needed)
	if err != nil {
		t.Fatal(err)
	}
	if wrap {
		type3, err = (&spnego.NegTokenResp{NegState: spnego.StateAbsent, ResponseToken: type3}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
	}
	code, _, body := do(t, cl, url, "Negotiate "+base64.StdEncoding.EncodeToString(type3))
	return code, body
}

func do(t *testing.T, cl *http.Client, url, auth string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", auth)
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), strings.TrimSpace(string(b))
}

func TestNegotiate(t *testing.T) {
	s := loadStack(t)
	for _, wrap := range []bool{false, true} {
		name := "raw NTLM"
		if wrap {
			name = "SPNEGO"
		}
		t.Run(name, func(t *testing.T) {
			if code, body := negotiateLogin(t, s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"], wrap); code != 200 || body != "jdoe" {
				t.Errorf("right password: %d %q", code, body)
			}
			if code, _ := negotiateLogin(t, s.url("/private/whoami"), `EXAMPLE\jdoe`, "nope", wrap); code != 401 {
				t.Errorf("wrong password: %d", code)
			}
		})
	}
	// A Kerberos token (NTLM offered only after it): where Kerberos is
	// served (the stack's keytab_file), a token it cannot accept gets the
	// challenges again; where it is not, a challenge for NTLM alone. Either
	// way the browser falls back to NTLM.
	krb, err := (&spnego.NegTokenInit{MechTypes: []asn1.ObjectIdentifier{spnego.OIDMSKerberos, spnego.OIDNTLM}, MechToken: []byte{0x60, 0x03, 0x06, 0x01, 0x00}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	h := "Negotiate " + base64.StdEncoding.EncodeToString(krb)
	// Every field: their order is Apache's (the authorizer's first field
	// comes first or last depending on the 401's page).
	if resp, fields := challengeGet(t, s, http.DefaultClient, "/private/whoami", h); resp.StatusCode != 401 || !slices.Contains(fields, "Negotiate") {
		t.Errorf("Kerberos token, Kerberos served: %d %q, want 401 and a Negotiate challenge among them", resp.StatusCode, fields)
	}
	// delegate_to and service_account go with the keytab they use.
	keytab := regexp.MustCompile(`(?m)^(keytab_file|delegate_to|service_account) = .*$`)
	s.reconfigure(t, func(c string) string {
		if !keytab.MatchString(c) {
			t.Fatalf("the stack's config has no keytab_file:\n%s", c)
		}
		return keytab.ReplaceAllString(c, "")
	})
	if resp, fields := challengeGet(t, s, http.DefaultClient, "/private/whoami", h); resp.StatusCode != 401 || strings.Join(fields, "|") != "NTLM" {
		t.Errorf("Kerberos token, Kerberos not served: %d %q, want 401 and NTLM alone", resp.StatusCode, fields)
	}
}
