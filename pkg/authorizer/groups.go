package authorizer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/goauthenntlm/goauthenntlm/internal/flight"
	"github.com/goauthenntlm/goauthenntlm/pkg/adgroup"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
	"github.com/goauthenntlm/goauthenntlm/pkg/identity"
	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos"
	"github.com/goauthenntlm/goauthenntlm/pkg/memberships"
)

// groups keeps the memberships of logged-in users at hand, so that group
// answers cost a map lookup: an in-memory copy in front of the shared
// on-disk cache (adgroup.Directory), which is in front of LDAP.
type groups struct {
	dir GroupSource
	log *slog.Logger
	obs Observer

	flights flight.Group[*held] // by groupsKey: lookups in progress

	mu   sync.Mutex
	mem  map[string]*held
	sids map[string]sidName // PAC SIDs named, by identity.Key(SID, domain)
}

// held is one user's groups, ready to answer with.
type held struct {
	entry    *adgroup.Entry
	exported string    // "|WebUsers|Domain Users|", see exportGroups
	fresh    time.Time // until when it may be served without a lookup
	// pac is the Kerberos PAC the memberships were named from, if any:
	// the ticket cache hands the same *PAC to every login with the same
	// ticket, which then has nothing new to name (see fromPAC).
	pac *kerberos.PAC
}

// maxMemberships bounds the in-memory copy; past it the copy is dropped
// and refilled from the disk cache.
const maxMemberships = 100000

func newGroups(dir GroupSource, log *slog.Logger, obs Observer) *groups {
	return &groups{dir: dir, log: log, obs: obs, mem: map[string]*held{}, sids: map[string]sidName{}}
}

// refresh fetches user's memberships in the background, after a login:
// the next answers find them ready, and the login's 200 is not delayed.
// Memberships still fresh in memory are not fetched again.
func (g *groups) refresh(user, domain string) {
	if g.fresh(user, domain) != nil {
		return
	}
	go func() {
		if _, err := g.fetch(context.Background(), user, domain); err != nil {
			g.log.Warn("group lookup after login failed", "user", user, "domain", domain, "err", err)
		}
	}()
}

// get returns user's memberships, waiting for a lookup (bounded by ctx and
// the configured lookup timeout) when none fresh is at hand.
func (g *groups) get(ctx context.Context, user, domain string) (*held, error) {
	if m := g.fresh(user, domain); m != nil {
		g.obs.GroupsCached(true)
		return m, nil
	}
	g.obs.GroupsCached(false)
	return g.fetch(ctx, user, domain)
}

// fresh returns user's memberships held in memory, if still fresh.
func (g *groups) fresh(user, domain string) *held {
	g.mu.Lock()
	m := g.mem[identity.Key(user, domain)]
	g.mu.Unlock()
	if m != nil && time.Now().Before(m.fresh) {
		return m
	}
	return nil
}

// fetch looks user's memberships up, sharing the lookup with concurrent
// callers for the same user. The lookup runs detached from any request, so
// a caller that gives up does not waste the answer for the others.
func (g *groups) fetch(ctx context.Context, user, domain string) (*held, error) {
	k := identity.Key(user, domain)
	return g.flights.Do(ctx, k, func(ctx context.Context) (*held, error) {
		e, err := g.dir.Lookup(ctx, user, domain)
		var m *held
		var stale *adgroup.StaleError
		switch {
		case errors.As(err, &stale):
			g.obs.GroupLookup(LookupStale)
			g.log.Warn("LDAP unreachable: serving expired memberships within stale_grace", "user", user, "domain", domain, "fetched", stale.Fetched, "err", stale.Err)
			// Serve it for a short while, then try LDAP again.
			m = &held{entry: e, exported: exportGroups(e), fresh: time.Now().Add(30 * time.Second)}
		case err != nil:
			g.obs.GroupLookup(LookupFailed)
			return nil, err
		default:
			g.obs.GroupLookup(LookupOK)
			m = &held{entry: e, exported: exportGroups(e), fresh: g.dir.Expires(e)}
		}
		g.mu.Lock()
		if len(g.mem) >= maxMemberships {
			g.mem = map[string]*held{}
		}
		g.mem[k] = m
		g.mu.Unlock()
		return m, nil
	})
}

