//go:build linux

package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/goauthenntlm/goauthenntlm/internal/chromium"
	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos"
	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos/krbtest"
	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
	"github.com/goauthenntlm/goauthenntlm/pkg/spnego"
)

// Extended Protection for Kerberos logins (issue 24's last item): the
// channel binding a Kerberos client puts in its authenticator's checksum
// (RFC 4121 4.1.1.2) is held to the same channel_binding as NTLM's, on the
// stack's HTTPS site and its /epa/required/ and /epa/when-sent/ locations.
// The real clients (curl, Chromium) are in epa_kerberos_test.go; these
// tests make the tokens a client could send with the stack's keytab: bound
// to another certificate, bound over plain HTTP, and the level a login
// keeps for its connection.

// krbEPA is the stack's HTTPS site, with its Kerberos settings checked.
func krbEPA(t *testing.T) *epaSite {
	t.Helper()
	e := loadEPA(t)
	krbStack(t)
	if e.host != e.s.env["SPN_HOST"] {
		t.Fatalf("the HTTPS host %s is not SPN_HOST %s: Kerberos clients would ask for another SPN", e.host, e.s.env["SPN_HOST"])
	}
	return e
}

// serviceKeytab is the stack's keytab for SERVICE_PRINCIPAL (read as root:
// it is the daemon's) and its current key version, with which a test plays
// the KDC: tickets built with it are what the DC would issue, less the PAC.
func (e *epaSite) serviceKeytab(t *testing.T) (*keytab.Keytab, int) {
	t.Helper()
	path := e.s.env["KEYTAB"]
	kt, err := keytab.Load(path)
	if err != nil {
		t.Fatalf("keytab %s: %v", path, err)
	}
	kvno := 0
	for _, k := range e.s.keytab(t, path) {
		if strings.HasPrefix(k.principal, e.s.env["SERVICE_PRINCIPAL"]+"@") && k.kvno > kvno {
			kvno = k.kvno
		}
	}
	if kvno == 0 {
		t.Fatalf("keytab %s has no key for %s", path, e.s.env["SERVICE_PRINCIPAL"])
	}
	return kt, kvno
}

// boundTokens returns a maker of Authorization headers with a Kerberos
// token for jdoe, its ticket made with the stack's keytab and its
// authenticator bound to binding (nil: none).
func (e *epaSite) boundTokens(t *testing.T) func(t *testing.T, binding []byte) string {
	kt, kvno := e.serviceKeytab(t)
	return func(t *testing.T, binding []byte) string {
		t.Helper()
		tk := krbtest.Ticket{Client: "jdoe", Realm: e.s.env["KRB5_REALM"], SPN: e.s.env["SERVICE_PRINCIPAL"], Keytab: kt, KVNO: kvno}
		copy(tk.Bindings[:], binding)
		tok, err := krbtest.Token(tk)
		if err != nil {
			t.Fatal(err)
		}
		return "Negotiate " + base64.StdEncoding.EncodeToString(tok)
	}
}

// decodeAuthenticator opens a Kerberos token a client sent (raw or in a
// SPNEGO NegTokenInit) with the stack's keytab, as the daemon does, and
// returns what the client put in its authenticator.
func (e *epaSite) decodeAuthenticator(t *testing.T, tok []byte) *kerberos.Login {
	t.Helper()
	if !kerberos.IsGSSKerberos(tok) {
		st, err := spnego.Decode(tok)
		if err != nil || st.Init == nil {
			t.Fatalf("not a Kerberos token nor a NegTokenInit: %v", err)
		}
		tok = st.Init.MechToken
	}
	kt, _ := e.serviceKeytab(t)
	a := kerberos.New(kerberos.Options{
		Services:     []kerberos.Service{{Realm: e.s.env["KRB5_REALM"], Principals: []string{e.s.env["SERVICE_PRINCIPAL"]}, Keytab: kt}},
		ClientRealms: []string{e.s.env["KRB5_REALM"]},
		MaxSkew:      5 * time.Minute,
	})
	l, err := a.Accept(tok)
	if err != nil {
		t.Fatalf("the client's Kerberos token does not open with the stack's keytab: %v", err)
	}
	return l
}

