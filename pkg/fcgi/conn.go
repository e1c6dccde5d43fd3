package fcgi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
)

// conn is one FastCGI connection. Its goroutine (serve) reads records; the
// answer to Apache's single request is written by that same goroutine, and
// only multiplexed or kept-alive requests get a goroutine of their own.
type conn struct {
	srv    *Server
	rwc    net.Conn
	br     *bufio.Reader
	ctx    context.Context // cancelled when the connection closes
	cancel context.CancelFunc
	log    *slog.Logger

	hbuf       [headerLen]byte // scratch for record headers and bodies
	warnedRole bool            // the unknown-role warning was logged
	ignored    int             // bytes of ignored records since the last BEGIN_REQUEST

	wmu sync.Mutex // serializes writes of whole answers

	mu       sync.Mutex // guards the fields below
	reqs     []*request // requests begun and not yet ended
	pending  int        // requests in reqs still receiving params
	deadline deadlineMode
	started  bool // a record has been read
	closed   bool

	wg sync.WaitGroup // request goroutines

	// Storage for the first request and the request list, so that Apache's
	// one request per connection costs no allocation of its own. first is
	// never reused for a later request: a finished request's goroutine may
	// still hold it.
	first     request
	firstUsed bool
	reqsArr   [1]*request
}

// deadlineMode records which read deadline is armed, so that it is only
// changed when the connection's state calls for another one.
type deadlineMode uint8

const (
	deadlineRequest deadlineMode = iota // a request must arrive completely
	deadlineIdle                        // nothing in flight: idle timeout
	deadlineNone                        // handlers running: wait for them
)

// request is the connection's view of one request id.
type request struct {
	req        Request // handed to the handler once the params are complete
	id         uint16
	keepConn   bool
	rejected   bool // answered with UNKNOWN_ROLE; params are discarded
	paramsDone bool
	ended      bool               // END_REQUEST sent or being sent
	params     *[]byte            // params received so far (pooled)
	cancel     context.CancelFunc // set when the handler runs in a goroutine
}

func (s *Server) newConn(rwc net.Conn) *conn {
	c := &conn{srv: s, rwc: rwc, log: s.logger()}
	c.reqs = c.reqsArr[:0]
	// The connection's context does not derive from a server-wide one: with
	// a connection per request, registering every one of them with a shared
	// parent would serialize them all on its lock. Shutdown cancels each
	// connection instead.
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// errConnDone ends the read loop of a connection that has been answered
// and closed.
var errConnDone = errors.New("fcgi: connection done")

func (c *conn) serve() {
	s := c.srv
	if br, ok := s.brPool.Get().(*bufio.Reader); ok {
		br.Reset(c.rwc)
		c.br = br
	} else {
		c.br = bufio.NewReaderSize(c.rwc, bufSize)
	}
	defer c.finish()

	c.rwc.SetReadDeadline(time.Now().Add(s.readTimeout()))
	for {
		err := c.readRecord()
		if err == nil {
			continue
		}
		if err != errConnDone {
			c.logReadError(err)
		}
		return
	}
}

// finish releases everything the connection holds, once its read loop has
// stopped.
func (c *conn) finish() {
	c.close()
	c.wg.Wait()
	c.mu.Lock()
	for _, r := range c.reqs {
		if r.params != nil && !r.paramsDone {
			c.srv.putBuf(r.params)
			r.params = nil
		}
	}
	c.reqs = nil
	c.mu.Unlock()
	c.br.Reset(nil)
	c.srv.brPool.Put(c.br)
	c.br = nil
	c.srv.trackConn(c, false)
	<-c.srv.sem
}

// close closes the connection and cancels its handlers. Safe to call from
// any goroutine, any number of times.
func (c *conn) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	c.rwc.Close()
	c.cancel()
}

func (c *conn) idle(closeNew bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.reqs) == 0 && (c.started || closeNew)
}

