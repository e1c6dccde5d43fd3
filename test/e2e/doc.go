// Package e2e tests the whole chain as users run it: an HTTP client, a real
// Apache with mod_authnz_fcgi, ntlm-fcgi-authorizer, and a real Samba AD DC.
// The stack is brought up by scripts/stack.sh (make test does it) and
// described to the tests by the file GOAUTHENNTLM_STACK names.
//
// The stack is Debian's Samba, Apache and Chromium: every test file
// here is built on Linux only.
package e2e
