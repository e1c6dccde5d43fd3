package fcgi

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ---- A FastCGI client that talks exactly like Apache's mod_authnz_fcgi ----

type record struct {
	typ     recType
	id      uint16
	content []byte
}

func beginRecord(id uint16, role Role, flags uint8) []byte {
	return appendRecord(nil, typeBeginRequest, id, []byte{byte(role >> 8), byte(role), flags, 0, 0, 0, 0, 0})
}

// paramsRecords encodes params as PARAMS records (split at the record size
// limit) followed by the empty PARAMS record. Pairs are sorted so that test
// streams are reproducible.
func paramsRecords(id uint16, params map[string]string) []byte {
	var stream []byte
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range params {
			if !yield(k) {
				return
			}
		}
	}) {
		stream = appendPair(stream, k, params[k])
	}
	var out []byte
	for len(stream) > 0 {
		n := min(len(stream), maxContent)
		out = appendRecord(out, typeParams, id, stream[:n])
		stream = stream[n:]
	}
	return appendRecord(out, typeParams, id, nil)
}

// apacheRequestBytes is what Apache writes for one request: BEGIN_REQUEST
// (role authorizer, keep_conn 0, id 1), PARAMS, empty PARAMS, no STDIN.
func apacheRequestBytes(params map[string]string) []byte {
	return append(beginRecord(1, RoleAuthorizer, 0), paramsRecords(1, params)...)
}

// readRecords reads records until EOF. It never closes c: seeing EOF proves
// that the server closed first.
func readRecords(c net.Conn) ([]record, error) {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var recs []record
	var h [headerLen]byte
	for {
		if _, err := io.ReadFull(c, h[:]); err != nil {
			if err == io.EOF {
				return recs, nil
			}
			return recs, err
		}
		hd, err := parseHeader(h[:])
		if err != nil {
			return recs, err
		}
		body := make([]byte, int(hd.contentLength)+int(hd.paddingLength))
		if _, err := io.ReadFull(c, body); err != nil {
			return recs, err
		}
		recs = append(recs, record{hd.typ, hd.id, body[:hd.contentLength]})
	}
}

func readRecord(t *testing.T, c net.Conn) record {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var h [headerLen]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		t.Fatalf("reading record header: %v", err)
	}
	hd, err := parseHeader(h[:])
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hd.contentLength)+int(hd.paddingLength))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatalf("reading record body: %v", err)
	}
	return record{hd.typ, hd.id, body[:hd.contentLength]}
}

// apacheDo performs one request the way Apache does and checks the framing
// Apache depends on. It returns the first STDOUT record (which must hold
// all CGI headers) and the whole STDOUT stream.
func apacheDo(t *testing.T, addr string, params map[string]string) (first, all string) {
	t.Helper()
	recs, err := apacheExchange(addr, params)
	if err != nil {
		t.Fatal(err)
	}
	return checkAnswer(t, recs, 1)
}

// apacheExchange sends one request the way Apache does and reads the
// records until the server closes. It reports instead of failing the test,
// so that goroutines other than the test's may call it (t.Fatal must not).
func apacheExchange(addr string, params map[string]string) ([]record, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.Write(apacheRequestBytes(params)); err != nil {
		return nil, err
	}
	recs, err := readRecords(c)
	if err != nil {
		return nil, fmt.Errorf("after %d records: %w (server did not close first?)", len(recs), err)
	}
	return recs, nil
}

// exchangeResult is what apacheExchange returned, sent from a goroutine.
type exchangeResult struct {
	recs []record
	err  error
}

// answerOf checks an exchange's result on the test's goroutine.
func answerOf(t *testing.T, x exchangeResult) string {
	t.Helper()
	if x.err != nil {
		t.Fatal(x.err)
	}
	_, all := checkAnswer(t, x.recs, 1)
	return all
}

