package fcgi

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Role is the FastCGI role a request asks the application to play.
type Role uint16

// The FastCGI roles. The server only serves RoleAuthorizer.
const (
	RoleResponder  Role = 1
	RoleAuthorizer Role = 2
	RoleFilter     Role = 3
)

// String returns the role's name as in the specification.
func (r Role) String() string {
	switch r {
	case RoleResponder:
		return "responder"
	case RoleAuthorizer:
		return "authorizer"
	case RoleFilter:
		return "filter"
	}
	return "role(" + strconv.Itoa(int(r)) + ")"
}

// Request is one authorization request received from the web server.
type Request struct {
	ID   uint16
	Role Role
	// Params holds the FastCGI parameters (REMOTE_ADDR, HTTP_AUTHORIZATION,
	// FCGI_APACHE_ROLE, ...). The handler may keep it after returning.
	Params map[string]string
}

// Response is the authorizer's answer.
//
// With Status 200 Apache lets the request proceed and sets Variables as
// environment variables (for instance REMOTE_USER). With any other status
// Apache sends Status, Header and Body to the client.
type Response struct {
	Status    int               // 0 means 200
	Header    http.Header       // sent to the client through Apache
	Variables map[string]string // sent as "Variable-<name>: value"
	Body      []byte
}

// Handler answers authorization requests. ServeFCGI may be called
// concurrently. A nil Response or a panic is answered with status 500.
// ctx is cancelled when the request is aborted, its connection is closed, or
// Shutdown gives up waiting.
type Handler interface {
	ServeFCGI(ctx context.Context, r *Request) *Response
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, r *Request) *Response

// ServeFCGI calls f(ctx, r).
func (f HandlerFunc) ServeFCGI(ctx context.Context, r *Request) *Response { return f(ctx, r) }

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("fcgi: Server closed")

const (
	defaultMaxParamsBytes = 256 << 10
	defaultTimeout        = 10 * time.Second
	defaultMaxConns       = 1024

	// maxReqsPerConn caps the requests one multiplexing peer may have in
	// flight on a connection, so that a single connection cannot pin an
	// unbounded number of handler goroutines.
	maxReqsPerConn = 64

	// newConnGrace is how long Shutdown lets a connection that has not yet
	// sent a record deliver its request: Apache writes the whole request
	// right after connecting, so a connection still silent after this is
	// not going to be answered anyway.
	newConnGrace = time.Second

	// bufSize is the size of pooled read and write buffers: Apache's params
	// for an NTLM request (with a type 3 message in HTTP_AUTHORIZATION) and
	// our answer (with a type 2 challenge) fit in it.
	bufSize = 4096

	// maxPooledBuf bounds the buffers returned to the pools, so that one
	// huge request does not pin memory for the life of the process.
	maxPooledBuf = 64 << 10

	// maxIdleWorkers bounds the goroutines kept waiting for the next
	// connection (see worker).
	maxIdleWorkers = 64
)

// Server serves the FastCGI Authorizer role. Its fields must be set before
// the first call to Serve and not changed afterwards. A Server must not be
// copied after first use.
type Server struct {
	Handler Handler
	Logger  *slog.Logger // nil means slog.Default()

	// MaxParamsBytes bounds the total size of one request's params (and,
	// separately, of the ignored records a connection may send between two
	// requests). A connection exceeding it is dropped. 0 means 256 KiB.
	MaxParamsBytes int

	// ReadTimeout is the time a connection has to deliver a complete
	// request; it is also how long an idle kept-alive connection is kept.
	// 0 means 10s.
	ReadTimeout time.Duration

	// WriteTimeout bounds the write of one answer. 0 means 10s.
	WriteTimeout time.Duration

	// MaxConns bounds the connections served at once; when reached, Serve
	// stops accepting until one ends, leaving the rest in the listen
	// backlog. 0 means 1024.
	MaxConns int

	initOnce sync.Once
	sem      chan struct{} // one token per open connection
	done     chan struct{} // closed by Shutdown
	handoff  chan *conn    // to a worker waiting for a connection; unbuffered
	idle     atomic.Int32  // workers waiting on handoff
	shutdown atomic.Bool

	mu        sync.Mutex
	listeners map[*net.Listener]struct{}
	conns     map[*conn]struct{}

	bufPool sync.Pool // *[]byte, for params and answers
	brPool  sync.Pool // *bufio.Reader
}

func (s *Server) init() {
	s.initOnce.Do(func() {
		s.sem = make(chan struct{}, s.maxConns())
		s.done = make(chan struct{})
		s.handoff = make(chan *conn)
		s.listeners = make(map[*net.Listener]struct{})
		s.conns = make(map[*conn]struct{})
	})
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Server) maxParams() int {
	if s.MaxParamsBytes > 0 {
		return s.MaxParamsBytes
	}
	return defaultMaxParamsBytes
}

func (s *Server) readTimeout() time.Duration {
	if s.ReadTimeout > 0 {
		return s.ReadTimeout
	}
	return defaultTimeout
}

