package firefox

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// conn speaks WebDriver BiDi over a WebSocket: commands {id, method,
// params}, answers {type: success|error, id, ...}, events {type: event,
// method, params}. github.com/coder/websocket sends no Origin header,
// which Firefox's remote agent requires (it refuses a handshake that has
// one).
type conn struct {
	ws *websocket.Conn

	mu     sync.Mutex
	nextID int64
	calls  map[int64]chan reply
	err    error // set once the socket is closed; later calls fail with it

	// onEvent is called on the reading goroutine for every event: it must
	// not wait for an answer to a command of its own (see send).
	onEvent func(method string, params json.RawMessage)
}

type command struct {
	ID     int64  `json:"id"`
	Method string `json:"method"`
	Params any    `json:"params"`
}

type inMessage struct {
	Type    string          `json:"type"`
	ID      int64           `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   string          `json:"error"`
	Message string          `json:"message"`
}

// ProtocolError is an error answer of the remote end.
type ProtocolError struct{ Code, Message string }

func (e *ProtocolError) Error() string { return e.Code + ": " + e.Message }

type reply struct {
	result json.RawMessage
	err    error
}

// dial opens a BiDi connection to url (ws://127.0.0.1:PORT/session).
func dial(ctx context.Context, url string, onEvent func(string, json.RawMessage)) (*conn, error) {
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("connecting to the WebDriver BiDi endpoint %s: %w", url, err)
	}
	ws.SetReadLimit(64 << 20)
	c := &conn{ws: ws, calls: map[int64]chan reply{}, onEvent: onEvent}
	go c.read()
	return c, nil
}

// read dispatches what the browser sends until the socket closes.
func (c *conn) read() {
	var err error
	for {
		var b []byte
		_, b, err = c.ws.Read(context.Background())
		if err != nil {
			break
		}
		var m inMessage
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		if m.Type == "event" {
			c.onEvent(m.Method, m.Params)
			continue
		}
		c.mu.Lock()
		ch := c.calls[m.ID]
		delete(c.calls, m.ID)
		c.mu.Unlock()
		if ch != nil {
			r := reply{result: m.Result}
			if m.Type == "error" {
				r.err = &ProtocolError{Code: m.Error, Message: m.Message}
			}
			ch <- r
		}
	}
	c.mu.Lock()
	c.err = fmt.Errorf("WebDriver BiDi connection closed: %w", err)
	for id, ch := range c.calls {
		ch <- reply{err: c.err}
		delete(c.calls, id)
	}
	c.mu.Unlock()
}

// write sends one command; ch, if not nil, gets its answer.
func (c *conn) write(method string, params any, ch chan reply) error {
	if params == nil {
		params = struct{}{}
	}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return c.err
	}
	c.nextID++
	id := c.nextID
	b, err := json.Marshal(command{ID: id, Method: method, Params: params})
	if err != nil {
		c.mu.Unlock()
		return fmt.Errorf("%s: %w", method, err)
	}
	if ch != nil {
		c.calls[id] = ch
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.mu.Lock()
		delete(c.calls, id)
		c.mu.Unlock()
		return fmt.Errorf("%s: writing to the WebDriver BiDi connection: %w", method, err)
	}
	return nil
}

// call sends a command and decodes its result into result (if not nil).
func (c *conn) call(ctx context.Context, method string, params, result any) error {
	ch := make(chan reply, 1)
	if err := c.write(method, params, ch); err != nil {
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

// send sends a command without waiting for its answer, for event handlers.
func (c *conn) send(method string, params any) error {
	return c.write(method, params, nil)
}

func (c *conn) close() { c.ws.CloseNow() }
