// Package dc relays a browser's NTLM messages to Active Directory domain
// controllers over SMB2, so the DC checks the credentials without the web
// server being joined to the domain or holding a password.
//
// A Pool keeps a few SMB2 connections per DC. Negotiate sends the browser's
// raw NTLM NEGOTIATE (Type1) as a new SESSION_SETUP and returns the DC's
// CHALLENGE (Type2), byte for byte, to pass to the browser; the returned
// Handshake then sends the browser's AUTHENTICATE (Type3) on the same
// connection and SMB2 session. Many handshakes share one connection.
//
// Errors: *StatusError, the DC's answer, whose Status.Kind decides (401 for
// Refused, 403 for NotAllowed, 503 for DCFailure); ErrGuestSession (answer
// 401); ErrUnavailable (answer 503; a DCFailure StatusError matches it too);
// ErrBusy (answer 503 with Retry-After). Any other error means the input was
// not an NTLM message of the expected type.
package dc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goauthenntlm/goauthenntlm/internal/failover"
	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
)

// Config configures a Pool. Zero values take the documented defaults.
type Config struct {
	Addrs              []string      // "host" or "host:port" (default port 445), in order of preference
	DialTimeout        time.Duration // default 3s; bounds TCP connect plus SMB2 NEGOTIATE
	RequestTimeout     time.Duration // default 10s, per SMB2 exchange
	QueueTimeout       time.Duration // default 2s: wait for a free in-flight slot, then ErrBusy
	MaxConnsPerDC      int           // default 4
	MaxSessionsPerConn int           // default 500, then the conn retires
	MaxInFlightPerDC   int           // default 64 handshake steps at once per DC
	DownBackoff        time.Duration // default 30s
	Logger             *slog.Logger  // default slog.Default()
}

// downAfterFailures is how many DCFailure answers in a row mark a DC down.
// Not one: a single failure can be one trusted domain's, and a restarting
// Samba DC fails logins for only about a second.
const downAfterFailures = 3

// notAllowedLogEvery spaces the WARN lines for one NotAllowed status of one
// DC: the administrator needs the line, not one per request.
const notAllowedLogEvery = time.Hour

// connBusy is the number of requests in flight on a conn above which the
// pool prefers to open another conn (up to MaxConnsPerDC).
const connBusy = 8

// Pool relays NTLM handshakes to an ordered list of DCs. It is safe for
// concurrent use.
type Pool struct {
	cfg    Config
	log    *slog.Logger
	dcs    []*dcState
	closed atomic.Bool
	// done is cancelled by Close, aborting dials in progress.
	done   context.Context
	cancel context.CancelFunc

	dials atomic.Int64 // conns dialed (tests)
}

// dcState is one DC: its conns, concurrency slots and health.
type dcState struct {
	addr string
	sem  chan struct{} // MaxInFlightPerDC slots

	mu       sync.Mutex
	conns    []*conn            // conns taking new sessions (pruned lazily)
	all      map[*conn]struct{} // every live conn, including retired ones
	dialing  int
	changed  chan struct{} // closed and replaced when conns or dialing change
	health   failover.Mark
	failures int                    // DCFailure answers in a row
	warned   map[NTStatus]time.Time // NotAllowed statuses last logged; bounded by the table
}