func (s *Server) writeTimeout() time.Duration {
	if s.WriteTimeout > 0 {
		return s.WriteTimeout
	}
	return defaultTimeout
}

func (s *Server) maxConns() int {
	if s.MaxConns > 0 {
		return s.MaxConns
	}
	return defaultMaxConns
}

func (s *Server) getBuf() *[]byte {
	if p, ok := s.bufPool.Get().(*[]byte); ok {
		return p
	}
	b := make([]byte, 0, bufSize)
	return &b
}

func (s *Server) putBuf(p *[]byte) {
	if cap(*p) > maxPooledBuf {
		return
	}
	*p = (*p)[:0]
	s.bufPool.Put(p)
}

// Listen listens on a TCP address for Serve, without TCP keep-alive on
// the connections it accepts (net.Listen turns it on): the web server
// opens a connection per request, and ReadTimeout closes an idle kept one
// before the first probe would be sent (after 15 s), so it would only
// cost four setsockopt calls per request.
func Listen(ctx context.Context, network, address string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	return lc.Listen(ctx, network, address)
}

// Serve accepts connections on ln and serves them until Shutdown, after
// which it returns ErrServerClosed. Serve may be called for several
// listeners; they share MaxConns. Serve closes ln when it returns.
func (s *Server) Serve(ln net.Listener) error {
	if s.Handler == nil {
		return errors.New("fcgi: Server.Handler is nil")
	}
	s.init()
	if !s.trackListener(&ln, true) {
		ln.Close()
		return ErrServerClosed
	}
	defer func() {
		s.trackListener(&ln, false)
		ln.Close()
	}()

	var backoff time.Duration
	for {
		// Take the connection slot before accepting: at MaxConns the
		// kernel's backlog, not our memory, holds the waiting peers.
		select {
		case s.sem <- struct{}{}:
		case <-s.done:
			return ErrServerClosed
		}
		rwc, err := ln.Accept()
		if err != nil {
			<-s.sem
			if s.shutdown.Load() {
				return ErrServerClosed
			}
			if !isTemporary(err) {
				return err
			}
			// Out of file descriptors and the like: wait and retry
			// instead of spinning or giving up, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.logger().Warn("fcgi: accept failed; retrying", "err", err, "delay", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.done:
				t.Stop()
				return ErrServerClosed
			}
			continue
		}
		backoff = 0
		c := s.newConn(rwc)
		if !s.trackConn(c, true) {
			rwc.Close()
			<-s.sem
			return ErrServerClosed
		}
		s.dispatch(c)
	}
}

// dispatch has c served by a waiting worker, or by a new one.
func (s *Server) dispatch(c *conn) {
	select {
	case s.handoff <- c:
	default:
		go s.worker(c)
	}
}

// worker serves c, then waits for the next connection instead of exiting.
// Apache opens a connection per request, and a new goroutine per
// connection starts with a minimal stack that the handler's call depth
// makes the runtime grow, by copying it, on every request: that was about
// a tenth of the authorizer's CPU per request (runtime.morestack in its
// profile). A kept goroutine has its stack grown already. At most
// maxIdleWorkers wait; the others exit.
func (s *Server) worker(c *conn) {
	for {
		c.serve()
		if s.idle.Add(1) > maxIdleWorkers {
			s.idle.Add(-1)
			return
		}
		select {
		case c = <-s.handoff:
			s.idle.Add(-1)
		case <-s.done:
			s.idle.Add(-1)
			return
		}
	}
}

func isTemporary(err error) bool {
	var te interface{ Temporary() bool }
	if errors.As(err, &te) && te.Temporary() {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (s *Server) trackListener(ln *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.shutdown.Load() {
			return false
		}
		s.listeners[ln] = struct{}{}
	} else {
		delete(s.listeners, ln)
	}
	return true
}

func (s *Server) trackConn(c *conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.shutdown.Load() {
			return false
		}
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
	return true
}

// Shutdown stops accepting connections, closes idle ones, and waits for the
// requests in flight to be answered; then it returns nil. If ctx ends first,
// it cancels the handlers' contexts, closes every connection and returns
// ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	if !s.shutdown.Swap(true) {
		close(s.done)
	}
	for ln := range s.listeners {
		(*ln).Close()
	}
	s.mu.Unlock()

	start := time.Now()
	const maxPoll = 100 * time.Millisecond
	poll := time.Millisecond
	t := time.NewTimer(poll)
	defer t.Stop()
	for {
		if s.closeIdleConns(time.Since(start) >= newConnGrace) {
			return nil
		}
		select {
		case <-ctx.Done():
			s.mu.Lock()
			for c := range s.conns {
				c.close()
			}
			s.mu.Unlock()
			return ctx.Err()
		case <-t.C:
			poll = min(2*poll, maxPoll)
			t.Reset(poll)
		}
	}
}

// closeIdleConns closes the connections that have no request in flight and
// reports whether no connection remains.
func (s *Server) closeIdleConns(closeNew bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.idle(closeNew) {
			c.close()
		}
	}
	return len(s.conns) == 0
}
