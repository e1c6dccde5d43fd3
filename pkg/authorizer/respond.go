package authorizer

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/conntable"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
)

func status(code int, msg string) *fcgi.Response {
	return &fcgi.Response{
		Status: code,
		Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
		Body:   []byte(msg + "\n"),
	}
}

// wwwAuthenticate is the header's conventional spelling. http.Header would
// canonicalize it to "Www-Authenticate", which Apache passes on as is;
// clients must not care, but some scripts and proxies do.
const wwwAuthenticate = "WWW-Authenticate"

// Apache merges every header line of an authorizer's answer that shares a
// name into one comma-separated field (util_script.c's header scan), and
// browsers read one challenge per WWW-Authenticate field: Chromium rejects
// "NTLM, Basic realm=..." as a whole. So the first configured scheme goes
// in WWW-Authenticate and each further one in a field of its own, which
// mod_headers turns into a separate WWW-Authenticate field (see
// apache/goauthenntlm.conf). Without those lines clients see the first
// scheme alone, which still works.
const (
	challenge2 = "GoAuthenNTLM-Challenge-2"
	challenge3 = "GoAuthenNTLM-Challenge-3"
)

// challenge asks for credentials with every configured scheme. After a
// failure it also closes the client connection: browsers then start over
// on a fresh one, and nothing half-done lingers on this four-tuple.
func (a *Authorizer) challenge(failed bool) *fcgi.Response {
	// No body: mod_authnz_fcgi makes an authorizer's body the 401's
	// custom response, which wins over the site's ErrorDocument 401; only
	// a local ErrorDocument lets mod_headers drop the helper fields (see
	// apache/goauthenntlm.conf). Without one Apache sends its own page.
	r := &fcgi.Response{Status: http.StatusUnauthorized, Header: http.Header{}}
	names := [...]string{wwwAuthenticate, challenge2, challenge3}
	for i, s := range a.cfg.Auth.Schemes {
		if i == len(names) {
			break // the config check refuses a scheme listed twice
		}
		r.Header[names[i]] = []string{a.challengeFor(s)}
	}
	if failed {
		r.Header.Set("Connection", "close")
	}
	return r
}

// challengeFor is scheme s's challenge without a token.
func (a *Authorizer) challengeFor(s config.Scheme) string {
	switch s {
	case config.SchemeNegotiate:
		return "Negotiate"
	case config.SchemeBasic:
		return `Basic realm="` + quoteRealm(a.cfg.Auth.Realm) + `", charset="UTF-8"`
	}
	return "NTLM"
}

// challengeToken is the 401 carrying the DC's Type2 in the client's scheme.
func challengeToken(scheme config.Scheme, tok []byte) *fcgi.Response {
	r := status(http.StatusUnauthorized, "authentication in progress")
	name := "NTLM "
	if scheme == config.SchemeNegotiate {
		name = "Negotiate "
	}
	r.Header[wwwAuthenticate] = []string{name + base64.StdEncoding.EncodeToString(tok)}
	return r
}

func unavailable(msg string) *fcgi.Response {
	r := status(http.StatusServiceUnavailable, msg)
	r.Header.Set("Retry-After", strconv.Itoa(5))
	r.Header.Set("Connection", "close")
	return r
}

// notAllowed answers a login the domain's policy does not allow. 403 and
// no WWW-Authenticate: a 401 would make the browser ask for a password,
// and no password helps.
func notAllowed() *fcgi.Response {
	r := status(http.StatusForbidden, "the domain's policy does not allow this login here; ask your administrator")
	r.Header.Set("Connection", "close")
	return r
}

// granted lets the request through as l, with the user's groups for
// Require expr when that is configured, and its credential cache where the
// location p delegates.
func (a *Authorizer) granted(ctx context.Context, l conntable.Login, p map[string]string) *fcgi.Response {
	// Sized for the groups and ccache variables too: growing it costs on
	// every request.
	vars := make(map[string]string, 4)
	vars["REMOTE_USER"], vars["AUTH_DOMAIN"] = a.names.Format(l.User, l.Domain), l.Domain
	r := &fcgi.Response{Status: http.StatusOK, Variables: vars}
	if v := a.cfg.Groups.Variable; v != "" && a.groups != nil {
		m, err := a.groups.get(ctx, l.User, l.Domain)
		if err != nil {
			// Without the variable, Require expr refuses: fail closed.
			a.log.Warn("groups not exported: memberships unavailable", "user", l.User, "domain", l.Domain, "err", err)
		} else {
			r.Variables[v] = m.exported
		}
	}
	a.handCCache(vars, l, p)
	return r
}

func quoteRealm(s string) string {
	b := make([]rune, 0, len(s))
	for _, r := range s {
		if r == '"' || r == '\\' || r < 0x20 || r == 0x7f {
			continue
		}
		b = append(b, r)
	}
	return string(b)
}

func secretEqual(got, want string) bool {
	// subtle.ConstantTimeCompare without the two []byte conversions,
	// which allocate for secrets over 32 bytes on every call.
	if len(got) != len(want) {
		return false
	}
	var v byte
	for i := 0; i < len(want); i++ {
		v |= got[i] ^ want[i]
	}
	return v == 0
}
