// Package failover is the one policy the DC relay and the LDAP lookups
// follow over their ordered lists of servers: a server that failed is
// marked down for a while and tried last, never skipped, so that a stale
// mark cannot make every server unusable.
package failover

import (
	"sync"
	"time"
)

// Mark is one server's health. The zero value is up; a Mark is safe for
// concurrent use.
type Mark struct {
	mu        sync.Mutex
	downUntil time.Time
}

// Down marks the server down for d. It reports whether the server was up,
// so that the caller logs the change once.
func (m *Mark) Down(d time.Duration) (wasUp bool) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	wasUp = !now.Before(m.downUntil)
	m.downUntil = now.Add(d)
	return wasUp
}

// Up clears the mark. It reports whether there was one, even an expired
// one, so that the caller logs the recovery.
func (m *Mark) Up() (wasDown bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	wasDown = !m.downUntil.IsZero()
	m.downUntil = time.Time{}
	return wasDown
}

// IsDown reports whether the server is marked down at t.
func (m *Mark) IsDown(t time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return t.Before(m.downUntil)
}

// Order returns servers in their configured order, those marked down now
// moved last (in their configured order too).
func Order[S any](servers []S, mark func(S) *Mark) []S {
	now := time.Now()
	out := make([]S, 0, len(servers))
	var down []S
	for _, s := range servers {
		if mark(s).IsDown(now) {
			down = append(down, s)
		} else {
			out = append(out, s)
		}
	}
	return append(out, down...)
}
