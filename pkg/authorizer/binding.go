package authorizer

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"hash"
	"net/http"

	"github.com/goauthenntlm/goauthenntlm/pkg/conntable"
	"github.com/goauthenntlm/goauthenntlm/pkg/cookie"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
	"github.com/goauthenntlm/goauthenntlm/pkg/identity"
)

// Connection binding (auth.bind_connections). Apache identifies a client
// connection only by its address and port, which another client can come
// to hold (behind NAT or a proxy, or by reusing a port) while the login is
// still remembered. So each login is also tied to a random value the
// browser keeps in a cookie; a request without it starts over.
//
// The value is per browser, not per connection: a login whose request
// already carries one binds to it, so that a browser's parallel
// connections agree after at most one extra handshake each. Only values
// this authorizer issued for the same account are taken over: each carries
// a MAC, under a key of the process, over its random part and the user and
// domain it was issued to. A value planted in the browser by someone else
// (their own, issued to them, to be presented later from the victim's
// address and port) is replaced instead.

// The binding cookie is also the browser value the login cookie's MAC
// covers (see loginCookie), so it is set at a login whenever either is on.
// A neighbouring host can plant a binding value too, but gains nothing by
// it here: a login binds only to a value issued for its own account, and a
// connection's login needs the very value it was bound to, which the
// planter cannot read. On HTTPS it is __Host-<name>, which no neighbour can
// set, and the unprefixed name is not read.

// cookieName is the name of the cookie called name in the answer to a
// request with params p: with the __Host- prefix on HTTPS. Cookies that
// carry it are host-only, Path=/ and Secure.
func cookieName(name string, p map[string]string) string {
	if isHTTPS(p) {
		return hostPrefix + name
	}
	return name
}

// browserValues are the request's binding cookie values.
func (a *Authorizer) browserValues(p map[string]string) []string {
	return cookie.FromHeader(p["HTTP_COOKIE"], cookieName(a.cfg.Auth.BindingCookie, p))
}

// bindingOK reports whether a request on a connection logged in as l may
// use that login.
func (a *Authorizer) bindingOK(l conntable.Login, p map[string]string) bool {
	if l.Binding == ([32]byte{}) {
		return true // bound before binding was on, or a Basic login
	}
	for _, v := range a.browserValues(p) {
		h := sha256.Sum256([]byte(v))
		if subtle.ConstantTimeCompare(h[:], l.Binding[:]) == 1 {
			return true
		}
	}
	return false
}

// browserValue is the request's binding value if this authorizer issued it
// for l's account, or else a new one, which it sets on r.
func (a *Authorizer) browserValue(l conntable.Login, p map[string]string, r *fcgi.Response) string {
	for _, v := range a.browserValues(p) {
		if a.issuedBinding(v, l) {
			return v
		}
	}
	var b [bindingRandLen + bindingMACLen]byte
	rand.Read(b[:bindingRandLen])
	copy(b[bindingRandLen:], a.bindingMAC(b[:bindingRandLen], l))
	v := base64.RawURLEncoding.EncodeToString(b[:])
	c := &http.Cookie{Name: cookieName(a.cfg.Auth.BindingCookie, p), Value: v, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: isHTTPS(p)}
	if r.Header == nil {
		r.Header = http.Header{}
	}
	r.Header.Add("Set-Cookie", c.String())
	return v
}

const (
	bindingRandLen = 18
	bindingMACLen  = 12
)

func (a *Authorizer) bindingMAC(random []byte, l conntable.Login) []byte {
	// A clone of the keyed HMAC spares hmac.New's key padding and inner
	// pad hash on every login; hmac.New is the fallback, never a wrong MAC.
	var m hash.Hash
	if a.bindingHMAC != nil {
		if c, err := a.bindingHMAC.Clone(); err == nil {
			m = c
		}
	}
	if m == nil {
		m = hmac.New(sha256.New, a.bindingKey)
	}
	m.Write([]byte("goauthenntlm connection binding\x00"))
	m.Write(random)
	// Names hold no NUL (package identity refuses control characters),
	// so the encoding is unambiguous.
	m.Write([]byte(identity.Key(l.User, l.Domain)))
	return m.Sum(nil)[:bindingMACLen]
}

// issuedBinding reports whether v is a binding value this authorizer made
// for l's account.
func (a *Authorizer) issuedBinding(v string, l conntable.Login) bool {
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(b) != bindingRandLen+bindingMACLen {
		return false
	}
	return hmac.Equal(b[bindingRandLen:], a.bindingMAC(b[:bindingRandLen], l))
}
