// Package conntable owns what the authorizer remembers about Apache's
// client connections: handshakes waiting for their Type3, and connections
// that finished one.
//
// NTLM authenticates a TCP connection, not a request, and Apache tells a
// FastCGI authorizer nothing about its connections but the client's and its
// own address and port. That four-tuple is the key here. It is reused: by
// the same client after a close, by another client behind the same NAT or
// proxy. So every entry is short-lived on purpose: an authenticated
// connection is forgotten once it has been idle longer than Apache's
// KeepAliveTimeout (Apache has closed it by then), a pending handshake once
// its timeout passes. Both maps are bounded; under pressure the least
// recently used connection is forgotten first, and new handshakes are
// refused rather than old ones dropped, so a flood cannot push out
// logins in progress.
package conntable

import (
	"container/list"
	"errors"
	"net/netip"
	"sync"
	"time"
)

// Key identifies one client connection as Apache reports it.
type Key struct {
	Client netip.AddrPort // REMOTE_ADDR:REMOTE_PORT
	Server netip.AddrPort // SERVER_ADDR:SERVER_PORT
}

// Login is who authenticated a connection.
type Login struct {
	User, Domain string
	Scheme       Scheme
	At           time.Time // when the DC accepted the login
	// Binding, when set, is the SHA-256 of the binding cookie a request on
	// this connection must carry.
	Binding [32]byte
}

// Scheme is how a login was proved.
type Scheme uint8

const (
	SchemeNTLM      Scheme = iota + 1 // an NTLM handshake in "NTLM" headers
	SchemeNegotiate                   // an NTLM handshake in "Negotiate" headers, raw or in SPNEGO
	SchemeBasic                       // a password relayed as an NTLM login
	SchemeCookie                      // the login cookie of an earlier login
)

// String returns the scheme's name as in the Authorization header, for logs.
func (s Scheme) String() string {
	switch s {
	case SchemeNTLM:
		return "NTLM"
	case SchemeNegotiate:
		return "Negotiate"
	case SchemeBasic:
		return "Basic"
	case SchemeCookie:
		return "Cookie"
	}
	return "unknown"
}

// Pending is a handshake waiting for its Type3. Close releases what it
// holds at the DC; the table calls it when the handshake expires or is
// replaced.
type Pending interface {
	Close()
}

// Errors of AddPending: the caller answers 503, and the client retries.
var (
	ErrTooManyPending      = errors.New("too many handshakes in progress")
	ErrTooManyPendingForIP = errors.New("too many handshakes in progress from this client address")
)

// Limits bound the table.
type Limits struct {
	MaxPending      int           // handshakes in progress, in all
	MaxPendingPerIP int           // handshakes in progress per client IP
	MaxConnections  int           // authenticated connections remembered
	PendingTTL      time.Duration // how long a handshake waits for its Type3
	IdleTTL         time.Duration // how long an authenticated connection may stay idle
}

// Table is safe for concurrent use. Its zero value is not usable: use New.
type Table struct {
	lim Limits
	now func() time.Time

	mu      sync.Mutex
	auth    map[Key]*list.Element // of *authEntry, most recently used at the front
	lru     list.List
	pending map[Key]*pendingEntry
	perIP   map[netip.Addr]int
}

type authEntry struct {
	key      Key
	login    Login
	lastSeen time.Time
}

type pendingEntry struct {
	p       Pending
	expires time.Time
}

// New returns an empty table. now is the clock (nil: time.Now), a seam for
// tests of expiry.
func New(lim Limits, now func() time.Time) *Table {
	if now == nil {
		now = time.Now
	}
	return &Table{
		lim:     lim,
		now:     now,
		auth:    make(map[Key]*list.Element),
		pending: make(map[Key]*pendingEntry),
		perIP:   make(map[netip.Addr]int),
	}
}

// Authenticated returns the login of connection k if it is remembered and
// was not idle too long, and marks it used now.
func (t *Table) Authenticated(k Key) (Login, bool) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	el, ok := t.auth[k]
	if !ok {
		return Login{}, false
	}
	e := el.Value.(*authEntry)
	if now.Sub(e.lastSeen) > t.lim.IdleTTL {
		t.removeAuth(el)
		return Login{}, false
	}
	e.lastSeen = now
	t.lru.MoveToFront(el)
	return e.login, true
}

