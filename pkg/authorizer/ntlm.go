package authorizer

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/conntable"
	"github.com/goauthenntlm/goauthenntlm/pkg/cookie"
	"github.com/goauthenntlm/goauthenntlm/pkg/dc"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
	"github.com/goauthenntlm/goauthenntlm/pkg/identity"
	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
)

// pending is a relayed handshake between the Type2 and the Type3.
type pending struct {
	start  time.Time // the Type1's arrival
	hs     dc.Handshake
	route  *route
	scheme config.Scheme
	spnego bool
	// unicode is the character set agreed at NEGOTIATE (the DC's
	// CHALLENGE says which); the DC reads the AUTHENTICATE's names in it.
	unicode bool
	// dcDomain is the NetBIOS domain the challenging DC named itself.
	dcDomain string
}

func (p *pending) Close() { p.hs.Close() }

// ntlm handles an NTLM message: bare, or in a Negotiate header raw or
// inside SPNEGO.
func (a *Authorizer) ntlm(ctx context.Context, r *request, c credentials) *fcgi.Response {
	if c.scheme == config.SchemeNegotiate && !isRawNTLM(c.token) {
		if a.krb != nil {
			if tok, wrapped, ok := kerberosToken(c.token); ok {
				return a.kerberosLogin(ctx, r, tok, wrapped)
			}
		}
		inner, err := a.unwrapSPNEGO(r, c.token)
		if err != nil {
			r.log.Info("bad Negotiate token", "err", err)
			return status(http.StatusBadRequest, "bad Negotiate token")
		}
		if inner == nil {
			// Kerberos: not served here. Ask for NTLM alone, so the
			// client falls back instead of failing.
			return a.challengeNTLM()
		}
		c.token, c.spnego = inner, true
	}
	typ, err := ntlmmsg.Type(c.token)
	if err != nil {
		r.log.Info("bad NTLM token", "err", err)
		return status(http.StatusBadRequest, "bad NTLM message")
	}
	switch typ {
	case ntlmmsg.TypeNegotiate:
		return a.negotiate(ctx, r, c)
	case ntlmmsg.TypeAuthenticate:
		return a.authenticate(ctx, r, c)
	}
	r.log.Info("client sent an NTLM message of the wrong type", "type", typ)
	return status(http.StatusBadRequest, "unexpected NTLM message")
}

// negotiate relays a Type1 and answers the DC's Type2, unchanged: the
// browser's MIC covers the exact bytes.
func (a *Authorizer) negotiate(ctx context.Context, r *request, c credentials) *fcgi.Response {
	neg, err := ntlmmsg.ParseNegotiate(c.token)
	if err != nil {
		r.log.Info("bad NTLM negotiate message", "err", err)
		return status(http.StatusBadRequest, "bad NTLM message")
	}
	// A Type1 on an authenticated connection starts over (the client
	// wants another identity, or re-authenticates a POST).
	a.table.Forget(r.key)
	rt, hinted := a.routeForNegotiate(neg, r.Params)
	if a.cfg.NTLMDebug > 0 {
		r.log.Debug("ntlm: negotiate", "domain", rt.dom.Name, "msg", a.dbg(neg))
	}
	ctx, cancel := a.dcContext(ctx)
	defer cancel()
	start := time.Now()
	hs, type2, err := rt.pool.Negotiate(ctx, c.token)
	if err != nil {
		a.obs.Login(failedOutcome(schemeName(c.scheme), "", start, err))
		resp := a.dcFailed(r, "negotiate", rt, err)
		if hinted {
			// Its domain's DCs are down: say so, and let this browser's
			// next Type1 go the default way again.
			setHint(resp, r.Params, nil)
		}
		return resp
	}
	ch, err := ntlmmsg.ParseChallenge(type2)
	if err != nil {
		// Its names could not be read as the DC will read them.
		hs.Close()
		a.log.Error("domain controller sent a challenge we cannot read", "dc", hs.DC(), "err", err)
		return unavailable("domain controller answer unreadable")
	}
	if a.cfg.NTLMDebug > 1 {
		r.log.Debug("ntlm: challenge", "dc", hs.DC(), "msg", ch)
	}
	a.table.AddPending(r.key, &pending{start: start, hs: hs, route: rt, scheme: c.scheme, spnego: c.spnego,
		unicode: ch.Flags&ntlmmsg.NegotiateUnicode != 0, dcDomain: a.challengeDomain(ch, rt)})
	if c.spnego {
		return a.challengeSPNEGO(r, type2)
	}
	return challengeToken(c.scheme, type2)
}