func (c *conn) logReadError(err error) {
	c.mu.Lock()
	closed, inFlight := c.closed, len(c.reqs)
	c.mu.Unlock()
	if closed {
		return // we closed it: shutdown, or after a failed write
	}
	if err == io.EOF {
		if inFlight > 0 {
			c.log.Debug("fcgi: peer closed the connection with requests in flight",
				"remote", c.remote(), "requests", inFlight)
		}
		return
	}
	if err == io.ErrUnexpectedEOF {
		err = fmt.Errorf("%w: truncated record", errMalformed)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if inFlight > 0 {
			c.log.Warn("fcgi: request not received in time", "remote", c.remote())
		}
		return
	}
	if errors.Is(err, errMalformed) {
		c.log.Warn("fcgi: dropping connection", "remote", c.remote(), "err", err)
		return
	}
	c.log.Debug("fcgi: read failed", "remote", c.remote(), "err", err)
}

func (c *conn) remote() string {
	if a := c.rwc.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}

// armDeadlineLocked sets the read deadline the connection's state calls
// for: a request being received must complete within ReadTimeout; a
// connection with nothing in flight is closed after ReadTimeout; while only
// handlers are running, the peer legitimately sends nothing.
func (c *conn) armDeadlineLocked() {
	want := deadlineNone
	switch {
	case c.pending > 0:
		want = deadlineRequest
	case len(c.reqs) == 0:
		want = deadlineIdle
	}
	if want == c.deadline {
		return
	}
	c.deadline = want
	var t time.Time
	if want != deadlineNone {
		t = time.Now().Add(c.srv.readTimeout())
	}
	c.rwc.SetReadDeadline(t)
}

func (c *conn) findLocked(id uint16) *request {
	for _, r := range c.reqs {
		if r.id == id {
			return r
		}
	}
	return nil
}

func (c *conn) removeLocked(r *request) {
	for i, x := range c.reqs {
		if x == r {
			last := len(c.reqs) - 1
			c.reqs[i] = c.reqs[last]
			c.reqs[last] = nil
			c.reqs = c.reqs[:last]
			return
		}
	}
}

// readRecord reads and handles one record.
func (c *conn) readRecord() error {
	if _, err := io.ReadFull(c.br, c.hbuf[:]); err != nil {
		return err
	}
	h, err := parseHeader(c.hbuf[:])
	if err != nil {
		return err
	}
	if !c.started {
		c.mu.Lock()
		c.started = true
		c.mu.Unlock()
	}
	if h.id == 0 {
		return c.handleManagement(h)
	}
	switch h.typ {
	case typeBeginRequest:
		return c.handleBegin(h)
	case typeParams:
		return c.handleParams(h)
	case typeAbortRequest:
		return c.handleAbort(h)
	case typeStdin, typeData:
		// An authorizer has no use for a body, and Apache sends none.
		return c.discardIgnored(h)
	}
	return fmt.Errorf("%w: record type %d for request %d", errMalformed, h.typ, h.id)
}

