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
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/memberships"
)

// maxGroupAsks bounds the questions answered at once; more wait in the
// listen queue. Each may hold an LDAP lookup.
const maxGroupAsks = 32

// ListenGroupChecks opens the socket ntlm-group-check asks on
// (memberships.SocketName in the cache directory dir), replacing a socket
// a previous run left. The socket is world-writable, as connecting to it
// requires; ServeGroupChecks decides who is answered.
func ListenGroupChecks(dir string) (*net.UnixListener, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
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
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	sem := make(chan struct{}, maxGroupAsks)
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
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			defer conn.Close()
			answerGroupCheck(ctx, conn, allowed, check, log)
		}()
	}
}

func answerGroupCheck(ctx context.Context, conn *net.UnixConn, allowed func(uid uint32) bool,
	check func(ctx context.Context, user, groups string) (bool, error), log *slog.Logger) {
	uid, err := peerUID(conn)
	if err != nil {
		log.Warn("group-check socket: no peer credentials", "err", err)
		return
	}
	if !allowed(uid) {
		log.Warn("group-check socket: refused a process of a user not allowed to ask (helper_users)", "uid", uid)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	user, groups, err := memberships.ReadQuestion(conn)
	if err != nil {
		log.Warn("group-check socket: bad question", "uid", uid, "err", err)
		return
	}
	member, err := check(ctx, user, groups)
	if err != nil {
		log.Warn("group-check socket: no answer", "user", user, "err", err)
	}
	_ = memberships.WriteAnswer(conn, member, err)
}
