package chromium

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// conn speaks the DevTools protocol over --remote-debugging-pipe: JSON
// messages, each ended by a NUL byte, commands written to the browser's
// fd 3 and answers and events read from its fd 4. Sessions are flat
// (Target.attachToTarget with flatten): a command for a page carries its
// sessionId, and so do the page's events.
type conn struct {
	w io.Writer

	mu     sync.Mutex
	nextID int64
	calls  map[int64]chan reply
	err    error // set once the pipe is closed; later calls fail with it

	// onEvent is called on the reading goroutine for every event: it must
	// not wait for an answer to a command of its own (see send).
	onEvent func(session, method string, params json.RawMessage)
}

type message struct {
	ID        int64           `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    any             `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *protocolError  `json:"error,omitempty"`
}

type inMessage struct {
	ID        int64           `json:"id"`
	SessionID string          `json:"sessionId"`
	Method    string          `json:"method"`
	Params    json.RawMessage `json:"params"`
	Result    json.RawMessage `json:"result"`
	Error     *protocolError  `json:"error"`
}

type protocolError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *protocolError) Error() string { return fmt.Sprintf("%s (%d)", e.Message, e.Code) }

type reply struct {
	result json.RawMessage
	err    error
}

// read dispatches what the browser writes until the pipe closes.
func (c *conn) read(r io.Reader) {
	br := bufio.NewReaderSize(r, 1<<16)
	var err error
	for {
		var b []byte
		b, err = br.ReadBytes(0)
		if err != nil {
			break
		}
		var m inMessage
		if err := json.Unmarshal(b[:len(b)-1], &m); err != nil {
			continue
		}
		if m.Method != "" {
			c.onEvent(m.SessionID, m.Method, m.Params)
			continue
		}
		c.mu.Lock()
		ch := c.calls[m.ID]
		delete(c.calls, m.ID)
		c.mu.Unlock()
		if ch != nil {
			r := reply{result: m.Result}
			if m.Error != nil {
				r.err = m.Error
			}
			ch <- r
		}
	}
	c.mu.Lock()
	c.err = fmt.Errorf("devtools pipe closed: %w", err)
	for id, ch := range c.calls {
		ch <- reply{err: c.err}
		delete(c.calls, id)
	}
	c.mu.Unlock()
}

// write sends one command; ch, if not nil, gets its answer.
func (c *conn) write(session, method string, params any, ch chan reply) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.nextID++
	b, err := json.Marshal(message{ID: c.nextID, SessionID: session, Method: method, Params: params})
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	if ch != nil {
		c.calls[c.nextID] = ch
	}
	if _, err := c.w.Write(append(b, 0)); err != nil {
		delete(c.calls, c.nextID)
		return fmt.Errorf("%s: writing to the devtools pipe: %w", method, err)
	}
	return nil
}

// call sends a command and decodes its result into result (if not nil).
func (c *conn) call(ctx context.Context, session, method string, params, result any) error {
	ch := make(chan reply, 1)
	if err := c.write(session, method, params, ch); err != nil {
		return err
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return fmt.Errorf("%s: %w", method, r.err)
		}
		if result != nil {
			if err := json.Unmarshal(r.result, result); err != nil {
				return fmt.Errorf("%s: decoding the result: %w", method, err)
			}
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// send sends a command without waiting for its answer, for event
// handlers (Fetch.continueRequest and the like).
func (c *conn) send(session, method string, params any) error {
	return c.write(session, method, params, nil)
}
