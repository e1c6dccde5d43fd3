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
		e, err := r.searchOne(ctx, pc, accountSearch(r.cfg.BaseDN, name, upn, implicit...), fmt.Sprintf("find account %q", name), ErrNoSuchUser)
		if err != nil {
			return err
		}
		sam = e.GetAttributeValue("sAMAccountName")
		if sam == "" {
			return fmt.Errorf("ldap %s: account %q has no sAMAccountName", pc.srv.url, e.DN)
		}
		return nil
	})
	return sam, err
}

// searchOne runs req, which may match one entry only (its SizeLimit is
// 2), and returns that entry: none is the error none, more than one
// ErrAmbiguous, each wrapped with the server and what (what was sought).
func (r *Resolver) searchOne(ctx context.Context, pc *pconn, req *ldap.SearchRequest, what string, none error) (*ldap.Entry, error) {
	res, err := r.search(ctx, pc, req, false)
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded):
		err = ErrAmbiguous
	case err != nil:
	case len(res.Entries) == 0:
		err = none
	case len(res.Entries) > 1:
		err = ErrAmbiguous
	default:
		return res.Entries[0], nil
	}
	return nil, fmt.Errorf("ldap %s: %s: %w", pc.srv.url, what, err)
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
