// Package authorizer owns the decision for each request Apache asks about:
// which authentication step the Authorization header is, what to relay to
// which domain controller, and what to answer. It ties the FastCGI layer
// (package fcgi) to the NTLM codec (ntlmmsg), the DC relay (dc) and the
// memory of client connections (conntable); each of those knows nothing of
// the others.
//
// The answers follow mod_authnz_fcgi's rules (see the README): 200 with
// Variable-REMOTE_USER lets the request through, 401 with WWW-Authenticate
// goes to the client, 503 when no domain controller can answer. Bad client
// input gets 400 or 401, never 500.
package authorizer

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/adgroup"
	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/conntable"
	"github.com/goauthenntlm/goauthenntlm/pkg/dc"
	"github.com/goauthenntlm/goauthenntlm/pkg/delegation"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
	"github.com/goauthenntlm/goauthenntlm/pkg/identity"
	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos"
	"github.com/goauthenntlm/goauthenntlm/pkg/replay"
)

// Authorizer answers mod_authnz_fcgi's AUTHENTICATOR calls. Create it with
// New, run its housekeeping with Run, and serve it with an fcgi.Server.
type Authorizer struct {
	cfg       *config.Config
	names     *identity.Names
	log       *slog.Logger
	table     *conntable.Table
	domains   []*route // in config order
	pools     []dc.Relay
	secret    string                // caller secret; empty = none required
	groups    *groups               // nil when no domain has LDAP settings
	accounts  *accounts             // nil when no domain has LDAP settings
	trusts    *trusts               // nil when no domain has LDAP settings
	cookie    *loginCookie          // nil when the login cookie is off
	ccaches   *delegation.Store     // nil when no location may delegate
	deleg     *delegation.Delegator // nil when no domain has delegate_to
	delegWarn warnLimiter
	basicCC   basicCCaches

	krb       KerberosAcceptor // nil when no domain has a keytab_file
	replay    replay.Store     // krb's, when built from the config
	krbWarn   warnLimiter
	epaWarn   warnLimiter // Extended Protection's missing certificate
	frontWarn warnLimiter // frontShared: a front end mixing clients

	basicCache *basicCache // Basic passwords the KDC accepted

	obs            Observer
	kerberosLogged atomic.Bool
	rc4Logged      atomic.Bool
	bindingKey     []byte
	bindingHMAC    hash.Cloner  // keyed with bindingKey; cloned per use (bindingMAC)
	certs          certBindings // Extended Protection: each TLS certificate's binding
}

// route is a configured domain and the DC pool serving it. Domains with the
// same DC list share one pool, so a challenge from a shared DC can be
// finished for either domain.
type route struct {
	dom  *config.Domain
	pool dc.Relay
	kdc  KDC // Basic passwords' checker when dom.BasicByKDC(), else nil
}

// Options are what New needs besides the configuration.
type Options struct {
	Logger *slog.Logger
	// CallerSecret, when not empty, must arrive in the GoAuthenNTLM-Secret
	// request header Apache sets (HTTP_GOAUTHENNTLM_SECRET), or in the
	// AUTHORIZER_SECRET variable.
	CallerSecret string
	// Table, when set, is the connection table of the Authorizer this one
	// replaces (a configuration reload): logins survive the reload.
	Table *conntable.Table
	// BindingKey authenticates the connection-binding cookies this process
	// issues (auth.bind_connections); pass the same key across reloads.
	// Empty: a random one.
	BindingKey []byte
	// NewRelay, when set, replaces dc.NewPool as the relay to a DC list
	// (tests pass package dctest's fakes).
	NewRelay func(dc.Config) (dc.Relay, error)
	// Groups, when set, replaces the adgroup.Directory built from the
	// configuration's LDAP settings.
	Groups GroupSource
	// Observer, when set, is told each decision (metrics).
	Observer Observer
	// Kerberos, when set, replaces the acceptor built from the domains'
	// keytab_file settings.
	Kerberos KerberosAcceptor
	// KerberosReplay is the replay cache of the Authorizer this one
	// replaces (a reload), so a reload does not let a token in twice.
	KerberosReplay replay.Store
	// NewKDC, when set, replaces the KDC client of a domain whose Basic
	// passwords the KDC checks (tests pass fakes).
	NewKDC func(*config.Domain) KDC
	// CCaches, when set, holds the credential caches handed to
	// applications (delegation); the caller opens it from the
	// configuration's [delegation], sweeps it through Run, and closes it
	// at the daemon's stop (it outlives reloads).
	CCaches *delegation.Store
}