func checkAnswer(t *testing.T, recs []record, id uint16) (first, all string) {
	t.Helper()
	if len(recs) < 3 {
		t.Fatalf("got %d records, want STDOUT..., empty STDOUT, END_REQUEST: %+v", len(recs), recs)
	}
	for i, r := range recs {
		if r.id != id {
			t.Fatalf("record %d has id %d, want %d", i, r.id, id)
		}
	}
	var b strings.Builder
	for _, r := range recs[:len(recs)-2] {
		if r.typ != typeStdout || len(r.content) == 0 {
			t.Fatalf("want non-empty STDOUT, got type %d len %d", r.typ, len(r.content))
		}
		b.Write(r.content)
	}
	if r := recs[len(recs)-2]; r.typ != typeStdout || len(r.content) != 0 {
		t.Fatalf("want empty STDOUT, got type %d len %d", r.typ, len(r.content))
	}
	end := recs[len(recs)-1]
	if end.typ != typeEndRequest || len(end.content) != 8 || end.content[4] != byte(statusRequestComplete) {
		t.Fatalf("want END_REQUEST complete, got %+v", end)
	}
	first = string(recs[0].content)
	if i := strings.Index(first, "\r\n\r\n"); i < 0 {
		t.Fatalf("CGI headers not complete in the first STDOUT record: %q", first)
	}
	return first, b.String()
}

// splitAnswer splits a CGI answer into its header lines (sorted) and body.
func splitAnswer(t *testing.T, s string) (lines []string, body string) {
	t.Helper()
	head, body, ok := strings.Cut(s, "\r\n\r\n")
	if !ok {
		t.Fatalf("no end of headers in %q", s)
	}
	lines = strings.Split(head, "\r\n")
	slices.Sort(lines)
	return lines, body
}

// ---- Test server helpers ----

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testServer struct {
	*Server
	addr    string
	logs    *syncBuffer
	serveCh chan error
}

