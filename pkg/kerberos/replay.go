package kerberos

import (
	"crypto/sha256"
	"sync"
	"time"
)

// ReplayCache is the memory of accepted authenticators, to hand from one
// Acceptor to the one that replaces it (a configuration reload).
type ReplayCache = replayCache

// DefaultReplayPerPrincipal is how many live entries one client principal
// may hold in the replay cache. An entry lives up to twice max_clock_skew
// (10 minutes by default); a browser makes one authenticator per new
// connection, so a person uses a few hundred in that time and a busy
// script a few thousand. 1<<12 is 1/256 of the default cache: one account
// (one valid ticket, ~1,750 authenticators a second on a 2-core machine)
// fills its share in seconds and is then refused alone, and it takes 256
// accounts acting together to fill the whole cache.
const DefaultReplayPerPrincipal = 1 << 12

// NewReplayCache returns an empty replay cache of at most max entries
// (0: 1<<20) and at most perPrincipal of them for one client principal
// (0: DefaultReplayPerPrincipal).
func NewReplayCache(max, perPrincipal int) *ReplayCache {
	if max <= 0 {
		max = 1 << 20
	}
	if perPrincipal <= 0 {
		perPrincipal = DefaultReplayPerPrincipal
	}
	return &replayCache{seen: map[[16]byte]replayEntry{}, principals: map[string]*principalCount{}, max: max, per: perPrincipal}
}

// replayCache remembers the authenticators accepted within the clock
// skew: an older one is refused by the skew check already, so an entry is
// kept until its authenticator's time plus the skew has passed. It is the
// process's own, not gokrb5's package-level one.
//
// Each entry counts against its client principal, so that one account
// cannot fill the cache and lock every other user out: the principal's
// count is held next to the entries and dropped when it reaches zero, so
// the accounting is bounded by the entries (at most max counters).
type replayCache struct {
	mu         sync.Mutex
	seen       map[[16]byte]replayEntry // hashed key -> entry
	principals map[string]*principalCount
	max, per   int
	swept      time.Time
}

// replayEntry is one accepted authenticator: when it may be forgotten
// (Unix nanoseconds, smaller than a time.Time) and whose it is.
type replayEntry struct {
	until int64
	who   *principalCount
}

type principalCount struct {
	name string
	n    int
}

// addResult is what add did.
type addResult int

const (
	added         addResult = iota
	replayed                // key is there already
	full                    // the cache is full of live entries
	principalFull           // who holds its share of live entries
)

// add records key, an authenticator of principal who, until until;
// anything but added when key is there already (a replay), or when the
// cache or who's share of it is full of live entries (busy: accepting
// would mean forgetting one, which a replay could then pass).
//
// until need not be clamped: the skew check lets only authenticators
// within max_clock_skew of now through, so until is at most now plus
// twice the skew, and an entry must live that long, since the skew check
// would accept its replay until then.
//
// Keys are kept as 128 bits of their SHA-256 and entries as 16 bytes: a
// full cache of 1<<20 took 80 MiB with the map's own (Go 1.26; 96 MiB with
// a time.Time in each entry). A cache, or a principal's share, full of
// live entries is swept again at most once a second, so that a burst
// cannot make every login walk it. The hot path is one lookup more than
// without shares: who's count.
func (c *replayCache) add(key, who string, until, now time.Time) addResult {
	sum := sha256.Sum256([]byte(key))
	k := [16]byte(sum[:16])
	nowN := now.UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, dup := c.seen[k]; dup {
		if nowN < e.until {
			return replayed
		}
		c.forget(k, e)
	}
	p := c.principals[who]
	busy := len(c.seen) >= c.max || (p != nil && p.n >= c.per)
	if (busy && now.Sub(c.swept) > time.Second) || now.Sub(c.swept) > time.Minute {
		c.sweep(nowN)
		c.swept = now
		p = c.principals[who]
	}
	if len(c.seen) >= c.max {
		return full
	}
	if p == nil {
		p = &principalCount{name: who}
		c.principals[who] = p
	} else if p.n >= c.per {
		return principalFull
	}
	p.n++
	c.seen[k] = replayEntry{until: until.UnixNano(), who: p}
	return added
}

// sweep forgets every entry no longer live at now.
func (c *replayCache) sweep(now int64) {
	for k, e := range c.seen {
		if now >= e.until {
			c.forget(k, e)
		}
	}
}

func (c *replayCache) forget(k [16]byte, e replayEntry) {
	delete(c.seen, k)
	if e.who.n--; e.who.n <= 0 {
		delete(c.principals, e.who.name)
	}
}
