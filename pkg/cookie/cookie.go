// Package cookie encodes, authenticates and decodes the login cookie that
// spares a browser the NTLM handshake on every new connection. It replaces
// Apache2::AuthenNTLM::Cookie, whose SHA-1 cookie had no key rotation, no
// domain separation and a separator-based format.
//
// A cookie value is base64url (no padding) of
//
//	version   1 byte   = 1
//	key id    4 bytes  first 4 bytes of SHA-256(secret) that signed it
//	issued    8 bytes  int64 big-endian Unix seconds
//	expires   8 bytes  int64 big-endian Unix seconds
//	user      2-byte big-endian length, then UTF-8 bytes
//	domain    2-byte big-endian length, then UTF-8 bytes
//	tag      32 bytes  HMAC-SHA256(secret, macLabel || uvarint(len(name)) || name ||
//	                   generation (4 bytes big-endian) || uvarint(len(browser)) || browser ||
//	                   everything above)
//
// The version and key id sit at the same offsets in every version, and the
// tag is always last, so the MAC can be checked before anything else in the
// payload is read. Names are length-prefixed so no user or domain, whatever
// its characters, can shift a field; the cookie name is in the MAC input so
// a value minted for one cookie (another application sharing the secret)
// is refused under another name.
//
// Two inputs of the MAC are not in the value. The generation is the
// Codec's revocation counter: raising it makes every cookie issued before
// fail authentication at once. The browser is a value the caller keeps in
// a second cookie of the same browser (Login.Browser): a login cookie
// verifies only next to it, so a login cookie copied or planted into
// another browser's jar proves nothing there unless that second cookie is
// planted along with it (see the authorizer's package comment on what a
// neighbouring host can plant).
//
// The package is pure: strings in, values out, no I/O and no package-level
// mutable state. Errors never contain the cookie value or the secrets.
package cookie

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors Decode wraps, so that the caller can log which without logging the
// value, and decide: ErrExpired is routine (re-authenticate silently),
// ErrBadMAC and ErrMalformed may be an attack or a rotated-out secret.
var (
	// ErrMalformed: the value is not the encoding of a cookie, or an
	// authentic cookie carries a version or field this code rejects.
	ErrMalformed = errors.New("malformed login cookie")
	// ErrBadMAC: the tag does not verify, or the key id names no
	// configured secret (signed with a secret since removed, or forged).
	ErrBadMAC = errors.New("login cookie fails authentication")
	// ErrExpired: the cookie is authentic but not valid now: past its
	// expiry, or issued further in the future than IssuedSkew allows.
	ErrExpired = errors.New("login cookie expired")
)

const (
	// Version is the payload version Encode writes and Decode accepts.
	// Version 1 had neither generation nor browser in its MAC.
	Version = 2

	// MaxValueLen caps the length of a cookie value, checked before
	// decoding anything. Browsers keep 4096 bytes per cookie; a login
	// is well under a quarter of that.
	MaxValueLen = 1024

	// MinSecretLen is the shortest secret NewCodec and ParseSecret take:
	// HMAC-SHA256 gains nothing from keys longer than its 32-byte output
	// and loses strength with shorter ones.
	MinSecretLen = 32

	// IssuedSkew is how far in the future Issued may lie, for servers of
	// a farm whose clocks disagree. Expires gets no such slack: a cookie
	// ends when its issuer said it does.
	IssuedSkew = time.Minute

	keyIDLen  = 4
	tagLen    = sha256.Size
	headerLen = 1 + keyIDLen // version and key id, fixed in all versions
	// fixedLen is the size of a payload without user and domain bytes.
	fixedLen = headerLen + 8 + 8 + 2 + 2
	maxField = 1<<16 - 1

	// maxUnix is 9999-12-31T23:59:59Z. Times are kept between 1970 and
	// then so that time.Time arithmetic on them (Issued-IssuedSkew) can
	// never overflow and turn a comparison around.
	maxUnix = 253402300799

	// macLabel separates these MACs from any other use of the secret.
	macLabel = "GoAuthenNTLM login cookie\x00"
)

