package realbrowser

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"sync"
	"time"

	"github.com/goauthenntlm/goauthenntlm/internal/procgroup"
)

// Process is a browser started in a process group of its own, so that its
// helper and content processes end with it.
type Process struct {
	cmd    *exec.Cmd
	Exited chan struct{} // closed once the browser's main process has exited
}

// Start starts cmd in a process group of its own.
func Start(cmd *exec.Cmd) (*Process, error) {
	cmd.SysProcAttr = procgroup.Attr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	p := &Process{cmd: cmd, Exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.Exited) }()
	return p, nil
}

// Kill kills the whole group and waits (10 s at most) for the browser to
// be reaped.
func (p *Process) Kill() {
	procgroup.Signal(p.cmd.Process.Pid, true)
	select {
	case <-p.Exited:
	case <-time.After(10 * time.Second):
	}
}

// AwaitExit waits up to d for the browser, asked to close, to exit, then
// kills what is left of its group; past d it kills the group and says so.
func (p *Process) AwaitExit(d time.Duration) error {
	select {
	case <-p.Exited:
		procgroup.Signal(p.cmd.Process.Pid, true)
		return nil
	case <-time.After(d):
		p.Kill()
		return fmt.Errorf("%s did not exit within %v of being asked to close; killed", p.cmd.Path, d)
	}
}

// KillWhenDone kills the group when ctx ends before the browser exits:
// a browser lives no longer than the test that started it.
func (p *Process) KillWhenDone(ctx context.Context) {
	go func() {
		select {
		case <-ctx.Done():
			p.Kill()
		case <-p.Exited:
		}
	}()
}

// Reply is the answer to one command of a browser's remote protocol
// (DevTools, WebDriver BiDi: both JSON, answers matched by id).
type Reply struct {
	Result json.RawMessage
	Err    error
}

// Calls are the commands sent and not yet answered, by id.
type Calls struct {
	mu      sync.Mutex
	next    int64
	waiting map[int64]chan Reply
	err     error // set once the connection is closed; later commands fail with it
}

// Add numbers a new command; ch, if not nil, will get its answer. It fails
// once the connection is closed.
func (c *Calls) Add(ch chan Reply) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	c.next++
	if ch != nil {
		if c.waiting == nil {
			c.waiting = map[int64]chan Reply{}
		}
		c.waiting[c.next] = ch
	}
	return c.next, nil
}

// Drop forgets command id (it could not be sent).
func (c *Calls) Drop(id int64) {
	c.mu.Lock()
	delete(c.waiting, id)
	c.mu.Unlock()
}

// Answer hands r to whoever waits for command id.
func (c *Calls) Answer(id int64, r Reply) {
	c.mu.Lock()
	ch := c.waiting[id]
	delete(c.waiting, id)
	c.mu.Unlock()
	if ch != nil {
		ch <- r
	}
}

// Close fails every waiting command and every later one with err.
func (c *Calls) Close(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = err
	for id, ch := range c.waiting {
		ch <- Reply{Err: err}
		delete(c.waiting, id)
	}
}

// Await waits for the answer to method on ch (made with room for one) and
// decodes its result into result (if not nil).
func Await(ctx context.Context, method string, ch <-chan Reply, result any) error {
	select {
	case r := <-ch:
		if r.Err != nil {
			return fmt.Errorf("%s: %w", method, r.Err)
		}
		if result != nil {
			if err := json.Unmarshal(r.Result, result); err != nil {
				return fmt.Errorf("%s: decoding the result: %w", method, err)
			}
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// Watch guards a browser user's state with a mutex and lets goroutines
// wait for it to change (a page loaded, a response seen).
type Watch struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every Update
}

// Update changes the state (f runs under the lock) and wakes the waiters.
func (w *Watch) Update(f func()) {
	w.mu.Lock()
	f()
	if w.changed != nil {
		close(w.changed)
	}
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

// Do runs f under the lock, waking no one.
func (w *Watch) Do(f func()) {
	w.mu.Lock()
	f()
	w.mu.Unlock()
}

// Wait waits until done (run under the lock) is true.
func (w *Watch) Wait(ctx context.Context, done func() bool) error {
	for {
		w.mu.Lock()
		ok := done()
		if w.changed == nil {
			w.changed = make(chan struct{})
		}
		ch := w.changed
		w.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
