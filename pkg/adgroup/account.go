package adgroup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// ErrAmbiguous is returned (wrapped) by Account when a typed name could
// be more than one account: which one the DC checked is then unknown.
var ErrAmbiguous = errors.New("name matches more than one account")

// Account returns the sAMAccountName, as the directory spells it, of the
// account a domain controller checks for the login name typed. A name
// without '@' is a sAMAccountName. A user@suffix (upn) is what the DC
// tries as a user principal name: an account's userPrincipalName, or
// its implicit one, sAMAccountName@suffix for each of the domain's own
// names in implicit (its DNS name; Samba takes its NetBIOS name too, as in
// jdoe@EXAMPLE); an account whose
// sAMAccountName is the whole typed string matches too. The DC prefers one
// of these over the others by rules that differ between Samba and Windows,
// so more than one distinct account matching is refused (ErrAmbiguous)
// instead of guessing. No account: ErrNoSuchUser.
func (r *Resolver) Account(ctx context.Context, name string, upn bool, implicit ...string) (string, error) {
	if !plausibleUser(name) {
		return "", fmt.Errorf("ldap: find account %q: %w", name, ErrNoSuchUser)
	}
	var sam string
	err := r.withConn(ctx, func(pc *pconn) error {
		res, err := r.search(ctx, pc, accountSearch(r.cfg.BaseDN, name, upn, implicit...), false)
		if err != nil {
			if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
				return fmt.Errorf("ldap %s: find account %q: %w", pc.srv.url, name, ErrAmbiguous)
			}
			return fmt.Errorf("ldap %s: find account %q: %w", pc.srv.url, name, err)
		}
		switch len(res.Entries) {
		case 0:
			return fmt.Errorf("ldap %s: find account %q: %w", pc.srv.url, name, ErrNoSuchUser)
		case 1:
		default:
			return fmt.Errorf("ldap %s: find account %q: %w", pc.srv.url, name, ErrAmbiguous)
		}
		sam = res.Entries[0].GetAttributeValue("sAMAccountName")
		if sam == "" {
			return fmt.Errorf("ldap %s: account %q has no sAMAccountName", pc.srv.url, res.Entries[0].DN)
		}
		return nil
	})
	return sam, err
}

// accountSearch finds the accounts a typed login name can mean; see
// Account. name is escaped: it comes from the client.
func accountSearch(baseDN, name string, upn bool, implicit ...string) *ldap.SearchRequest {
	e := ldap.EscapeFilter(name)
	f := "(sAMAccountName=" + e + ")"
	if upn {
		f = "(|" + f + "(userPrincipalName=" + e + ")"
		if i := strings.LastIndex(name, "@"); i > 0 && slices.ContainsFunc(implicit, func(s string) bool {
			return s != "" && strings.EqualFold(name[i+1:], s)
		}) {
			f += "(sAMAccountName=" + ldap.EscapeFilter(name[:i]) + ")"
		}
		f += ")"
	}
	return &ldap.SearchRequest{
		BaseDN:     baseDN,
		Scope:      ldap.ScopeWholeSubtree,
		Filter:     "(&(objectClass=user)" + f + ")",
		Attributes: []string{"sAMAccountName"},
		SizeLimit:  2,
	}
}
