package authorizer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/ccache"
	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/conntable"
	"github.com/goauthenntlm/goauthenntlm/pkg/delegation"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
	"github.com/goauthenntlm/goauthenntlm/pkg/identity"
	"github.com/goauthenntlm/goauthenntlm/pkg/kdc"
	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos"
)

// DelegationObserver, when the Observer is one too, is told how each
// delegation ended.
type DelegationObserver interface {
	Delegated(delegation.Outcome)
}

// delegateParam is the per-location switch: Apache's DELEGATE variable
// (SetEnvIf Request_URI "^" DELEGATE=on), which only Apache's
// configuration sets (a client's headers arrive as HTTP_*).
const delegateParam = "DELEGATE"

// ccacheVariable is what the application reads its credential cache from.
const ccacheVariable = "KRB5CCNAME"

// newDelegator builds the Delegator of the domains with delegate_to; nil
// when none has.
func newDelegator(cfg *config.Config, log *slog.Logger) (*delegation.Delegator, error) {
	realms := map[string]*delegation.Realm{}
	for i := range cfg.Domains {
		d := &cfg.Domains[i]
		if len(d.DelegateTo) == 0 {
			continue
		}
		kt, err := kerberos.LoadKeytab(d.KeytabFile)
		if err != nil {
			return nil, fmt.Errorf("domain %s: delegate_to: %w", d.Name, err)
		}
		realm := strings.ToUpper(d.DNSName)
		spns := cfg.Principals(d)
		if len(spns) == 0 {
			return nil, fmt.Errorf("domain %s: delegate_to: no service principal (service_principals or auth.server_names) to ask S4U2Self tickets to", d.Name)
		}
		realms[realm] = &delegation.Realm{
			KDC:     kdc.New(kdc.Config{Realm: realm, KDCs: d.DCs, Timeout: cfg.Delegation.KDCTimeout.D(), MaxSkew: d.ClockSkew()}),
			Account: d.ServiceAccount, Service: spns[0], Keytab: kt, DelegateTo: d.DelegateTo,
		}
	}
	return delegation.NewDelegator(delegation.DelegatorOptions{Realms: realms, Timeout: cfg.Delegation.KDCTimeout.D(),
		MaxInFlight: cfg.Delegation.MaxInFlight, Logger: log}), nil
}

// delegates reports whether the request's location hands the application
// the user's credentials. A value other than on or off is a
// configuration mistake, read as off: credentials go nowhere unasked.
func (a *Authorizer) delegates(p map[string]string) bool {
	if a.ccaches == nil {
		return false
	}
	switch v := p[delegateParam]; v {
	case "on":
		return true
	case "", "off":
	default:
		a.log.Error("bad DELEGATE from Apache's config (on or off); read as off", "uri", identity.Short(p["REQUEST_URI"]))
	}
	return false
}

// handCCache puts l's credential cache in the answer's variables when the
// location delegates and the file is still there.
func (a *Authorizer) handCCache(vars map[string]string, l conntable.Login, p map[string]string) {
	if l.CCache != "" && a.delegates(p) && a.ccaches.Use(l.CCache, time.Now()) {
		vars[ccacheVariable] = "FILE:" + l.CCache
	}
}

func (a *Authorizer) delegated(o delegation.Outcome) {
	if do, ok := a.obs.(DelegationObserver); ok {
		do.Delegated(o)
	}
}

// kerberosCCache makes the credential cache of a Kerberos login at a
// delegating location: the TGT its client forwarded, else tickets to the
// domain's delegate_to got with its ticket (S4U2Proxy). It returns the
// file's path, "" for none: whatever goes wrong is logged and counted, and
// the login itself stands.
func (a *Authorizer) kerberosCCache(ctx context.Context, r *request, l *kerberos.Login, user string) string {
	if l.PAC != nil && l.PAC.NotDelegable() {
		a.delegationFailed(ctx, r, user, delegation.ErrNotDelegable)
		return ""
	}
	now := time.Now()
	if l.HasForwarded() {
		creds, err := l.Forwarded(now)
		if err != nil {
			a.delegationFailed(ctx, r, user, &delegation.Error{Outcome: delegation.BadKRBCred, Detail: "the client's forwarded ticket is not taken", Err: err})
			return ""
		}
		return a.storeCCache(r, user, creds, delegation.Forwarded)
	}
	if !a.deleg.Delegates(l.Realm) {
		a.delegated(delegation.NoneSent)
		r.log.Info("delegation: the client delegated no ticket (curl --delegation always; a browser allowed to delegate to this site), and the domain has no delegate_to", "user", user)
		return ""
	}
	creds, err := a.deleg.Proxy(ctx, l.Realm, l.User, l.Ticket())
	var de *delegation.Error
	if errors.As(err, &de) && de.Outcome == delegation.KDCRefused && !l.Forwardable() {
		de.Detail += " (the user's ticket to this site is not forwardable, as its TGT was not: kinit -f, or forwardable = true in krb5.conf; Windows' are)"
	}
	if err != nil {
		a.delegationFailed(ctx, r, user, err)
		return ""
	}
	return a.storeCCache(r, user, creds, delegation.S4U2Proxy)
}

