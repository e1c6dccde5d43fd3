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
type loginCookie struct {
	codec   *cookie.Codec
	opts    cookie.Options
	refresh time.Duration
}

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
	codec, err := cookie.NewCodec(c.Name, secrets)
	if err != nil {
		return nil, fmt.Errorf("cookie: %w", err)
	}
	return &loginCookie{
		codec:   codec,
		refresh: c.Refresh.D(),
		opts: cookie.Options{
			Path: c.Path, Domain: c.Domain, MaxAge: c.Lifetime.D(),
			Secure: c.Secure, HTTPOnly: c.HTTPOnly, SameSite: c.SameSite,
		},
	}, nil
}

// set adds the cookie for l to a login's answer.
func (c *loginCookie) set(r *fcgi.Response, l conntable.Login) {
	v := c.codec.Encode(cookie.Login{User: l.User, Domain: l.Domain, Issued: l.At, Expires: l.At.Add(c.refresh)})
	if h := c.codec.SetCookie(v, c.opts); h != "" {
		r.Header.Add("Set-Cookie", h)
	}
}

// login returns the login a request's cookies prove, if one does. Bad
// cookies are logged by reason, never by value, and otherwise ignored:
// the client gets the normal challenge.
func (c *loginCookie) login(header string, log *slog.Logger) (conntable.Login, bool) {
	if header == "" {
		return conntable.Login{}, false
	}
	now := time.Now()
	for _, v := range cookie.FromHeader(header, c.codec.Name()) {
		l, err := c.codec.Decode(v, now)
		if err == nil {
			return conntable.Login{User: l.User, Domain: l.Domain, Scheme: conntable.SchemeCookie, At: l.Issued}, true
		}
		switch {
		case errors.Is(err, cookie.ErrExpired):
			log.Debug("login cookie expired")
		case errors.Is(err, cookie.ErrBadMAC):
			log.Info("login cookie refused: bad MAC (tampered, or signed with a secret no longer configured)")
		default:
			log.Info("login cookie refused: malformed")
		}
	}
	return conntable.Login{}, false
}