// encoding is base64url without padding; Strict rejects non-zero trailing
// bits, so each payload has exactly one encoding.
var encoding = base64.RawURLEncoding.Strict()

// Login is what a cookie asserts: User of Domain authenticated at Issued,
// and may skip authentication until Expires, in the browser that holds
// Browser. Times have second precision.
type Login struct {
	User, Domain    string
	Issued, Expires time.Time
	// Browser is the value of the browser's binding cookie: the MAC covers
	// it, the cookie value does not carry it. Decode sets it to what it
	// was given.
	Browser string
}

type key struct {
	id     [keyIDLen]byte
	secret []byte
}

// Codec encodes and decodes the cookies of one name with a set of secrets.
// It is immutable and safe for concurrent use. The zero Codec is not usable;
// make one with NewCodec.
type Codec struct {
	name       string
	generation uint32
	keys       []key // keys[0] signs
}

// KeyID returns the key id of a secret: the first 4 bytes of its SHA-256.
// Deriving it from the secret means rotation needs no id configuration;
// publishing 32 bits of a hash of a 256-bit secret reveals nothing useful.
func KeyID(secret []byte) [4]byte {
	h := sha256.Sum256(secret)
	return [4]byte(h[:keyIDLen])
}

// NewCodec returns a Codec for cookies called name. secrets[0] signs new
// cookies; every secret verifies, so rotating is: put the new secret first,
// keep the old one second until the longest cookie lifetime has passed,
// then drop it. Each secret must be at least MinSecretLen bytes, and no two
// may share a key id. The secrets are copied. generation is in every MAC:
// a Codec of another generation refuses the cookies of this one, which is
// how every issued cookie is revoked at once, without waiting as rotation
// does.
func NewCodec(name string, generation uint32, secrets [][]byte) (*Codec, error) {
	if name == "" || (&http.Cookie{Name: name}).Valid() != nil {
		return nil, fmt.Errorf("cookie: %q is not a valid cookie name", name)
	}
	if len(secrets) == 0 {
		return nil, errors.New("cookie: no secret")
	}
	c := &Codec{name: name, generation: generation, keys: make([]key, 0, len(secrets))}
	for i, s := range secrets {
		if len(s) < MinSecretLen {
			return nil, fmt.Errorf("cookie: secret %d is %d bytes, need at least %d", i, len(s), MinSecretLen)
		}
		k := key{id: KeyID(s), secret: bytes.Clone(s)}
		for j, o := range c.keys {
			if o.id == k.id {
				return nil, fmt.Errorf("cookie: secrets %d and %d have the same key id %x (the same secret twice?)", j, i, k.id)
			}
		}
		c.keys = append(c.keys, k)
	}
	return c, nil
}

// Name returns the cookie name the Codec was made for.
func (c *Codec) Name() string { return c.name }

// Encode returns the cookie value for l, signed with the first secret.
// Times are truncated to whole seconds. It returns "" when l cannot be a
// valid cookie: empty User, User or Domain not valid UTF-8, Expires not at
// least a second after Issued, a time outside 1970 to 9999, or a value that
// would exceed MaxValueLen.
// A caller must treat "" as failure and not set the cookie.
func (c *Codec) Encode(l Login) string {
	issued, expires := l.Issued.Unix(), l.Expires.Unix()
	if l.User == "" || !utf8.ValidString(l.User) || !utf8.ValidString(l.Domain) ||
		len(l.User) > maxField || len(l.Domain) > maxField ||
		issued < 0 || expires > maxUnix || expires <= issued {
		return ""
	}
	k := c.keys[0]
	b := make([]byte, 0, fixedLen+len(l.User)+len(l.Domain)+tagLen)
	b = append(b, Version)
	b = append(b, k.id[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(issued))
	b = binary.BigEndian.AppendUint64(b, uint64(expires))
	b = binary.BigEndian.AppendUint16(b, uint16(len(l.User)))
	b = append(b, l.User...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(l.Domain)))
	b = append(b, l.Domain...)
	b = c.appendTag(b, k.secret, l.Browser, b)
	if encoding.EncodedLen(len(b)) > MaxValueLen {
		return ""
	}
	return encoding.EncodeToString(b)
}