// authenticate relays a Type3 on the handshake its connection started.
func (a *Authorizer) authenticate(ctx context.Context, r *request, c credentials) *fcgi.Response {
	msg, err := ntlmmsg.ParseAuthenticate(c.token)
	if err != nil {
		r.log.Info("bad NTLM authenticate message", "err", err)
		return status(http.StatusBadRequest, "bad NTLM message")
	}
	if a.cfg.NTLMDebug > 0 {
		r.log.Debug("ntlm: authenticate", "msg", a.dbg(msg))
	}
	p, ok := a.table.TakePending(r.key)
	if !ok {
		// Expired, never started, or sent on another connection than its
		// Type1 (a replay, or a client that lost its connection).
		r.log.Info("NTLM authenticate without a handshake in progress on this connection", "user", identity.Short(msg.User))
		a.table.Forget(r.key)
		return a.challenge(true)
	}
	pd := p.(*pending)
	defer pd.hs.Close()

	// Read the names as the DC will: in the character set agreed at
	// NEGOTIATE, refusing anything it could read otherwise.
	msg, err = ntlmmsg.ParseAuthenticateAgreed(c.token, pd.unicode)
	if err != nil {
		r.log.Warn("NTLM authenticate refused: its names could read differently at the domain controller", "err", err)
		return status(http.StatusBadRequest, "bad NTLM message")
	}
	// The DC accepts an anonymous Type3; a login needs a user.
	if msg.NoCredentials() {
		r.log.Warn("anonymous NTLM login refused")
		return a.challenge(true)
	}
	// Before the DC sees it: a login relayed from elsewhere must not
	// reach the DC (nor count against the account's lockout).
	epa, resp := a.checkEPA(r, msg)
	if resp != nil {
		return resp
	}
	name, err := a.names.Login(msg.User, msg.Domain, pd.dcDomain)
	if err != nil {
		r.log.Warn("login refused", "user", identity.Short(msg.User), "domain", identity.Short(msg.Domain), "err", err)
		return a.challenge(true)
	}
	domain, rt := name.Domain.Name, a.route(name.Domain.Name)
	if rt.pool != pd.route.pool {
		// The challenge came from another domain's DCs and only they can
		// finish it. Make the client start over, and tell its browser
		// (not its address, which others may share) where its next
		// Type1 goes.
		r.log.Info("login for another domain than the challenge's; client must start over", "domain", domain, "challenge_domain", pd.route.dom.Name)
		resp := a.challenge(true)
		setHint(resp, r.Params, rt)
		return resp
	}

	ctx, cancel := a.dcContext(ctx)
	defer cancel()
	if err := pd.hs.Authenticate(ctx, c.token, relayOptions(name)...); err != nil {
		a.obs.Login(failedOutcome(schemeName(pd.scheme), pd.hs.DC(), pd.start, err))
		return a.loginFailed(ctx, r, "login", "authenticate", pd.route, pd.hs.DC(), msg.User, domain, err)
	}
	if resp := a.checkUnserved(ctx, r, name); resp != nil {
		return resp
	}
	user, resp := a.accountName(ctx, r, name)
	if resp != nil {
		return resp
	}
	login := conntable.Login{User: user, Domain: domain, Scheme: schemeName(pd.scheme), At: time.Now(), EPA: epa}
	a.obs.Login(Outcome{Scheme: login.Scheme, Result: ResultOK, DC: pd.hs.DC(), User: login.User, Domain: login.Domain, Took: time.Since(pd.start)})
	r.log.Info("login", "user", login.User, "domain", login.Domain, "dc", pd.hs.DC(), "scheme", login.Scheme.String())
	return a.loggedIn(ctx, r, login)
}

