package memberships

import (
	"strings"
	"time"
)

// Group is one AD group a user belongs to, directly or not.
type Group struct {
	SAM string // sAMAccountName, e.g. "Web Users": what names the group in Apache's configuration
	CN  string // cn, for the record only: a CN is unique only within its OU, so it never matches
	DN  string // distinguishedName, as the directory returned it
}

// Entry is one user's cached memberships.
type Entry struct {
	Name         string    // the user as Apache knows it (REMOTE_USER); keys the cache
	User, Domain string    // sAMAccountName and NetBIOS domain the directory was asked about
	Fetched      time.Time // when the directory answered
	Expires      time.Time // fresh until then
	ServeUntil   time.Time // may be served, stale, until then while the directory is unreachable
	Unknown      bool      // the directory said there is no such user (a negative entry)
	Groups       []Group
}

// MemberOfAny reports whether the user is in any of the named groups. A
// name matches a group's sAMAccountName, or, if it contains "=", its
// distinguished name as the directory spells it; both case-insensitively
// and whole: "Web" matches neither "WebUsers" nor "Web Users", and a CN
// alone never matches (two OUs may hold groups of the same CN, while
// sAMAccountName is unique in the domain). Empty names never match. A
// negative (Unknown) or nil entry is a member of nothing.
func (e *Entry) MemberOfAny(names []string) bool {
	if e == nil || e.Unknown {
		return false
	}
	for _, name := range names {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		isDN := strings.Contains(name, "=")
		for _, g := range e.Groups {
			if isDN {
				if g.DN != "" && strings.EqualFold(name, g.DN) {
					return true
				}
			} else if g.SAM != "" && strings.EqualFold(name, g.SAM) {
				return true
			}
		}
	}
	return false
}
