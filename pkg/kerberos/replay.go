package kerberos

import (
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
	seen  map[string]time.Time // key -> when it may be forgotten
	max   int
	swept time.Time
}

func newReplayCache(max int) *replayCache {
	return &replayCache{seen: map[string]time.Time{}, max: max}
}

// add records key until until; false when key is there already (a
// replay), or when the cache is full of live entries (busy: accepting
// would mean forgetting one, which a replay could then pass).
func (c *replayCache) add(key string, until, now time.Time) (ok bool, full bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, dup := c.seen[key]; dup && now.Before(t) {
		return false, false
	}
	if len(c.seen) >= c.max || now.Sub(c.swept) > time.Minute {
		for k, t := range c.seen {
			if !now.Before(t) {
				delete(c.seen, k)
			}
		}
		c.swept = now
		if len(c.seen) >= c.max {
			return false, true
		}
	}
	c.seen[key] = until
	return true, false
}