func startServer(t *testing.T, h Handler, configure ...func(*Server)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	s := &Server{
		Handler: h,
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, f := range configure {
		f(s)
	}
	ts := &testServer{Server: s, addr: ln.Addr().String(), logs: logs, serveCh: make(chan error, 1)}
	go func() { ts.serveCh <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-ts.serveCh; err != ErrServerClosed {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		if t.Failed() {
			t.Logf("server logs:\n%s", logs.String())
		}
	})
	return ts
}

func echoHandler() Handler {
	return HandlerFunc(func(ctx context.Context, r *Request) *Response {
		return &Response{Status: 200, Body: []byte(r.Params["ECHO"])}
	})
}

// ---- Tests ----

func TestAuthorizerAnswers(t *testing.T) {
	long := strings.Repeat("L", 1000) // 4-byte name-value lengths
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000)
	tests := []struct {
		name      string
		params    map[string]string
		handler   HandlerFunc
		wantLines []string
		wantBody  string
		wantFirst string // exact first record, when set
		wantLog   string
	}{
		{
			name:   "401 challenge",
			params: map[string]string{"REMOTE_ADDR": "10.0.0.1", "FCGI_APACHE_ROLE": "AUTHORIZER"},
			handler: func(ctx context.Context, r *Request) *Response {
				return &Response{Status: 401, Header: http.Header{"Www-Authenticate": {"NTLM TlRMTVNTUAACAAAA"}}, Body: []byte("denied")}
			},
			wantFirst: "Status: 401 Unauthorized\r\nWww-Authenticate: NTLM TlRMTVNTUAACAAAA\r\n\r\ndenied",
		},
		{
			name: "200 with variable",
			handler: func(ctx context.Context, r *Request) *Response {
				return &Response{Status: 200, Variables: map[string]string{"REMOTE_USER": "jdoe"}}
			},
			wantFirst: "Status: 200 OK\r\nVariable-REMOTE_USER: jdoe\r\n\r\n",
		},
		{
			name:      "status 0 means 200",
			handler:   func(ctx context.Context, r *Request) *Response { return &Response{} },
			wantFirst: "Status: 200 OK\r\n\r\n",
		},
		{
			name:      "unknown status code has no reason text",
			handler:   func(ctx context.Context, r *Request) *Response { return &Response{Status: 599} },
			wantFirst: "Status: 599\r\n\r\n",
		},
		{
			name:   "params reach the handler, long values",
			params: map[string]string{"HTTP_AUTHORIZATION": "NTLM " + long, long: "name too"},
			handler: func(ctx context.Context, r *Request) *Response {
				if r.ID != 1 || r.Role != RoleAuthorizer {
					return &Response{Status: 500}
				}
				return &Response{Status: 200, Body: []byte(r.Params["HTTP_AUTHORIZATION"] + "|" + r.Params[long])}
			},
			wantLines: []string{"Status: 200 OK"},
			wantBody:  "NTLM " + long + "|name too",
		},
		{
			name: "multiple headers",
			handler: func(ctx context.Context, r *Request) *Response {
				return &Response{Status: 401, Header: http.Header{
					"Www-Authenticate": {"NTLM", "Negotiate"},
					"Connection":       {"close"},
				}, Variables: map[string]string{"A": "1", "B": "2"}}
			},
			wantLines: []string{"Connection: close", "Status: 401 Unauthorized", "Variable-A: 1", "Variable-B: 2", "Www-Authenticate: NTLM", "Www-Authenticate: Negotiate"},
		},
		{
			name: "body larger than a record",
			handler: func(ctx context.Context, r *Request) *Response {
				return &Response{Status: 403, Header: http.Header{"Content-Type": {"text/plain"}}, Body: big}
			},
			wantLines: []string{"Content-Type: text/plain", "Status: 403 Forbidden"},
			wantBody:  string(big),
		},
		{
			name:      "handler panic is a 500",
			handler:   func(ctx context.Context, r *Request) *Response { panic("boom") },
			wantFirst: "Status: 500 Internal Server Error\r\n\r\n",
			wantLog:   "handler panicked",
		},
		{
			name:      "nil response is a 500",
			handler:   func(ctx context.Context, r *Request) *Response { return nil },
			wantFirst: "Status: 500 Internal Server Error\r\n\r\n",
			wantLog:   "nil Response",
		},
		{
			name:      "invalid status is a 500",
			handler:   func(ctx context.Context, r *Request) *Response { return &Response{Status: 42} },
			wantFirst: "Status: 500 Internal Server Error\r\n\r\n",
			wantLog:   "invalid status",
		},
		{
			name: "header injection is dropped",
			handler: func(ctx context.Context, r *Request) *Response {
				return &Response{Status: 401,
					Header: http.Header{
						"Www-Authenticate": {"NTLM\r\nSet-Cookie: evil=1", "NTLM"},
						"X-Lf":             {"a\nb"},
						"X-Nul":            {"a\x00b"},
						"Bad Name":         {"x"},
						"Bad:Name":         {"x"},
						"Status":           {"200"},
						"Variable-X":       {"y"},
					},
					Variables: map[string]string{"REMOTE_USER": "jdoe\r\nStatus: 200", "BAD NAME": "x", "OK": "yes\tok"},
				}
			},
			wantFirst: "", // map order varies; checked through lines
			wantLines: []string{"Status: 401 Unauthorized", "Variable-OK: yes\tok", "Www-Authenticate: NTLM"},
			wantLog:   "header injection",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// After the case, the same server must still answer: ECHO
			// requests go to an echo handler.
			ts := startServer(t, HandlerFunc(func(ctx context.Context, r *Request) *Response {
				if e, ok := r.Params["ECHO"]; ok {
					return &Response{Status: 200, Body: []byte(e)}
				}
				return tt.handler(ctx, r)
			}))
			first, all := apacheDo(t, ts.addr, tt.params)
			if tt.wantFirst != "" && first != tt.wantFirst {
				t.Errorf("first STDOUT record = %q, want %q", first, tt.wantFirst)
			}
			if tt.wantLines != nil {
				lines, body := splitAnswer(t, all)
				if !slices.Equal(lines, tt.wantLines) {
					t.Errorf("header lines = %q, want %q", lines, tt.wantLines)
				}
				if body != tt.wantBody {
					t.Errorf("body length %d, want %d", len(body), len(tt.wantBody))
				}
			}
			if tt.wantLog != "" && !strings.Contains(ts.logs.String(), tt.wantLog) {
				t.Errorf("log does not mention %q:\n%s", tt.wantLog, ts.logs.String())
			}
			// The server keeps serving after whatever happened.
			if _, all := apacheDo(t, ts.addr, map[string]string{"ECHO": "again"}); !strings.HasSuffix(all, "\r\n\r\nagain") {
				t.Errorf("next request answered %q", all)
			}
		})
	}
}

