package adgroup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/memberships"
)

// StaleError comes with an entry that Lookup served from the cache past
// its TTL because the directory could not be asked. The entry is still
// returned alongside it; see Lookup.
type StaleError struct {
	Fetched time.Time // when the served entry was fetched
	Err     error     // why LDAP could not be asked
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("serving memberships fetched %s: directory unavailable: %v",
		e.Fetched.UTC().Format(time.RFC3339), e.Err)
}

func (e *StaleError) Unwrap() error { return e.Err }

// Lookup returns user's memberships in domain, cached as the user Apache
// calls name, by this policy:
//
//  1. A fresh cache entry is returned as is, without asking LDAP.
//  2. Otherwise r is asked. Its answer is written to the cache and
//     returned with a nil error; "no such user" becomes a negative entry
//     (Unknown = true, member of nothing, fresh for NegativeTTL) that is
//     returned but never written: anyone who may ask can invent names
//     without end, and a file per name would fill the disk. The caller
//     keeps it in memory (the authorizer's bounded map); any file a
//     former account left under name is removed.
//  3. If r fails and the cache holds an entry that expired less than grace
//     ago (now < Expires + grace), that stale entry is returned
//     together with a *StaleError. Callers that accept stale data check
//     errors.As(err, &stale) and use the entry; callers that only check
//     err != nil fail closed, which is the safe default.
//  4. Otherwise (cold cache, or too stale) it returns nil and r's error.
//
// A corrupt or untrusted cache file counts as a miss and is logged;
// failing to write the cache is logged and does not fail the lookup. r may
// be nil for a cache-only lookup. domain keys the cache only: r always asks its own
// directory, so the caller must only pass the domain r serves.
func Lookup(ctx context.Context, c *Cache, r *Resolver, name, user, domain string, grace time.Duration) (*Entry, error) {
	log := slog.New(slog.DiscardHandler)
	groupsOf := func(context.Context, string) ([]Group, error) {
		return nil, errors.New("no LDAP resolver configured")
	}
	if r != nil {
		log, groupsOf = r.log, r.Groups
	}
	return lookup(ctx, c, groupsOf, log, name, user, domain, grace)
}

// lookup is Lookup with the resolver as a function, so tests can count
// and script directory answers.
func lookup(ctx context.Context, c *Cache, groupsOf func(context.Context, string) ([]Group, error),
	log *slog.Logger, name, user, domain string, grace time.Duration) (*Entry, error) {
	cached, fresh, err := c.Get(name)
	if err != nil {
		log.Warn("memberships cache: ignoring entry", "user", user, "domain", domain, "err", err)
		cached = nil
	}
	if cached != nil && fresh {
		return cached, nil
	}

	groups, err := groupsOf(ctx, user)
	var e *Entry
	switch {
	case err == nil:
		e = &Entry{User: user, Domain: domain, Groups: groups}
	case errors.Is(err, ErrNoSuchUser):
		if rerr := c.Remove(name); rerr != nil {
			log.Log(ctx, memberships.WriteFailureLevel(rerr), "memberships cache: entry of a user the directory no longer knows not removed", "user", user, "domain", domain, "err", rerr)
		}
		return c.Stamp(name, &Entry{User: user, Domain: domain, Unknown: true}), nil
	default:
		if cached != nil && grace > 0 && c.Clock().Before(cached.Expires.Add(grace)) {
			log.Warn("memberships: directory unavailable; serving stale entry",
				"user", user, "domain", domain, "fetched", cached.Fetched, "err", err)
			return cached, &StaleError{Fetched: cached.Fetched, Err: err}
		}
		return nil, err
	}
	written, perr := c.Put(name, e)
	if perr != nil {
		log.Log(ctx, memberships.WriteFailureLevel(perr), "memberships cache: not written", "user", user, "domain", domain, "err", perr)
		return c.Stamp(name, e), nil
	}
	return written, nil
}
