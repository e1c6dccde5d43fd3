package conntable

import (
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

type hs struct{ closed atomic.Int32 }

func (h *hs) Close() { h.closed.Add(1) }

func key(ip string, port uint16) Key {
	return Key{Client: netip.AddrPortFrom(netip.MustParseAddr(ip), port), Server: netip.MustParseAddrPort("127.0.0.1:80")}
}

func newTable(c *clock) *Table {
	return New(Limits{MaxPending: 3, MaxPendingPerIP: 2, MaxConnections: 2, PendingTTL: time.Minute, IdleTTL: 5 * time.Second}, c.now)
}

func TestAuthenticatedIdleExpiry(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	tb := newTable(c)
	k := key("10.0.0.1", 5000)
	tb.SetAuthenticated(k, Login{User: "jdoe"})
	c.advance(4 * time.Second)
	if l, ok := tb.Authenticated(k); !ok || l.User != "jdoe" {
		t.Fatalf("after 4s idle: %v %v", l, ok)
	}
	// Use renews the idle clock.
	c.advance(4 * time.Second)
	if _, ok := tb.Authenticated(k); !ok {
		t.Fatal("after 4s more idle (8s since login): forgotten, want remembered")
	}
	c.advance(5*time.Second + time.Millisecond)
	if _, ok := tb.Authenticated(k); ok {
		t.Fatal("idle past IdleTTL: still remembered")
	}
	if _, ok := tb.Authenticated(k); ok {
		t.Fatal("expired entry came back")
	}
	if key2 := key("10.0.0.1", 5001); true {
		if _, ok := tb.Authenticated(key2); ok {
			t.Fatal("other port authenticated")
		}
	}
}

func TestConnectionsLRU(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	tb := newTable(c)
	a, b, d := key("10.0.0.1", 1), key("10.0.0.1", 2), key("10.0.0.1", 3)
	tb.SetAuthenticated(a, Login{User: "a"})
	tb.SetAuthenticated(b, Login{User: "b"})
	tb.Authenticated(a) // a is now the most recently used
	tb.SetAuthenticated(d, Login{User: "d"})
	if _, ok := tb.Authenticated(b); ok {
		t.Error("b should have been evicted as least recently used")
	}
	if _, ok := tb.Authenticated(a); !ok {
		t.Error("a evicted")
	}
	if s := tb.Stats(); s.Connections != 2 {
		t.Errorf("connections = %d, want 2", s.Connections)
	}
}

func TestPendingLimitsAndExpiry(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	tb := newTable(c)
	h1, h2, h3, h4 := &hs{}, &hs{}, &hs{}, &hs{}
	if err := tb.AddPending(key("10.0.0.1", 1), h1); err != nil {
		t.Fatal(err)
	}
	if err := tb.AddPending(key("10.0.0.1", 2), h2); err != nil {
		t.Fatal(err)
	}
	if err := tb.AddPending(key("10.0.0.1", 3), h3); !errors.Is(err, ErrTooManyPendingForIP) {
		t.Fatalf("third from one IP: %v", err)
	}
	if err := tb.AddPending(key("10.0.0.2", 1), h3); err != nil {
		t.Fatal(err)
	}
	if err := tb.AddPending(key("10.0.0.3", 1), h4); !errors.Is(err, ErrTooManyPending) {
		t.Fatalf("fourth in all: %v", err)
	}
	p, ok := tb.TakePending(key("10.0.0.1", 1))
	if !ok || p != h1 {
		t.Fatalf("take: %v %v", p, ok)
	}
	if _, ok := tb.TakePending(key("10.0.0.1", 1)); ok {
		t.Fatal("taken twice")
	}
	// Freed a slot for that IP.
	if err := tb.AddPending(key("10.0.0.1", 9), h4); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Minute + time.Second)
	if _, ok := tb.TakePending(key("10.0.0.1", 2)); ok {
		t.Fatal("expired handshake returned")
	}
	if h2.closed.Load() != 1 {
		t.Errorf("expired handshake closed %d times, want 1", h2.closed.Load())
	}
	tb.Sweep()
	if h3.closed.Load() != 1 || h4.closed.Load() != 1 {
		t.Errorf("sweep closed h3 %d, h4 %d times", h3.closed.Load(), h4.closed.Load())
	}
	if s := tb.Stats(); s.Pending != 0 {
		t.Errorf("pending after sweep = %d", s.Pending)
	}
	if len(tb.perIP) != 0 {
		t.Errorf("per-IP counts leak: %v", tb.perIP)
	}
}

func TestPendingReplacedIsClosed(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	tb := newTable(c)
	k := key("10.0.0.1", 1)
	h1, h2 := &hs{}, &hs{}
	tb.AddPending(k, h1)
	tb.AddPending(k, h2)
	if h1.closed.Load() != 1 {
		t.Error("replaced handshake not closed")
	}
	if p, _ := tb.TakePending(k); p != h2 {
		t.Error("newest handshake not kept")
	}
}

func TestSweepIdle(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	tb := newTable(c)
	tb.SetAuthenticated(key("10.0.0.1", 1), Login{})
	c.advance(3 * time.Second)
	tb.SetAuthenticated(key("10.0.0.1", 2), Login{})
	c.advance(3 * time.Second)
	tb.Sweep()
	if s := tb.Stats(); s.Connections != 1 {
		t.Errorf("connections after sweep = %d, want 1", s.Connections)
	}
}
