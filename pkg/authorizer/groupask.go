package authorizer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/memberships"
)

// askLimits bound the group-check socket. A connection first only has
// its question read, briefly (the helper writes it at once); only then may
// it take one of the lookup slots. So connections that say nothing (any
// process of an allowed user can open them) are dropped quickly and never
// hold a slot a question is waiting for.
type askLimits struct {
	conns    int           // connections held at once; more wait in the listen queue
	lookups  int           // questions answered at once; each may hold an LDAP lookup
	question time.Duration // to read the question
	answer   time.Duration // to look up and write the answer
}

var defaultAskLimits = askLimits{conns: 512, lookups: 32, question: 2 * time.Second, answer: 30 * time.Second}

// ListenGroupChecks opens the socket ntlm-group-check asks on
// (memberships.SocketName in the cache directory dir), replacing a socket
// a previous run left. The socket is mode 0666, as connecting to it
// requires, but only those who may enter the directory (2750: Apache's
// group) reach it; ServeGroupChecks decides who is answered.
func ListenGroupChecks(dir string) (*net.UnixListener, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("group-check socket: %w", err)
	}
	path := filepath.Join(dir, memberships.SocketName)
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("group-check socket: %s exists and is not a socket", path)
		}
		// Another authorizer (a second instance on the same cache) keeps
		// its socket; only one a dead process left is replaced.
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("group-check socket: another process answers on %s", path)
		}
		os.Remove(path)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("group-check socket: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("group-check socket: %w", err)
	}
	return ln, nil
}

// Sweeping the memberships cache: every sweepEvery, at most sweepLimit
// files are looked at, so a large cache costs little at a time.
const (
	sweepEvery = 5 * time.Minute
	sweepLimit = 1000
)

// SweepMemberships removes the cache files in dir that no reader may use
// any more (memberships.Cache.Sweep) until ctx ends.
func SweepMemberships(ctx context.Context, dir string, log *slog.Logger) {
	c := &memberships.Cache{Dir: dir}
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	cursor := 0
	for {
		n, next, err := c.Sweep(sweepLimit, cursor)
		cursor = next
		if err != nil {
			log.Warn("memberships cache: sweep", "err", err)
		} else if n > 0 {
			log.Info("memberships cache: removed expired entries", "files", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// HelperUIDs resolves the users whose ntlm-group-check may ask: names or
// numeric ids. Root and this process's own user are always allowed.
func HelperUIDs(names []string) (map[uint32]bool, error) {
	uids := map[uint32]bool{0: true, uint32(os.Geteuid()): true}
	for _, n := range names {
		if id, err := strconv.ParseUint(n, 10, 32); err == nil {
			uids[uint32(id)] = true
			continue
		}
		u, err := user.Lookup(n)
		if err != nil {
			return nil, fmt.Errorf("group-check helper user %q: %w", n, err)
		}
		id, err := strconv.ParseUint(u.Uid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("group-check helper user %q: uid %q", n, u.Uid)
		}
		uids[uint32(id)] = true
	}
	return uids, nil
}

// ServeGroupChecks answers ntlm-group-check's questions on ln until ctx
// ends: one question per connection, from a peer whose uid (SO_PEERCRED,
// which the kernel vouches for) is allowed; others are closed unheard
// and logged. check answers, typically Authorizer.CheckGroups of the
// current configuration.
func ServeGroupChecks(ctx context.Context, ln *net.UnixListener, allowed func(uid uint32) bool,
	check func(ctx context.Context, user, groups string) (bool, error), log *slog.Logger) error {
	return serveGroupChecks(ctx, ln, allowed, check, log, defaultAskLimits)
}

func serveGroupChecks(ctx context.Context, ln *net.UnixListener, allowed func(uid uint32) bool,
	check func(ctx context.Context, user, groups string) (bool, error), log *slog.Logger, lim askLimits) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	conns := make(chan struct{}, lim.conns)
	lookups := make(chan struct{}, lim.lookups)
	refused := newRefusals(time.Minute, time.Now)
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			log.Warn("group-check socket: accept", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		conns <- struct{}{}
		go func() {
			defer func() { <-conns }()
			defer conn.Close()
			answerGroupCheck(ctx, conn, allowed, check, log, lookups, refused, lim)
		}()
	}
}

func answerGroupCheck(ctx context.Context, conn *net.UnixConn, allowed func(uid uint32) bool,
	check func(ctx context.Context, user, groups string) (bool, error), log *slog.Logger,
	lookups chan struct{}, refused *refusals, lim askLimits) {
	uid, err := peerUID(conn)
	if err != nil {
		log.Warn("group-check socket: no peer credentials", "err", err)
		return
	}
	if !allowed(uid) {
		// Any local user can connect: one line per user and minute, so
		// that a loop cannot flood the log.
		if ok, more := refused.note(uid); ok {
			log.Warn("group-check socket: refused a process of a user not allowed to ask (helper_users)", "uid", uid, "refused_since_last_logged", more)
		}
		return
	}
	_ = conn.SetDeadline(time.Now().Add(lim.question))
	user, groups, err := memberships.ReadQuestion(conn)
	if err != nil {
		log.Warn("group-check socket: bad question", "uid", uid, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, lim.answer)
	defer cancel()
	_ = conn.SetDeadline(time.Now().Add(lim.answer))
	select {
	case lookups <- struct{}{}:
		defer func() { <-lookups }()
	case <-ctx.Done():
		_ = memberships.WriteAnswer(conn, false, errors.New("too many group checks waiting"))
		return
	}
	member, err := check(ctx, user, groups)
	if err != nil {
		log.Warn("group-check socket: no answer", "user", user, "err", err)
	}
	_ = memberships.WriteAnswer(conn, member, err)
}

// refusals decides which refused connections are logged: the first of a
// uid, then at most one per interval, with a count of those not logged.
// It tracks at most maxRefusalUIDs uids; past that, the others share one
// line (under uid overflowUID).
type refusals struct {
	every time.Duration
	now   func() time.Time
	mu    sync.Mutex
	last  map[uint32]refusal
}

type refusal struct {
	logged time.Time
	since  int // refusals not logged since
}

const (
	maxRefusalUIDs = 1024
	overflowUID    = ^uint32(0) // (uid_t)-1, no process's uid
)

func newRefusals(every time.Duration, now func() time.Time) *refusals {
	return &refusals{every: every, now: now, last: map[uint32]refusal{}}
}

// note records a refusal of uid and reports whether to log it, with the
// number of refusals of uid not logged since the last line.
func (r *refusals) note(uid uint32) (log bool, notLogged int) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.last[uid]; !ok && len(r.last) >= maxRefusalUIDs {
		for u, x := range r.last {
			if now.Sub(x.logged) >= r.every {
				delete(r.last, u)
			}
		}
		if len(r.last) >= maxRefusalUIDs {
			uid = overflowUID
		}
	}
	x, ok := r.last[uid]
	if ok && now.Sub(x.logged) < r.every {
		x.since++
		r.last[uid] = x
		return false, 0
	}
	r.last[uid] = refusal{logged: now}
	return true, x.since
}
