package dc

// This file holds one TCP connection to one DC: dial, NEGOTIATE, then many
// SESSION_SETUP exchanges multiplexed over it. A reader goroutine matches
// responses to waiters by MessageId; senders stay within the credits the
// server grants (MS-SMB2 3.2.4.1.2, 3.2.5.1.4). Any transport or framing
// error kills the connection: all waiters fail and it is never reused.

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"
)

const (
	// creditTarget is how many credits (outstanding plus available) the
	// client asks the server to keep granted, so the window stays open for
	// concurrent handshakes.
	creditTarget = 128

	// drainTimeout bounds how long a retired connection waits for handshakes
	// that the caller never finished nor closed.
	drainTimeout = 10 * time.Minute
)

var (
	errConnClosed = errors.New("connection closed")
	errRetired    = errors.New("connection retired")
)

// result is one final response delivered to a waiter.
type result struct {
	hdr header
	msg []byte // the whole SMB2 message, header included
}

// conn is one SMB2 connection to one DC.
type conn struct {
	addr    string
	nc      net.Conn
	dialect uint16
	onDead  func(*conn) // called once, after the conn died

	wmu sync.Mutex // serializes writes to nc

	mu       sync.Mutex
	nextID   uint64
	credits  int                    // MessageIds the server lets us use now
	creditCh chan struct{}          // closed (and replaced) when credits arrive
	waiters  map[uint64]chan result // by MessageId
	err      error                  // why the conn died; nil while alive
	done     chan struct{}          // closed when the conn died
	sessions int                    // SMB2 sessions started (Type1s sent)
	active   int                    // handshakes reserved and not finished
	inflight int                    // requests awaiting their final response
	retired  bool                   // no new sessions; close when active == 0
}

// dialConn connects to addr and negotiates SMB2. ctx bounds both; on error
// nothing is left open.
func dialConn(ctx context.Context, addr string, onDead func(*conn)) (*conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	c := newConn(addr, nc, onDead)
	if _, err := c.negotiate(ctx); err != nil {
		c.fail(err)
		return nil, fmt.Errorf("negotiate: %w", err)
	}
	return c, nil
}

// newConn wraps a connected socket and starts its reader.
func newConn(addr string, nc net.Conn, onDead func(*conn)) *conn {
	c := &conn{
		addr:     addr,
		nc:       nc,
		credits:  1, // MS-SMB2 3.2.1.2: one credit before the first response
		creditCh: make(chan struct{}),
		waiters:  make(map[uint64]chan result),
		done:     make(chan struct{}),
		onDead:   onDead,
	}
	go c.readLoop()
	return c
}

// negotiate runs the SMB2 NEGOTIATE exchange (MS-SMB2 3.2.4.2.2.2) and
// returns the raw response.
func (c *conn) negotiate(ctx context.Context) ([]byte, error) {
	req := negotiateRequest{
		SecurityMode: securitySigningEnabled,
		Dialects:     offeredDialects,
	}
	salt := make([]byte, 32)
	rand.Read(salt)
	rand.Read(req.ClientGUID[:])
	req.Contexts = []negotiateContext{preauthContext(salt)}
	hdr, msg, err := c.roundTrip(ctx, cmdNegotiate, 0, req.encode)
	if err != nil {
		return nil, err
	}
	if hdr.Command != cmdNegotiate {
		return nil, malformed("answer to NEGOTIATE has command %#x", hdr.Command)
	}
	if hdr.Status != StatusSuccess {
		return nil, fmt.Errorf("server answered %s (0x%08X)", hdr.Status, uint32(hdr.Status))
	}
	resp, err := decodeNegotiateResponse(msg)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(offeredDialects, resp.DialectRevision) {
		return nil, fmt.Errorf("server chose dialect %#04x, which was not offered", resp.DialectRevision)
	}
	c.dialect = resp.DialectRevision
	return msg, nil
}

// sessionSetup sends one SESSION_SETUP carrying token for session sid (0 to
// start a new session) and returns the final response. resp is nil unless
// the status is STATUS_SUCCESS or STATUS_MORE_PROCESSING_REQUIRED.
func (c *conn) sessionSetup(ctx context.Context, sid uint64, token []byte) (header, *sessionSetupResponse, error) {
	req := sessionSetupRequest{
		SecurityMode:   uint8(securitySigningEnabled),
		SecurityBuffer: token,
	}
	hdr, msg, err := c.roundTrip(ctx, cmdSessionSetup, sid, req.encode)
	if err != nil {
		return hdr, nil, err
	}
	if hdr.Command != cmdSessionSetup {
		err := malformed("answer to SESSION_SETUP has command %#x", hdr.Command)
		c.fail(err)
		return hdr, nil, err
	}
	if hdr.Status != StatusSuccess && hdr.Status != StatusMoreProcessingRequired {
		return hdr, nil, nil
	}
	resp, err := decodeSessionSetupResponse(msg)
	if err != nil {
		c.fail(err)
		return hdr, nil, err
	}
	return hdr, resp, nil
}

