package authorizer

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/adgroup"
	"github.com/goauthenntlm/goauthenntlm/pkg/conntable"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
	"github.com/goauthenntlm/goauthenntlm/pkg/identity"
	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos"
	"github.com/goauthenntlm/goauthenntlm/pkg/memberships"
	"github.com/goauthenntlm/goauthenntlm/pkg/spnego"
)

// KerberosAcceptor checks a Kerberos GSS-API token: *kerberos.Acceptor,
// or a fake in tests. Errors are *kerberos.Error.
type KerberosAcceptor interface {
	Accept(tok []byte) (*kerberos.Login, error)
}

// KerberosObserver, when the Observer is one too, is told each refused
// Kerberos token by cause, and each directory search naming a PAC's group
// SIDs (which happens once per SID and cache_ttl, not per login).
type KerberosObserver interface {
	KerberosRefused(kerberos.Cause)
	PACSIDSearch()
}

// SIDSource resolves the group SIDs of a Kerberos PAC to groups and writes
// the memberships into the shared cache: *adgroup.Directory, or a fake. A
// GroupSource that is one too gives Kerberos logins their groups from the
// ticket instead of from a memberships lookup.
type SIDSource interface {
	GroupsBySID(ctx context.Context, domain string, sids []string) (groups map[string]adgroup.Group, ok bool, err error)
	Remember(user, domain string, groups []adgroup.Group) (*adgroup.Entry, error)
}

// warnLimiter says when a cause (a kerberos.Cause, a kdc.Cause, a
// delegation.Outcome) is due a WARN line again: once a minute. Its keys
// are a fixed set of causes, never a client's input.
type warnLimiter struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (w *warnLimiter) due(c string, now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now.Sub(w.last[c]) < time.Minute {
		return false
	}
	if w.last == nil {
		w.last = map[string]time.Time{}
	}
	w.last[c] = now
	return true
}

// kerberosToken returns the Kerberos token in a Negotiate token: a raw
// GSS-API Kerberos token, or the mechToken of a SPNEGO NegTokenInit whose
// first mechanism is Kerberos (the only one a mechToken may be for).
func kerberosToken(b []byte) (tok []byte, wrapped, ok bool) {
	if kerberos.IsGSSKerberos(b) {
		return b, false, true
	}
	t, err := spnego.Decode(b)
	if err != nil || t.Init == nil || len(t.Init.MechTypes) == 0 || !kerberos.IsKerberosOID(t.Init.MechTypes[0]) || len(t.Init.MechToken) == 0 {
		return nil, false, false
	}
	return t.Init.MechToken, true, true
}

// kerberosLogin checks a Kerberos token: stateless, no DC asked. A
// refusal is a 401 with the challenges again, so the client can fall back
// to NTLM.
func (a *Authorizer) kerberosLogin(ctx context.Context, r *request, tok []byte, wrapped bool) *fcgi.Response {
	start := time.Now()
	l, err := a.krb.Accept(tok)
	if err != nil {
		var ke *kerberos.Error
		if !errors.As(err, &ke) {
			ke = &kerberos.Error{Cause: kerberos.CauseMalformed, Detail: err.Error()}
		}
		if ko, ok := a.obs.(KerberosObserver); ok {
			ko.KerberosRefused(ke.Cause)
		}
		a.obs.Login(Outcome{Scheme: conntable.SchemeKerberos, Result: ResultRefused, Took: time.Since(start)})
		// ke's text names principals and versions, never the ticket or a
		// key. At WARN once a minute per cause, the rest at info: most
		// causes are read before any cryptography, so any client could
		// otherwise fill the log with WARN lines (the metric counts all).
		lvl := slog.LevelInfo
		if a.krbWarn.due(string(ke.Cause), time.Now()) {
			lvl = slog.LevelWarn
		}
		r.log.Log(ctx, lvl, "Kerberos login refused", "cause", string(ke.Cause), "principal", identity.Short(ke.Client), "spn", identity.Short(ke.SPN),
			"detail", ke.Detail, "remedy", ke.Cause.Remedy())
		return a.challenge(true)
	}
	if l.EncType == kerberos.EncTypeRC4 && a.rc4Logged.CompareAndSwap(false, true) {
		r.log.Warn("Kerberos ticket encrypted with RC4 (arcfour-hmac), which Windows is retiring: set the service account's msDS-SupportedEncryptionTypes to AES (24) and export AES keys (logged once)",
			"spn", l.SPN)
	}
	// What the client bound, for finding out which clients send a
	// binding: a hash of the server's public certificate, no secret.
	if r.log.Enabled(ctx, slog.LevelDebug) { // formatting costs on every login otherwise
		r.log.Debug("kerberos: authenticator", "channel_binding", bindingText(l.Bindings), "gss_flags", fmt.Sprintf("%#x", l.GSSFlags))
	}
	// Extended Protection: the binding the client sealed in its
	// authenticator, as for NTLM's.
	epa, resp := a.checkKerberosEPA(r, l.Bindings, l.User, l.Realm)
	if resp != nil {
		return resp
	}
	login, resp := a.ticketLogin(ctx, r, l, conntable.SchemeKerberos)
	if resp != nil {
		return resp
	}
	login.EPA = epa
	if a.delegates(r.Params) {
		login.CCache = a.kerberosCCache(ctx, r, l, login.User)
	}
	a.obs.Login(Outcome{Scheme: login.Scheme, Result: ResultOK, User: login.User, Domain: login.Domain, Took: time.Since(start)})
	r.log.Info("login", "user", login.User, "domain", login.Domain, "scheme", "Kerberos", "spn", l.SPN, "enctype", kerberos.EncTypeName(l.EncType), "pac", l.PAC != nil)
	resp = a.loggedIn(ctx, r, login)
	if resp.Status == http.StatusOK && l.Mutual {
		a.mutual(r, resp, l, wrapped)
	}
	return resp
}

