//go:build linux

package authorizer

import (
	"context"
	"errors"
	"log/slog"
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
