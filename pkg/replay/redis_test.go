package replay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// redisServer starts Debian's redis-server on a free loopback port, with no
// persistence, and returns its URL; stop ends it (also when t ends).
func redisServer(t *testing.T) (url string, stop func()) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed (scripts/deps.sh installs it)")
		}
		t.Skip("redis-server is not installed (apt-get install redis-server, or make deps)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", fmt.Sprint(port), "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cmd.Process.Kill()
			cmd.Wait()
		}
	}
	t.Cleanup(stop)
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		if i > 100 {
			t.Fatal("redis-server did not listen within 10 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Sprintf("redis://127.0.0.1:%d/0", port), stop
}

// Two nodes on one Redis: what one recorded the other refuses as a replay
// until it expires; with Redis gone, Add fails (closed), never nil.
func TestRedisStore(t *testing.T) {
	url, stop := redisServer(t)
	a, err := NewRedis(RedisOptions{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewRedis(RedisOptions{URL: url})
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	k := Key{1, 2, 3}
	if err := a.Add(ctx, k, "jdoe", time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("first Add on node A: %v", err)
	}
	if err := b.Add(ctx, k, "jdoe", time.Now().Add(time.Minute)); !errors.Is(err, ErrReplay) {
		t.Fatalf("the same key on node B: %v, want ErrReplay", err)
	}
	short := Key{4}
	if err := a.Add(ctx, short, "jdoe", time.Now().Add(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	if err := b.Add(ctx, short, "jdoe", time.Now().Add(time.Minute)); err != nil {
		t.Errorf("a key past its expiry on node B: %v, want nil", err)
	}
	stop()
	start := time.Now()
	if err := a.Add(ctx, Key{5}, "jdoe", time.Now().Add(time.Minute)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Redis down: %v, want ErrUnavailable (fail closed)", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Redis down: Add took %v", d)
	}
	a.Close()
	if err := a.Add(ctx, Key{6}, "jdoe", time.Now().Add(time.Minute)); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}

func TestRedisBadURL(t *testing.T) {
	if _, err := NewRedis(RedisOptions{URL: "http://nope"}); err == nil {
		t.Error("NewRedis accepted an http:// URL")
	}
}

// One account past its share is refused as the heaviest (the others still
// record theirs), so that one stolen ticket replayed in a loop cannot fill
// the Redis every node shares.
func TestRedisPerAccount(t *testing.T) {
	url, stop := redisServer(t)
	defer stop()
	r, err := NewRedis(RedisOptions{URL: url, PerAccount: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	until := time.Now().Add(time.Minute)
	for i := byte(1); i <= 3; i++ {
		if err := r.Add(ctx, Key{'m', i}, "S-1-5-21-1-2-3-1105", until); err != nil {
			t.Fatalf("mallory's key %d: %v", i, err)
		}
	}
	var busy *BusyError
	if err := r.Add(ctx, Key{'m', 4}, "S-1-5-21-1-2-3-1105", until); !errors.As(err, &busy) || !busy.Heavy {
		t.Fatalf("mallory's 4th key: %v, want a *BusyError with Heavy", err)
	}
	if err := r.Add(ctx, Key{'j', 1}, "S-1-5-21-1-2-3-1104", until); err != nil {
		t.Errorf("jdoe while mallory is refused: %v", err)
	}
	// A replay is a replay, whoever's share is full.
	if err := r.Add(ctx, Key{'m', 1}, "S-1-5-21-1-2-3-1105", until); !errors.Is(err, ErrReplay) {
		t.Errorf("mallory's first key again: %v, want ErrReplay", err)
	}
}

// go-redis sends a command again when the first try's answer was lost: the
// second try finds the key its own first try wrote, which must not refuse
// the login as a replay; another attempt with the same key still is one.
func TestRedisRetryIsNoReplay(t *testing.T) {
	url, stop := redisServer(t)
	defer stop()
	r, err := NewRedis(RedisOptions{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	until := time.Now().Add(time.Minute)
	if err := r.add(ctx, Key{9}, "jdoe", until, "attempt-1"); err != nil {
		t.Fatal(err)
	}
	if err := r.add(ctx, Key{9}, "jdoe", until, "attempt-1"); err != nil {
		t.Errorf("the same attempt retried: %v, want nil", err)
	}
	if err := r.add(ctx, Key{9}, "jdoe", until, "attempt-2"); !errors.Is(err, ErrReplay) {
		t.Errorf("another attempt with the same key: %v, want ErrReplay", err)
	}
}

// A steady account's count starts again each window: recording a key does
// not push its window back (else a script logging in all day would reach
// its share and be locked out).
func TestRedisPerAccountWindow(t *testing.T) {
	url, stop := redisServer(t)
	defer stop()
	r, err := NewRedis(RedisOptions{URL: url, PerAccount: 2, Window: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	for i := byte(0); i < 8; i++ { // 4 windows at 2 keys each, keys outliving the window
		if err := r.Add(ctx, Key{'s', i}, "script", time.Now().Add(time.Minute)); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
		if i%2 == 1 {
			time.Sleep(450 * time.Millisecond)
		}
	}
}