func schemeName(s config.Scheme) conntable.Scheme {
	if s == config.SchemeNegotiate {
		return conntable.SchemeNegotiate
	}
	return conntable.SchemeNTLM
}

// dcContext bounds one relay step: waiting for a DC slot, then the
// exchange. Apache gives up on the authorizer after 30 s, so past that
// nobody is listening.
func (a *Authorizer) dcContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d := a.cfg.DC.QueueTimeout.D() + a.cfg.DC.RequestTimeout.D()
	if d > 25*time.Second {
		d = 25 * time.Second
	}
	return context.WithTimeout(ctx, d)
}

// loginFailed answers the last step of a login (what: "login", "Basic
// login") that the DC did not accept, or that no DC could answer.
func (a *Authorizer) loginFailed(ctx context.Context, r *request, what, step string, rt *route, dcAddr, user, domain string, err error) *fcgi.Response {
	user = identity.Short(user) // as the client typed it
	var se *dc.StatusError
	if errors.As(err, &se) {
		switch se.Status.Kind() {
		case dc.Refused:
			r.log.Info(what+" refused by the domain controller", "user", user, "domain", domain, "dc", se.DC, "status", se.Status.String())
			a.refusalFloor(ctx, r)
			return a.challenge(true)
		case dc.NotAllowed:
			// The pool logs the cause at WARN, with the remedy, once in a
			// while; this line is the request's.
			r.log.Info(what+" not allowed by the domain's policy", "user", user, "domain", domain, "dc", se.DC, "status", se.Status.String())
			return notAllowed()
		}
	}
	if errors.Is(err, dc.ErrGuestSession) {
		r.log.Warn(what+" refused: the domain controller accepted it only as guest or anonymous", "user", user, "domain", domain, "dc", dcAddr)
		a.refusalFloor(ctx, r)
		return a.challenge(true)
	}
	return a.dcFailed(r, step, rt, err)
}

// dcFailed answers a relay step that the DC refused at its start, or that
// failed for want of a DC.
func (a *Authorizer) dcFailed(r *request, step string, rt *route, err error) *fcgi.Response {
	var se *dc.StatusError
	if errors.As(err, &se) {
		switch se.Status.Kind() {
		case dc.Refused:
			// The DC refused the client's Type1 itself.
			r.log.Info("domain controller refused the handshake", "step", step, "dc", se.DC, "status", se.Status.String())
			return a.challenge(true)
		case dc.NotAllowed:
			r.log.Info("handshake not allowed by the domain's policy", "step", step, "dc", se.DC, "status", se.Status.String())
			return notAllowed()
		}
	}
	switch {
	case errors.Is(err, dc.ErrBusy):
		a.log.Warn("domain controllers busy", "domain", rt.dom.Name, "step", step, "err", err)
		return unavailable("domain controller busy, retry")
	case se != nil:
		// A DCFailure (the other kinds were answered above), which the
		// pool logged at WARN with the DC and status. Not the user's
		// fault: no new password prompt.
		r.log.Info("domain controller failed to check the login", "domain", rt.dom.Name, "step", step, "err", err)
		return unavailable("domain controller failed, retry")
	}
	a.log.Error("no domain controller could answer", "domain", rt.dom.Name, "step", step, "err", err)
	return unavailable("domain controller unavailable")
}

