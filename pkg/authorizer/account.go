package authorizer

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/adgroup"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
	"github.com/goauthenntlm/goauthenntlm/pkg/identity"
)

// accounts turns the name a login typed (JDOE, jdoe@example.test) into the
// account's own sAMAccountName (jdoe), asking the directory the way the DC
// looked the name up. That name, not the typed one, is what REMOTE_USER,
// the groups, the login cookie and the log lines carry, so that one
// account is one user to Apache and to applications.
//
// Answers are kept for accountTTL, which also carries recent users
// through a short directory outage. A login the directory cannot name is
// not let through under the typed name: 503 while it is unreachable, 403
// when it knows no such account (or more than one).
type accounts struct {
	dir AccountSource

	mu sync.Mutex
	m  map[string]account
}

type account struct {
	sam   string
	until time.Time
}

const (
	accountTTL  = 10 * time.Minute
	maxAccounts = 100000
)

// accountName returns the directory's name for the account name's login
// checked, or the answer to give when there is none. Without LDAP for the
// domain, it is the name as typed (see conf.toml.example).
func (a *Authorizer) accountName(ctx context.Context, r *request, name identity.Name) (string, *fcgi.Response) {
	if a.accounts == nil {
		return name.User, nil
	}
	c := a.accounts
	k := identity.Key(name.User, name.Domain.Name)
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok && time.Now().Before(e.until) {
		return e.sam, nil
	}
	sam, ok, err := c.dir.Account(ctx, name.User, name.UPN, name.Domain.Name)
	switch {
	case !ok:
		return name.User, nil
	case errors.Is(err, adgroup.ErrNoSuchUser), errors.Is(err, adgroup.ErrAmbiguous):
		r.log.Warn("login refused: the domain controller accepted it, but the directory names no single account for it",
			"user", identity.Short(name.User), "domain", name.Domain.Name, "err", err)
		return "", status(http.StatusForbidden, "account not found in the directory")
	case err != nil:
		r.log.Error("login refused: the directory could not name the account the domain controller checked",
			"user", identity.Short(name.User), "domain", name.Domain.Name, "err", err)
		return "", unavailable("directory unavailable, retry")
	}
	c.mu.Lock()
	if len(c.m) >= maxAccounts {
		c.m = map[string]account{}
	}
	c.m[k] = account{sam: sam, until: time.Now().Add(accountTTL)}
	c.mu.Unlock()
	return sam, nil
}