// GroupSource looks up users' group memberships: *adgroup.Directory, in
// front of LDAP, or a fake in tests.
type GroupSource interface {
	Lookup(ctx context.Context, user, domain string) (*adgroup.Entry, error)
	// Expires is when an entry Lookup returned stops being fresh.
	Expires(*adgroup.Entry) time.Time
	Close() error
}

// AccountSource names the account a login checked: *adgroup.Directory
// (see its Account), or a fake in tests. A GroupSource that is one too
// makes REMOTE_USER the directory's name of the account.
type AccountSource interface {
	Account(ctx context.Context, name string, upn bool, domain string) (sam string, ok bool, err error)
}

// TrustSource lists the domains a served domain's DCs pass logins on to
// (its trustedDomain objects): *adgroup.Directory, or a fake in tests. ok
// is false when the domain has no directory to ask.
type TrustSource interface {
	Trusts(ctx context.Context, domain string) (trusts []adgroup.Trust, ok bool, err error)
}

// New builds an Authorizer for cfg, with one DC pool per distinct DC list.
func New(cfg *config.Config, opt Options) (*Authorizer, error) {
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	a := &Authorizer{
		cfg:        cfg,
		names:      identity.New(cfg),
		log:        log,
		secret:     opt.CallerSecret,
		bindingKey: opt.BindingKey,
		obs:        opt.Observer,
		ccaches:    opt.CCaches,
	}
	if a.obs == nil {
		a.obs = nopObserver{}
	}
	if len(a.bindingKey) == 0 {
		a.bindingKey = make([]byte, 32)
		rand.Read(a.bindingKey)
	}
	a.bindingHMAC, _ = hmac.New(sha256.New, a.bindingKey).(hash.Cloner)
	lim := conntable.Limits{
		MaxPending:      cfg.Auth.MaxPending,
		MaxPendingPerIP: cfg.Auth.MaxPendingPerIP,
		MaxConnections:  cfg.Auth.MaxConnections,
		PendingTTL:      cfg.Auth.HandshakeTimeout.D(),
		IdleTTL:         cfg.Auth.KeepAliveTimeout.D(),
	}
	if cfg.Cookie.Enabled {
		c, err := newLoginCookie(cfg.Cookie)
		if err != nil {
			return nil, err
		}
		a.cookie = c
	}
	switch {
	case opt.Groups != nil:
		a.groups = newGroups(opt.Groups, log, a.obs)
		if as, ok := opt.Groups.(AccountSource); ok {
			a.accounts = &accounts{dir: as, m: map[string]account{}}
		}
		if ts, ok := opt.Groups.(TrustSource); ok {
			a.trusts = &trusts{dir: ts, m: map[string]trustList{}}
		}
	case hasLDAP(cfg):
		dir, err := adgroup.NewDirectory(cfg, log)
		if err != nil {
			return nil, err
		}
		a.groups = newGroups(dir, log, a.obs)
		a.accounts = &accounts{dir: dir, m: map[string]account{}}
		a.trusts = &trusts{dir: dir, m: map[string]trustList{}}
	}
	// Kept even when this configuration has no keytab: the store holds
	// its file's lock for the process, and a later reload may want it.
	a.replay = opt.KerberosReplay
	if a.ccaches != nil {
		d, err := newDelegator(cfg, log)
		if err != nil {
			a.Close()
			return nil, err
		}
		a.deleg = d
	}
	if a.krb = opt.Kerberos; a.krb == nil {
		acc, err := kerberos.FromConfig(cfg, opt.KerberosReplay)
		if err != nil {
			a.Close()
			return nil, err
		}
		if acc != nil {
			a.krb, a.replay = acc, acc.Replay()
		}
	}
	newRelay := opt.NewRelay
	if newRelay == nil {
		newRelay = func(c dc.Config) (dc.Relay, error) { return dc.NewPool(c) }
	}
	byDCs := map[string]dc.Relay{}
	for i := range cfg.Domains {
		d := &cfg.Domains[i]
		k := strings.ToLower(strings.Join(d.DCs, ","))
		p, ok := byDCs[k]
		if !ok {
			var err error
			p, err = newRelay(PoolConfig(cfg, d, log.With("domain", d.Name)))
			if err != nil {
				a.Close()
				return nil, fmt.Errorf("domain %s: %w", d.Name, err)
			}
			byDCs[k] = p
			a.pools = append(a.pools, p)
		}
		rt := &route{dom: d, pool: p}
		if d.BasicByKDC() {
			if a.krb == nil {
				a.Close()
				return nil, fmt.Errorf("domain %s: basic = %q needs keytab_file, to open the KDC's service ticket", d.Name, d.Basic)
			}
			if opt.NewKDC != nil {
				rt.kdc = opt.NewKDC(d)
			} else {
				rt.kdc = newKDC(cfg, d)
			}
		}
		a.domains = append(a.domains, rt)
	}
	a.basicCache = newBasicCache(cfg.Auth.BasicCacheTTL.D(), cfg.Auth.BasicCacheSize)
	// On a reload the old table carries over, so logins survive it. A
	// handshake between its Type1 and Type3 does not: its DC connection
	// belongs to the old pools, and the client is asked to start over.
	if a.table = opt.Table; a.table != nil {
		a.table.SetLimits(lim)
	} else {
		a.table = conntable.New(lim, nil)
	}
	return a, nil
}