// lateCCache makes the credential cache of a login made elsewhere (at a
// location that does not delegate, or by the login cookie) at its first
// request at a delegating location, by protocol transition: the KDC checks
// nothing the login did not, and the connection keeps the file (or that
// none could be made) for its next requests.
func (a *Authorizer) lateCCache(ctx context.Context, fr *fcgi.Request, key conntable.Key, l conntable.Login) conntable.Login {
	r := &request{Request: fr, key: key, log: a.log.With("client", key.Client.String()), start: time.Now()}
	l.CCache, l.CCacheTried = a.transitionCCache(ctx, r, l), true
	return l
}

// basicCCaches are the credential caches of Basic logins by user: Basic
// logs in on every request, which must not write a file each time.
type basicCCaches struct {
	mu sync.Mutex
	m  map[string]string // identity.Key -> path
}

// transitionCCache makes the credential cache of an NTLM or Basic login at
// a delegating location by protocol transition (S4U2Self, then
// S4U2Proxy), when its domain has delegate_to; "" for none.
func (a *Authorizer) transitionCCache(ctx context.Context, r *request, l conntable.Login) string {
	d, ok := a.cfg.Domain(l.Domain)
	if !ok || !a.deleg.Delegates(d.DNSName) {
		return ""
	}
	key := identity.Key(l.User, l.Domain)
	if l.Scheme == conntable.SchemeBasic {
		a.basicCC.mu.Lock()
		p := a.basicCC.m[key]
		a.basicCC.mu.Unlock()
		if p != "" && a.ccaches.Use(p, time.Now()) {
			return p
		}
	}
	creds, err := a.deleg.Transition(ctx, d.DNSName, l.User)
	if err != nil {
		a.delegationFailed(ctx, r, l.User, err)
		return ""
	}
	p := a.storeCCache(r, l.User, creds, delegation.ProtocolTransition)
	if p != "" && l.Scheme == conntable.SchemeBasic {
		a.basicCC.mu.Lock()
		if a.basicCC.m == nil || len(a.basicCC.m) >= maxMemberships {
			a.basicCC.m = map[string]string{}
		}
		a.basicCC.m[key] = p
		a.basicCC.mu.Unlock()
	}
	return p
}

// storeCCache writes creds into a new credential cache; "" when it cannot.
func (a *Authorizer) storeCCache(r *request, user string, creds []ccache.Credential, o delegation.Outcome) string {
	path, err := a.ccaches.Write(creds[0].Client, creds, time.Now())
	if err != nil {
		fo := delegation.WriteFailed
		if errors.Is(err, delegation.ErrFull) {
			fo = delegation.Full
		}
		a.delegationFailed(context.Background(), r, user, &delegation.Error{Outcome: fo, Detail: "no credential cache for this login", Err: err})
		return ""
	}
	a.delegated(o)
	servers := make([]string, len(creds))
	for i, c := range creds {
		servers[i] = c.Server.String()
	}
	r.log.Info("delegation: credential cache for the application", "user", user, "how", string(o), "tickets", strings.Join(servers, " "), "ccache", path)
	return path
}

// delegationFailed logs and counts why a login got no credentials: at
// WARN once a minute per outcome (a KDC refusing every login must not
// flood the log; the metric counts all), with the KDC's error and the
// remedy.
func (a *Authorizer) delegationFailed(ctx context.Context, r *request, user string, err error) {
	var de *delegation.Error
	if !errors.As(err, &de) {
		de = &delegation.Error{Outcome: delegation.KDCRefused, Detail: "delegation failed", Err: err}
	}
	a.delegated(de.Outcome)
	lvl := slog.LevelInfo
	if a.delegWarn.due(string(de.Outcome), time.Now()) {
		lvl = slog.LevelWarn
	}
	args := []any{"user", user, "outcome", string(de.Outcome)}
	if de.Err != nil {
		args = append(args, "err", de.Err.Error())
	}
	if de.Remedy != "" {
		args = append(args, "remedy", de.Remedy)
	}
	r.log.Log(ctx, lvl, "delegation: "+de.Detail+"; the login stands", args...)
}
