// Package identity owns user names: it reads a name as a client typed it
// (DOMAIN\user, user@realm or a bare user, in a Basic login or an NTLM
// AUTHENTICATE message) or as Apache hands it back (REMOTE_USER), decides
// which served domain it belongs to, and formats the one name Apache is
// given. NTLM and Basic logins, the group checks and ntlm-group-check all
// read names through it, so that they agree on who is who.
//
// It does not decide who an account is: the domain controller checks the
// login, and the directory (package adgroup) turns the name it checked into
// the account's own sAMAccountName. This package is pure and cheap, so that
// ntlm-group-check can use it on every call.
package identity

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
)

// ErrNotServed is wrapped by errors for a name whose domain no [[domain]]
// serves (and no fallback_domain catches).
var ErrNotServed = errors.New("domain not served")

// Name is a login name resolved to the served domain whose domain
// controllers check it.
type Name struct {
	// User is the account part as typed: a sAMAccountName in any case,
	// or a user principal name (user@suffix) when UPN is set. It is not
	// canonical; see package adgroup's Account for that.
	User string
	// UPN reports that User was typed as user@suffix. The DC looks it up
	// as a user principal name (explicit, or implicit sAMAccountName@DNS
	// domain), and it must reach the DC with an empty domain.
	UPN bool
	// Domain is the served domain: its Name is the only domain label a
	// login ever carries, whatever the client typed.
	Domain *config.Domain
	// Unserved is the domain the client typed when no [[domain]] serves
	// it and fallback_domain took the login, else "". The fallback
	// domain's DCs check such a name as their own account, unless it
	// names a domain they trust: then they pass it on, and the account
	// is that domain's, not Domain's (see the authorizer's trust check).
	Unserved string
}

// Names resolves and formats names under one configuration.
type Names struct {
	cfg      *config.Config
	def      *config.Domain // default_domain, or nil
	fallback *config.Domain // fallback_domain, or nil
}

// New returns the Names of cfg. cfg must have at least one domain (config
// validation makes sure).
func New(cfg *config.Config) *Names {
	n := &Names{cfg: cfg}
	n.def, _ = cfg.Domain(cfg.Auth.DefaultDomain)
	n.fallback, _ = cfg.Domain(cfg.Auth.FallbackDomain)
	return n
}

// Served returns the served domain whose NetBIOS name or DNS name is name
// (case-insensitive), or nil.
func (n *Names) Served(name string) *config.Domain {
	if name == "" {
		return nil
	}
	for i := range n.cfg.Domains {
		d := &n.cfg.Domains[i]
		if strings.EqualFold(d.Name, name) || (d.DNSName != "" && strings.EqualFold(d.DNSName, name)) {
			return d
		}
	}
	return nil
}

// Login resolves the user and domain names of a login: the fields of an
// NTLM AUTHENTICATE message, or a Basic user split by [Split]. dcDomain
// is the NetBIOS domain of the domain controller that will check (or has
// challenged) the login, as its CHALLENGE names it; "" when no DC was
// asked yet (Basic).
//
// The rules, in order:
//   - a domain that is served (by NetBIOS or DNS name) is that domain;
//     any other domain is fallback_domain, whose DCs decide, or refused;
//   - a user@suffix whose suffix is a served domain's DNS or NetBIOS name
//     is that domain (other suffixes are UPN suffixes the DC resolves);
//   - then the served domain the DC named itself: it checks a name
//     without a domain as its own account, whatever default_domain says
//     (two domains may share DCs);
//   - then default_domain, then fallback_domain when a DC was asked, or
//     the first domain when none was yet (Basic).
//
// So the label is always a served domain's own name: never a name the
// client typed, and never the name the client offered in its NEGOTIATE
// (which only chose the DCs to ask).
func (n *Names) Login(user, domain, dcDomain string) (Name, error) {
	if user == "" {
		return Name{}, errors.New("identity: empty user name")
	}
	if err := check("user name", user); err != nil {
		return Name{}, err
	}
	if err := check("domain name", domain); err != nil {
		return Name{}, err
	}
	nm := Name{User: user, UPN: strings.Contains(user, "@")}
	if strings.HasSuffix(user, "@") {
		// No account has an empty UPN suffix, and Samba answers such a
		// name (with an empty domain) STATUS_REQUEST_NOT_ACCEPTED, a DC
		// failure: relayed, it would let anyone mark DCs down.
		return Name{}, errors.New("identity: user name ends in '@' (an empty UPN suffix)")
	}
	if domain != "" {
		if nm.Domain = n.Served(domain); nm.Domain == nil {
			nm.Domain, nm.Unserved = n.fallback, domain
		}
		if nm.Domain == nil {
			return Name{}, fmt.Errorf("identity: %q: %w", domain, ErrNotServed)
		}
		return nm, nil
	}
	if nm.UPN {
		_, suffix, _ := cutLast(user, "@")
		if nm.Domain = n.Served(suffix); nm.Domain != nil {
			return nm, nil
		}
	}
	if nm.Domain = n.Served(dcDomain); nm.Domain != nil {
		return nm, nil
	}
	if n.def != nil {
		nm.Domain = n.def
		return nm, nil
	}
	if dcDomain == "" {
		nm.Domain = &n.cfg.Domains[0]
		return nm, nil
	}
	if nm.Domain = n.fallback; nm.Domain == nil {
		return Name{}, fmt.Errorf("identity: the domain controller's domain %q: %w", dcDomain, ErrNotServed)
	}
	return nm, nil
}