func TestUnknownRole(t *testing.T) {
	var calls atomic.Int32
	ts := startServer(t, HandlerFunc(func(ctx context.Context, r *Request) *Response {
		calls.Add(1)
		return &Response{}
	}))
	for _, role := range []Role{RoleResponder, RoleFilter, 0, 77} {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		req := append(beginRecord(1, role, 0), paramsRecords(1, map[string]string{"A": "b"})...)
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		recs, err := readRecords(c)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 || recs[0].typ != typeEndRequest || recs[0].content[4] != byte(statusUnknownRole) {
			t.Fatalf("role %v: got %+v, want one END_REQUEST with FCGI_UNKNOWN_ROLE", role, recs)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("handler called %d times for foreign roles", n)
	}
	if !strings.Contains(ts.logs.String(), "level=WARN") {
		t.Errorf("unknown role not logged at warn:\n%s", ts.logs.String())
	}
	apacheDo(t, ts.addr, nil)
}

func TestManagementRecords(t *testing.T) {
	ts := startServer(t, echoHandler(), func(s *Server) { s.MaxConns = 10 })
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var q []byte
	for _, name := range []string{valueMaxConns, valueMaxReqs, valueMpxsConns, "FOO", valueMpxsConns} {
		q = appendPair(q, name, "")
	}
	if _, err := c.Write(appendRecord(nil, typeGetValues, 0, q)); err != nil {
		t.Fatal(err)
	}
	r := readRecord(t, c)
	if r.typ != typeGetValuesResult || r.id != 0 {
		t.Fatalf("got %+v, want GET_VALUES_RESULT", r)
	}
	got, err := parseParams(string(r.content))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{valueMaxConns: "10", valueMaxReqs: "640", valueMpxsConns: "1"}
	if len(got) != len(want) || got[valueMaxConns] != "10" || got[valueMaxReqs] != "640" || got[valueMpxsConns] != "1" {
		t.Errorf("GET_VALUES_RESULT = %v, want %v", got, want)
	}

	if _, err := c.Write(appendRecord(nil, 42, 0, []byte("xyz"))); err != nil {
		t.Fatal(err)
	}
	r = readRecord(t, c)
	if r.typ != typeUnknownType || len(r.content) != 8 || r.content[0] != 42 {
		t.Fatalf("got %+v, want UNKNOWN_TYPE for 42", r)
	}

	// A request on the same connection still works afterwards.
	if _, err := c.Write(append(beginRecord(1, RoleAuthorizer, 0), paramsRecords(1, map[string]string{"ECHO": "x"})...)); err != nil {
		t.Fatal(err)
	}
	recs, err := readRecords(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, all := checkAnswer(t, recs, 1); all != "Status: 200 OK\r\n\r\nx" {
		t.Errorf("answer %q", all)
	}
}

// TestMultiplexed serves interleaved keep_conn requests on one connection,
// with answers out of order, id reuse, and an abort.
func TestMultiplexed(t *testing.T) {
	release := make(chan struct{})
	aborted := make(chan struct{})
	ts := startServer(t, HandlerFunc(func(ctx context.Context, r *Request) *Response {
		switch r.Params["MODE"] {
		case "wait":
			select {
			case <-release:
			case <-ctx.Done():
				return &Response{Status: 503}
			}
		case "abort":
			<-ctx.Done()
			close(aborted)
			return &Response{Status: 500}
		}
		return &Response{Status: 200, Body: []byte(r.Params["ECHO"])}
	}))
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// Interleave: BEGIN 1, BEGIN 2, PARAMS 2, PARAMS 1 (1 blocks), BEGIN 3...
	var w []byte
	w = append(w, beginRecord(1, RoleAuthorizer, flagKeepConn)...)
	w = append(w, beginRecord(2, RoleAuthorizer, flagKeepConn)...)
	w = append(w, appendRecord(nil, typeParams, 2, appendPair(nil, "ECHO", "two"))...)
	w = append(w, appendRecord(nil, typeParams, 1, appendPair(nil, "MODE", "wait"))...)
	w = append(w, appendRecord(nil, typeStdin, 1, []byte("ignored"))...)
	w = append(w, appendRecord(nil, typeParams, 1, appendPair(nil, "ECHO", "one"))...)
	w = append(w, appendRecord(nil, typeParams, 1, nil)...)
	w = append(w, appendRecord(nil, typeParams, 2, nil)...)
	w = append(w, appendRecord(nil, typeStdin, 2, nil)...)
	if _, err := c.Write(w); err != nil {
		t.Fatal(err)
	}

	collect := func(id uint16) []record {
		t.Helper()
		var recs []record
		for {
			r := readRecord(t, c)
			if r.id != id {
				t.Fatalf("got record for id %d while waiting for %d", r.id, id)
			}
			recs = append(recs, r)
			if r.typ == typeEndRequest {
				return recs
			}
		}
	}
	// 2 is answered while 1 is still running: requests run concurrently.
	if _, all := checkAnswer(t, collect(2), 2); all != "Status: 200 OK\r\n\r\ntwo" {
		t.Errorf("id 2: %q", all)
	}
	close(release)
	if _, all := checkAnswer(t, collect(1), 1); all != "Status: 200 OK\r\n\r\none" {
		t.Errorf("id 1: %q", all)
	}

	// Reuse id 1; abort id 3 while its handler runs.
	w = append(beginRecord(1, RoleAuthorizer, flagKeepConn), paramsRecords(1, map[string]string{"ECHO": "reused"})...)
	if _, err := c.Write(w); err != nil {
		t.Fatal(err)
	}
	if _, all := checkAnswer(t, collect(1), 1); all != "Status: 200 OK\r\n\r\nreused" {
		t.Errorf("id 1 reused: %q", all)
	}
	w = append(beginRecord(3, RoleAuthorizer, flagKeepConn), paramsRecords(3, map[string]string{"MODE": "abort"})...)
	if _, err := c.Write(w); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // let the handler start
	if _, err := c.Write(appendRecord(nil, typeAbortRequest, 3, nil)); err != nil {
		t.Fatal(err)
	}
	if r := collect(3); len(r) != 1 || r[0].content[4] != byte(statusRequestComplete) {
		t.Errorf("abort answered with %+v, want END_REQUEST only", r)
	}
	select {
	case <-aborted:
	case <-time.After(5 * time.Second):
		t.Fatal("aborted request's context not cancelled")
	}
	// Abort of a request whose params are incomplete, and of an unknown id.
	w = append(beginRecord(4, RoleAuthorizer, flagKeepConn), appendRecord(nil, typeAbortRequest, 4, nil)...)
	w = append(w, appendRecord(nil, typeAbortRequest, 9, nil)...)
	if _, err := c.Write(w); err != nil {
		t.Fatal(err)
	}
	if r := collect(4); len(r) != 1 {
		t.Errorf("abort of id 4 answered with %+v", r)
	}

	// A second BEGIN for an id in use is a protocol error: connection closed.
	w = append(beginRecord(5, RoleAuthorizer, flagKeepConn), beginRecord(5, RoleAuthorizer, flagKeepConn)...)
	if _, err := c.Write(w); err != nil {
		t.Fatal(err)
	}
	if recs, err := readRecords(c); err != nil || len(recs) != 0 {
		t.Errorf("duplicate BEGIN: got %+v, %v; want EOF", recs, err)
	}
}

// TestKeepConnThenClose: a keep_conn request leaves the connection open;
// a following keep_conn=0 request on it makes the server close.
func TestKeepConnThenClose(t *testing.T) {
	ts := startServer(t, echoHandler())
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, flags := range []uint8{flagKeepConn, flagKeepConn, 0} {
		w := append(beginRecord(7, RoleAuthorizer, flags), paramsRecords(7, map[string]string{"ECHO": "k"})...)
		if _, err := c.Write(w); err != nil {
			t.Fatal(err)
		}
		var recs []record
		if flags == 0 {
			if recs, err = readRecords(c); err != nil {
				t.Fatal(err)
			}
		} else {
			for len(recs) == 0 || recs[len(recs)-1].typ != typeEndRequest {
				recs = append(recs, readRecord(t, c))
			}
		}
		if _, all := checkAnswer(t, recs, 7); all != "Status: 200 OK\r\n\r\nk" {
			t.Errorf("request %d: %q", i, all)
		}
	}
}

func TestHandlerContextCancelledOnConnClose(t *testing.T) {
	started := make(chan struct{})
	cancelled := make(chan struct{})
	ts := startServer(t, HandlerFunc(func(ctx context.Context, r *Request) *Response {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return &Response{}
	}))
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	w := append(beginRecord(1, RoleAuthorizer, flagKeepConn), paramsRecords(1, nil)...)
	if _, err := c.Write(w); err != nil {
		t.Fatal(err)
	}
	<-started
	c.Close()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("handler context not cancelled when the peer closed the connection")
	}
}

// TestMalformed: every kind of bad input closes that connection only.
func TestMalformed(t *testing.T) {
	// Long, so that a loaded machine cannot mistake the timeout for the
	// server's reaction to the malformed input.
	const readTimeout = 20 * time.Second
	// Inputs that start with a complete request: the server answers it as
	// soon as its params end (Apache sends no STDIN), possibly before the
	// malformed rest arrives; what is required is that the connection ends.
	mayAnswer := map[string]bool{"params after end": true}
	okParams := paramsRecords(1, map[string]string{"A": "b"})
	begin := beginRecord(1, RoleAuthorizer, 0)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name      string
		in        []byte
		closeSend bool // half-close after sending (truncation)
	}{
		{"bad version", cat([]byte{2, 1, 0, 1, 0, 8, 0, 0}, make([]byte, 8)), false},
		{"bad version in params", cat(begin, []byte{0, 4, 0, 1, 0, 0, 0, 0}), false},
		{"truncated header", cat(begin, []byte{1, 4, 0}), true},
		{"truncated content", cat(begin, []byte{1, 4, 0, 1, 0, 10, 0, 0, 1, 1}), true},
		{"truncated padding", cat(begin, []byte{1, 4, 0, 1, 0, 2, 6, 0, 0, 0}), true},
		{"begin too short", cat([]byte{1, 1, 0, 1, 0, 2, 0, 0, 0, 2}, okParams), false},
		{"name-value overflows record", cat(begin, appendRecord(nil, typeParams, 1, []byte{5, 1, 'a'}), appendRecord(nil, typeParams, 1, nil)), false},
		{"4-byte length overflows", cat(begin, appendRecord(nil, typeParams, 1, []byte{0xff, 0xff, 0xff, 0xff, 0, 'a'}), appendRecord(nil, typeParams, 1, nil)), false},
		{"stdout from peer", cat(begin, appendRecord(nil, typeStdout, 1, []byte("x"))), false},
		{"end request from peer", cat(begin, appendRecord(nil, typeEndRequest, 1, make([]byte, 8))), false},
		{"unknown type in request", cat(begin, appendRecord(nil, 99, 1, nil)), false},
		{"params after end", cat([]byte{}, beginRecord(1, RoleAuthorizer, flagKeepConn), appendRecord(nil, typeParams, 1, []byte{1, 1, 'a', 'b'}), appendRecord(nil, typeParams, 1, nil), appendRecord(nil, typeParams, 1, []byte{1, 1, 'a', 'b'})), false},
		{"duplicate begin", cat(begin, begin), false},
		{"params too large", cat(begin, appendRecord(nil, typeParams, 1, appendPair(nil, "BIG", strings.Repeat("x", 3000)))), false},
		{"stdin flood", cat(beginRecord(1, RoleAuthorizer, flagKeepConn), appendRecord(nil, typeStdin, 1, make([]byte, 1500)), appendRecord(nil, typeStdin, 1, make([]byte, 1500))), false},
		{"records for unknown id flood", cat(appendRecord(nil, typeStdin, 5, make([]byte, 1500)), appendRecord(nil, typeData, 5, make([]byte, 1500))), false},
	}
	var calls atomic.Int32
	ts := startServer(t, HandlerFunc(func(ctx context.Context, r *Request) *Response {
		if r.Params["A"] != "" || r.Params["BIG"] != "" {
			calls.Add(1)
		}
		return &Response{Status: 200, Body: []byte(r.Params["ECHO"])}
	}), func(s *Server) { s.MaxParamsBytes = 2048; s.ReadTimeout = readTimeout })

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// Another client, connected meanwhile, must not be affected.
			other, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()

			start := time.Now()
			if _, err := c.Write(tt.in); err != nil {
				t.Fatal(err)
			}
			if tt.closeSend {
				c.(*net.TCPConn).CloseWrite()
			}
			recs, err := readRecords(c)
			if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
				t.Fatalf("want the server to close the connection, got %v", err)
			}
			if time.Since(start) >= readTimeout {
				t.Errorf("connection closed by the read timeout, not by the malformed input")
			}
			for _, r := range recs {
				if r.typ == typeStdout && !mayAnswer[tt.name] {
					t.Errorf("malformed request answered: %+v", recs)
				}
			}

			if _, err := other.Write(apacheRequestBytes(map[string]string{"ECHO": "fine"})); err != nil {
				t.Fatal(err)
			}
			recs, err = readRecords(other)
			if err != nil {
				t.Fatal(err)
			}
			if _, all := checkAnswer(t, recs, 1); all != "Status: 200 OK\r\n\r\nfine" {
				t.Errorf("other connection answered %q", all)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("handler called %d times for malformed requests", n)
	}
	if !strings.Contains(ts.logs.String(), "larger than 2048 bytes") {
		t.Errorf("params over the limit not logged:\n%s", ts.logs.String())
	}
}