// roundTrip sends one request and waits for its final response. encode
// appends the request body to a buffer holding the header.
func (c *conn) roundTrip(ctx context.Context, cmd uint16, sid uint64, encode func([]byte) []byte) (header, []byte, error) {
	c.mu.Lock()
	for c.credits <= 0 && c.err == nil {
		ch := c.creditCh
		c.mu.Unlock()
		select {
		case <-ch:
		case <-c.done:
		case <-ctx.Done():
			return header{}, nil, fmt.Errorf("waiting for SMB2 credits: %w", ctx.Err())
		}
		c.mu.Lock()
	}
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return header{}, nil, err
	}
	id := c.nextID
	c.nextID++
	c.credits--
	c.inflight++
	ask := creditTarget - c.credits - c.inflight
	ask = max(ask, 1)
	ch := make(chan result, 1)
	c.waiters[id] = ch
	c.mu.Unlock()

	h := header{
		Command:   cmd,
		Credits:   uint16(ask),
		MessageID: id,
		SessionID: sid,
	}
	// CreditCharge is reserved (0) for NEGOTIATE and the 2.0.2 dialect; a
	// SESSION_SETUP below 64 KiB costs one credit (MS-SMB2 3.2.4.1.5).
	if cmd != cmdNegotiate && c.dialect != dialect202 {
		h.CreditCharge = 1
	}
	frame := make([]byte, 4, 4+headerSize+256)
	frame = h.encode(frame)
	frame = encode(frame)
	putFrameHeader(frame)

	if err := c.write(ctx, frame); err != nil {
		c.fail(err)
		return header{}, nil, err
	}
	select {
	case r := <-ch:
		return r.hdr, r.msg, nil
	case <-c.done:
		select {
		case r := <-ch:
			return r.hdr, r.msg, nil
		default:
		}
		return header{}, nil, c.deadErr()
	case <-ctx.Done():
		c.forget(id)
		return header{}, nil, fmt.Errorf("waiting for the answer: %w", ctx.Err())
	}
}

// write sends one frame; a failed or partial write corrupts the stream, so
// the caller kills the conn.
func (c *conn) write(ctx context.Context, frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(30 * time.Second)
	}
	c.nc.SetWriteDeadline(dl)
	if _, err := c.nc.Write(frame); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// forget drops the waiter for id after its caller gave up. A late answer
// still adds its credits.
func (c *conn) forget(id uint64) {
	c.mu.Lock()
	if _, ok := c.waiters[id]; ok {
		delete(c.waiters, id)
		c.inflight--
	}
	c.mu.Unlock()
}

// readLoop reads responses until the conn dies.
func (c *conn) readLoop() {
	br := bufio.NewReaderSize(c.nc, 16<<10)
	for {
		frame, err := readFrame(br)
		if err != nil {
			c.fail(fmt.Errorf("read: %w", err))
			return
		}
		msgs, err := splitCompound(frame)
		if err != nil {
			c.fail(err)
			return
		}
		for _, msg := range msgs {
			h, _ := decodeHeader(msg) // splitCompound checked it
			if h.Flags&flagServerToRedir == 0 {
				c.fail(malformed("message %d from the server is not a response", h.MessageID))
				return
			}
			c.deliver(h, msg)
		}
	}
}

func (c *conn) deliver(h header, msg []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h.Credits > 0 {
		c.credits += int(h.Credits)
		close(c.creditCh)
		c.creditCh = make(chan struct{})
	}
	if h.Status == StatusPending && h.Flags&flagAsyncCommand != 0 {
		return // interim response (MS-SMB2 3.2.5.1.5): the final one follows
	}
	ch, ok := c.waiters[h.MessageID]
	if !ok {
		return // abandoned request, or an unsolicited message (e.g. oplock break)
	}
	delete(c.waiters, h.MessageID)
	c.inflight--
	ch <- result{hdr: h, msg: msg} // buffered, never blocks
}

// fail kills the conn with err (first error wins): waiters fail, the socket
// closes, onDead runs.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	close(c.done)
	onDead := c.onDead
	c.mu.Unlock()
	c.nc.Close()
	if onDead != nil {
		onDead(c)
	}
}

func (c *conn) deadErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// reserve books a new SMB2 session (handshake) on the conn, retiring it
// when maxSessions is reached. It fails if the conn is dead or retired.
func (c *conn) reserve(maxSessions int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil || c.retired {
		return false
	}
	c.sessions++
	c.active++
	if c.sessions >= maxSessions {
		c.retired = true
		time.AfterFunc(drainTimeout, func() { c.fail(errRetired) })
	}
	return true
}

// release ends a handshake booked with reserve; a retired conn closes when
// its last handshake ends.
func (c *conn) release() {
	c.mu.Lock()
	c.active--
	closeNow := c.retired && c.active <= 0
	c.mu.Unlock()
	if closeNow {
		c.fail(errRetired)
	}
}

// usable reports whether the conn can take a new session, and its load.
func (c *conn) usable() (ok bool, load int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err == nil && !c.retired, c.inflight
}
