package authorizer

import (
	"context"
	"crypto/rand"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/goauthenntlm/goauthenntlm/pkg/conntable"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
	"github.com/goauthenntlm/goauthenntlm/pkg/identity"
	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
)

// basicWorkstation is the workstation name in the NTLM messages built for
// Basic logins; it shows in the DC's logon events.
const basicWorkstation = "GOAUTHENNTLM"

// basic checks a Basic password at the DC the way PyAuthenNTLM2 did: it
// plays an NTLM client, computing an NTLMv2 response from the password,
// and relays that through the same SMB2 path as a browser's handshake. The
// DC sees an ordinary network logon; no LDAP bind, no stored password.
func (a *Authorizer) basic(ctx context.Context, r *request, token []byte) *fcgi.Response {
	if !a.cfg.Auth.AllowBasicOverHTTP && !isHTTPS(r.Params) {
		r.log.Warn("Basic login over plain HTTP refused; use HTTPS or set auth.allow_basic_over_http")
		return status(http.StatusForbidden, "Basic authentication needs HTTPS")
	}
	raw := string(token)
	if !utf8.ValidString(raw) {
		// Browsers that ignore charset="UTF-8" send ISO-8859-1.
		raw = latin1(token)
	}
	userPart, password, ok := strings.Cut(raw, ":")
	if !ok || userPart == "" || password == "" {
		r.log.Info("Basic credentials without user or password")
		return a.challenge(true)
	}
	user, domain := identity.Split(userPart)
	name, err := a.names.Login(user, domain, "")
	if err != nil {
		r.log.Warn("Basic login refused", "user", identity.Short(userPart), "err", err)
		return a.challenge(true)
	}
	rt := a.route(name.Domain.Name)
	if rt.kdc != nil {
		// Never on to NTLM after the KDC's answer, whatever it is: a
		// wrong password must not get a second try by another path.
		return a.basicKerberos(ctx, r, rt, name, userPart, password)
	}

	ctx, cancel := a.dcContext(ctx)
	defer cancel()
	neg := &ntlmmsg.Negotiate{Flags: ntlmmsg.NegotiateUnicode | ntlmmsg.NegotiateNTLM | ntlmmsg.RequestTarget |
		ntlmmsg.AlwaysSign | ntlmmsg.ExtendedSessionSecurity | ntlmmsg.TargetInfo | ntlmmsg.Negotiate128}
	start := time.Now()
	hs, type2, err := rt.pool.Negotiate(ctx, neg.Marshal())
	if err != nil {
		a.obs.Login(failedOutcome(conntable.SchemeBasic, "", start, err))
		return a.dcFailed(r, "basic negotiate", rt, err)
	}
	defer hs.Close()
	ch, err := ntlmmsg.ParseChallenge(type2)
	if err != nil {
		a.log.Error("domain controller sent a challenge we cannot read", "dc", hs.DC(), "err", err)
		return unavailable("domain controller answer unreadable")
	}
	if name.UPN {
		// A UPN goes to the DC with an empty domain, whatever domain was
		// typed, and the DC resolves it: labelled as an NTLM login naming
		// no domain is, by its suffix or else by the domain the DC names
		// itself (not default_domain's, which may share the DC).
		if n, err := a.names.Login(user, "", a.challengeDomain(ch, rt)); err == nil {
			name = n
		}
	}
	var cc [8]byte
	rand.Read(cc[:])
	// A UPN goes to the DC as the user with an empty domain; the DC
	// resolves it (MS-NLMP 3.3.2 allows this). Any other name is checked
	// in the served domain it was resolved to, the one its label names.
	ntDomain := name.Domain.Name
	if name.UPN {
		ntDomain = ""
	}
	auth, _, err := ntlmmsg.NewAuthenticateV2(ch, name.User, ntDomain, password, basicWorkstation, cc, time.Now())
	if err != nil {
		a.log.Error("cannot build the NTLM answer for a Basic login", "err", err)
		return unavailable("cannot answer the domain controller")
	}
	// The Type3 names the served domain, never a typed unserved one, so
	// only a UPN can point it elsewhere.
	sent := name
	sent.Unserved = ""
	if err := hs.Authenticate(ctx, auth.Marshal(), relayOptions(sent)...); err != nil {
		a.obs.Login(failedOutcome(conntable.SchemeBasic, hs.DC(), start, err))
		return a.loginFailed(ctx, r, "Basic login", "basic authenticate", rt, hs.DC(), name.User, name.Domain.Name, err)
	}
	user, resp := a.accountName(ctx, r, name)
	if resp != nil {
		return resp
	}
	login := conntable.Login{User: user, Domain: name.Domain.Name, Scheme: conntable.SchemeBasic, At: time.Now()}
	a.obs.Login(Outcome{Scheme: login.Scheme, Result: ResultOK, DC: hs.DC(), User: login.User, Domain: login.Domain, Took: time.Since(start)})
	r.log.Info("login", "user", login.User, "domain", login.Domain, "dc", hs.DC(), "scheme", login.Scheme.String())
	return a.loggedIn(ctx, r, login)
}

// isHTTPS reports whether the client's connection is TLS: to Apache, or to
// a front end that ended it (tlsEndPointParam).
func isHTTPS(p map[string]string) bool {
	_, offloaded := p[tlsEndPointParam]
	return strings.EqualFold(p["HTTPS"], "on") || strings.EqualFold(p["REQUEST_SCHEME"], "https") || offloaded
}

func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}
