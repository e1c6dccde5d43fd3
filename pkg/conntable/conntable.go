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
// recently used connection is forgotten first, and the oldest pending
// handshake (of the client's address, or in all) is dropped to make room
// for a new one. A new handshake is never refused: a browser answers a
// challenge within milliseconds, so the oldest handshake is almost always
// one nobody will finish, and refusing instead would let a client that
// never sends its Type3 keep everyone behind its address out.
package conntable

import (
	"container/list"
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
	// Forwarded is the SHA-256 of the X-Forwarded-For and Forwarded fields
	// of the login's request (zero: none): a front end's connection that
	// carries a request with others carries another client's.
	Forwarded [32]byte
	// EPA is the strongest Extended Protection level the login met, as
	// package authorizer counts it (0: none checked).
	EPA uint8
	// CookieGen, for a SchemeCookie login, is the cookie generation its
	// login cookie verified under: raising the generation revokes the
	// connections the cookies logged in too.
	CookieGen uint32
	// CCache, when set, is the credential cache file of the login's
	// delegated tickets (package delegation), handed to the application
	// at locations that delegate.
	CCache string
	// CCacheTried: a credential cache was asked for, made or not (at the
	// login, or at the connection's first request at a delegating
	// location): not again for this login.
	CCacheTried bool
}

// Scheme is how a login was proved.
type Scheme uint8

const (
	SchemeNTLM      Scheme = iota + 1 // an NTLM handshake in "NTLM" headers
	SchemeNegotiate                   // an NTLM handshake in "Negotiate" headers, raw or in SPNEGO
	SchemeBasic                       // a password relayed as an NTLM login
	SchemeCookie                      // the login cookie of an earlier login
	SchemeKerberos                    // a Kerberos ticket in "Negotiate" headers, checked with the keytab
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
	case SchemeKerberos:
		return "Kerberos"
	}
	return "unknown"
}

// Pending is a handshake waiting for its Type3. Close releases what it
// holds at the DC; the table calls it when the handshake expires or is
// replaced.
type Pending interface {
	Close()
}

// Limits bound the table.
type Limits struct {
	MaxPending      int           // handshakes in progress, in all
	MaxPendingPerIP int           // handshakes in progress per client address (IPv6: per /64)
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
	order   list.List                 // of *pendingEntry, oldest at the front
	perIP   map[netip.Addr]*list.List // by clientGroup: of *pendingEntry, oldest at the front
	evicted uint64
}

type authEntry struct {
	key      Key
	login    Login
	lastSeen time.Time
}

type pendingEntry struct {
	key     Key
	p       Pending
	expires time.Time
	inOrder *list.Element // in Table.order
	inGroup *list.Element // in Table.perIP[clientGroup(key)]
}

// clientGroup is what the per-address limit counts by: the address, or
// for IPv6 its /64, since one host or site is routinely given a whole /64
// and can pick a new address in it for every connection.
func clientGroup(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return a
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
		perIP:   make(map[netip.Addr]*list.List),
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

// AddPending stores handshake p for connection k. A handshake already
// pending for k is replaced and closed: the client started over. When k's
// address (IPv6: its /64) already has MaxPendingPerIP handshakes pending,
// its oldest is dropped and closed; likewise the oldest of all at
// MaxPending. A client whose handshake was dropped gets a fresh challenge
// when it sends its Type3 (the Type3 finds nothing pending).
func (t *Table) AddPending(k Key, p Pending) {
	now := t.now()
	var drop []Pending
	t.mu.Lock()
	if e, ok := t.pending[k]; ok {
		drop = append(drop, e.p)
		t.removePending(e)
	}
	g := clientGroup(k.Client.Addr())
	grp := t.perIP[g]
	if grp == nil {
		grp = list.New()
		t.perIP[g] = grp
	}
	for grp.Len() > 0 && grp.Len() >= max(t.lim.MaxPendingPerIP, 1) {
		e := grp.Front().Value.(*pendingEntry)
		drop = append(drop, e.p)
		t.removePending(e)
		t.evicted++
	}
	for len(t.pending) > 0 && len(t.pending) >= max(t.lim.MaxPending, 1) {
		e := t.order.Front().Value.(*pendingEntry)
		drop = append(drop, e.p)
		t.removePending(e)
		t.evicted++
	}
	if t.perIP[g] == nil { // removePending dropped the emptied group
		t.perIP[g] = grp
	}
	e := &pendingEntry{key: k, p: p, expires: now.Add(t.lim.PendingTTL)}
	e.inOrder = t.order.PushBack(e)
	e.inGroup = grp.PushBack(e)
	t.pending[k] = e
	t.mu.Unlock()
	for _, p := range drop {
		p.Close()
	}
}

// TakePending removes and returns connection k's pending handshake, if
// there is one that has not expired. The caller owns it from then on.
func (t *Table) TakePending(k Key) (Pending, bool) {
	now := t.now()
	t.mu.Lock()
	e, ok := t.pending[k]
	if ok {
		t.removePending(e)
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

func (t *Table) removePending(e *pendingEntry) {
	delete(t.pending, e.key)
	t.order.Remove(e.inOrder)
	g := clientGroup(e.key.Client.Addr())
	if grp := t.perIP[g]; grp != nil {
		grp.Remove(e.inGroup)
		if grp.Len() == 0 {
			delete(t.perIP, g)
		}
	}
}

// Sweep forgets expired handshakes (closing them) and idle connections.
// Call it periodically; lookups expire entries on their own, so Sweep only
// bounds how long dead entries hold memory and DC sessions.
func (t *Table) Sweep() {
	now := t.now()
	var expired []Pending
	t.mu.Lock()
	// Every handshake gets the same TTL, so the oldest added expire first.
	for el := t.order.Front(); el != nil; el = t.order.Front() {
		e := el.Value.(*pendingEntry)
		if !now.After(e.expires) {
			break
		}
		expired = append(expired, e.p)
		t.removePending(e)
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
	// Evicted counts pending handshakes dropped for a newer one at a
	// limit, since the table was made.
	Evicted uint64
}

// Stats returns the current counts.
func (t *Table) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Stats{Pending: len(t.pending), Connections: len(t.auth), Evicted: t.evicted}
}

// SetLimits changes the limits (on a configuration reload). Entries over
// a lowered limit are not dropped at once; they age out, or make room for
// the next handshake. A changed PendingTTL applies to new handshakes only.
func (t *Table) SetLimits(l Limits) {
	t.mu.Lock()
	t.lim = l
	t.mu.Unlock()
}