// routeForNegotiate picks the DCs a Type1 goes to: the domain of the
// browser's hint cookie, the domain the client names, default_domain, or
// the first. The hint comes first because it is what this browser's last
// login named, while a Type1's domain is the machine's, which is not the
// user's where a user logs in from another domain's machine: with the
// Type1's domain first, such a client would start over at every login.
// hinted reports whether the choice came from the hint cookie.
func (a *Authorizer) routeForNegotiate(neg *ntlmmsg.Negotiate, p map[string]string) (rt *route, hinted bool) {
	if rt := a.hintedRoute(p); rt != nil {
		return rt, true
	}
	if neg.Domain != "" {
		if rt := a.route(neg.Domain); rt != nil {
			return rt, false
		}
	}
	if rt := a.route(a.cfg.Auth.DefaultDomain); rt != nil {
		return rt, false
	}
	return a.domains[0], false
}

// hintCookie is the cookie telling which domain's DCs a browser's Type1
// goes to: the domain its last login named, when that domain's DCs are not
// the default's. It is set on the 401 that makes the client start over, so
// it is per browser: another client at the same address (NAT, a proxy, a
// shared host) neither sees nor changes it.
//
// The browser controls it, so it is only a hint among the served domains:
// the challenging DC still checks the login, and the label and identity
// come from that DC-checked Type3, never from the cookie. A value naming no
// served domain is ignored.
const hintCookie = "NTLM_DOMAIN"

// hintMaxAge keeps the hint across browser restarts (browsers cap it near
// 400 days); a login for another domain replaces it.
const hintMaxAge = 365 * 24 * 3600

// hintedRoute is the served domain the request's hint cookie names, or nil.
// The cookie is ours only when it is the only one of its name: a second
// value was planted (a neighbouring host's Domain cookie, or one with a
// longer Path, which the browser sends first), and since the request does
// not say which is which, neither is followed. On HTTPS only the __Host-
// name, which no neighbour can set, is read.
func (a *Authorizer) hintedRoute(p map[string]string) *route {
	vals := cookie.FromHeader(p["HTTP_COOKIE"], cookieName(hintCookie, p))
	if len(vals) != 1 {
		return nil
	}
	if name, err := url.QueryUnescape(vals[0]); err == nil {
		return a.route(name)
	}
	return nil
}

// setHint sets the hint cookie on resp to rt's domain, or, when rt is nil,
// removes it. Domain names may hold bytes a cookie value cannot, hence
// the escaping (none for a name like EXAMPLE).
func setHint(resp *fcgi.Response, p map[string]string, rt *route) {
	// Host-only (no Domain) and Path=/, as the __Host- prefix demands.
	c := &http.Cookie{Name: cookieName(hintCookie, p), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: isHTTPS(p)}
	if rt != nil {
		c.Value, c.MaxAge = url.QueryEscape(rt.dom.Name), hintMaxAge
	} else {
		c.MaxAge = -1
	}
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	resp.Header.Add("Set-Cookie", c.String())
}

// challengeDomain is the NetBIOS domain the challenging DC names itself
// (the NbDomainName AV pair, else a domain TargetName). When it names none
// (no DC we know of does that), it is the domain the Type1 was routed for
// only if no other domain shares its DCs: else the Type1's own domain
// field would pick the label. "?" then matches no domain: the login gets
// the fallback_domain label or is refused.
func (a *Authorizer) challengeDomain(ch *ntlmmsg.Challenge, rt *route) string {
	if av, err := ch.AVPairs(); err == nil {
		if d := av.String(ntlmmsg.MsvAvNbDomainName); d != "" {
			return d
		}
	}
	if ch.TargetName != "" && ch.Flags&ntlmmsg.TargetTypeDomain != 0 {
		return ch.TargetName
	}
	for _, o := range a.domains {
		if o.pool == rt.pool && o != rt {
			return "?"
		}
	}
	return rt.dom.Name
}

func (a *Authorizer) route(name string) *route {
	if name == "" {
		return nil
	}
	for _, rt := range a.domains {
		if strings.EqualFold(rt.dom.Name, name) {
			return rt
		}
	}
	return nil
}

// dbg returns v for a debug log at ntlm_debug 2, and only its type name
// below: the message types log flags and names, never responses.
func (a *Authorizer) dbg(v any) any {
	if a.cfg.NTLMDebug > 1 {
		return v
	}
	return "(ntlm_debug 2 shows the message)"
}