// Split takes a typed login name apart as a Windows logon prompt does:
// DOMAIN\user, or else user (which may be user@suffix, a UPN the DC
// resolves). It is the only place a typed name is cut.
func Split(s string) (user, domain string) {
	if d, u, ok := strings.Cut(s, `\`); ok {
		return u, d
	}
	return s, ""
}

// Remote reads a REMOTE_USER this program made (or another module set in
// the same forms) back into a user and a served domain: DOMAIN\user,
// user@dnsdomain of a served domain, or a bare user in the default domain
// (default_domain, else the first). A user@suffix whose suffix is no
// served domain stays whole, in the default domain. A DOMAIN\ prefix that
// is not served is an error: its groups are not ours to answer.
func (n *Names) Remote(s string) (user string, domain *config.Domain, err error) {
	if d, u, ok := strings.Cut(s, `\`); ok {
		if domain = n.Served(d); domain == nil {
			return "", nil, fmt.Errorf("identity: REMOTE_USER %q: %q: %w", s, d, ErrNotServed)
		}
		if u == "" {
			return "", nil, fmt.Errorf("identity: REMOTE_USER %q has no user", s)
		}
		return u, domain, nil
	}
	if u, d, ok := cutLast(s, "@"); ok && u != "" {
		if domain = n.Served(d); domain != nil {
			return u, domain, nil
		}
	}
	if s == "" {
		return "", nil, errors.New("identity: empty REMOTE_USER")
	}
	if domain = n.def; domain == nil {
		domain = &n.cfg.Domains[0]
	}
	return s, domain, nil
}

// Format is REMOTE_USER for user in the served domain named domain, in
// the configured name_format (and lower case with lowercase_user).
func (n *Names) Format(user, domain string) string {
	if n.cfg.Auth.LowercaseUser {
		user = strings.ToLower(user)
	}
	switch n.cfg.Auth.NameFormat {
	case config.NameLogon:
		return domain + `\` + user
	case config.NameUPN:
		if strings.Contains(user, "@") {
			// A UPN as typed, where no directory named the account.
			return user
		}
		if d, ok := n.cfg.Domain(domain); ok && d.DNSName != "" {
			return user + "@" + strings.ToLower(d.DNSName)
		}
		return user + "@" + strings.ToLower(domain)
	}
	return user
}

// Key is the one spelling of user in domain that maps, caches and logs
// key on: DOMAIN\user, domain upper-cased, user lower-cased (AD compares
// names case-insensitively).
func Key(user, domain string) string {
	return strings.ToUpper(domain) + `\` + strings.ToLower(user)
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// MaxNameLen bounds typed user and domain names, in bytes. A
// sAMAccountName has at most 20 characters and a NetBIOS domain 15; UPNs
// and DNS names are longer, but not this long.
const MaxNameLen = 256

// check refuses a name that could read differently to the DC, the
// directory, Apache or a log reader: not UTF-8, too long, or holding a
// control character (the DC stops at a NUL: "alice\x00jdoe" is alice).
func check(what, s string) error {
	if len(s) > MaxNameLen {
		return fmt.Errorf("identity: %s of %d bytes, more than %d", what, len(s), MaxNameLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("identity: %s is not UTF-8", what)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("identity: %s holds control character %U", what, r)
		}
	}
	return nil
}

// Short cuts a client-supplied string for a log line, so that a client
// cannot fill the log: at most 64 bytes, cut on a rune boundary, with
// "…" when cut. Quoting is the log handler's job.
func Short(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