// ticketLogin is the login of a ticket the acceptor took (from a browser,
// or got with a Basic password): the account the PAC names, its groups
// remembered from the PAC; without a PAC (an MIT KDC) the directory names
// the account, as for NTLM. The same identity rules for every way a
// ticket arrives.
func (a *Authorizer) ticketLogin(ctx context.Context, r *request, l *kerberos.Login, scheme conntable.Scheme) (conntable.Login, *fcgi.Response) {
	dom := a.names.Served(l.Realm)
	if dom == nil {
		// The acceptor takes served realms only; this is a bug guard.
		r.log.Error("Kerberos login from an unserved realm passed the acceptor", "realm", l.Realm)
		return conntable.Login{}, a.challenge(true)
	}
	user := l.User
	if l.PAC != nil && l.PAC.Account != "" {
		// The account's sAMAccountName, as the KDC wrote it: the
		// canonical name without asking LDAP.
		user = l.PAC.Account
	}
	name, err := a.names.Login(user, dom.Name, "")
	if err != nil {
		r.log.Warn("Kerberos login refused", "cause", "name", "principal", identity.Short(l.User+"@"+l.Realm), "err", err)
		return conntable.Login{}, a.challenge(true)
	}
	if l.PAC == nil {
		// No PAC (an MIT KDC): the directory names the account, as for NTLM.
		var resp *fcgi.Response
		if user, resp = a.accountName(ctx, r, name); resp != nil {
			return conntable.Login{}, resp
		}
	} else if a.groups != nil {
		a.groups.fromPAC(ctx, user, dom.Name, l.PAC, a.cfg.Groups.CacheTTL.D())
	}
	return conntable.Login{User: user, Domain: dom.Name, Scheme: scheme, At: time.Now()}, nil
}

// bindingText shows an authenticator's channel binding in the debug log.
func bindingText(b []byte) string {
	switch {
	case b == nil:
		return "none (no GSS checksum)"
	case strings.Trim(string(b), "\x00") == "":
		return "none (zeros)"
	}
	return hex.EncodeToString(b)
}

// mutual puts the AP-REP on the 200, for a client that asked for mutual
// authentication: in a SPNEGO NegTokenResp (accept-completed) when the
// client spoke SPNEGO. Apache passes an authorizer's headers to the client
// on a 200 too.
func (a *Authorizer) mutual(r *request, resp *fcgi.Response, l *kerberos.Login, wrapped bool) {
	tok, err := l.APRep()
	if err == nil && wrapped {
		tok, err = (&spnego.NegTokenResp{NegState: spnego.StateAcceptCompleted, SupportedMech: l.MechOID(), ResponseToken: tok}).Marshal()
	}
	if err != nil {
		r.log.Error("cannot build the Kerberos AP-REP", "err", err)
		return
	}
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	resp.Header[wwwAuthenticate] = []string{"Negotiate " + base64.StdEncoding.EncodeToString(tok)}
}

