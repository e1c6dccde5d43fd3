package adgroup

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// ErrNoSPN is returned (wrapped) by SPNs when no account holds the SPN.
var ErrNoSPN = errors.New("no account holds this service principal name")

// maxSPNs bounds the servicePrincipalName values read for one account.
const maxSPNs = 1000

// SPNs returns the account (its sAMAccountName) that holds the service
// principal name spn and every servicePrincipalName that account holds.
// They all share the account's keys: a ticket the KDC issues for any of
// them opens with a keytab exported for one, and its service name is
// cleartext that anyone may rewrite, so each SPN of the account is a
// site whose tickets this one accepts. More than one account holding spn
// is ErrAmbiguous (the KDC refuses such an SPN); none is ErrNoSPN.
func (r *Resolver) SPNs(ctx context.Context, spn string) (account string, spns []string, err error) {
	err = r.withConn(ctx, func(pc *pconn) error {
		e, err := r.searchOne(ctx, pc, spnSearch(r.cfg.BaseDN, spn), "find the account of "+spn, ErrNoSPN)
		if err != nil {
			return err
		}
		account = e.GetAttributeValue("sAMAccountName")
		if account == "" {
			account = e.DN
		}
		spns = e.GetAttributeValues("servicePrincipalName")
		if len(spns) > maxSPNs {
			return fmt.Errorf("ldap %s: account %s holds more than %d SPNs", pc.srv.url, account, maxSPNs)
		}
		return nil
	})
	return account, spns, err
}

// spnSearch finds the accounts that hold spn (matched as the directory
// matches it, without regard to case).
func spnSearch(baseDN, spn string) *ldap.SearchRequest {
	return &ldap.SearchRequest{
		BaseDN:     baseDN,
		Scope:      ldap.ScopeWholeSubtree,
		Filter:     "(servicePrincipalName=" + ldap.EscapeFilter(spn) + ")",
		Attributes: []string{"sAMAccountName", "servicePrincipalName"},
		SizeLimit:  2,
	}
}

// SPNs is Resolver.SPNs in the served domain named domain, bounded by the
// configured lookup timeout. ok is false when that domain has no LDAP
// settings.
func (d *Directory) SPNs(ctx context.Context, domain, spn string) (account string, spns []string, ok bool, err error) {
	r := d.resolvers[strings.ToUpper(domain)]
	if r == nil {
		return "", nil, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	account, spns, err = r.SPNs(ctx, spn)
	return account, spns, true, err
}
