package authorizer

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/adgroup"
	"github.com/goauthenntlm/goauthenntlm/pkg/dc"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
	"github.com/goauthenntlm/goauthenntlm/pkg/identity"
)

// trusts keeps each served domain's trust list, read from its directory
// and kept trustTTL, for the fallback check. Bounded by the number of
// configured domains.
type trusts struct {
	dir TrustSource

	mu sync.Mutex
	m  map[string]trustList
}

type trustList struct {
	list  []adgroup.Trust
	until time.Time
}

const trustTTL = 10 * time.Minute

// checkUnserved decides an NTLM login whose typed domain no [[domain]]
// serves and that fallback_domain's DCs accepted. A DC checks a domain
// name it does not know as its own account, which the login is then
// labelled with. But a name of a domain it trusts it passes on to that
// domain's DCs: the account is another domain's (TRUSTEDCORP\ceo, not
// EXAMPLE\ceo), which we can neither name canonically nor fetch groups
// for, so the login is refused. A trust that routes more names than it
// lists (a forest trust) leaves every unserved name in doubt. (A Basic
// login is relayed with the served domain's name, so it never gets here.)
func (a *Authorizer) checkUnserved(ctx context.Context, r *request, name identity.Name) *fcgi.Response {
	if name.Unserved == "" {
		return nil
	}
	list, ok, err := a.trustList(ctx, name.Domain.Name)
	switch {
	case err != nil:
		r.log.Error("login refused: the directory could not list the domains the fallback domain trusts",
			"user", identity.Short(name.User), "typed_domain", identity.Short(name.Unserved), "fallback_domain", name.Domain.Name, "err", err)
		return unavailable("directory unavailable, retry")
	case !ok:
		// The config check requires LDAP for fallback_domain.
		r.log.Error("login refused: fallback_domain has no directory to tell its own accounts from trusted domains'",
			"typed_domain", identity.Short(name.Unserved), "fallback_domain", name.Domain.Name)
		return status(http.StatusForbidden, "domain not served")
	}
	for _, t := range list {
		if t.Names(name.Unserved) {
			r.log.Warn("login refused: its domain is trusted by the fallback domain, whose DC passed it on; configure that domain as its own [[domain]] (with the same dcs) so that it gets its own name and directory",
				"user", identity.Short(name.User), "typed_domain", identity.Short(name.Unserved), "trust", t.FlatName, "fallback_domain", name.Domain.Name)
			return status(http.StatusForbidden, "domain not served")
		}
	}
	for _, t := range list {
		if t.Routes() {
			r.log.Warn("login refused: the fallback domain has a forest trust, so its DC may have passed this unknown domain name on to another domain; configure the user's domain as its own [[domain]]",
				"user", identity.Short(name.User), "typed_domain", identity.Short(name.Unserved), "trust", t.FlatName, "fallback_domain", name.Domain.Name)
			return status(http.StatusForbidden, "domain not served")
		}
	}
	return nil
}

func (a *Authorizer) trustList(ctx context.Context, domain string) ([]adgroup.Trust, bool, error) {
	c := a.trusts
	if c == nil {
		return nil, false, nil
	}
	c.mu.Lock()
	e, ok := c.m[domain]
	c.mu.Unlock()
	if ok && time.Now().Before(e.until) {
		return e.list, true, nil
	}
	list, ok, err := c.dir.Trusts(ctx, domain)
	if !ok || err != nil {
		return nil, ok, err
	}
	a.log.Debug("trusted domains read", "domain", domain, "trusts", len(list))
	c.mu.Lock()
	c.m[domain] = trustList{list: list, until: time.Now().Add(trustTTL)}
	c.mu.Unlock()
	return list, true, nil
}

// relayOptions tells the pool when the Type3 names an account away from
// the served domain: a typed domain no [[domain]] serves, or a UPN whose
// suffix is not the domain's dns_name. The DC passes such a name on (to a
// trusted domain, or another forest), so its DC-failure answer may be that
// domain's, caused by the name alone: still 503, but not counted against
// the DC (see dc.ForeignName), so that no one can mark DCs down for all
// without a password. Logins for the domain's own accounts count as ever.
func relayOptions(name identity.Name) []dc.AuthOption {
	foreign := name.Unserved != ""
	if i := strings.LastIndexByte(name.User, '@'); name.UPN && i >= 0 {
		foreign = foreign || !strings.EqualFold(name.User[i+1:], name.Domain.DNSName)
	}
	if foreign {
		return []dc.AuthOption{dc.ForeignName}
	}
	return nil
}