// discard skips n bytes of content and padding.
func (c *conn) discard(n int) error {
	if n == 0 {
		return nil
	}
	if _, err := c.br.Discard(n); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

// discardIgnored skips a record the server ignores, counting it so that a
// peer cannot keep the connection busy with an endless stream of them.
func (c *conn) discardIgnored(h header) error {
	c.ignored += int(h.contentLength)
	if c.ignored > c.srv.maxParams() {
		return fmt.Errorf("%w: more than %d bytes of ignored records", errMalformed, c.srv.maxParams())
	}
	return c.discard(int(h.contentLength) + int(h.paddingLength))
}

// readBody reads a record's content into c.hbuf when it is at most
// headerLen bytes (BEGIN_REQUEST), discarding the rest and the padding.
func (c *conn) readBody(h header) ([]byte, error) {
	n := min(int(h.contentLength), headerLen)
	if _, err := io.ReadFull(c.br, c.hbuf[:n]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return c.hbuf[:n], c.discard(int(h.contentLength) - n + int(h.paddingLength))
}

func (c *conn) handleBegin(h header) error {
	body, err := c.readBody(h)
	if err != nil {
		return err
	}
	b, err := parseBeginRequest(body)
	if err != nil {
		return err
	}
	var r *request
	if !c.firstUsed {
		c.firstUsed = true
		r = &c.first
	} else {
		r = new(request)
	}
	r.id, r.keepConn = h.id, b.flags&flagKeepConn != 0

	c.mu.Lock()
	if c.findLocked(h.id) != nil {
		c.mu.Unlock()
		return fmt.Errorf("%w: BEGIN_REQUEST for request %d already in progress", errMalformed, h.id)
	}
	if b.role == RoleAuthorizer && len(c.reqs) >= maxReqsPerConn {
		c.mu.Unlock()
		return c.writeEnd(h.id, statusOverloaded)
	}
	c.ignored = 0
	r.rejected = b.role != RoleAuthorizer
	if !r.rejected {
		r.params = c.srv.getBuf()
	}
	c.reqs = append(c.reqs, r)
	c.pending++
	c.armDeadlineLocked()
	c.mu.Unlock()

	if r.rejected {
		// Refuse before reading the params: we only ever act as an
		// authorizer, so that a misconfigured web server can never make us
		// run as a responder. The id stays reserved until its params end,
		// so that we close a keep_conn=0 connection only after having read
		// everything the peer sends (closing with unread data would reset
		// the connection and could lose our answer).
		if !c.warnedRole {
			c.warnedRole = true
			c.log.Warn("fcgi: refusing request for a role other than authorizer",
				"remote", c.remote(), "role", b.role.String())
		}
		return c.writeEnd(h.id, statusUnknownRole)
	}
	return nil
}

func (c *conn) handleParams(h header) error {
	c.mu.Lock()
	r := c.findLocked(h.id)
	done := r != nil && r.paramsDone
	c.mu.Unlock()
	if r == nil {
		// Records of inactive ids are ignored (FastCGI 1.0, section 3.3).
		return c.discardIgnored(h)
	}
	if done {
		return fmt.Errorf("%w: PARAMS after the end of the params of request %d", errMalformed, h.id)
	}
	// From here on r.params is only touched by this goroutine until the
	// request is dispatched.
	if h.contentLength > 0 {
		if r.rejected {
			return c.discardIgnored(h)
		}
		p := *r.params
		n := len(p)
		if n+int(h.contentLength) > c.srv.maxParams() {
			return fmt.Errorf("%w: params of request %d larger than %d bytes",
				errMalformed, h.id, c.srv.maxParams())
		}
		p = growLen(p, int(h.contentLength))
		*r.params = p
		if _, err := io.ReadFull(c.br, p[n:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		return c.discard(int(h.paddingLength))
	}
	if err := c.discard(int(h.paddingLength)); err != nil {
		return err
	}
	return c.paramsComplete(r)
}

// growLen extends p by n bytes.
func growLen(p []byte, n int) []byte {
	if len(p)+n <= cap(p) {
		return p[:len(p)+n]
	}
	q := make([]byte, len(p)+n, max(2*cap(p), len(p)+n))
	copy(q, p)
	return q
}

// paramsComplete runs the handler for a request whose params have all
// arrived. Apache's case (a lone request on a connection that is closed
// after it) runs in this goroutine: nothing else can arrive on the
// connection that needs reading meanwhile.
func (c *conn) paramsComplete(r *request) error {
	if r.rejected {
		c.mu.Lock()
		c.removeLocked(r)
		c.pending--
		c.armDeadlineLocked()
		c.mu.Unlock()
		if !r.keepConn {
			c.close()
			return errConnDone
		}
		return nil
	}

	// One string for all params: names and values are substrings of it.
	s := string(*r.params)
	c.srv.putBuf(r.params)
	r.params = nil
	params, err := parseParams(s)
	if err != nil {
		return err
	}
	req := &r.req
	*req = Request{ID: r.id, Role: RoleAuthorizer, Params: params}

	c.mu.Lock()
	r.paramsDone = true
	c.pending--
	inline := !r.keepConn && len(c.reqs) == 1
	var ctx context.Context
	if inline {
		ctx = c.ctx
	} else {
		ctx, r.cancel = context.WithCancel(c.ctx)
		c.wg.Add(1)
		c.armDeadlineLocked()
	}
	c.mu.Unlock()

	if inline {
		c.respond(r, c.callHandler(ctx, req))
		return errConnDone
	}
	go func() {
		defer c.wg.Done()
		c.respond(r, c.callHandler(ctx, req))
	}()
	return nil
}

// callHandler runs the handler, turning a panic or a nil answer into a 500
// so that one faulty request neither kills the daemon nor leaves Apache
// waiting.
func (c *conn) callHandler(ctx context.Context, req *Request) (resp *Response) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("fcgi: handler panicked", "remote", c.remote(), "panic", p,
				"stack", string(debug.Stack()))
			resp = &Response{Status: http.StatusInternalServerError}
		}
	}()
	resp = c.srv.Handler.ServeFCGI(ctx, req)
	if resp == nil {
		c.log.Error("fcgi: handler returned a nil Response", "remote", c.remote())
		resp = &Response{Status: http.StatusInternalServerError}
	}
	return resp
}

// respond writes the answer to r, unless r was aborted meanwhile, and closes
// the connection if the peer did not ask to keep it.
func (c *conn) respond(r *request, resp *Response) {
	bp := c.srv.getBuf()
	defer c.srv.putBuf(bp)
	b := appendAnswer((*bp)[:0], r.id, resp, c.log)
	*bp = b

	c.mu.Lock()
	if r.ended {
		c.mu.Unlock()
		return
	}
	r.ended = true
	c.removeLocked(r)
	keep := r.keepConn && !c.closed
	if keep {
		c.armDeadlineLocked()
	}
	// During Shutdown, a kept connection is closed as soon as it is idle.
	idleInShutdown := len(c.reqs) == 0 && c.srv.shutdown.Load()
	c.mu.Unlock()
	if r.cancel != nil {
		defer r.cancel()
	}

	if !keep || idleInShutdown {
		cork(c.rwc)
	}
	if err := c.write(b); err != nil || !keep || idleInShutdown {
		// Closing first, right after END_REQUEST, leaves TIME_WAIT on our
		// side instead of on the web server's ephemeral ports.
		c.close()
	}
}

// write writes b, whole answers only, in one call.
func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.rwc.SetWriteDeadline(time.Now().Add(c.srv.writeTimeout()))
	_, err := c.rwc.Write(b)
	if err != nil {
		c.log.Debug("fcgi: write failed", "remote", c.remote(), "err", err)
	}
	return err
}

