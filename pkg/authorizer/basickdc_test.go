package authorizer

import (
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/conntable"
)

func TestBasicCache(t *testing.T) {
	now := time.Now()
	c := newBasicCache(time.Minute, 3)
	jdoe := conntable.Login{User: "jdoe", Domain: "EXAMPLE"}
	k := c.key("EXAMPLE", "jdoe", "right")
	c.put(k, jdoe, now)
	if l, ok := c.get(k, now.Add(59*time.Second)); !ok || l.User != "jdoe" {
		t.Errorf("hit within the TTL: %+v %v", l, ok)
	}
	if _, ok := c.get(k, now.Add(time.Minute)); ok {
		t.Error("hit after the TTL")
	}
	// Another password, another user, another domain: other keys.
	for _, o := range [][3]string{{"EXAMPLE", "jdoe", "wrong"}, {"EXAMPLE", "alice", "right"}, {"OTHER", "jdoe", "right"}, {"EXAMPLE", "jdoe\x00", "right"}} {
		if _, ok := c.get(c.key(o[0], o[1], o[2]), now); ok {
			t.Errorf("%q hits jdoe's entry", o)
		}
	}
	// Another process (another HMAC key) does not share keys.
	if newBasicCache(time.Minute, 3).key("EXAMPLE", "jdoe", "right") == k {
		t.Error("two caches make the same key")
	}
	// Bounded: never more than max entries.
	for i := 0; i < 10; i++ {
		c.put(c.key("EXAMPLE", "u", string(rune('a'+i))), jdoe, now)
		if c.len() > 3 {
			t.Fatalf("%d entries, max 3", c.len())
		}
	}
	// Off: nothing held.
	off := newBasicCache(0, 3)
	off.put(k, jdoe, now)
	if _, ok := off.get(k, now); ok {
		t.Error("a cache with TTL 0 answered")
	}
}
