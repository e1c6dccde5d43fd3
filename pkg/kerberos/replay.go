package kerberos

import (
	"crypto/sha256"
	"sync"
	"time"
)

// ReplayCache is the memory of accepted authenticators, to hand from one
// Acceptor to the one that replaces it (a configuration reload).
type ReplayCache = replayCache

// NewReplayCache returns an empty replay cache of at most max entries
// (0: 1<<20).
func NewReplayCache(max int) *ReplayCache {
	if max <= 0 {
		max = 1 << 20
	}
	return newReplayCache(max)
}

// replayCache remembers the authenticators accepted within the clock
// skew: an older one is refused by the skew check already, so an entry is
// kept until its authenticator's time plus the skew has passed. It is the
// process's own, not gokrb5's package-level one.
type replayCache struct {
	mu    sync.Mutex
	seen  map[[16]byte]time.Time // hashed key -> when it may be forgotten
	max   int
	swept time.Time
}

func newReplayCache(max int) *replayCache {
	return &replayCache{seen: map[[16]byte]time.Time{}, max: max}
}

// add records key until until; false when key is there already (a
// replay), or when the cache is full of live entries (busy: accepting
// would mean forgetting one, which a replay could then pass).
//
// Keys are kept as 128 bits of their SHA-256 (about 60 bytes an entry with
// the map's own), so a full cache of 1<<20 stays near 64 MiB. A cache full
// of live entries is swept again at most once a second, so that a burst
// cannot make every login walk it.
func (c *replayCache) add(key string, until, now time.Time) (ok bool, full bool) {
	sum := sha256.Sum256([]byte(key))
	k := [16]byte(sum[:16])
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, dup := c.seen[k]; dup && now.Before(t) {
		return false, false
	}
	if (len(c.seen) >= c.max && now.Sub(c.swept) > time.Second) || now.Sub(c.swept) > time.Minute {
		for old, t := range c.seen {
			if !now.Before(t) {
				delete(c.seen, old)
			}
		}
		c.swept = now
	}
	if len(c.seen) >= c.max {
		return false, true
	}
	c.seen[k] = until
	return true, false
}