// Run sweeps expired handshakes and idle connections until ctx is done.
func (a *Authorizer) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			a.table.Sweep()
			if a.ccaches != nil {
				a.ccaches.Sweep(now)
			}
		}
	}
}

// Close releases the DC connections.
func (a *Authorizer) Close() error {
	var errs []error
	if a.groups != nil {
		errs = append(errs, a.groups.dir.Close())
	}
	for _, p := range a.pools {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}

// KerberosReplay is the Kerberos replay store, to hand to the Authorizer
// that replaces this one on a reload, and for the daemon to close at exit
// (Close does not: the next Authorizer holds it); nil when no
// configuration so far had Kerberos.
func (a *Authorizer) KerberosReplay() replay.Store { return a.replay }

// Table is the connection table, to hand to the Authorizer that replaces
// this one on a reload.
func (a *Authorizer) Table() *conntable.Table { return a.table }

// request is one call from Apache, with what every step needs.
type request struct {
	*fcgi.Request
	key   conntable.Key
	log   *slog.Logger
	start time.Time // when it arrived, for auth.refusal_floor
}

// ServeFCGI implements fcgi.Handler.
func (a *Authorizer) ServeFCGI(ctx context.Context, fr *fcgi.Request) *fcgi.Response {
	resp := a.serve(ctx, fr)
	if resp != nil {
		code := resp.Status
		if code == 0 {
			code = http.StatusOK
		}
		a.obs.Answered(code)
	}
	return resp
}

func (a *Authorizer) serve(ctx context.Context, fr *fcgi.Request) *fcgi.Response {
	p := fr.Params
	if a.secret != "" && !a.callerOK(p) {
		a.log.Warn("call refused: caller secret missing or wrong; is the RequestHeader ... GoAuthenNTLM-Secret line in Apache's config?", "remote", p["REMOTE_ADDR"])
		return status(http.StatusForbidden, "caller not authorized")
	}
	key, err := connKey(p)
	if err != nil {
		// Apache always sends these; missing ones mean a broken setup,
		// not a client's doing.
		a.log.Error("cannot identify the client connection", "err", err)
		return status(http.StatusInternalServerError, "authorizer: no client address")
	}
	switch role := p["FCGI_APACHE_ROLE"]; role {
	case "AUTHENTICATOR", "":
	case "AUTHORIZER":
		return a.authorize(ctx, p)
	default:
		a.log.Error("unknown FCGI_APACHE_ROLE; use AuthnzFcgiCheckAuthnProvider or an authz provider", "apache_role", role)
		return status(http.StatusInternalServerError, "authorizer: unsupported role")
	}

	h, ok := p["HTTP_AUTHORIZATION"]
	if !ok || strings.TrimSpace(h) == "" {
		// The hot path: a later request on an authenticated connection.
		if l, ok := a.table.Authenticated(key); ok {
			switch {
			case a.tooOld(l):
				a.log.Info("login_lifetime passed since the domain controller checked this connection's login: challenged again",
					"client", key.Client.String(), "user", l.User, "domain", l.Domain)
			case l.Scheme == conntable.SchemeCookie && (a.cookie == nil || l.CookieGen != a.cookie.generation):
				// The table outlives a reload; the revoked cookie's
				// connection must not.
				a.log.Info("the login cookie that logged this connection in is revoked (cookie.generation raised, or the cookie turned off): challenged again",
					"client", key.Client.String(), "user", l.User, "domain", l.Domain)
			case !a.epaMet(l, p):
				a.log.Info("this connection's login did not meet this location's channel_binding: challenged again",
					"client", key.Client.String(), "user", l.User)
			case l.Forwarded != forwardedHash(p):
				a.frontShared(key, l, p, "X-Forwarded-For or Forwarded names another client than at the login")
			case a.bindingOK(l, p):
				a.obs.Reused(ViaConnection)
				if !l.CCacheTried && a.delegates(p) {
					l = a.lateCCache(ctx, fr, key, l)
					a.table.SetAuthenticated(key, l)
				}
				return a.granted(ctx, l, p)
			case viaFront(p):
				a.frontShared(key, l, p, "the request lacks the binding cookie of the browser that logged in")
			default:
				a.log.Info("request without this connection's binding cookie: challenged again (another client on the same address and port?)",
					"client", key.Client.String(), "user", l.User)
			}
			a.table.Forget(key)
		}
		if a.cookie != nil {
			if l, browser, ok := a.cookie.login(p, a.browserValues(p), a.log.With("client", key.Client.String())); ok && !a.tooOld(l) && a.epaMet(l, p) {
				a.obs.Reused(ViaCookie)
				if a.delegates(p) {
					l = a.lateCCache(ctx, fr, key, l)
				}
				resp := a.granted(ctx, l, p)
				if a.cfg.Auth.BindConnections {
					l.Binding = sha256.Sum256([]byte(browser))
				}
				l.Forwarded = forwardedHash(p)
				a.table.SetAuthenticated(key, l)
				return resp
			}
		}
		return a.challenge(false)
	}
	r := &request{Request: fr, key: key, log: a.log.With("client", key.Client.String()), start: time.Now()}
	cred, err := parseAuthorization(h)
	if errors.Is(err, errUnknownScheme) {
		r.log.Info("client used an unknown scheme", "err", err)
		return a.challenge(false)
	}
	if err != nil {
		r.log.Info("bad Authorization header", "err", err)
		return status(http.StatusBadRequest, "bad Authorization header")
	}
	switch cred.scheme {
	case config.SchemeNTLM, config.SchemeNegotiate:
		if !a.cfg.Auth.Offers(cred.scheme) && !(cred.scheme == config.SchemeNTLM && a.cfg.Auth.Offers(config.SchemeNegotiate)) {
			r.log.Info("client used a scheme that is not offered", "scheme", cred.scheme)
			return a.challenge(true)
		}
		return a.ntlm(ctx, r, cred)
	case config.SchemeBasic:
		if !a.cfg.Auth.Offers(config.SchemeBasic) {
			r.log.Info("client used Basic, which is not offered")
			return a.challenge(true)
		}
		return a.basic(ctx, r, cred.token)
	}
	return a.challenge(true)
}

// callerOK reports whether the caller passed the secret. The shipped
// Apache setup sets it as a request header early and removes the header
// again before the application runs (mod_headers); a variable set with
// SetEnvIf, the older way, cannot be removed again and reaches the
// application. Either will do: a client cannot know the value, and its own
// header of that name must not make Apache's variable fail.
func (a *Authorizer) callerOK(p map[string]string) bool {
	return secretEqual(p["HTTP_GOAUTHENNTLM_SECRET"], a.secret) || secretEqual(p["AUTHORIZER_SECRET"], a.secret)
}

// tooOld reports whether login_lifetime has passed since the DC checked l.
func (a *Authorizer) tooOld(l conntable.Login) bool {
	return time.Since(l.At) > a.cfg.Auth.LoginLifetime.D()
}

// PoolConfig is the DC pool configuration for domain d under cfg.
func PoolConfig(cfg *config.Config, d *config.Domain, log *slog.Logger) dc.Config {
	return dc.Config{
		Addrs:              d.DCs,
		DialTimeout:        cfg.DC.DialTimeout.D(),
		RequestTimeout:     cfg.DC.RequestTimeout.D(),
		QueueTimeout:       cfg.DC.QueueTimeout.D(),
		MaxConnsPerDC:      cfg.DC.MaxConnsPerDC,
		MaxSessionsPerConn: cfg.DC.MaxSessionsPerConn,
		MaxInFlightPerDC:   cfg.DC.MaxInFlightPerDC,
		DownBackoff:        cfg.DC.DownBackoff.D(),
		Logger:             log,
	}
}

func hasLDAP(cfg *config.Config) bool {
	for _, d := range cfg.Domains {
		if len(d.LDAPURLs) > 0 {
			return true
		}
	}
	return false
}

// connKey builds the connection identity from Apache's parameters: the
// TCP peer's address (peerAddr) and port.
func connKey(p map[string]string) (conntable.Key, error) {
	c, err := addrPort(peerAddr(p), p["REMOTE_PORT"])
	if err != nil {
		return conntable.Key{}, fmt.Errorf("%s/REMOTE_PORT: %w", peerParam, err)
	}
	s, err := addrPort(p["SERVER_ADDR"], p["SERVER_PORT"])
	if err != nil {
		return conntable.Key{}, fmt.Errorf("SERVER_ADDR/SERVER_PORT: %w", err)
	}
	return conntable.Key{Client: c, Server: s}, nil
}

func addrPort(addr, port string) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(n)), nil
}

