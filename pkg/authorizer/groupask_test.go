//go:build linux

package authorizer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/memberships"
)

func TestServeGroupChecks(t *testing.T) {
	dir := t.TempDir()
	ln, err := ListenGroupChecks(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, memberships.SocketName))
	if err != nil || fi.Mode().Perm() != 0o666 {
		t.Fatalf("socket: %v %v", fi, err)
	}
	// A second listener on the same directory must not take over.
	if ln2, err := ListenGroupChecks(dir); err == nil {
		ln2.Close()
		t.Fatal("a second authorizer took over a live socket")
	}
	var refuse atomic.Bool
	allowed := func(uid uint32) bool { return uid == uint32(os.Geteuid()) && !refuse.Load() }
	check := func(_ context.Context, user, groups string) (bool, error) {
		if user == "err" {
			return false, errors.New("LDAP down")
		}
		return user == "jdoe" && groups == `"Web Editors"`, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeGroupChecks(ctx, ln, allowed, check, slog.New(slog.DiscardHandler)) }()
	sock := filepath.Join(dir, memberships.SocketName)
	if m, err := memberships.Ask(sock, "jdoe", `"Web Editors"`, 5*time.Second); !m || err != nil {
		t.Errorf("jdoe: %v %v", m, err)
	}
	if m, err := memberships.Ask(sock, "alice", `"Web Editors"`, 5*time.Second); m || err != nil {
		t.Errorf("alice: %v %v", m, err)
	}
	if _, err := memberships.Ask(sock, "err", "x", 5*time.Second); !errors.Is(err, memberships.ErrAuthorizer) {
		t.Errorf("error answer: %v", err)
	}
	// A peer of a user not allowed is not answered.
	refuse.Store(true)
	if m, err := memberships.Ask(sock, "jdoe", `"Web Editors"`, 5*time.Second); m || err == nil {
		t.Errorf("not allowed peer: %v %v, want no answer", m, err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("ServeGroupChecks did not stop")
	}
	if _, err := os.Stat(sock); err == nil {
		t.Error("socket left behind")
	}
}

// startGroupChecks serves check on a new socket with lim until the test
// ends, answering this process's own user.
func startGroupChecks(t *testing.T, lim askLimits, log *slog.Logger,
	allowed func(uint32) bool, check func(context.Context, string, string) (bool, error)) string {
	t.Helper()
	dir := t.TempDir()
	ln, err := ListenGroupChecks(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { serveGroupChecks(ctx, ln, allowed, check, log, lim); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return filepath.Join(dir, memberships.SocketName)
}

// Connections that never ask hold no lookup slot: with more of them open
// than there are slots, a question is still answered.
func TestGroupChecksIdleConnectionsDoNotStarve(t *testing.T) {
	lim := askLimits{conns: 64, lookups: 2, question: time.Minute, answer: 30 * time.Second}
	self := func(uid uint32) bool { return uid == uint32(os.Geteuid()) }
	check := func(_ context.Context, user, _ string) (bool, error) { return user == "jdoe", nil }
	sock := startGroupChecks(t, lim, slog.New(slog.DiscardHandler), self, check)
	for range 10 {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	if m, err := memberships.Ask(sock, "jdoe", "WebUsers", 20*time.Second); !m || err != nil {
		t.Fatalf("with idle connections open: %v %v", m, err)
	}
}

// The server drops a connection that does not ask at once, well before
// the time a lookup may take.
func TestGroupChecksIdleConnectionDropped(t *testing.T) {
	self := func(uid uint32) bool { return uid == uint32(os.Geteuid()) }
	check := func(context.Context, string, string) (bool, error) { return false, nil }
	sock := startGroupChecks(t, defaultAskLimits, slog.New(slog.DiscardHandler), self, check)
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Generous: only a question timeout as long as the answer's (30 s)
	// or none at all would exceed it.
	c.SetReadDeadline(time.Now().Add(defaultAskLimits.answer / 2))
	if n, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: read %d, %v; want EOF (closed by the server)", n, err)
	}
}

func TestRefusalsLogOncePerUIDAndInterval(t *testing.T) {
	now := time.Unix(1e9, 0)
	r := newRefusals(time.Minute, func() time.Time { return now })
	type step struct {
		advance   time.Duration
		uid       uint32
		log       bool
		notLogged int
	}
	for i, s := range []step{
		{0, 33, true, 0},
		{time.Second, 33, false, 0},
		{time.Second, 33, false, 0},
		{0, 1000, true, 0}, // another user has a line of its own
		{time.Minute, 33, true, 2},
		{0, 33, false, 0},
	} {
		now = now.Add(s.advance)
		if log, n := r.note(s.uid); log != s.log || n != s.notLogged {
			t.Errorf("step %d: note(%d) = %v, %d; want %v, %d", i, s.uid, log, n, s.log, s.notLogged)
		}
	}
	// Memory stays bounded however many uids are refused.
	for uid := range uint32(3 * maxRefusalUIDs) {
		r.note(uid + 2000)
	}
	if len(r.last) > maxRefusalUIDs+1 {
		t.Errorf("tracking %d uids, bound %d", len(r.last), maxRefusalUIDs)
	}
}

// countingHandler counts the records logged at WARN or above.
type countingHandler struct {
	slog.Handler
	n *atomic.Int32
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.n.Add(1)
	}
	return nil
}

// Many refused connections of one user make one line.
func TestGroupChecksRefusalsRateLimited(t *testing.T) {
	var warns atomic.Int32
	log := slog.New(countingHandler{Handler: slog.DiscardHandler, n: &warns})
	none := func(uint32) bool { return false }
	check := func(context.Context, string, string) (bool, error) { return true, nil }
	sock := startGroupChecks(t, defaultAskLimits, log, none, check)
	for range 50 {
		if m, err := memberships.Ask(sock, "jdoe", "WebUsers", 10*time.Second); m || err == nil {
			t.Fatalf("refused peer answered: %v %v", m, err)
		}
	}
	if n := warns.Load(); n != 1 {
		t.Errorf("%d warnings for 50 refused connections of one user, want 1", n)
	}
}
