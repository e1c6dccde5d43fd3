// Package adgroup owns two things that both GoAuthenNTLM programs share:
//
//   - Resolver: looking up a user's Active Directory groups over LDAP(S),
//     including groups reached by nesting and the user's primary group
//     (which AD never lists in memberOf or member);
//   - Cache: the on-disk memberships cache, one small JSON file per user,
//     written by whichever program asked LDAP last and read by both
//     (ntlm-fcgi-authorizer and the short-lived ntlm-group-check helper that
//     mod_authnz_external starts for every "Require external-group" check).
//
// Lookup ties the two together with a single, documented policy for when
// cached or stale data is served, so both programs decide the same way.
//
// The package holds no package-level mutable state: everything lives in a
// Resolver or a Cache value that the caller owns.
package adgroup