// loggedIn answers a login the DC accepted: the connection is
// remembered, the user's groups fetched, and the login cookie set.
func (a *Authorizer) loggedIn(ctx context.Context, r0 *request, l conntable.Login) *fcgi.Response {
	if a.groups != nil {
		a.groups.refresh(l.User, l.Domain)
	}
	if a.delegates(r0.Params) {
		if l.CCache == "" && l.Scheme != conntable.SchemeKerberos {
			l.CCache = a.transitionCCache(ctx, r0, l)
		}
		l.CCacheTried = true
	}
	r := a.granted(ctx, l, r0.Params)
	// Basic sends its credentials with every request; there is no
	// connection state to keep.
	bind := a.cfg.Auth.BindConnections && l.Scheme != conntable.SchemeBasic
	var browser string
	if bind || a.cookie != nil {
		browser = a.browserValue(l, r0.Params, r)
	}
	if bind {
		l.Binding = sha256.Sum256([]byte(browser))
	}
	if l.Scheme != conntable.SchemeBasic {
		l.Forwarded = forwardedHash(r0.Params)
		a.table.SetAuthenticated(r0.key, l)
	}
	if a.cookie != nil {
		if r.Header == nil {
			r.Header = http.Header{}
		}
		a.cookie.set(r, r0.Params, l, browser)
	}
	return r
}