// SetAuthenticated remembers that connection k is logged in as l.
func (t *Table) SetAuthenticated(k Key, l Login) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.auth[k]; ok {
		e := el.Value.(*authEntry)
		e.login, e.lastSeen = l, now
		t.lru.MoveToFront(el)
		return
	}
	for len(t.auth) >= t.lim.MaxConnections {
		t.removeAuth(t.lru.Back())
	}
	t.auth[k] = t.lru.PushFront(&authEntry{key: k, login: l, lastSeen: now})
}

// Forget drops connection k's login, if any.
func (t *Table) Forget(k Key) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.auth[k]; ok {
		t.removeAuth(el)
	}
}

func (t *Table) removeAuth(el *list.Element) {
	e := t.lru.Remove(el).(*authEntry)
	delete(t.auth, e.key)
}

// AddPending stores handshake p for connection k. A handshake already pending for
// k is replaced and closed: the client started over. It returns
// ErrTooManyPending or ErrTooManyPendingForIP when a limit is reached; p
// is then not stored, and the caller closes it.
func (t *Table) AddPending(k Key, p Pending) error {
	now := t.now()
	var old Pending
	t.mu.Lock()
	ip := k.Client.Addr()
	if e, ok := t.pending[k]; ok {
		old = e.p
		t.removePending(k)
	}
	switch {
	case len(t.pending) >= t.lim.MaxPending:
		t.mu.Unlock()
		closeIf(old)
		return ErrTooManyPending
	case t.perIP[ip] >= t.lim.MaxPendingPerIP:
		t.mu.Unlock()
		closeIf(old)
		return ErrTooManyPendingForIP
	}
	t.pending[k] = &pendingEntry{p: p, expires: now.Add(t.lim.PendingTTL)}
	t.perIP[ip]++
	t.mu.Unlock()
	closeIf(old)
	return nil
}

// TakePending removes and returns connection k's pending handshake, if
// there is one that has not expired. The caller owns it from then on.
func (t *Table) TakePending(k Key) (Pending, bool) {
	now := t.now()
	t.mu.Lock()
	e, ok := t.pending[k]
	if ok {
		t.removePending(k)
	}
	t.mu.Unlock()
	if !ok {
		return nil, false
	}
	if now.After(e.expires) {
		e.p.Close()
		return nil, false
	}
	return e.p, true
}

func (t *Table) removePending(k Key) {
	delete(t.pending, k)
	ip := k.Client.Addr()
	if t.perIP[ip] <= 1 {
		delete(t.perIP, ip)
	} else {
		t.perIP[ip]--
	}
}

func closeIf(p Pending) {
	if p != nil {
		p.Close()
	}
}

// Sweep forgets expired handshakes (closing them) and idle connections.
// Call it periodically; lookups expire entries on their own, so Sweep only
// bounds how long dead entries hold memory and DC sessions.
func (t *Table) Sweep() {
	now := t.now()
	var expired []Pending
	t.mu.Lock()
	for k, e := range t.pending {
		if now.After(e.expires) {
			expired = append(expired, e.p)
			t.removePending(k)
		}
	}
	for el := t.lru.Back(); el != nil; {
		e := el.Value.(*authEntry)
		if now.Sub(e.lastSeen) <= t.lim.IdleTTL {
			break // the rest were used more recently
		}
		prev := el.Prev()
		t.removeAuth(el)
		el = prev
	}
	t.mu.Unlock()
	for _, p := range expired {
		p.Close()
	}
}

// Stats is a snapshot of the table's size.
type Stats struct {
	Pending, Connections int
}

// Stats returns the current counts.
func (t *Table) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Stats{Pending: len(t.pending), Connections: len(t.auth)}
}

// SetLimits changes the limits (on a configuration reload). Entries over
// a lowered limit are not dropped at once; they age out.
func (t *Table) SetLimits(l Limits) {
	t.mu.Lock()
	t.lim = l
	t.mu.Unlock()
}
