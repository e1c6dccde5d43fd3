package authorizer

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/conntable"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
	"github.com/goauthenntlm/goauthenntlm/pkg/identity"
	"github.com/goauthenntlm/goauthenntlm/pkg/kdc"
	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos"
)

// KDC gets tickets from one domain's KDCs: *kdc.Client, or a fake in
// tests. Errors are *kdc.Error.
type KDC interface {
	Login(ctx context.Context, u kdc.User, password string) (*kdc.Credential, error)
	ServiceTicket(ctx context.Context, tgt *kdc.Credential, spn string) (*kdc.Credential, error)
}

// BasicKDCObserver, when the Observer is one too, is told how each Basic
// password checked by the KDC ended: "ok", "cached", "ticket_refused", or
// the kdc.Cause.
type BasicKDCObserver interface {
	BasicKDC(result string)
}

// newKDC is the KDC client of domain d under cfg.
func newKDC(cfg *config.Config, d *config.Domain) KDC {
	return kdc.New(kdc.Config{Realm: d.DNSName, KDCs: d.DCs, Timeout: cfg.DC.RequestTimeout.D(), MaxSkew: d.ClockSkew()})
}

// basicKerberos checks a Basic password with the KDC, as mod_auth_gssapi's
// GssapiBasicAuth and mod_auth_kerb's KrbVerifyKDC do: an AS exchange
// with the password, a TGS exchange for our own service principal with
// that TGT, and the service ticket opened with our keytab by the same
// acceptor as a browser's ticket. A TGT alone is never taken: anyone
// answering on port 88 can make one for a password of their choosing,
// but only the real KDC knows our service key. The identity and groups
// come from that ticket's PAC, as for a Kerberos login.
func (a *Authorizer) basicKerberos(ctx context.Context, r *request, rt *route, name identity.Name, typed, password string) *fcgi.Response {
	start := time.Now()
	if name.Unserved != "" {
		// OTHER\jdoe under fallback_domain: the fallback domain's KDC
		// would check its own jdoe, another account than the one named.
		r.log.Info("Basic login refused: the domain it names is not served, and the KDC checks its own accounts only", "user", identity.Short(typed))
		a.refusalFloor(ctx, r)
		return a.challenge(true)
	}
	ck := a.basicCache.key(rt.dom.Name, typed, password)
	if l, ok := a.basicCache.get(ck, time.Now()); ok {
		a.basicKDCResult("cached")
		l.At = time.Now()
		r.log.Debug("Basic login from the cache", "user", l.User, "domain", l.Domain)
		return a.loggedIn(ctx, r, l)
	}
	u := kdc.User{Name: name.User, Enterprise: name.UPN}
	spn := a.cfg.Principals(rt.dom)[0]
	ctx2, cancel := a.dcContext(ctx)
	defer cancel()
	tgt, err := rt.kdc.Login(ctx2, u, password)
	var st *kdc.Credential
	if err == nil {
		st, err = rt.kdc.ServiceTicket(ctx2, tgt, spn)
	}
	if err != nil {
		return a.basicKDCFailed(ctx, r, rt, typed, start, err)
	}
	tok, err := kerberos.NewClientTicket(st.Ticket, st.Key, st.Client, st.ClientRealm).GSSToken()
	if err != nil {
		r.log.Error("cannot make an AP-REQ of the KDC's service ticket", "err", err)
		return unavailable("cannot check the password, retry")
	}
	l, err := a.krb.Accept(tok)
	if err != nil {
		// The KDC issued a ticket our keytab does not open: a stale
		// keytab (kvno), or something that is not the KDC. Not the
		// user's fault: no password prompt.
		a.basicKDCResult("ticket_refused")
		a.obs.Login(Outcome{Scheme: conntable.SchemeBasic, Result: ResultDCFailure, Took: time.Since(start)})
		c := kerberos.CauseOf(err)
		r.log.Error("Basic login: the KDC's service ticket was refused", "user", identity.Short(typed), "spn", spn, "cause", string(c), "err", err, "remedy", c.Remedy())
		return unavailable("cannot check the password, retry")
	}
	login, resp := a.ticketLogin(ctx, r, l, conntable.SchemeBasic)
	if resp != nil {
		return resp
	}
	a.basicCache.put(ck, login, time.Now())
	a.basicKDCResult("ok")
	a.obs.Login(Outcome{Scheme: login.Scheme, Result: ResultOK, DC: tgtKDC(rt), User: login.User, Domain: login.Domain, Took: time.Since(start)})
	r.log.Info("login", "user", login.User, "domain", login.Domain, "scheme", "Basic", "checked_by", "kdc", "spn", l.SPN, "enctype", kerberos.EncTypeName(l.EncType))
	return a.loggedIn(ctx, r, login)
}

func tgtKDC(rt *route) string { return "kdc:" + rt.dom.Name }

