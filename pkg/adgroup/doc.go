// Package adgroup looks up a user's Active Directory groups for the
// authorizer:
//
//   - Resolver: a user's groups over LDAP(S), including groups reached by
//     nesting and the user's primary group (which AD never lists in
//     memberOf or member);
//   - Directory: one Resolver per configured domain, in front of the
//     memberships cache (package memberships), with Lookup's single,
//     documented policy for when cached or stale data is served.
//
// Only the authorizer uses it: ntlm-group-check reads the cache through
// package memberships, without this package's LDAP and TLS code, and asks
// the authorizer on a miss.
//
// The package holds no package-level mutable state: everything lives in a
// Resolver, Directory or Cache value that the caller owns.
package adgroup
