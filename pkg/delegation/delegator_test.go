package delegation

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/ccache"
)

func delegator(now *time.Time) *Delegator {
	return NewDelegator(DelegatorOptions{Realms: map[string]*Realm{"example.test": {DelegateTo: []string{"ldap/dc1"}}},
		MaxInFlight: 2, Timeout: time.Second, Now: func() time.Time { return *now }})
}

// A user's tickets serve the user's next logins until reuseMargin before
// they end (at most reuseFor); concurrent logins of one user ask once.
func TestDelegatorReuse(t *testing.T) {
	now := time.Now()
	d := delegator(&now)
	if !d.Delegates("EXAMPLE.TEST") || d.Delegates("OTHER.TEST") {
		t.Fatal("Delegates")
	}
	var calls atomic.Int32
	release := make(chan struct{})
	fetch := func(ctx context.Context, r *Realm) ([]ccache.Credential, error) {
		calls.Add(1)
		<-release
		return tgt(now.Add(20 * time.Minute)), nil
	}
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c, err := d.get(context.Background(), "EXAMPLE.TEST", "JDoe", fetch); err != nil || len(c) != 1 {
				t.Errorf("get: %v", err)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("%d KDC rounds for one user's concurrent logins", n)
	}
	now = now.Add(14 * time.Minute)
	d.get(context.Background(), "example.test", "jdoe", fetch)
	if n := calls.Load(); n != 1 {
		t.Errorf("asked again with 6 minutes left")
	}
	now = now.Add(2 * time.Minute)
	d.get(context.Background(), "example.test", "jdoe", fetch)
	if n := calls.Load(); n != 2 {
		t.Errorf("not asked again with 4 minutes left")
	}
	// A failure is not kept.
	fail := func(ctx context.Context, r *Realm) ([]ccache.Credential, error) {
		calls.Add(1)
		return nil, errors.New("no")
	}
	d.get(context.Background(), "example.test", "alice", fail)
	d.get(context.Background(), "example.test", "alice", fail)
	if n := calls.Load(); n != 4 {
		t.Errorf("a failure was kept: %d calls", n)
	}
}

// Past MaxInFlight logins asking the KDC, a login gets Busy at once; a
// KDC slower than Timeout ends the wait.
func TestDelegatorBounds(t *testing.T) {
	now := time.Now()
	d := delegator(&now)
	block := make(chan struct{})
	defer close(block)
	slow := func(ctx context.Context, r *Realm) ([]ccache.Credential, error) {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, kdcError("slow KDC", ctx.Err())
		}
		return nil, errors.New("released")
	}
	for _, u := range []string{"a", "b"} {
		go d.get(context.Background(), "example.test", u, slow)
	}
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	_, err := d.get(context.Background(), "example.test", "c", slow)
	var de *Error
	if !errors.As(err, &de) || de.Outcome != Busy || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("third login: %v after %s", err, time.Since(start))
	}
	time.Sleep(1100 * time.Millisecond) // a and b time out
	start = time.Now()
	_, err = d.get(context.Background(), "example.test", "d", slow)
	if !errors.As(err, &de) || de.Outcome != KDCUnreachable || time.Since(start) < 900*time.Millisecond || time.Since(start) > 2*time.Second {
		t.Fatalf("slow KDC: %v after %s", err, time.Since(start))
	}
	if _, err := d.get(context.Background(), "other.test", "d", slow); !errors.As(err, &de) || de.Outcome != NoneSent {
		t.Errorf("unknown realm: %v", err)
	}
}