func TestReadTimeout(t *testing.T) {
	ts := startServer(t, echoHandler(), func(s *Server) { s.ReadTimeout = 100 * time.Millisecond })
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// BEGIN but never the end of the params.
	if _, err := c.Write(beginRecord(1, RoleAuthorizer, 0)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if recs, err := readRecords(c); err != nil || len(recs) != 0 {
		t.Fatalf("got %+v, %v; want EOF", recs, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("closed after %v", d)
	}
}

func TestShutdownWaitsForInFlight(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	ts := startServer(t, HandlerFunc(func(ctx context.Context, r *Request) *Response {
		if r.Params["SLOW"] != "" {
			close(entered)
			<-release
		}
		return &Response{Status: 200, Variables: map[string]string{"REMOTE_USER": "slow"}}
	}))
	// An idle kept-alive connection must not hold Shutdown up.
	idle, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	w := append(beginRecord(1, RoleAuthorizer, flagKeepConn), paramsRecords(1, nil)...)
	idle.Write(w)
	for r := readRecord(t, idle); r.typ != typeEndRequest; r = readRecord(t, idle) {
	}

	answer := make(chan exchangeResult, 1)
	go func() {
		recs, err := apacheExchange(ts.addr, map[string]string{"SLOW": "1"})
		answer <- exchangeResult{recs, err}
	}()
	<-entered

	shutdownErr := make(chan error, 1)
	go func() { shutdownErr <- ts.Shutdown(context.Background()) }()
	select {
	case err := <-shutdownErr:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := net.Dial("tcp", ts.addr); err == nil {
		t.Error("new connection accepted during Shutdown")
	}
	close(release)
	if err := <-shutdownErr; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if a := answerOf(t, <-answer); a != "Status: 200 OK\r\nVariable-REMOTE_USER: slow\r\n\r\n" {
		t.Errorf("in-flight request answered %q", a)
	}
	if err := <-ts.serveCh; err != ErrServerClosed {
		t.Errorf("Serve returned %v", err)
	}
	ts.serveCh <- ErrServerClosed // for the cleanup
}

func TestShutdownContextExpires(t *testing.T) {
	cancelled := make(chan struct{})
	entered := make(chan struct{})
	s := &Server{Handler: HandlerFunc(func(ctx context.Context, r *Request) *Response {
		close(entered)
		<-ctx.Done()
		close(cancelled)
		return &Response{}
	}), Logger: slog.New(slog.DiscardHandler)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.Serve(ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(apacheRequestBytes(nil))
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("handler context not cancelled when Shutdown gave up")
	}
	if err := <-serveErr; err != ErrServerClosed {
		t.Errorf("Serve = %v", err)
	}
	if err := s.Serve(ln); err != ErrServerClosed {
		t.Errorf("Serve after Shutdown = %v", err)
	}
}

func TestMaxConnsBackpressure(t *testing.T) {
	ts := startServer(t, echoHandler(), func(s *Server) { s.MaxConns = 1 })
	hog, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the server accept it

	answer := make(chan exchangeResult, 1)
	go func() {
		recs, err := apacheExchange(ts.addr, map[string]string{"ECHO": "queued"})
		answer <- exchangeResult{recs, err}
	}()
	select {
	case x := <-answer:
		t.Fatalf("second connection served beyond MaxConns: %+v", x)
	case <-time.After(200 * time.Millisecond):
	}
	hog.Close()
	select {
	case x := <-answer:
		if a := answerOf(t, x); a != "Status: 200 OK\r\n\r\nqueued" {
			t.Errorf("answer %q", a)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("queued connection never served")
	}
}

func TestServeNilHandler(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := (&Server{}).Serve(ln); err == nil {
		t.Fatal("Serve with a nil Handler succeeded")
	}
}

// ---- Benchmark ----

// apacheParams is a realistic parameter set for an NTLM type 3 request.
func apacheParams() map[string]string {
	return map[string]string{
		"FCGI_ROLE": "AUTHORIZER", "FCGI_APACHE_ROLE": "AUTHORIZER",
		"HTTP_HOST": "intranet.example.com", "HTTP_USER_AGENT": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36",
		"HTTP_ACCEPT": "text/html,application/xhtml+xml", "HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9",
		"HTTP_ACCEPT_ENCODING": "gzip, deflate", "HTTP_CONNECTION": "keep-alive",
		"HTTP_AUTHORIZATION": "NTLM " + strings.Repeat("TlRMTVNTUAADAAAAGAAYAIgAAAAYABgAoAAAAA", 16),
		"PATH":               "/usr/bin:/bin", "SERVER_SIGNATURE": "", "SERVER_SOFTWARE": "Apache/2.4.62",
		"SERVER_NAME": "intranet.example.com", "SERVER_ADDR": "10.0.0.10", "SERVER_PORT": "443",
		"REMOTE_ADDR": "10.1.2.3", "DOCUMENT_ROOT": "/var/www/html", "REQUEST_SCHEME": "https",
		"CONTEXT_PREFIX": "", "CONTEXT_DOCUMENT_ROOT": "/var/www/html", "SERVER_ADMIN": "root@localhost",
		"SCRIPT_FILENAME": "/var/www/html/index.html", "REMOTE_PORT": "51234",
		"GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_METHOD": "GET",
		"QUERY_STRING": "", "REQUEST_URI": "/index.html", "SCRIPT_NAME": "/index.html",
	}
}

func BenchmarkAuthorizerRequest(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	resp := &Response{Status: 200, Variables: map[string]string{"REMOTE_USER": "jdoe"}}
	s := &Server{
		Handler: HandlerFunc(func(ctx context.Context, r *Request) *Response {
			if r.Params["REMOTE_ADDR"] == "" {
				return &Response{Status: 500}
			}
			return resp
		}),
		Logger: slog.New(slog.DiscardHandler),
	}
	go s.Serve(ln)
	defer s.Shutdown(context.Background())
	addr := ln.Addr().String()
	req := apacheRequestBytes(apacheParams())
	buf := make([]byte, 4096)
	want := "Status: 200 OK\r\nVariable-REMOTE_USER: jdoe\r\n\r\n"

	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			m, err := c.Read(buf[n:])
			n += m
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		c.Close()
		if got := string(buf[headerLen : headerLen+binary.BigEndian.Uint16(buf[4:6])]); got != want {
			b.Fatalf("answer %q", got)
		}
	}
}

// goroutineID is the running goroutine's number, from its stack header.
func goroutineID() string {
	var b [64]byte
	s := string(b[:runtime.Stack(b[:], false)])
	id, _, _ := strings.Cut(strings.TrimPrefix(s, "goroutine "), " ")
	return id
}

// waitFor polls cond until it holds or 5 seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("still not %s after 5s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWorkersKept: a connection is served by the goroutine that served the
// previous one (its stack already grown), at most maxIdleWorkers wait, and
// Shutdown ends them.
func TestWorkersKept(t *testing.T) {
	before := runtime.NumGoroutine()
	var (
		mu      sync.Mutex
		ids     = map[string]int{}
		release = make(chan struct{})
		hold    atomic.Bool
	)
	s := startServer(t, HandlerFunc(func(ctx context.Context, r *Request) *Response {
		mu.Lock()
		ids[goroutineID()]++
		mu.Unlock()
		if hold.Load() {
			<-release
		}
		return &Response{Status: 200}
	}))

	// One after the other: each waits until the last worker is idle again.
	for i := 0; i < 10; i++ {
		apacheDo(t, s.addr, apacheParams())
		waitFor(t, "an idle worker", func() bool { return s.idle.Load() == 1 })
	}
	if len(ids) != 1 {
		t.Errorf("10 sequential connections served by %d goroutines, want 1 (kept): %v", len(ids), ids)
	}

	// More at once than may stay idle: the surplus exits.
	hold.Store(true)
	const n = maxIdleWorkers + 20
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, err := apacheExchange(s.addr, apacheParams())
			errs <- err
		}()
	}
	waitFor(t, "all handlers running", func() bool {
		mu.Lock()
		defer mu.Unlock()
		sum := 0
		for _, c := range ids {
			sum += c
		}
		return sum == 10+n
	})
	close(release)
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "idle workers down to the bound", func() bool {
		return s.idle.Load() == maxIdleWorkers && runtime.NumGoroutine() <= before+maxIdleWorkers+10
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the workers gone after Shutdown", func() bool {
		return s.idle.Load() == 0 && runtime.NumGoroutine() <= before+5
	})
}
