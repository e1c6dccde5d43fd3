package flight

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestShared(t *testing.T) {
	var g Group[[]string]
	var calls atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{})
	fn := func(ctx context.Context) ([]string, error) {
		if calls.Add(1) == 1 {
			close(started)
		}
		<-release
		return []string{"WebUsers"}, nil
	}
	var wg sync.WaitGroup
	results := make(chan []string, 8)
	wg.Go(func() {
		v, _ := g.Do(context.Background(), "jdoe", fn)
		results <- v
	})
	<-started
	for range 7 {
		wg.Go(func() {
			v, _ := g.Do(context.Background(), "jdoe", fn)
			results <- v
		})
	}
	time.Sleep(20 * time.Millisecond) // let them join the flight
	close(release)
	wg.Wait()
	close(results)
	for v := range results {
		if len(v) != 1 || v[0] != "WebUsers" {
			t.Errorf("result %v", v)
		}
	}
	if n := calls.Load(); n < 1 || n > 2 {
		// At most one more call, from a caller that came after the first
		// had finished (not the case here, but not worth a flaky test).
		t.Errorf("%d calls for concurrent callers", n)
	}
}

func TestCallerGivesUp(t *testing.T) {
	var g Group[int]
	release := make(chan struct{})
	done := make(chan error, 1)
	fn := func(ctx context.Context) (int, error) {
		<-release
		done <- ctx.Err() // the call is detached from the caller
		return 1, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Do(ctx, "k", fn); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("the call saw its first caller's cancellation: %v", err)
	}
	// Once the flight has landed, the key is free for a new call.
	for i := 0; ; i++ {
		v, err := g.Do(context.Background(), "k", func(context.Context) (int, error) { return 2, nil })
		if v == 2 && err == nil {
			break
		}
		if i == 100 {
			t.Fatalf("after the flight: %v %v", v, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