// exportGroups formats memberships for Apache's Require expr: the
// sAMAccountNames between '|' and with one at each end, so that
//
//	%{reqenv:AD_GROUPS} -strcmatch '*|WebUsers|*'
//
// matches exactly one whole name, case-insensitively, spaces included.
// sAMAccountNames cannot contain '|' (nor * ? [ ]), so no name can forge a
// boundary or a wildcard.
func exportGroups(e *adgroup.Entry) string {
	if e == nil || e.Unknown || len(e.Groups) == 0 {
		return "|"
	}
	var b strings.Builder
	b.WriteByte('|')
	for _, gr := range e.Groups {
		if gr.SAM == "" || strings.ContainsAny(gr.SAM, "|*?[]\r\n") {
			continue
		}
		b.WriteString(gr.SAM)
		b.WriteByte('|')
	}
	return b.String()
}

// authorize answers the authz provider's call (FCGI_APACHE_ROLE
// AUTHORIZER): is REMOTE_USER in any of REQUIRED_GROUPS?
func (a *Authorizer) authorize(ctx context.Context, p map[string]string) *fcgi.Response {
	remote := p["REMOTE_USER"]
	names, err := memberships.ParseNames(p["REQUIRED_GROUPS"])
	switch {
	case a.groups == nil:
		a.log.Error("group check asked, but no [[domain]] has ldap_urls")
		return status(http.StatusInternalServerError, "authorizer: groups not configured")
	case err != nil:
		a.log.Error("group check: bad REQUIRED_GROUPS (set it with SetEnvIf in Apache's config)", "uri", identity.Short(p["REQUEST_URI"]), "err", err)
		return status(http.StatusInternalServerError, "authorizer: bad required groups")
	case remote == "":
		return status(http.StatusForbidden, "no user")
	}
	user, dom, err := a.names.Remote(remote)
	if d := p["AUTH_DOMAIN"]; d != "" && err == nil {
		// Our own login variable: the served domain that checked it.
		if dom = a.names.Served(d); dom == nil {
			err = fmt.Errorf("AUTH_DOMAIN %q: %w", d, identity.ErrNotServed)
		}
	}
	if err != nil {
		a.log.Warn("group check refused", "remote_user", identity.Short(remote), "err", err)
		return status(http.StatusForbidden, "user not in a served domain")
	}
	domain := dom.Name
	m, err := a.groups.get(ctx, user, domain)
	if err != nil {
		a.log.Warn("group check refused: memberships unavailable", "user", identity.Short(user), "domain", domain, "err", err)
		return status(http.StatusForbidden, "group membership unknown")
	}
	if !m.entry.MemberOfAny(names) {
		a.log.Info("group check: not a member", "user", identity.Short(user), "domain", domain, "required", strings.Join(names, ","))
		return status(http.StatusForbidden, "not a member of the required groups")
	}
	return &fcgi.Response{Status: http.StatusOK}
}

// CheckGroups answers ntlm-group-check's question when the cache could
// not: is remoteUser (REMOTE_USER) in any of the groups of line (a Require
// external-group line, see memberships.ParseNames)? The lookup writes the
// cache entry the helper reads next time.
func (a *Authorizer) CheckGroups(ctx context.Context, remoteUser, line string) (bool, error) {
	if a.groups == nil {
		return false, errors.New("no [[domain]] has ldap_urls: group checks are not configured")
	}
	names, err := memberships.ParseNames(line)
	if err != nil {
		return false, err
	}
	if remoteUser == "" {
		return false, errors.New("empty user")
	}
	user, dom, err := a.names.Remote(remoteUser)
	if err != nil {
		return false, err
	}
	m, err := a.groups.get(ctx, user, dom.Name)
	if err != nil {
		return false, fmt.Errorf("memberships of %s: %w", identity.Key(user, dom.Name), err)
	}
	return m.entry.MemberOfAny(names), nil
}
