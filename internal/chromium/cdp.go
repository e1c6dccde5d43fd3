package chromium

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/goauthenntlm/goauthenntlm/internal/realbrowser"
)

// conn speaks the DevTools protocol over --remote-debugging-pipe: JSON
// messages, each ended by a NUL byte, commands written to the browser's
// fd 3 and answers and events read from its fd 4. Sessions are flat
// (Target.attachToTarget with flatten): a command for a page carries its
// sessionId, and so do the page's events.
type conn struct {
	w     io.Writer
	wmu   sync.Mutex // one message at a time on the pipe
	calls realbrowser.Calls

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
		r := realbrowser.Reply{Result: m.Result}
		if m.Error != nil {
			r.Err = m.Error
		}
		c.calls.Answer(m.ID, r)
	}
	c.calls.Close(fmt.Errorf("devtools pipe closed: %w", err))
}

// write sends one command; ch, if not nil, gets its answer.
func (c *conn) write(session, method string, params any, ch chan realbrowser.Reply) error {
	id, err := c.calls.Add(ch)
	if err != nil {
		return err
	}
	b, err := json.Marshal(message{ID: id, SessionID: session, Method: method, Params: params})
	if err != nil {
		c.calls.Drop(id)
		return fmt.Errorf("%s: %w", method, err)
	}
	c.wmu.Lock()
	_, err = c.w.Write(append(b, 0))
	c.wmu.Unlock()
	if err != nil {
		c.calls.Drop(id)
		return fmt.Errorf("%s: writing to the devtools pipe: %w", method, err)
	}
	return nil
}

// call sends a command and decodes its result into result (if not nil).
func (c *conn) call(ctx context.Context, session, method string, params, result any) error {
	ch := make(chan realbrowser.Reply, 1)
	if err := c.write(session, method, params, ch); err != nil {
		return err
	}
	return realbrowser.Await(ctx, method, ch, result)
}

// send sends a command without waiting for its answer, for event
// handlers (Fetch.continueRequest and the like).
func (c *conn) send(session, method string, params any) error {
	return c.write(session, method, params, nil)
}