// sentKerberosBinding opens the first Kerberos token in Chromium's NetLog
// at path with the stack's keytab and returns the binding its
// authenticator carries (nil: no GSS checksum).
func (e *epaSite) sentKerberosBinding(t *testing.T, path string) []byte {
	t.Helper()
	nl, err := chromium.ReadNetLog(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range nl.Exchanges {
		scheme, b64, _ := strings.Cut(x.Get("Authorization"), " ")
		tok, err := base64.StdEncoding.DecodeString(b64)
		if scheme == "Negotiate" && err == nil && (bytes.Contains(tok, krbOID) || bytes.Contains(tok, krbOIDMS)) {
			return e.decodeAuthenticator(t, tok).Bindings
		}
	}
	t.Fatalf("no Kerberos token in Chromium's NetLog:\n%s", nl.Summary(""))
	return nil
}

// TestKerberosEPACrafted: Kerberos tokens made with the stack's keytab,
// as the DC would issue the ticket and a client would bind it: bound to
// the site's certificate they log in under required; bound to another
// certificate (a login meant for another TLS server, relayed here) they
// are refused with binding_mismatch under required and when-sent; bound to
// nothing, binding_missing under required; bound to the site's certificate
// but sent over plain HTTP, binding_over_http under required. Each refusal
// is logged with its cause and no login follows.
func TestKerberosEPACrafted(t *testing.T) {
	e := krbEPA(t)
	token := e.boundTokens(t)
	other, err := ntlmmsg.TLSChannelBindings(&x509.Certificate{Raw: []byte("another server's certificate"), SignatureAlgorithm: x509.SHA256WithRSA})
	if err != nil {
		t.Fatal(err)
	}
	plain := &http.Client{Timeout: 30 * time.Second}
	for _, tt := range []struct {
		name, url string
		binding   []byte
		cause     string // "" logs in
	}{
		{"the site's binding", e.url("/epa/required/whoami"), e.binding[:], ""},
		{"another certificate's binding", e.url("/epa/required/whoami"), other[:], "binding_mismatch"},
		{"another certificate's binding under when-sent", e.url("/epa/when-sent/whoami"), other[:], "binding_mismatch"},
		{"no binding under required", e.url("/epa/required/whoami"), nil, "binding_missing"},
		{"no binding under when-sent", e.url("/epa/when-sent/whoami"), nil, ""},
		{"bound to TLS, sent over plain HTTP", e.s.url("/epa/required/whoami"), e.binding[:], "binding_over_http"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cl := e.client()
			if strings.HasPrefix(tt.url, "http:") {
				cl = plain
			}
			req, _ := http.NewRequest(http.MethodGet, tt.url, nil)
			req.Header.Set("Authorization", token(t, tt.binding))
			off := e.s.logOffset(t)
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			log, _ := e.s.logSince(t, off)
			if tt.cause == "" {
				if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "jdoe" {
					t.Fatalf("%d %q, want 200 jdoe; authorizer:\n%s", resp.StatusCode, body, log)
				}
				return
			}
			if resp.StatusCode != 401 {
				t.Errorf("%d %q, want 401", resp.StatusCode, body)
			}
			e.refusedWith(t, off, tt.cause)
			if strings.Contains(log, "msg=login ") {
				t.Errorf("the refused Kerberos login logged in:\n%s", log)
			}
		})
	}
}

// TestKerberosEPALaterRequests: a Kerberos login remembers the
// channel_binding it met, as an NTLM one does (TestEPALaterRequests): on
// its connection, a login without a binding at /epa/when-sent/ does not
// open /epa/required/, one bound to the site's certificate does.
func TestKerberosEPALaterRequests(t *testing.T) {
	e := krbEPA(t)
	token := e.boundTokens(t)
	get := func(cl *http.Client, path, auth string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.url(path), nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tt := range []struct {
		name     string
		binding  []byte
		required int // the later request's status at /epa/required/
	}{
		{"no binding", nil, 401},
		{"the site's binding", e.binding[:], 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cl := e.client()
			if got := get(cl, "/epa/when-sent/whoami", token(t, tt.binding)); got != 200 {
				t.Fatalf("login at /epa/when-sent/: %d", got)
			}
			if got := get(cl, "/epa/when-sent/whoami", ""); got != 200 {
				t.Errorf("/epa/when-sent/ again on the connection: %d, want 200", got)
			}
			if got := get(cl, "/epa/required/whoami", ""); got != tt.required {
				t.Errorf("/epa/required/ on the connection: %d, want %d", got, tt.required)
			}
		})
	}
}
