package authorizer

import (
	"fmt"
	"net/http"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
	"github.com/goauthenntlm/goauthenntlm/pkg/spnego"
)

// unwrapSPNEGO returns the NTLM message inside a SPNEGO token, or nil when
// the client offers NTLM only as a fallback to Kerberos (whose token it
// sent first and which is not served here).
func (a *Authorizer) unwrapSPNEGO(r *request, b []byte) ([]byte, error) {
	t, err := spnego.Decode(b)
	if err != nil {
		return nil, err
	}
	if t.Resp != nil {
		if len(t.Resp.ResponseToken) == 0 {
			return nil, fmt.Errorf("NegTokenResp without a response token")
		}
		return t.Resp.ResponseToken, nil
	}
	if tok := t.Init.TokenFor(spnego.OIDNTLM); len(tok) > 0 {
		return tok, nil
	}
	if a.kerberosLogged.CompareAndSwap(false, true) {
		// Once per process at info: it is a deployment fact, not an
		// event. Clients then fall back to NTLM.
		r.log.Info("client offered Kerberos; only NTLM is served (this is logged once; later at debug). Browsers fall back to NTLM, or remove the site from Kerberos-enabled zones",
			"first_mech", spnego.MechName(t.Init.MechTypes[0]))
	} else {
		r.log.Debug("client offered Kerberos; asking for NTLM", "first_mech", spnego.MechName(t.Init.MechTypes[0]))
	}
	return nil, nil
}

// challengeSPNEGO answers a SPNEGO Type1 with the Type2 in a NegTokenResp
// selecting NTLM (RFC 4178 section 4.2.2), as IIS does.
func (a *Authorizer) challengeSPNEGO(r *request, type2 []byte) *fcgi.Response {
	tok, err := (&spnego.NegTokenResp{NegState: spnego.StateAcceptIncomplete, SupportedMech: spnego.OIDNTLM, ResponseToken: type2}).Marshal()
	if err != nil {
		r.log.Error("cannot encode the SPNEGO answer", "err", err)
		return status(http.StatusInternalServerError, "authorizer: SPNEGO encoding")
	}
	return challengeToken(config.SchemeNegotiate, tok)
}

// challengeNTLM asks for NTLM only, for a client that tried Kerberos.
func (a *Authorizer) challengeNTLM() *fcgi.Response {
	resp := status(http.StatusUnauthorized, "authentication required")
	resp.Header[wwwAuthenticate] = []string{"NTLM"}
	return resp
}
