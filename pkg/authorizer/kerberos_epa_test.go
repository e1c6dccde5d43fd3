package authorizer

import (
	"crypto/elliptic"
	"crypto/x509"
	"fmt"
	"testing"

	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos"
)

// TestKerberosChannelBinding: Extended Protection decides a Kerberos login
// by the binding in its authenticator's GSS checksum as it decides an
// NTLM login by its AV pair (TestChannelBindingDecisions): under required
// over HTTPS a token without one, or with another certificate's, is
// refused, as is one that carries a binding over plain HTTP; and the level
// met is the connection's, so a login without a binding does not open
// /epa/required/ on its connection afterwards. (The sealed authenticator
// needs no MIC: nobody but the ticket's holder wrote it.)
func TestKerberosChannelBinding(t *testing.T) {
	sitePEM, right := siteCert(t, elliptic.P256(), x509.ECDSAWithSHA256)
	_, wrong := siteCert(t, elliptic.P256(), x509.ECDSAWithSHA256)
	want := map[string]map[string]map[string]EPACause{
		"off":       {"http": {}, "https": {}},
		"when-sent": {"http": {}, "https": {"wrong": EPABindingMismatch}},
		"required": {
			"http":  {"right": EPABindingOverHTTP, "wrong": EPABindingOverHTTP},
			"https": {"none": EPABindingMissing, "wrong": EPABindingMismatch},
		},
	}
	port := 47000
	for _, mode := range []string{"off", "when-sent", "required"} {
		for _, transport := range []string{"http", "https"} {
			for name, cb := range map[string][16]byte{"none": {}, "right": right, "wrong": wrong} {
				t.Run(fmt.Sprintf("%s/%s/%s", mode, transport, name), func(t *testing.T) {
					obs := &epaObserver{}
					s, tk := krbSite(t, Options{Observer: obs})
					tk.Bindings = cb
					port++
					c := newClient(port)
					c.https = transport == "https"
					c.env = map[string]string{tlsCertParam: sitePEM, channelBindingParam: mode}
					r := c.do(s.Authorizer, krbToken(t, *tk, true))
					cause := want[mode][transport][name]
					if cause == "" {
						if r.Status != 200 {
							t.Fatalf("refused: %d %s", r.Status, r.Body)
						}
					} else {
						checkChallenged(t, r)
						if got := obs.take(); len(got) != 1 || got[0] != cause {
							t.Errorf("refusals %v, want [%s]", got, cause)
						}
						return
					}
					// The next request on the connection, at required.
					c.env[channelBindingParam] = "required"
					wantNext := 200
					if _, ok := want["required"][transport][name]; ok {
						wantNext = 401
					}
					if r := c.do(s.Authorizer, ""); r.Status != wantNext {
						t.Errorf("then at required on the connection: %d, want %d", r.Status, wantNext)
					}
				})
			}
		}
	}
}

// TestKerberosWithoutGSSChecksum: an authenticator without the GSS
// checksum (RFC 4120 allows one; Login.Bindings nil) binds nothing: in
// under when-sent, binding_missing under required.
func TestKerberosWithoutGSSChecksum(t *testing.T) {
	sitePEM, _ := siteCert(t, elliptic.P256(), x509.ECDSAWithSHA256)
	for mode, want := range map[string]EPACause{"when-sent": "", "required": EPABindingMissing} {
		obs := &epaObserver{}
		s, tk := krbSite(t, Options{Observer: obs, Kerberos: fakeAcceptor{&kerberos.Login{User: "jdoe", Realm: "EXAMPLE.TEST", SPN: "HTTP/www.example.test@EXAMPLE.TEST"}}})
		c := newClient(47900)
		c.https, c.env = true, map[string]string{tlsCertParam: sitePEM, channelBindingParam: mode}
		r := c.do(s.Authorizer, krbToken(t, *tk, false))
		got := obs.take()
		switch {
		case want == "" && (r.Status != 200 || len(got) != 0):
			t.Errorf("%s: %d %v, want 200", mode, r.Status, got)
		case want != "" && (r.Status != 401 || len(got) != 1 || got[0] != want):
			t.Errorf("%s: %d %v, want 401 %s", mode, r.Status, got, want)
		}
	}
}
