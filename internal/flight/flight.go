// Package flight shares one lookup among the concurrent callers asking for
// the same key (a browser opens several connections at once, each asking
// for the same user's groups). It is golang.org/x/sync/singleflight, typed,
// and detached from the first caller's cancellation: each caller waits only
// as long as its own context allows, and the call runs on for the others.
package flight

import (
	"context"

	"golang.org/x/sync/singleflight"
)

// Group deduplicates calls by key. The zero value is ready to use.
type Group[V any] struct {
	g singleflight.Group
}

// Do returns the result of fn for key, running fn only if no call for key
// is in flight. fn gets ctx without its cancellation (its values kept), so
// it must bound its own work; Do returns context.Cause(ctx) if ctx ends
// first.
func (g *Group[V]) Do(ctx context.Context, key string, fn func(context.Context) (V, error)) (V, error) {
	detached := context.WithoutCancel(ctx)
	ch := g.g.DoChan(key, func() (any, error) { return fn(detached) })
	select {
	case r := <-ch:
		v, _ := r.Val.(V)
		return v, r.Err
	case <-ctx.Done():
		var zero V
		return zero, context.Cause(ctx)
	}
}
