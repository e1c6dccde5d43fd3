// Package replay owns the memory of the Kerberos authenticators already
// accepted: RFC 4120 section 3.2.3 wants an authenticator good once, and
// the clock-skew check alone lets a captured one through for up to twice
// max_clock_skew. Store is the seam: Table is one node's store (a fixed
// table in memory, kept in a file in the daemon's state directory so that
// a restart does not reopen the window); a store shared by several nodes
// takes its place behind the same interface.
//
// What a Store is given is already reduced to what it needs: a Key (a hash
// of what the client's key sealed, never of cleartext an attacker can
// rewrite: package kerberos makes it), the account it counts against, and
// until when it must be refused.
package replay

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Key identifies one authenticator: SHA-256 of its ciphertext (package
// kerberos), which only the holder of the ticket's session key can make.
type Key [32]byte

// Store remembers accepted authenticators until they can no longer pass
// the clock-skew check. Implementations are safe for concurrent use.
type Store interface {
	// Add records key, an authenticator of principal (the account, in
	// one canonical form: the same account must always give the same
	// string), to be refused until until. It returns nil when key was new
	// and is now recorded (durably enough to survive a restart of the
	// daemon: the caller accepts the login only then), ErrReplay when key
	// is recorded and live, a *BusyError when the store cannot record it
	// without forgetting a live key, or another error when the store
	// cannot answer. On any error the caller refuses the login.
	Add(ctx context.Context, key Key, principal string, until time.Time) error
	// Close releases the store; Add then fails.
	Close() error
}

// ErrReplay: the key was recorded before and is still live.
var ErrReplay = errors.New("replay: authenticator seen before")

// ErrClosed: Add after Close.
var ErrClosed = errors.New("replay: store closed")

// BusyError is a refusal to record a key because the store is full of
// live ones: accepting would mean forgetting one, whose replay could then
// pass.
type BusyError struct {
	// Heavy reports that the principal was refused for holding more than
	// its share of the live keys while the store is under pressure: the
	// heaviest accounts are refused first, the others still log in.
	Heavy bool
	// Live is how many keys the store holds (0 where it does not know:
	// the shared store); Held how many of them are the principal's.
	Live, Held int
}

func (e *BusyError) Error() string {
	if e.Heavy && e.Live == 0 { // a shared store, which counts per account only
		return fmt.Sprintf("replay: this account recorded its share (%d) of the shared store's keys within the clock skew", e.Held)
	}
	if e.Heavy {
		return fmt.Sprintf("replay: store under pressure (%d live keys), and this account holds %d of them, more than its share", e.Live, e.Held)
	}
	return fmt.Sprintf("replay: store full (%d live keys)", e.Live)
}
