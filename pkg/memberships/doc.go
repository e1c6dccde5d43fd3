// Package memberships owns what the authorizer and ntlm-group-check share
// about a user's groups without talking to a directory: the on-disk cache
// (one file per user, written only by the authorizer), the rules for
// naming groups in Apache's configuration, and the small protocol by which
// ntlm-group-check asks the authorizer on a cache miss.
//
// It imports no LDAP, TLS or configuration code on purpose: Apache starts
// ntlm-group-check for every group check, and a warm check must cost
// little more than starting an empty program.
package memberships