// appendTag appends the HMAC of payload, bound to the cookie name, the
// generation and the browser, to dst.
func (c *Codec) appendTag(dst, secret []byte, browser string, payload []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(macLabel))
	m.Write(binary.AppendUvarint(nil, uint64(len(c.name))))
	m.Write([]byte(c.name))
	m.Write(binary.BigEndian.AppendUint32(nil, c.generation))
	m.Write(binary.AppendUvarint(nil, uint64(len(browser))))
	m.Write([]byte(browser))
	m.Write(payload)
	return m.Sum(dst)
}

// Decode authenticates value as a cookie of this Codec's generation issued
// next to browser, and returns the Login it carries if now is within
// [Issued-IssuedSkew, Expires). A cookie of another generation or another
// browser fails as ErrBadMAC. The order of checks is deliberate:
// size and alphabet first (cheap, bounded), then the MAC in constant time
// with hmac.Equal, and only then the version and fields, so that no parser
// runs on bytes an attacker chose. Every error wraps exactly one of
// ErrMalformed, ErrBadMAC and ErrExpired; the Login is zero on error.
func (c *Codec) Decode(value, browser string, now time.Time) (Login, error) {
	if len(value) > MaxValueLen {
		return Login{}, fmt.Errorf("cookie: value of %d bytes exceeds %d: %w", len(value), MaxValueLen, ErrMalformed)
	}
	// The base64 decoder skips '\r' and '\n'; insisting on the alphabet
	// keeps one value per payload.
	for i := 0; i < len(value); i++ {
		if !isBase64URL(value[i]) {
			return Login{}, fmt.Errorf("cookie: value has a byte outside base64url at offset %d: %w", i, ErrMalformed)
		}
	}
	b, err := encoding.DecodeString(value)
	if err != nil {
		return Login{}, fmt.Errorf("cookie: decoding base64: %v: %w", err, ErrMalformed)
	}
	if len(b) < headerLen+tagLen {
		return Login{}, fmt.Errorf("cookie: %d bytes is too short for a cookie: %w", len(b), ErrMalformed)
	}
	payload, tag := b[:len(b)-tagLen], b[len(b)-tagLen:]
	var k *key
	for i := range c.keys {
		if bytes.Equal(c.keys[i].id[:], payload[1:headerLen]) {
			k = &c.keys[i]
			break
		}
	}
	if k == nil {
		return Login{}, fmt.Errorf("cookie: key id %x is not configured: %w", payload[1:headerLen], ErrBadMAC)
	}
	if !hmac.Equal(tag, c.appendTag(nil, k.secret, browser, payload)) {
		return Login{}, fmt.Errorf("cookie: tag does not verify with key %x: %w", k.id, ErrBadMAC)
	}

	// Authentic from here on: whatever fails below is our own encoder's
	// doing (or a future version), never an attacker's.
	if payload[0] != Version {
		return Login{}, fmt.Errorf("cookie: version %d, want %d: %w", payload[0], Version, ErrMalformed)
	}
	l, err := parsePayload(payload[headerLen:])
	if err != nil {
		return Login{}, err
	}
	l.Browser = browser
	if now.Before(l.Issued.Add(-IssuedSkew)) {
		return Login{}, fmt.Errorf("cookie: issued %s, %s after now: %w", l.Issued.Format(time.RFC3339), l.Issued.Sub(now), ErrExpired)
	}
	if !now.Before(l.Expires) {
		return Login{}, fmt.Errorf("cookie: expired at %s, %s ago: %w", l.Expires.Format(time.RFC3339), now.Sub(l.Expires), ErrExpired)
	}
	return l, nil
}