func (a *Authorizer) basicKDCResult(result string) {
	if o, ok := a.obs.(BasicKDCObserver); ok {
		o.BasicKDC(result)
	}
}

// basicKDCFailed answers a Basic password the KDC did not take, by cause:
// the user's mistake is a 401 after the refusal floor; an account the
// domain stopped is a 401 too, with a WARN naming why (once a minute per
// cause; the metric counts all); what the user cannot fix (no KDC, our
// clock, our service principal) is a 503.
func (a *Authorizer) basicKDCFailed(ctx context.Context, r *request, rt *route, typed string, start time.Time, err error) *fcgi.Response {
	var ke *kdc.Error
	if !errors.As(err, &ke) {
		ke = &kdc.Error{Cause: kdc.CauseProtocol, Err: err}
	}
	a.basicKDCResult(string(ke.Cause))
	user := identity.Short(typed)
	lvl := slog.LevelWarn
	if !a.krbWarn.due("basic:"+string(ke.Cause), time.Now()) {
		lvl = slog.LevelInfo
	}
	refused := func() *fcgi.Response {
		a.obs.Login(Outcome{Scheme: conntable.SchemeBasic, Result: ResultRefused, DC: ke.KDC, Took: time.Since(start)})
		a.refusalFloor(ctx, r)
		return a.challenge(true)
	}
	failed := func(msg string) *fcgi.Response {
		a.obs.Login(Outcome{Scheme: conntable.SchemeBasic, Result: ResultDCFailure, DC: ke.KDC, Took: time.Since(start)})
		return unavailable(msg)
	}
	switch ke.Cause {
	case kdc.CauseCredentials, kdc.CauseWrongRealm:
		r.log.Info("Basic login refused by the KDC", "user", user, "domain", rt.dom.Name, "cause", string(ke.Cause), "kdc", ke.KDC)
		return refused()
	case kdc.CauseDisabled, kdc.CauseLocked, kdc.CauseAccountExpired, kdc.CauseRestricted, kdc.CauseRevoked,
		kdc.CausePasswordExpired, kdc.CauseMustChange, kdc.CauseEnctype, kdc.CausePolicy:
		r.log.Log(ctx, lvl, "Basic login refused by the KDC: "+strings.ReplaceAll(string(ke.Cause), "_", " "), "user", user, "domain", rt.dom.Name,
			"cause", string(ke.Cause), "kdc", ke.KDC, "err", ke.Error(), "remedy", ke.Cause.Remedy())
		return refused()
	case kdc.CauseUnreachable:
		a.log.Error("Basic login: no KDC of the domain answered", "domain", rt.dom.Name, "err", ke.Error(), "remedy", ke.Cause.Remedy())
		return failed("KDC unavailable, retry")
	}
	// Skew, our service principal unknown, a reply that does not check:
	// the server's problem, which a new password prompt would not solve.
	a.log.Log(ctx, max(lvl, slog.LevelWarn), "Basic login: the KDC exchange failed", "domain", rt.dom.Name, "user", user,
		"cause", string(ke.Cause), "err", ke.Error(), "remedy", ke.Cause.Remedy())
	return failed("cannot check the password, retry")
}

// basicCache remembers Basic passwords the KDC accepted, for
// auth.basic_cache_ttl, so that a client sending Basic with every request
// costs the KDC two exchanges per TTL rather than per request. Its key is
// an HMAC, under a random key of this process, of the domain, the name as
// typed and the password: no password or unkeyed hash is held, and a
// wrong password (or another user) on the same connection misses and goes
// to the KDC. At most max entries; when full, the expired ones go, and if
// none has expired the whole cache is dropped (a flood of distinct
// accepted passwords only costs KDC exchanges again).
type basicCache struct {
	secret []byte
	ttl    time.Duration
	max    int

	mu sync.Mutex
	m  map[[sha256.Size]byte]basicEntry
}

type basicEntry struct {
	login conntable.Login
	until time.Time
}

func newBasicCache(ttl time.Duration, max int) *basicCache {
	c := &basicCache{secret: make([]byte, 32), ttl: ttl, max: max, m: map[[sha256.Size]byte]basicEntry{}}
	rand.Read(c.secret)
	return c
}

func (c *basicCache) key(domain, user, password string) [sha256.Size]byte {
	h := hmac.New(sha256.New, c.secret)
	for _, s := range []string{strings.ToUpper(domain), user, password} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

func (c *basicCache) get(k [sha256.Size]byte, now time.Time) (conntable.Login, bool) {
	if c == nil || c.ttl <= 0 {
		return conntable.Login{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || !now.Before(e.until) {
		return conntable.Login{}, false
	}
	return e.login, true
}

func (c *basicCache) put(k [sha256.Size]byte, l conntable.Login, now time.Time) {
	if c == nil || c.ttl <= 0 || c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for k, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m)
		}
	}
	c.m[k] = basicEntry{login: l, until: now.Add(c.ttl)}
}

// len is the number of entries held, for tests.
func (c *basicCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
