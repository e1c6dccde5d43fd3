package authorizer

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/conntable"
	"github.com/goauthenntlm/goauthenntlm/pkg/cookie"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
)

// loginCookie lets a browser skip the handshake on a new connection after
// a login, as Apache2::AuthenNTLM::Cookie meant to: the authorizer sets it
// on the login's 200, and a valid one on a request without Authorization
// logs the connection in.
//
// What a neighbour can plant. A host under the same parent domain
// (sibling.example.com next to intranet.example.com) may set a cookie
// for all of example.com under any name but one with the __Host- prefix,
// and with a longer Path, so that the browser sends it first; so may
// anyone on the network path of a plain-HTTP request. Its owner can plant
// its own valid login cookie that way, to have the victim work as the
// planter. Two things stand against that:
//   - the login cookie's MAC covers the browser's binding value (the
//     HttpOnly, host-only cookie auth.binding_cookie, set at the same
//     login): a login cookie alone, in another browser, verifies nowhere;
//   - on HTTPS both are named __Host-<name> and are Secure, which only
//     this host, over HTTPS, can set; the unprefixed names are then not
//     read at all.
//
// Over plain HTTP what remains is a planter that plants both of its own
// cookies: the victim is then logged in as the planter. Only HTTPS closes
// that.
type loginCookie struct {
	plain *cookie.Codec // the configured name, on HTTP
	host  *cookie.Codec // __Host-name on HTTPS; nil when path or domain forbid the prefix
	opts  cookie.Options
	// generation is cookie.generation, which the connections a cookie
	// logged in keep (conntable.Login.CookieGen).
	generation uint32
	// refresh is how long a cookie proves its login.
	refresh time.Duration
}

// hostPrefix is the cookie name prefix browsers accept only from the
// host itself, over HTTPS, with Path=/ and no Domain (RFC 6265bis 4.1.3.2).
const hostPrefix = "__Host-"

// maxCookieTries bounds the login and binding values one request makes
// the authorizer check (each pair is one HMAC): a jar stuffed with
// planted duplicates costs at most this squared.
const maxCookieTries = 4

func newLoginCookie(c config.Cookie) (*loginCookie, error) {
	var secrets [][]byte
	for _, f := range c.SecretFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("cookie secret: %w", err)
		}
		s, err := cookie.ParseSecret(b)
		if err != nil {
			return nil, fmt.Errorf("cookie secret %s: %w", f, err)
		}
		secrets = append(secrets, s)
	}
	lc := &loginCookie{
		refresh:    c.Refresh.D(),
		generation: c.Generation,
		opts: cookie.Options{
			Path: c.Path, Domain: c.Domain, MaxAge: c.Lifetime.D(),
			Secure: c.Secure, HTTPOnly: c.HTTPOnly, SameSite: c.SameSite,
		},
	}
	var err error
	if lc.plain, err = cookie.NewCodec(c.Name, c.Generation, secrets); err != nil {
		return nil, fmt.Errorf("cookie: %w", err)
	}
	if c.Path == "/" && c.Domain == "" {
		if lc.host, err = cookie.NewCodec(hostPrefix+c.Name, c.Generation, secrets); err != nil {
			return nil, fmt.Errorf("cookie: %w", err)
		}
	}
	return lc, nil
}

// codec is the Codec of the cookie a request with params p carries.
func (c *loginCookie) codec(p map[string]string) *cookie.Codec {
	if c.host != nil && isHTTPS(p) {
		return c.host
	}
	return c.plain
}

// set adds the cookie for l, bound to the browser's binding value, to a
// login's answer.
func (c *loginCookie) set(r *fcgi.Response, p map[string]string, l conntable.Login, browser string) {
	codec := c.codec(p)
	v := codec.Encode(cookie.Login{User: l.User, Domain: l.Domain, Issued: l.At, Expires: l.At.Add(c.refresh), Browser: browser})
	opts := c.opts
	opts.Secure = opts.Secure || isHTTPS(p)
	if h := codec.SetCookie(v, opts); h != "" {
		r.Header.Add("Set-Cookie", h)
	}
}

// login returns the login a request's cookies prove, if one does, and the
// binding value it was bound to. Bad cookies are logged by reason, never
// by value, and otherwise ignored: the client gets the normal challenge.
func (c *loginCookie) login(p map[string]string, browsers []string, log *slog.Logger) (conntable.Login, string, bool) {
	header := p["HTTP_COOKIE"]
	if header == "" {
		return conntable.Login{}, "", false
	}
	now := time.Now()
	codec := c.codec(p)
	values := cookie.FromHeader(header, codec.Name())
	values = values[:min(len(values), maxCookieTries)]
	browsers = browsers[:min(len(browsers), maxCookieTries)]
	for _, v := range values {
		var err error
		for _, b := range browsers {
			var l cookie.Login
			if l, err = codec.Decode(v, b, now); err == nil {
				return conntable.Login{User: l.User, Domain: l.Domain, Scheme: conntable.SchemeCookie, At: l.Issued, CookieGen: c.generation}, b, true
			}
			if !errors.Is(err, cookie.ErrBadMAC) {
				break // authentic for this browser, but no good
			}
		}
		switch {
		case len(browsers) == 0:
			log.Info("login cookie refused: no binding cookie next to it (planted, or the browser dropped it)")
		case errors.Is(err, cookie.ErrExpired):
			log.Debug("login cookie expired")
		case errors.Is(err, cookie.ErrBadMAC):
			log.Info("login cookie refused: bad MAC (issued to another browser, revoked by cookie.generation, tampered, or signed with a secret no longer configured)")
		default:
			log.Info("login cookie refused: malformed")
		}
	}
	return conntable.Login{}, "", false
}