// NewPool validates cfg and returns a Pool. It does not dial: connections are
// opened on first use.
func NewPool(cfg Config) (*Pool, error) {
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("dc: no DC addresses configured")
	}
	def := func(d *time.Duration, v time.Duration, name string) error {
		if *d < 0 {
			return fmt.Errorf("dc: %s is negative", name)
		}
		if *d == 0 {
			*d = v
		}
		return nil
	}
	defInt := func(n *int, v int, name string) error {
		if *n < 0 {
			return fmt.Errorf("dc: %s is negative", name)
		}
		if *n == 0 {
			*n = v
		}
		return nil
	}
	if err := errors.Join(
		def(&cfg.DialTimeout, 3*time.Second, "DialTimeout"),
		def(&cfg.RequestTimeout, 10*time.Second, "RequestTimeout"),
		def(&cfg.QueueTimeout, 2*time.Second, "QueueTimeout"),
		def(&cfg.DownBackoff, 30*time.Second, "DownBackoff"),
		defInt(&cfg.MaxConnsPerDC, 4, "MaxConnsPerDC"),
		defInt(&cfg.MaxSessionsPerConn, 500, "MaxSessionsPerConn"),
		defInt(&cfg.MaxInFlightPerDC, 64, "MaxInFlightPerDC"),
	); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Pool{cfg: cfg, log: cfg.Logger}
	p.done, p.cancel = context.WithCancel(context.Background())
	seen := map[string]bool{}
	for _, a := range cfg.Addrs {
		addr, err := normalizeAddr(a)
		if err != nil {
			return nil, err
		}
		if seen[addr] {
			return nil, fmt.Errorf("dc: address %q listed twice", a)
		}
		seen[addr] = true
		p.dcs = append(p.dcs, &dcState{
			addr:    addr,
			sem:     make(chan struct{}, cfg.MaxInFlightPerDC),
			all:     map[*conn]struct{}{},
			changed: make(chan struct{}),
		})
	}
	return p, nil
}

// normalizeAddr turns "host", "host:port", "v6addr" or "[v6addr]:port"
// into host:port, defaulting the port to 445.
func normalizeAddr(a string) (string, error) {
	a = strings.TrimSpace(a)
	if a == "" {
		return "", errors.New("dc: empty DC address")
	}
	if host, port, err := net.SplitHostPort(a); err == nil {
		if host == "" || port == "" {
			return "", fmt.Errorf("dc: bad DC address %q", a)
		}
		return net.JoinHostPort(host, port), nil
	}
	host := strings.TrimSuffix(strings.TrimPrefix(a, "["), "]")
	if host == "" || strings.ContainsAny(host, "[]/ ") {
		return "", fmt.Errorf("dc: bad DC address %q", a)
	}
	return net.JoinHostPort(host, "445"), nil
}

// handshake is the Pool's Handshake: bound to the DC connection and SMB2
// SessionId that answered the Type1.
type handshake struct {
	p    *Pool
	d    *dcState
	c    *conn
	sid  uint64
	done atomic.Bool
}

// DC returns the address of the DC that answered (for logs).
func (h *handshake) DC() string { return h.d.addr }

// Close abandons the handshake (e.g. the browser never sent its Type3). It
// is idempotent; Authenticate also closes the handshake. The DC forgets the
// half-open SMB2 session when the connection retires.
func (h *handshake) Close() {
	if h.done.CompareAndSwap(false, true) {
		h.c.release()
	}
}

// Negotiate relays a raw NTLM Type1 and returns the DC's raw Type2 and a
// handshake bound to that DC connection and SMB2 SessionId.
//
// DCs are tried in the configured order, skipping those marked down; when
// every DC is marked down they are still tried in order. A DC that cannot be
// reached (dial, negotiate or transport error, or no answer in time) is
// marked down for DownBackoff and the next one is tried; so is the next one
// after a DCFailure answer, which counts towards marking the DC down. A DC's
// refusal (Refused or NotAllowed) is returned as *StatusError without trying
// others.
func (p *Pool) Negotiate(ctx context.Context, type1 []byte) (Handshake, []byte, error) {
	if p.closed.Load() {
		return nil, nil, fmt.Errorf("dc: negotiate: %w", ErrClosed)
	}
	if t, err := ntlmmsg.Type(type1); err != nil || t != ntlmmsg.TypeNegotiate {
		return nil, nil, errors.New("dc: negotiate: not an NTLM NEGOTIATE message; not relayed")
	}
	var errs []error
	for _, d := range p.order() {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		h, type2, err, next := p.negotiateDC(ctx, d, type1)
		if err == nil {
			return h, type2, nil
		}
		if !next {
			return nil, nil, err
		}
		errs = append(errs, err)
	}
	return nil, nil, fmt.Errorf("%w: %w", ErrUnavailable, errors.Join(errs...))
}

