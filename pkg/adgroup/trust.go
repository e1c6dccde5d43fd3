package adgroup

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// Trust is a trustedDomain object of a domain: another domain whose
// logins the domain's DCs pass on to that domain's DCs.
type Trust struct {
	FlatName string // NetBIOS name
	Partner  string // DNS name
	// Attributes is trustAttributes (MS-ADTS 6.1.6.7.9).
	Attributes uint32
}

const (
	trustForestTransitive = 0x8
	trustWithinForest     = 0x20
)

// Names reports whether domain, as a client typed it, is this trust's
// NetBIOS or DNS name.
func (t Trust) Names(domain string) bool {
	return strings.EqualFold(t.FlatName, domain) || (t.Partner != "" && strings.EqualFold(t.Partner, domain))
}

// Routes reports that the DCs also pass on logins of domains this object
// does not name: the other domains of a trusted forest, or of their own
// forest. Which names those are is not in the trustedDomain objects.
func (t Trust) Routes() bool { return t.Attributes&(trustForestTransitive|trustWithinForest) != 0 }

// maxTrusts bounds the trust list read; more fails the read.
const maxTrusts = 1000

// Trusts lists the domain's trustedDomain objects (in CN=System).
func (r *Resolver) Trusts(ctx context.Context) ([]Trust, error) {
	var out []Trust
	err := r.withConn(ctx, func(pc *pconn) error {
		res, err := r.search(ctx, pc, trustSearch(r.cfg.BaseDN), false)
		if err != nil {
			return fmt.Errorf("ldap %s: read the trusted domains: %w", pc.srv.url, err)
		}
		out = out[:0]
		for _, e := range res.Entries {
			a, _ := strconv.ParseUint(e.GetAttributeValue("trustAttributes"), 10, 32)
			out = append(out, Trust{FlatName: e.GetAttributeValue("flatName"), Partner: e.GetAttributeValue("trustPartner"), Attributes: uint32(a)})
		}
		return nil
	})
	return out, err
}

func trustSearch(baseDN string) *ldap.SearchRequest {
	return &ldap.SearchRequest{
		BaseDN:     "CN=System," + baseDN,
		Scope:      ldap.ScopeSingleLevel,
		Filter:     "(objectClass=trustedDomain)",
		Attributes: []string{"flatName", "trustPartner", "trustAttributes"},
		SizeLimit:  maxTrusts,
	}
}
