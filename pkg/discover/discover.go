// Package discover finds the domain controllers of a domain configured by
// its DNS name alone, as Windows clients find them: in the SRV records
// _ldap._tcp.dc._msdcs.<dns_name> that Active Directory (and Samba's DNS)
// publishes for each DC, lowest priority first and, among equals, at
// random by weight (RFC 2782; net.Resolver.LookupSRV orders them so).
//
// Apply fills in the DCs (SMB, port 445) and, when the domain has LDAP
// bind settings, its LDAP URLs (LDAPS on 636, or LDAP on the record's port
// with StartTLS) from those records. The daemon applies it at start and
// every dc.dns_refresh, and swaps in new DC pools when the answer changes.
package discover

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
)

// Resolver looks up DCs, through the system's resolver or one DNS server.
type Resolver struct {
	r *net.Resolver
	// direct: a DNS server is named, which the system resolver may not
	// know; the records' targets are resolved through it too, and DCs are
	// then named by address.
	direct bool
}

// NewResolver asks server ("host:port"; "" = the system's resolver), each
// query bounded by timeout.
func NewResolver(server string, timeout time.Duration) *Resolver {
	if server == "" {
		return &Resolver{r: net.DefaultResolver}
	}
	d := net.Dialer{Timeout: timeout}
	return &Resolver{direct: true, r: &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, server)
		},
	}}
}

// Server is one DC as its SRV record names it.
type Server struct {
	Host     string // the target, without the final dot; an address when the Resolver has a server of its own
	LDAPPort uint16 // the record's port (389)
}

// DCs returns the DCs of the domain named dnsName, in the order to try.
func (r *Resolver) DCs(ctx context.Context, dnsName string) ([]Server, error) {
	_, srvs, err := r.r.LookupSRV(ctx, "ldap", "tcp", "dc._msdcs."+strings.TrimSuffix(dnsName, "."))
	if err != nil {
		return nil, fmt.Errorf("DCs of %s in DNS: %w", dnsName, err)
	}
	var out []Server
	seen := map[string]bool{}
	for _, s := range srvs {
		host := strings.TrimSuffix(s.Target, ".")
		if host == "" {
			continue // "." : the service is decidedly not available there
		}
		hosts := []string{host}
		if r.direct {
			addrs, err := r.r.LookupHost(ctx, host)
			if err != nil {
				return nil, fmt.Errorf("DCs of %s in DNS: address of %s: %w", dnsName, host, err)
			}
			hosts = addrs
		}
		for _, h := range hosts {
			if !seen[h] {
				seen[h] = true
				out = append(out, Server{Host: h, LDAPPort: s.Port})
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("DCs of %s in DNS: no SRV record for _ldap._tcp.dc._msdcs.%s names a host", dnsName, dnsName)
	}
	return out, nil
}

// Needed reports whether any domain of cfg names only its dns_name.
func Needed(cfg *config.Config) bool {
	for i := range cfg.Domains {
		if cfg.Domains[i].Discovers() {
			return true
		}
	}
	return false
}

// Apply returns a copy of cfg in which each domain that names only its
// dns_name has the DCs (and, with LDAP bind settings, the LDAP URLs) DNS
// gives now; cfg is not changed. A domain DNS has no DC for fails it all:
// the caller keeps what it runs.
func Apply(ctx context.Context, r *Resolver, cfg *config.Config) (*config.Config, error) {
	out := *cfg
	out.Domains = slices.Clone(cfg.Domains)
	for i := range out.Domains {
		d := &out.Domains[i]
		if !d.Discovers() {
			continue
		}
		servers, err := r.DCs(ctx, d.DNSName)
		if err != nil {
			return nil, fmt.Errorf("domain %s: %w", d.Name, err)
		}
		d.DCs = nil
		for _, s := range servers {
			d.DCs = append(d.DCs, net.JoinHostPort(s.Host, "445"))
		}
		if d.LDAPBindUser != "" && len(d.LDAPURLs) == 0 {
			for _, s := range servers {
				if d.LDAPStartTLS {
					d.LDAPURLs = append(d.LDAPURLs, "ldap://"+net.JoinHostPort(s.Host, strconv.Itoa(int(s.LDAPPort))))
				} else {
					d.LDAPURLs = append(d.LDAPURLs, "ldaps://"+net.JoinHostPort(s.Host, "636"))
				}
			}
		}
	}
	return &out, nil
}

// Same reports whether a and b name the same DCs and LDAP URLs for each
// domain, in any order: DNS gives records of equal priority in a new
// random order (by weight) on each lookup, which is no reason to replace
// the DC pools.
func Same(a, b *config.Config) bool {
	if len(a.Domains) != len(b.Domains) {
		return false
	}
	for i := range a.Domains {
		if !sameSet(a.Domains[i].DCs, b.Domains[i].DCs) || !sameSet(a.Domains[i].LDAPURLs, b.Domains[i].LDAPURLs) {
			return false
		}
	}
	return true
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
