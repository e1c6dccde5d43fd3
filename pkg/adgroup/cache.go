package adgroup

import "github.com/goauthenntlm/goauthenntlm/pkg/memberships"

// The memberships cache lives in package memberships, which
// ntlm-group-check imports without this package's LDAP and TLS code;
// these names keep this package's API whole.
type (
	Cache = memberships.Cache
	Entry = memberships.Entry
	Group = memberships.Group
)

// ErrCorrupt and ErrUntrusted: see package memberships.
var (
	ErrCorrupt   = memberships.ErrCorrupt
	ErrUntrusted = memberships.ErrUntrusted
)

// Cache defaults: see package memberships.
const (
	DefaultTTL         = memberships.DefaultTTL
	DefaultNegativeTTL = memberships.DefaultNegativeTTL
)