// sidName is a PAC SID resolved in the directory: its group, or none (a
// SID that is no group there, like S-1-18-1), until a time.
type sidName struct {
	group adgroup.Group
	ok    bool
	until time.Time
}

// maxSIDNames bounds the SID names held; past it they are dropped and
// resolved again.
const maxSIDNames = 100000

// fromPAC makes user's memberships those of a Kerberos PAC's group SIDs,
// named through the directory once per SID and cache_ttl: a login asks
// LDAP only for SIDs not seen within cache_ttl, and nothing per request.
// The memberships go into the shared cache too, for ntlm-group-check.
// Where the SIDs cannot be named (no LDAP for the domain, LDAP down), the
// memberships are looked up as for NTLM. A login with the ticket whose PAC
// named the memberships held, while they are fresh, changes nothing and
// costs nothing: a browser sends the same ticket on every new connection,
// and naming a thousand-group PAC's SIDs again (a map lookup and a sort of
// them all) on each would be most of its login's cost.
func (g *groups) fromPAC(ctx context.Context, user, domain string, pac *kerberos.PAC, ttl time.Duration) {
	src, ok := g.dir.(SIDSource)
	if !ok {
		g.refresh(user, domain)
		return
	}
	if m := g.fresh(user, domain); m != nil && m.pac == pac {
		return
	}
	sids := pac.GroupSIDs
	now := time.Now()
	var missing []string
	named := make([]adgroup.Group, 0, len(sids))
	g.mu.Lock()
	for _, s := range sids {
		n, ok := g.sids[identity.Key(s, domain)]
		switch {
		case !ok || now.After(n.until):
			missing = append(missing, s)
		case n.ok:
			named = append(named, n.group)
		}
	}
	g.mu.Unlock()
	if len(missing) > 0 {
		g.log.Debug("ldap: naming the group SIDs of a Kerberos PAC", "user", user, "domain", domain, "sids", len(missing))
		if ko, ok := g.obs.(KerberosObserver); ok {
			ko.PACSIDSearch()
		}
		res, has, err := src.GroupsBySID(ctx, domain, missing)
		if !has || err != nil {
			if err != nil {
				g.log.Warn("group SIDs of a Kerberos login not resolved; looking the memberships up instead", "user", user, "domain", domain, "err", err)
			}
			g.refresh(user, domain)
			return
		}
		g.mu.Lock()
		if len(g.sids) >= maxSIDNames {
			g.sids = map[string]sidName{}
		}
		for _, s := range missing {
			gr, ok := res[s]
			g.sids[identity.Key(s, domain)] = sidName{group: gr, ok: ok, until: now.Add(ttl)}
			if ok {
				named = append(named, gr)
			}
		}
		g.mu.Unlock()
	}
	slices.SortFunc(named, func(a, b adgroup.Group) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.SAM), strings.ToLower(b.SAM)), cmp.Compare(a.DN, b.DN))
	})
	named = slices.CompactFunc(named, func(a, b adgroup.Group) bool { return strings.EqualFold(a.DN, b.DN) })
	exported := exportGroups(&adgroup.Entry{Groups: named})
	key := identity.Key(user, domain)
	if m := g.fresh(user, domain); m != nil && m.exported == exported {
		// As held: no cache write, but the next login with this ticket
		// need not name them again.
		g.mu.Lock()
		if g.mem[key] == m {
			c := *m
			c.pac = pac
			g.mem[key] = &c
		}
		g.mu.Unlock()
		return
	}
	e, err := src.Remember(user, domain, named)
	if err != nil {
		g.log.Log(context.Background(), memberships.WriteFailureLevel(err), "memberships cache: Kerberos login's groups not written", "user", user, "domain", domain, "err", err)
	}
	g.mu.Lock()
	if len(g.mem) >= maxMemberships {
		g.mem = map[string]*held{}
	}
	g.mem[key] = &held{entry: e, exported: exported, fresh: g.dir.Expires(e), pac: pac}
	g.mu.Unlock()
}
