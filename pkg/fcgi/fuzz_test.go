package fcgi

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"
)

// memConn is a net.Conn whose peer has sent a fixed byte stream and then
// closed its side: reads return the stream then EOF; writes are counted and
// discarded. It makes FuzzConn fast and deterministic.
type memConn struct {
	r       *bytes.Reader
	mu      sync.Mutex
	written int
	closed  bool
}

type memAddr struct{}

func (memAddr) Network() string { return "mem" }
func (memAddr) String() string  { return "mem" }

func (c *memConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.r.Read(p)
}

func (c *memConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	c.written += len(p)
	return len(p), nil
}

func (c *memConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *memConn) LocalAddr() net.Addr              { return memAddr{} }
func (c *memConn) RemoteAddr() net.Addr             { return memAddr{} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// serveStream runs one connection's read loop over data, as if a peer had
// sent it, and fails if the connection does not finish.
func serveStream(t *testing.T, s *Server, data []byte) {
	t.Helper()
	s.init()
	s.sem <- struct{}{} // the slot Serve would have taken; finish releases it
	c := s.newConn(&memConn{r: bytes.NewReader(data)})
	s.trackConn(c, true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.serve()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("connection hangs on input %q", data)
	}
}

func fuzzServer() *Server {
	return &Server{
		Handler: HandlerFunc(func(ctx context.Context, r *Request) *Response {
			switch r.Params["P"] {
			case "panic":
				panic("fuzz")
			case "nil":
				return nil
			}
			return &Response{Status: 401, Body: []byte(r.Params["B"])}
		}),
		Logger:         slog.New(slog.DiscardHandler),
		MaxParamsBytes: 1 << 16,
	}
}

// connSeeds are complete connection streams for the corpus.
func connSeeds() [][]byte {
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	params := map[string]string{"REMOTE_ADDR": "10.0.0.1", "HTTP_AUTHORIZATION": "NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw=="}
	return [][]byte{
		apacheRequestBytes(params),
		apacheRequestBytes(map[string]string{"P": "panic"}),
		cat(beginRecord(1, RoleAuthorizer, flagKeepConn), paramsRecords(1, params),
			beginRecord(2, RoleAuthorizer, flagKeepConn), appendRecord(nil, typeAbortRequest, 2, nil),
			beginRecord(3, RoleAuthorizer, 0), paramsRecords(3, map[string]string{"P": "nil"})),
		cat(beginRecord(1, RoleResponder, 0), paramsRecords(1, params)),
		cat(appendRecord(nil, typeGetValues, 0, appendPair(appendPair(nil, valueMaxConns, ""), valueMpxsConns, "")),
			appendRecord(nil, 42, 0, nil)),
		cat(beginRecord(1, RoleAuthorizer, flagKeepConn), appendRecord(nil, typeStdin, 1, []byte("body")),
			appendRecord(nil, typeData, 1, nil), paramsRecords(1, nil)),
	}
}

func FuzzConn(f *testing.F) {
	for _, seed := range connSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		serveStream(t, fuzzServer(), data)
	})
}

func FuzzParams(f *testing.F) {
	f.Add([]byte("\x03\x03abcdef"))
	f.Add([]byte("\x80\x00\x00\x01\x00a\x01\x01bc"))
	f.Add(appendPair(nil, "HTTP_AUTHORIZATION", string(bytes.Repeat([]byte("x"), 200))))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseParams(string(data))
		if err != nil {
			return
		}
		// Re-encoding what was decoded must decode to the same pairs.
		var pairs [][2]string
		for s := string(data); len(s) > 0; {
			name, value, rest, err := nextPair(s)
			if err != nil {
				t.Fatalf("nextPair fails on input parseParams accepted: %v", err)
			}
			if len(rest) >= len(s) {
				t.Fatal("nextPair made no progress")
			}
			pairs = append(pairs, [2]string{name, value})
			s = rest
		}
		last := make(map[string]string, len(pairs))
		var enc []byte
		for _, p := range pairs {
			last[p[0]] = p[1]
			enc = appendPair(enc, p[0], p[1])
		}
		if len(last) != len(m) {
			t.Fatalf("map has %d names, stream %d", len(m), len(last))
		}
		for k, v := range last {
			if m[k] != v {
				t.Fatalf("%q = %q, want the last value %q", k, m[k], v)
			}
		}
		m2, err := parseParams(string(enc))
		if err != nil {
			t.Fatalf("re-encoded params do not decode: %v", err)
		}
		if len(m2) != len(m) {
			t.Fatalf("round trip: %d pairs, want %d", len(m2), len(m))
		}
		for k, v := range m {
			if m2[k] != v {
				t.Fatalf("round trip: %q = %q, want %q", k, m2[k], v)
			}
		}
	})
}

// TestConnStreams replays the FuzzConn seeds and a truncation of each at
// every length, so that the read loop's error paths run in normal tests.
func TestConnStreams(t *testing.T) {
	for _, seed := range connSeeds() {
		for n := 0; n <= len(seed); n++ {
			serveStream(t, fuzzServer(), seed[:n])
		}
	}
}

// BenchmarkConnInMemory measures the server's own cost for one Apache-style
// request, without the kernel's TCP work: read loop, params decoding,
// handler call, answer framing.
func BenchmarkConnInMemory(b *testing.B) {
	resp := &Response{Status: 200, Variables: map[string]string{"REMOTE_USER": "jdoe"}}
	s := &Server{
		Handler: HandlerFunc(func(ctx context.Context, r *Request) *Response { return resp }),
		Logger:  slog.New(slog.DiscardHandler),
	}
	s.init()
	req := apacheRequestBytes(apacheParams())
	mc := &memConn{r: bytes.NewReader(req)}
	b.ReportAllocs()
	for b.Loop() {
		mc.r.Reset(req)
		mc.closed = false
		s.sem <- struct{}{}
		c := s.newConn(mc)
		s.trackConn(c, true)
		c.serve()
		if mc.written == 0 {
			b.Fatal("no answer")
		}
	}
}