// negotiateDC runs the Type1 step on one DC. next reports whether the error
// is the DC's unavailability (try the next DC).
func (p *Pool) negotiateDC(ctx context.Context, d *dcState, type1 []byte) (_ *handshake, _ []byte, _ error, next bool) {
	release, err := p.acquire(ctx, d)
	if err != nil {
		return nil, nil, err, false
	}
	defer release()
	for attempt := 0; ; attempt++ {
		c, dialed, err := p.getConn(ctx, d, attempt > 0)
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return nil, nil, fmt.Errorf("dc %s: connect: %w", d.addr, err), false
			}
			err = fmt.Errorf("dc %s: connect: %w", d.addr, err)
			p.markDown(ctx, d, err)
			return nil, nil, err, true
		}
		hdr, resp, err := p.exchange(ctx, c, 0, type1)
		if err != nil {
			c.release()
			if !dialed && attempt == 0 && !isTimeout(err) && ctx.Err() == nil {
				// A pooled conn found dead (e.g. the DC closed it while
				// idle): retry once on a fresh one.
				p.log.Debug("dc: pooled connection dead, redialing", "dc", d.addr, "err", err)
				continue
			}
			err = fmt.Errorf("dc %s: session setup: %w", d.addr, err)
			p.markDown(ctx, d, err)
			return nil, nil, err, true
		}
		switch {
		case hdr.Status == StatusMoreProcessingRequired:
		case hdr.Status == StatusSuccess:
			c.release()
			return nil, nil, fmt.Errorf("dc %s: session setup: NTLM NEGOTIATE accepted with STATUS_SUCCESS, want a challenge", d.addr), false
		default:
			c.release()
			se := &StatusError{DC: d.addr, Status: hdr.Status}
			p.answered(ctx, d, "negotiate", se, true)
			return nil, nil, se, se.Status.Kind() == DCFailure
		}
		if t, err := ntlmmsg.Type(resp.SecurityBuffer); err != nil || t != ntlmmsg.TypeChallenge || hdr.SessionID == 0 {
			c.release()
			err := fmt.Errorf("dc %s: session setup: answer is not a raw NTLM CHALLENGE (session %#x, %d-byte token)", d.addr, hdr.SessionID, len(resp.SecurityBuffer))
			p.markDown(ctx, d, err)
			return nil, nil, err, true
		}
		// Reachable, but that says nothing about checking logins: Samba
		// challenges while it cannot check one. So the failure count stays.
		p.markUp(d)
		h := &handshake{p: p, d: d, c: c, sid: hdr.SessionID}
		return h, resp.SecurityBuffer, nil, false
	}
}