// parsePayload reads the fields after the header. It is strict so that
// Encode(Decode(v)) == v: no trailing bytes, no invalid UTF-8, no empty user.
func parsePayload(b []byte) (Login, error) {
	malformed := func(what string) (Login, error) {
		return Login{}, fmt.Errorf("cookie: %s: %w", what, ErrMalformed)
	}
	if len(b) < fixedLen-headerLen {
		return malformed("payload too short")
	}
	issued := int64(binary.BigEndian.Uint64(b))
	expires := int64(binary.BigEndian.Uint64(b[8:]))
	b = b[16:]
	user, b, ok := lengthPrefixed(b)
	if !ok {
		return malformed("user length past the end")
	}
	domain, b, ok := lengthPrefixed(b)
	if !ok {
		return malformed("domain length past the end")
	}
	switch {
	case len(b) != 0:
		return malformed(fmt.Sprintf("%d bytes after domain", len(b)))
	case user == "":
		return malformed("empty user")
	case !utf8.ValidString(user) || !utf8.ValidString(domain):
		return malformed("user or domain is not UTF-8")
	case issued < 0 || expires > maxUnix:
		return malformed("time outside 1970 to 9999")
	case expires <= issued:
		return malformed("expires is not after issued")
	}
	return Login{
		User:    user,
		Domain:  domain,
		Issued:  time.Unix(issued, 0).UTC(),
		Expires: time.Unix(expires, 0).UTC(),
	}, nil
}

// lengthPrefixed splits a 2-byte big-endian length and that many bytes off b.
func lengthPrefixed(b []byte) (s string, rest []byte, ok bool) {
	if len(b) < 2 {
		return "", nil, false
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b)-2 < n {
		return "", nil, false
	}
	return string(b[2 : 2+n]), b[2+n:], true
}

func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// ParseSecret reads the content of a secret file. Surrounding whitespace is
// trimmed. If what remains is base64 (standard or URL alphabet, padded or
// not) of at least MinSecretLen bytes, the decoded bytes are the secret;
// otherwise the text itself is, if it is at least MinSecretLen bytes of
// UTF-8 without control characters. Control characters are refused because
// a file holding two lines, or a stray NUL, is a mistake better reported
// than signed with. Note that hex ("openssl rand -hex 32") is also valid
// base64 and is decoded as such; that keeps all its entropy, it only means
// the key bytes are not the hex digits' values.
func ParseSecret(b []byte) ([]byte, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, errors.New("cookie: secret is empty")
	}
	// The base64 decoders skip '\r' and '\n'; a file with several lines
	// is not one base64 secret, and falls through to the text check,
	// which refuses it.
	if !bytes.ContainsAny(b, "\r\n") {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if d, err := enc.DecodeString(string(b)); err == nil && len(d) >= MinSecretLen {
				return d, nil
			}
		}
	}
	if !utf8.Valid(b) {
		return nil, errors.New("cookie: secret is neither base64 nor UTF-8 text")
	}
	for _, r := range string(b) {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return nil, errors.New("cookie: secret text contains a control character (several lines?)")
		}
	}
	if len(b) < MinSecretLen {
		return nil, fmt.Errorf("cookie: secret is %d bytes, need at least %d (or base64 of that many)", len(b), MinSecretLen)
	}
	return bytes.Clone(b), nil
}

// FromHeader returns the non-empty values of every cookie called name in a
// Cookie request header (HTTP_COOKIE), in order, or nil if there is none.
// It follows net/http's parser (Request.CookiesNamed) exactly, so spacing,
// quoting and unrelated malformed pairs are handled as Go's server handles
// them (FuzzFromHeader holds it to that), but allocates nothing but the
// result: it runs on every authenticated request. All values are returned
// because a browser sends a cookie once per matching path and domain: a
// stale path-scoped duplicate must not hide the valid one, so the caller
// tries each.
func FromHeader(header, name string) []string {
	if name == "" || header == "" || !isToken(name) {
		return nil
	}
	// net/http gives up on a header of more than this many pairs.
	if strings.Count(header, ";") >= maxCookies {
		return nil
	}
	var vals []string
	for rest := header; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, ";")
		n, v, _ := strings.Cut(trimOWS(part), "=")
		if trimOWS(n) != name {
			continue
		}
		if v, ok := cookieValue(v); ok && v != "" {
			vals = append(vals, v)
		}
	}
	return vals
}

