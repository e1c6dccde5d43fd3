package adgroup

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/identity"
)

// Directory is the groups side of a configuration file: one Resolver per
// domain that has LDAP settings, and the shared Cache. Both programs build
// it the same way, so they read the same files and follow the same policy.
type Directory struct {
	Cache     *Cache
	names     *identity.Names
	resolvers map[string]*Resolver // by upper-case NetBIOS domain name
	dnsNames  map[string]string    // dns_name, by upper-case NetBIOS name
	grace     time.Duration
	timeout   time.Duration
}

// NewDirectory builds the Directory cfg describes. It reads the bind
// password and CA files now, so that a mistake shows at start.
func NewDirectory(cfg *config.Config, log *slog.Logger) (*Directory, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Directory{
		Cache: &Cache{
			Dir:         cfg.Groups.CacheDir,
			TTL:         cfg.Groups.CacheTTL.D(),
			NegativeTTL: cfg.Groups.NegativeTTL.D(),
			Grace:       cfg.Groups.StaleGrace.D(),
		},
		names:     identity.New(cfg),
		resolvers: map[string]*Resolver{},
		dnsNames:  map[string]string{},
		grace:     cfg.Groups.StaleGrace.D(),
		timeout:   cfg.Groups.LookupTimeout.D(),
	}
	for _, dom := range cfg.Domains {
		if len(dom.LDAPURLs) == 0 {
			continue
		}
		r, err := domainResolver(cfg, dom, log)
		if err != nil {
			d.Close()
			return nil, err
		}
		d.resolvers[strings.ToUpper(dom.Name)] = r
		d.dnsNames[strings.ToUpper(dom.Name)] = dom.DNSName
	}
	return d, nil
}

// domainResolver is the Resolver of one domain's LDAP settings, with its
// bind password and CA read now.
func domainResolver(cfg *config.Config, dom config.Domain, log *slog.Logger) (*Resolver, error) {
	pw, err := os.ReadFile(dom.LDAPBindPasswordFile)
	if err != nil {
		return nil, fmt.Errorf("domain %s: ldap bind password: %w", dom.Name, err)
	}
	var roots *x509.CertPool
	if dom.LDAPCAFile != "" {
		pem, err := os.ReadFile(dom.LDAPCAFile)
		if err != nil {
			return nil, fmt.Errorf("domain %s: ldap CA: %w", dom.Name, err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("domain %s: ldap CA %s holds no PEM certificate", dom.Name, dom.LDAPCAFile)
		}
	}
	r, err := NewResolver(LDAPConfig{
		URLs:         dom.LDAPURLs,
		BaseDN:       dom.LDAPBaseDN,
		BindUser:     dom.LDAPBindUser,
		BindPassword: strings.TrimRight(string(pw), "\r\n"),
		RootCAs:      roots,
		StartTLS:     dom.LDAPStartTLS,
		Timeout:      perServer(cfg.Groups.LookupTimeout.D(), len(dom.LDAPURLs)),
	}, log.With("domain", dom.Name))
	if err != nil {
		return nil, fmt.Errorf("domain %s: %w", dom.Name, err)
	}
	return r, nil
}

// Lookup is the package Lookup for user in domain (a served domain's
// NetBIOS name, as package identity resolves it), bounded by the
// configured lookup timeout. For a domain without LDAP settings only the
// cache can answer.
func (d *Directory) Lookup(ctx context.Context, user, domain string) (*Entry, error) {
	r := d.resolvers[strings.ToUpper(domain)]
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	return Lookup(ctx, d.Cache, r, d.CacheName(user, domain), user, strings.ToUpper(domain), d.grace)
}

// CacheName is the name user's entry is cached under: the name Apache
// knows the user by (REMOTE_USER, as the authorizer formats it), which is
// all ntlm-group-check is given. When that name would not read back as
// this user and domain (name_format "sam" and a domain other than the
// default one), the entry goes under DOMAIN\user instead, where no
// REMOTE_USER of another account can find it.
func (d *Directory) CacheName(user, domain string) string {
	n := d.names.Format(user, domain)
	if u, dom, err := d.names.Remote(n); err == nil && strings.EqualFold(u, user) && strings.EqualFold(dom.Name, domain) {
		return n
	}
	return identity.Key(user, domain)
}

// Expires is when e, as Lookup returned it, stops being fresh.
func (d *Directory) Expires(e *Entry) time.Time { return e.Expires }

// Close closes the resolvers' connections.
func (d *Directory) Close() error {
	var errs []error
	for _, r := range d.resolvers {
		errs = append(errs, r.Close())
	}
	return errors.Join(errs...)
}

// perServer splits a lookup's time between the servers it may have to
// try, so that one that swallows packets leaves time for the next.
func perServer(total time.Duration, servers int) time.Duration {
	d := total / time.Duration(max(servers, 1))
	return max(d, time.Second)
}

// Account is Resolver.Account in the served domain named domain (its
// NetBIOS name), bounded by the configured lookup timeout. ok is false
// when that domain has no LDAP settings: then no account name is known.
func (d *Directory) Account(ctx context.Context, name string, upn bool, domain string) (sam string, ok bool, err error) {
	r := d.resolvers[strings.ToUpper(domain)]
	if r == nil {
		return "", false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	sam, err = r.Account(ctx, name, upn, d.dnsNames[strings.ToUpper(domain)], domain)
	return sam, true, err
}

// Trusts is Resolver.Trusts in the served domain named domain, bounded by
// the configured lookup timeout. ok is false when that domain has no LDAP
// settings.
func (d *Directory) Trusts(ctx context.Context, domain string) (trusts []Trust, ok bool, err error) {
	r := d.resolvers[strings.ToUpper(domain)]
	if r == nil {
		return nil, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	trusts, err = r.Trusts(ctx)
	return trusts, true, err
}

// GroupsBySID is Resolver.GroupsBySID in the served domain named domain,
// bounded by the configured lookup timeout. ok is false when the domain
// has no LDAP settings.
func (d *Directory) GroupsBySID(ctx context.Context, domain string, sids []string) (groups map[string]Group, ok bool, err error) {
	r := d.resolvers[strings.ToUpper(domain)]
	if r == nil {
		return nil, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	groups, err = r.GroupsBySID(ctx, sids)
	return groups, true, err
}

// Remember writes user's memberships as a login proved them (a Kerberos
// PAC's groups) into the shared cache, for ntlm-group-check and the next
// Lookup, and returns the entry as stored.
func (d *Directory) Remember(user, domain string, groups []Group) (*Entry, error) {
	name := d.CacheName(user, domain)
	e := &Entry{User: user, Domain: strings.ToUpper(domain), Groups: groups}
	written, err := d.Cache.Put(name, e)
	if err != nil {
		return d.Cache.Stamp(name, e), err
	}
	return written, nil
}