// Authenticate relays the raw Type3 on the same connection/session. nil
// error means the DC said STATUS_SUCCESS and the session is neither guest
// nor null. Authenticate closes the handshake; a second call fails.
//
// An anonymous Type3 is not relayed: it fails with ErrGuestSession. If the
// connection died or the DC did not answer in time, the error wraps
// ErrUnavailable and the browser has to start over. With ForeignName, a
// DCFailure answer does not count towards marking the DC down, nor does
// a timeout mark it down.
func (h *handshake) Authenticate(ctx context.Context, type3 []byte, opts ...AuthOption) error {
	if !h.done.CompareAndSwap(false, true) {
		return fmt.Errorf("dc %s: authenticate: handshake %w", h.d.addr, ErrClosed)
	}
	defer h.c.release()
	// Samba answers an anonymous Type3 with STATUS_SUCCESS and
	// SessionFlags 0, so this check cannot be left to the DC.
	switch msg, err := ntlmmsg.ParseAuthenticate(type3); {
	case err != nil:
		return fmt.Errorf("dc %s: authenticate: not an NTLM AUTHENTICATE message; not relayed: %w", h.d.addr, err)
	case msg.NoCredentials():
		return fmt.Errorf("dc %s: authenticate: %w (anonymous NTLM AUTHENTICATE not relayed)", h.d.addr, ErrGuestSession)
	}
	p := h.p
	release, err := p.acquire(ctx, h.d)
	if err != nil {
		return err
	}
	defer release()
	hdr, resp, err := p.exchange(ctx, h.c, h.sid, type3)
	if err != nil {
		err = fmt.Errorf("dc %s: session setup: %w", h.d.addr, err)
		// A foreign name's login may wait on another domain's DCs: its
		// timeout drops the conn (exchange did) but does not mark the DC
		// down, as a DCFailure answer to it does not count.
		if isTimeout(err) && !slices.Contains(opts, ForeignName) {
			p.markDown(ctx, h.d, err)
		}
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if hdr.Status != StatusSuccess {
		// STATUS_MORE_PROCESSING_REQUIRED here means the DC wants another
		// round, which NTLM does not have: a refusal as well.
		se := &StatusError{DC: h.d.addr, Status: hdr.Status}
		p.answered(ctx, h.d, "authenticate", se, !slices.Contains(opts, ForeignName))
		return se
	}
	p.answered(ctx, h.d, "authenticate", nil, true)
	if f := resp.SessionFlags; f&(sessionFlagIsGuest|sessionFlagIsNull) != 0 {
		return fmt.Errorf("dc %s: session setup: %w (SessionFlags %#x)", h.d.addr, ErrGuestSession, f)
	}
	if hdr.SessionID != h.sid {
		return fmt.Errorf("dc %s: session setup: answer for session %#x, want %#x", h.d.addr, hdr.SessionID, h.sid)
	}
	return nil
}

// exchange runs one SESSION_SETUP within RequestTimeout. A DC that does not
// answer in time (whether RequestTimeout or ctx's deadline ran out) gets its
// conn killed: it is not trusted for other handshakes either.
func (p *Pool) exchange(ctx context.Context, c *conn, sid uint64, token []byte) (header, *sessionSetupResponse, error) {
	rctx, cancel := context.WithTimeout(ctx, p.cfg.RequestTimeout)
	defer cancel()
	hdr, resp, err := c.sessionSetup(rctx, sid, token)
	if err != nil && isTimeout(err) {
		c.fail(fmt.Errorf("no answer in time: %w", err))
	}
	return hdr, resp, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// acquire takes one of d's in-flight slots, waiting at most until ctx or
// QueueTimeout runs out (then ErrBusy): a DC that is this far behind is
// better answered with 503 and Retry-After than queued for longer.
func (p *Pool) acquire(ctx context.Context, d *dcState) (func(), error) {
	select {
	case d.sem <- struct{}{}:
		return func() { <-d.sem }, nil
	default:
	}
	t := time.NewTimer(p.cfg.QueueTimeout)
	defer t.Stop()
	select {
	case d.sem <- struct{}{}:
		return func() { <-d.sem }, nil
	case <-ctx.Done():
	case <-t.C:
	}
	return nil, fmt.Errorf("dc %s: %w (%d handshake steps in flight)", d.addr, ErrBusy, cap(d.sem))
}

// order returns the DCs to try: those not marked down in configured order,
// then those marked down, also in order.
func (p *Pool) order() []*dcState {
	return failover.Order(p.dcs, func(d *dcState) *failover.Mark { return &d.health })
}

// markDown marks d down for DownBackoff, unless the failure is only the
// caller cancelling ctx.
func (p *Pool) markDown(ctx context.Context, d *dcState, reason error) {
	if errors.Is(reason, context.Canceled) || errors.Is(reason, ErrClosed) {
		return
	}
	if d.health.Down(p.cfg.DownBackoff) {
		p.log.Warn("dc: marked down", "dc", d.addr, "for", p.cfg.DownBackoff, "reason", reason.Error())
	} else {
		p.log.Debug("dc: still down", "dc", d.addr, "reason", reason.Error())
	}
}

// answered records d's answer to a login step: nil (it answered as it
// should) or its StatusError. A DCFailure counts towards marking d down
// when counted (see ForeignName for when it is not); any other answer
// shows d working. NotAllowed is logged at WARN, with what an
// administrator can do, once per status and DC per notAllowedLogEvery.
func (p *Pool) answered(ctx context.Context, d *dcState, step string, se *StatusError, counted bool) {
	if se == nil || se.Status.Kind() != DCFailure {
		d.mu.Lock()
		d.failures = 0
		d.mu.Unlock()
		p.markUp(d)
		if se != nil && se.Status.Kind() == NotAllowed && p.firstWarning(d, se.Status) {
			p.log.Warn("dc: the domain's policy does not allow the login; asking the user again will not help",
				"dc", d.addr, "step", step, "status", se.Status.String(), "fix", se.Status.Hint(),
				"repeats", "not logged again for "+notAllowedLogEvery.String())
		}
		return
	}
	if !counted {
		// Neither counted nor resetting the count: it says nothing about
		// this DC's own logins.
		p.log.Warn("dc: the domain controller failed to check a login", "dc", d.addr, "step", step,
			"status", se.Status.String(), "counted", "no, the name points to another domain")
		return
	}
	d.mu.Lock()
	d.failures++
	n := d.failures
	d.mu.Unlock()
	p.log.Warn("dc: the domain controller failed to check a login", "dc", d.addr, "step", step,
		"status", se.Status.String(), "in_a_row", n)
	if n >= downAfterFailures {
		p.markDown(ctx, d, fmt.Errorf("%d failed logins in a row, the last: %w", n, se))
	}
}

// firstWarning reports whether status was not logged for d within
// notAllowedLogEvery, and notes it as logged now.
func (p *Pool) firstWarning(d *dcState, status NTStatus) bool {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if last, ok := d.warned[status]; ok && now.Sub(last) < notAllowedLogEvery {
		return false
	}
	if d.warned == nil {
		d.warned = map[NTStatus]time.Time{}
	}
	d.warned[status] = now
	return true
}

// markUp clears d's down mark after it answered.
func (p *Pool) markUp(d *dcState) {
	if d.health.Up() {
		p.log.Info("dc: up again", "dc", d.addr)
	}
}

// getConn returns a conn to d with one session reserved on it, and whether
// it was dialed for this call. fresh forces a new conn.
func (p *Pool) getConn(ctx context.Context, d *dcState, fresh bool) (*conn, bool, error) {
	for {
		if p.closed.Load() {
			return nil, false, ErrClosed
		}
		d.mu.Lock()
		var best *conn
		bestLoad := 0
		live := d.conns[:0]
		for _, c := range d.conns {
			ok, load := c.usable()
			if !ok {
				continue
			}
			live = append(live, c)
			if best == nil || load < bestLoad {
				best, bestLoad = c, load
			}
		}
		clear(d.conns[len(live):])
		d.conns = live
		room := len(d.conns)+d.dialing < p.cfg.MaxConnsPerDC
		if !fresh && best != nil && (bestLoad < connBusy || !room) {
			d.mu.Unlock()
			if best.reserve(p.cfg.MaxSessionsPerConn) {
				return best, false, nil
			}
			continue // it died or retired meanwhile
		}
		if room {
			d.dialing++
			d.mu.Unlock()
			c, err := p.dial(ctx, d)
			d.mu.Lock()
			d.dialing--
			d.notify()
			if err != nil {
				d.mu.Unlock()
				return nil, false, err
			}
			d.all[c] = struct{}{}
			if !c.reserve(p.cfg.MaxSessionsPerConn) {
				d.mu.Unlock()
				return nil, false, fmt.Errorf("new connection died: %w", c.deadErr())
			}
			if ok, _ := c.usable(); ok {
				d.conns = append(d.conns, c)
			}
			d.mu.Unlock()
			if p.closed.Load() {
				c.fail(ErrClosed)
			}
			return c, true, nil
		}
		// At the cap with dials in progress: wait for one to finish.
		ch := d.changed
		d.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// notify wakes getConn waiters; d.mu must be held.
func (d *dcState) notify() {
	close(d.changed)
	d.changed = make(chan struct{})
}

func (p *Pool) dial(ctx context.Context, d *dcState) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
	defer cancel()
	defer context.AfterFunc(p.done, cancel)()
	p.dials.Add(1)
	c, err := dialConn(dctx, d.addr, func(c *conn) {
		d.mu.Lock()
		delete(d.all, c)
		d.notify()
		d.mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	p.log.Debug("dc: connected", "dc", d.addr, "dialect", fmt.Sprintf("%#04x", c.dialect))
	return c, nil
}

// Close closes every connection; handshakes in progress fail. Later calls
// to Negotiate fail with ErrClosed.
func (p *Pool) Close() error {
	p.closed.Store(true)
	p.cancel()
	for _, d := range p.dcs {
		d.mu.Lock()
		conns := make([]*conn, 0, len(d.all))
		for c := range d.all {
			conns = append(conns, c)
		}
		d.conns = nil
		d.mu.Unlock()
		for _, c := range conns {
			c.fail(ErrClosed)
		}
	}
	return nil
}