// maxCookies is net/http's default limit on the pairs of a Cookie header
// (GODEBUG httpcookiemaxnum).
const maxCookies = 3000

// trimOWS trims what net/textproto.TrimString does: ASCII blanks.
func trimOWS(s string) string {
	isBlank := func(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }
	for len(s) > 0 && isBlank(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isBlank(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// cookieValue is net/http's parseCookieValue: optional double quotes
// around RFC 6265 cookie-octets (but for a lax space and comma).
func cookieValue(raw string) (string, bool) {
	if len(raw) > 1 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		raw = raw[1 : len(raw)-1]
	}
	for i := 0; i < len(raw); i++ {
		if b := raw[i]; b < 0x20 || b >= 0x7f || b == '"' || b == ';' || b == '\\' {
			return "", false
		}
	}
	return raw, true
}

// isToken reports whether s is an RFC 9110 token, as cookie names must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0) {
			return false
		}
	}
	return true
}

// Options are the attributes of the Set-Cookie header (RFC 6265 5.2).
type Options struct {
	Path, Domain string
	// MaxAge is the cookie's lifetime: 0 makes a session cookie, a
	// negative value deletes the cookie (Max-Age=0), anything else is
	// rounded up to whole seconds.
	MaxAge time.Duration
	// Expires, if not zero, is also sent, for clients that ignore
	// Max-Age (old Internet Explorer, still common where NTLM SSO is).
	Expires time.Time
	// Secure and HTTPOnly set the attributes of the same name; a login
	// cookie should have both.
	Secure, HTTPOnly bool
	// SameSite is "", "Lax", "Strict" or "None" (case-insensitive); ""
	// leaves the attribute out. "None" requires Secure, as browsers do.
	SameSite string
}

// SetCookie returns the value of a Set-Cookie header setting this Codec's
// cookie to value with the attributes in o, or "" if the result would not be
// a single valid header value: value outside the base64url alphabet Encode
// uses, an invalid Path or Domain, an unknown SameSite, or SameSite=None
// without Secure. net/http's Cookie.String would instead log and silently
// drop or rewrite bad parts, which a caller would not notice.
func (c *Codec) SetCookie(value string, o Options) string {
	for i := 0; i < len(value); i++ {
		if !isBase64URL(value[i]) {
			return ""
		}
	}
	hc := &http.Cookie{
		Name:     c.name,
		Value:    value,
		Path:     o.Path,
		Domain:   o.Domain,
		Expires:  o.Expires,
		Secure:   o.Secure,
		HttpOnly: o.HTTPOnly,
	}
	switch {
	case o.MaxAge < 0:
		hc.MaxAge = -1
	case o.MaxAge > 0:
		hc.MaxAge = int((o.MaxAge + time.Second - 1) / time.Second)
	}
	switch {
	case o.SameSite == "":
	case strings.EqualFold(o.SameSite, "Lax"):
		hc.SameSite = http.SameSiteLaxMode
	case strings.EqualFold(o.SameSite, "Strict"):
		hc.SameSite = http.SameSiteStrictMode
	case strings.EqualFold(o.SameSite, "None"):
		if !o.Secure {
			return ""
		}
		hc.SameSite = http.SameSiteNoneMode
	default:
		return ""
	}
	// Valid rejects what String would otherwise log about and rewrite;
	// String also drops an Expires before 1601, which Valid rejects too.
	if hc.Valid() != nil {
		return ""
	}
	return hc.String()
}
