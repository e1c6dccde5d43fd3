package authorizer

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
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

// bindingOK reports whether a request on a connection logged in as l may
// use that login.
func (a *Authorizer) bindingOK(l conntable.Login, p map[string]string) bool {
	if l.Binding == ([32]byte{}) {
		return true // bound before binding was on, or a Basic login
	}
	for _, v := range cookie.FromHeader(p["HTTP_COOKIE"], a.cfg.Auth.BindingCookie) {
		h := sha256.Sum256([]byte(v))
		if subtle.ConstantTimeCompare(h[:], l.Binding[:]) == 1 {
			return true
		}
	}
	return false
}

// bind ties login l to the request's binding cookie, or to a new one it
// sets on r.
func (a *Authorizer) bind(l *conntable.Login, p map[string]string, r *fcgi.Response) {
	for _, v := range cookie.FromHeader(p["HTTP_COOKIE"], a.cfg.Auth.BindingCookie) {
		if a.issuedBinding(v, *l) {
			l.Binding = sha256.Sum256([]byte(v))
			return
		}
	}
	var b [bindingRandLen + bindingMACLen]byte
	rand.Read(b[:bindingRandLen])
	copy(b[bindingRandLen:], a.bindingMAC(b[:bindingRandLen], *l))
	v := base64.RawURLEncoding.EncodeToString(b[:])
	l.Binding = sha256.Sum256([]byte(v))
	c := &http.Cookie{Name: a.cfg.Auth.BindingCookie, Value: v, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: isHTTPS(p)}
	if r.Header == nil {
		r.Header = http.Header{}
	}
	r.Header.Add("Set-Cookie", c.String())
}

const (
	bindingRandLen = 18
	bindingMACLen  = 12
)

func (a *Authorizer) bindingMAC(random []byte, l conntable.Login) []byte {
	m := hmac.New(sha256.New, a.bindingKey)
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
