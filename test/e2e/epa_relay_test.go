//go:build linux

package e2e

import (
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
)

// relayAttacker is an attacker's web server that a victim's client logs in
// to, and that relays the victim's NTLM exchange to the stack's HTTPS site
// on a TLS connection of its own. With inject it adds AV pairs to the
// challenge's TargetInfo on its way to the victim: a client that copies
// the server's TargetInfo into its NTLMv2 blob as it is (curl does) then
// signs them with its NTProofStr, and the DC accepts them.
type relayAttacker struct {
	e      *epaSite
	path   string
	inject ntlmmsg.AVPairs

	mu     sync.Mutex
	site   *http.Client // the attacker's connection to the site
	status int          // the site's answer to the relayed Type3
	body   string
}

func (a *relayAttacker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "NTLM ")
	if !ok {
		w.Header().Set("WWW-Authenticate", "NTLM")
		w.WriteHeader(401)
		return
	}
	msg, err := base64.StdEncoding.DecodeString(tok)
	if err != nil || len(msg) < 12 {
		w.WriteHeader(400)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	req, _ := http.NewRequest("GET", a.e.url(a.path), nil)
	req.Header.Set("Authorization", "NTLM "+tok)
	if msg[8] == 1 { // NEGOTIATE: a new exchange with the site
		a.site = a.e.client()
	}
	if a.site == nil {
		w.WriteHeader(400)
		return
	}
	resp, err := a.site.Do(req)
	if err != nil {
		w.WriteHeader(502)
		return
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if msg[8] == 3 {
		a.status, a.body = resp.StatusCode, strings.TrimSpace(string(b))
		w.WriteHeader(204)
		return
	}
	var ch *ntlmmsg.Challenge
	for _, h := range resp.Header.Values("WWW-Authenticate") {
		if t, ok := strings.CutPrefix(h, "NTLM "); ok {
			raw, _ := base64.StdEncoding.DecodeString(t)
			ch, _ = ntlmmsg.ParseChallenge(raw)
		}
	}
	if ch == nil {
		w.WriteHeader(502)
		return
	}
	if len(a.inject) > 0 {
		av, err := ch.AVPairs()
		if err != nil {
			w.WriteHeader(502)
			return
		}
		ch.TargetInfo = append(av, a.inject...).Marshal()
	}
	w.Header().Set("WWW-Authenticate", "NTLM "+base64.StdEncoding.EncodeToString(ch.Marshal()))
	w.WriteHeader(401)
}

// TestEPARelayedCurlWithInjectedBinding: a victim's curl logs in to the
// attacker's plain-HTTP server, which relays the exchange to the HTTPS
// site's /epa/required/. curl sends no binding of its own (TestEPACurl),
// so the relayed login is refused as binding_missing; but curl copies the
// challenge's TargetInfo into its blob unchanged and sends no MIC, so an
// attacker who adds the site's binding and target name to the challenge
// gets them signed by the victim. Under required such a login must still
// be refused: a binding counts only from a client whose MIC (MsvAvFlags
// 0x2, inside the blob) makes the DC check that the challenge it answered
// is the one the DC sent.
func TestEPARelayedCurlWithInjectedBinding(t *testing.T) {
	e := loadEPA(t)
	for _, tt := range []struct {
		name   string
		inject ntlmmsg.AVPairs
		cause  string // "": refused by the DC
	}{
		{"relayed as sent", nil, "binding_missing"},
		{"site binding and name injected", ntlmmsg.AVPairs{avTarget("HTTP/" + e.host), avBinding(e.binding)}, "binding_missing"},
		{"site binding, name and MIC flag injected", ntlmmsg.AVPairs{{ID: ntlmmsg.MsvAvFlags, Value: []byte{2, 0, 0, 0}}, avTarget("HTTP/" + e.host), avBinding(e.binding)}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := &relayAttacker{e: e, path: "/epa/required/whoami", inject: tt.inject}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: a}
			go srv.Serve(ln)
			defer srv.Close()
			off := e.s.logOffset(t)
			// The victim: curl with its user's credentials, to the attacker's URL.
			curl(t, "--ntlm", "-u", `EXAMPLE\jdoe:Secr3t!Pass`, "-o", "/dev/null", "http://"+ln.Addr().String()+"/")
			a.mu.Lock()
			status, body := a.status, a.body
			a.mu.Unlock()
			if status == 0 {
				t.Fatal("curl's Type3 never reached the attacker")
			}
			if status != 401 {
				log, _ := e.s.logSince(t, off)
				t.Fatalf("the relayed login at /epa/required/: %d %q, want 401; authorizer:\n%s", status, body, log)
			}
			if tt.cause != "" {
				e.refusedWith(t, off, tt.cause)
				return
			}
			// The MIC flag the attacker added makes the DC check a MIC
			// curl never sent.
			if log, _ := e.s.logSince(t, off); !strings.Contains(log, "login refused by the domain controller") {
				t.Errorf("no refusal by the DC in the authorizer's log:\n%s", log)
			}
		})
	}
}

// schemeCase is a transport that sends the Authorization scheme in
// lower case, which RFC 9110 (11.1) allows and the authorizer accepts.
type schemeCase struct{ http.RoundTripper }

func (s schemeCase) RoundTrip(r *http.Request) (*http.Response, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		r = r.Clone(r.Context())
		name, tok, _ := strings.Cut(h, " ")
		r.Header.Set("Authorization", strings.ToLower(name)+" "+tok)
	}
	return s.RoundTripper.RoundTrip(r)
}

// TestEPASchemeCase: Apache passes the certificate for a login whatever
// the case of its scheme: a bound login with "ntlm" logs in under
// required (not 500: no certificate), one with another certificate's
// binding is refused as such.
func TestEPASchemeCase(t *testing.T) {
	e := loadEPA(t)
	for _, tt := range []struct {
		name   string
		av     ntlmmsg.AVPairs
		status int
	}{
		{"own binding", ntlmmsg.AVPairs{avTarget("HTTP/" + e.host), avBinding(e.binding)}, 200},
		{"no binding", ntlmmsg.AVPairs{avTarget("HTTP/" + e.host)}, 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cl := e.client()
			cl.Transport = schemeCase{cl.Transport}
			off := e.s.logOffset(t)
			if status, body := e.craftedLogin(t, cl, e.url("/epa/required/whoami"), tt.av); status != tt.status {
				log, _ := e.s.logSince(t, off)
				t.Fatalf("%d %q, want %d; authorizer:\n%s", status, body, tt.status, log)
			}
		})
	}
}