func (c *conn) writeEnd(id uint16, ps protocolStatus) error {
	var b [2 * headerLen]byte
	if err := c.write(appendEndRequest(b[:0], id, 0, ps)); err != nil {
		return err
	}
	return nil
}

func (c *conn) handleAbort(h header) error {
	if err := c.discard(int(h.contentLength) + int(h.paddingLength)); err != nil {
		return err
	}
	c.mu.Lock()
	r := c.findLocked(h.id)
	if r == nil || r.ended {
		c.mu.Unlock()
		return nil
	}
	r.ended = true
	c.removeLocked(r)
	if !r.paramsDone {
		c.pending--
		if r.params != nil {
			c.srv.putBuf(r.params)
			r.params = nil
		}
	}
	c.armDeadlineLocked()
	cancel := r.cancel
	c.mu.Unlock()

	if cancel != nil {
		cancel()
	}
	if err := c.writeEnd(h.id, statusRequestComplete); err != nil {
		return err
	}
	if !r.keepConn {
		c.close()
		return errConnDone
	}
	return nil
}

// handleManagement answers a record with request id 0.
func (c *conn) handleManagement(h header) error {
	content := make([]byte, h.contentLength) // rare: no pooling needed
	if _, err := io.ReadFull(c.br, content); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if err := c.discard(int(h.paddingLength)); err != nil {
		return err
	}
	if h.typ != typeGetValues {
		return c.write(appendUnknownType(nil, h.typ))
	}
	var out []byte
	var seen [3]bool
	s := string(content)
	for len(s) > 0 {
		name, _, rest, err := nextPair(s)
		if err != nil {
			return err
		}
		s = rest
		var i int
		var v int
		switch name {
		case valueMaxConns:
			i, v = 0, c.srv.maxConns()
		case valueMaxReqs:
			i, v = 1, c.srv.maxConns()*maxReqsPerConn
		case valueMpxsConns:
			i, v = 2, 1
		default:
			continue // unknown names are left out of the answer
		}
		if !seen[i] {
			seen[i] = true
			out = appendPair(out, name, strconv.Itoa(v))
		}
	}
	return c.write(appendRecord(nil, typeGetValuesResult, 0, out))
}
