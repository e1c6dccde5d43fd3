package adgroup

import (
	"context"
	"strings"
	"time"
)

// ProbeResult is how one LDAP server answered a probe.
type ProbeResult struct {
	URL  string
	Took time.Duration
	Err  error // nil: TLS and the service account's bind worked
}

// Probe connects to each of the domain's LDAP servers in turn, with the TLS
// and the bind a lookup uses, and hangs up: one result per configured URL,
// for ntlm-fcgi-authorizer -check -probe. A domain without LDAP settings
// gives none.
func (d *Directory) Probe(ctx context.Context, domain string) []ProbeResult {
	r := d.resolvers[strings.ToUpper(domain)]
	if r == nil {
		return nil
	}
	out := make([]ProbeResult, 0, len(r.servers))
	for _, s := range r.servers {
		start := time.Now()
		pc, err := r.dialOne(ctx, s)
		if err == nil {
			pc.close()
		}
		out = append(out, ProbeResult{URL: s.url, Took: time.Since(start), Err: err})
	}
	return out
}
