package conntable

import (
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
	tb := newTable(c) // MaxPending 3, MaxPendingPerIP 2
	h1, h2, h3, h4, h5 := &hs{}, &hs{}, &hs{}, &hs{}, &hs{}
	tb.AddPending(key("10.0.0.1", 1), h1)
	c.advance(time.Millisecond)
	tb.AddPending(key("10.0.0.1", 2), h2)
	c.advance(time.Millisecond)
	// A third from one address drops that address's oldest.
	tb.AddPending(key("10.0.0.1", 3), h3)
	if h1.closed.Load() != 1 {
		t.Fatalf("oldest of the address closed %d times, want 1", h1.closed.Load())
	}
	if _, ok := tb.TakePending(key("10.0.0.1", 1)); ok {
		t.Fatal("evicted handshake still pending")
	}
	tb.AddPending(key("10.0.0.2", 1), h4)
	// A fourth in all drops the oldest in all (h2), from whatever address.
	tb.AddPending(key("10.0.0.3", 1), h5)
	if h2.closed.Load() != 1 || h3.closed.Load() != 0 || h4.closed.Load() != 0 {
		t.Fatalf("closed h2 %d h3 %d h4 %d, want 1 0 0", h2.closed.Load(), h3.closed.Load(), h4.closed.Load())
	}
	if s := tb.Stats(); s.Pending != 3 || s.Evicted != 2 {
		t.Fatalf("stats %+v, want 3 pending, 2 evicted", s)
	}
	p, ok := tb.TakePending(key("10.0.0.1", 3))
	if !ok || p != h3 {
		t.Fatalf("take: %v %v", p, ok)
	}
	if _, ok := tb.TakePending(key("10.0.0.1", 3)); ok {
		t.Fatal("taken twice")
	}
	c.advance(time.Minute + time.Second)
	if _, ok := tb.TakePending(key("10.0.0.2", 1)); ok {
		t.Fatal("expired handshake returned")
	}
	if h4.closed.Load() != 1 {
		t.Errorf("expired handshake closed %d times, want 1", h4.closed.Load())
	}
	tb.Sweep()
	if h5.closed.Load() != 1 {
		t.Errorf("sweep closed h5 %d times", h5.closed.Load())
	}
	if s := tb.Stats(); s.Pending != 0 {
		t.Errorf("pending after sweep = %d", s.Pending)
	}
	if len(tb.perIP) != 0 || tb.order.Len() != 0 {
		t.Errorf("per-address lists leak: %v, order %d", tb.perIP, tb.order.Len())
	}
}

// An address flooding Type1s it never finishes does not keep a real
// login from that address, or from elsewhere, from completing.
func TestPendingFloodDoesNotLockOut(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	tb := New(Limits{MaxPending: 100, MaxPendingPerIP: 64, MaxConnections: 10, PendingTTL: 10 * time.Second, IdleTTL: time.Second}, c.now)
	var flood []*hs
	for i := range 1000 {
		h := &hs{}
		flood = append(flood, h)
		tb.AddPending(key("192.0.2.7", uint16(10000+i)), h)
	}
	other := &hs{}
	tb.AddPending(key("192.0.2.8", 1), other)
	real := &hs{}
	tb.AddPending(key("192.0.2.7", 1), real)
	for i := range 200 { // the flood goes on between the Type2 and the Type3
		tb.AddPending(key("192.0.2.7", uint16(20000+i)), &hs{})
	}
	if p, ok := tb.TakePending(key("192.0.2.8", 1)); !ok || p != other {
		t.Error("another address's handshake was dropped by the flood")
	}
	// A handshake is dropped only once 64 newer ones from its address
	// came before its Type3 (here 200 did): the client's Type3 then finds
	// nothing and it is challenged again, where a limit that refused new
	// handshakes would have answered 503 until the flood's expired.
	if _, ok := tb.TakePending(key("192.0.2.7", 1)); ok {
		t.Error("handshake older than 64 newer ones from its address still pending")
	}
	tb.AddPending(key("192.0.2.7", 2), real)
	if p, ok := tb.TakePending(key("192.0.2.7", 2)); !ok || p != real {
		t.Error("a new handshake from the flooding address was not kept")
	}
	if s := tb.Stats(); s.Pending > 64 {
		t.Errorf("pending %d, want at most 64 from one address", s.Pending)
	}
	for i, h := range flood[:1000-64] {
		if h.closed.Load() != 1 {
			t.Fatalf("flood handshake %d closed %d times, want 1", i, h.closed.Load())
		}
	}
}

func TestClientGroup(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"192.0.2.1", "192.0.2.1", true},
		{"192.0.2.1", "192.0.2.2", false},
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true},
		{"2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"::ffff:192.0.2.1", "192.0.2.1", true},
	} {
		ga, gb := clientGroup(netip.MustParseAddr(tc.a)), clientGroup(netip.MustParseAddr(tc.b))
		if (ga == gb) != tc.same {
			t.Errorf("%s vs %s: groups %v %v, same=%v want %v", tc.a, tc.b, ga, gb, ga == gb, tc.same)
		}
	}
	// A /64 shares one budget: the 65th address in it drops the first.
	c := &clock{t: time.Unix(1000, 0)}
	tb := New(Limits{MaxPending: 1000, MaxPendingPerIP: 64, MaxConnections: 10, PendingTTL: time.Minute, IdleTTL: time.Second}, c.now)
	first := &hs{}
	tb.AddPending(key("2001:db8::1", 1), first)
	for i := range 64 {
		tb.AddPending(Key{Client: netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 2)}), 1), Server: netip.MustParseAddrPort("[::1]:80")}, &hs{})
	}
	if first.closed.Load() != 1 {
		t.Error("a /64's 65th handshake did not drop its first")
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
