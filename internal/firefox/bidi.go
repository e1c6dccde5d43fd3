package firefox

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/coder/websocket"

	"github.com/goauthenntlm/goauthenntlm/internal/realbrowser"
)

// conn speaks WebDriver BiDi over a WebSocket: commands {id, method,
// params}, answers {type: success|error, id, ...}, events {type: event,
// method, params}. github.com/coder/websocket sends no Origin header,
// which Firefox's remote agent requires (it refuses a handshake that has
// one).
type conn struct {
	ws    *websocket.Conn
	calls realbrowser.Calls

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

// dial opens a BiDi connection to url (ws://127.0.0.1:PORT/session).
func dial(ctx context.Context, url string, onEvent func(string, json.RawMessage)) (*conn, error) {
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("connecting to the WebDriver BiDi endpoint %s: %w", url, err)
	}
	ws.SetReadLimit(64 << 20)
	c := &conn{ws: ws, onEvent: onEvent}
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
		r := realbrowser.Reply{Result: m.Result}
		if m.Type == "error" {
			r.Err = &ProtocolError{Code: m.Error, Message: m.Message}
		}
		c.calls.Answer(m.ID, r)
	}
	c.calls.Close(fmt.Errorf("WebDriver BiDi connection closed: %w", err))
}

// write sends one command; ch, if not nil, gets its answer.
func (c *conn) write(method string, params any, ch chan realbrowser.Reply) error {
	if params == nil {
		params = struct{}{}
	}
	id, err := c.calls.Add(ch)
	if err != nil {
		return err
	}
	b, err := json.Marshal(command{ID: id, Method: method, Params: params})
	if err != nil {
		c.calls.Drop(id)
		return fmt.Errorf("%s: %w", method, err)
	}
	// coder/websocket serializes concurrent writers itself.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.calls.Drop(id)
		return fmt.Errorf("%s: writing to the WebDriver BiDi connection: %w", method, err)
	}
	return nil
}

// call sends a command and decodes its result into result (if not nil).
func (c *conn) call(ctx context.Context, method string, params, result any) error {
	ch := make(chan realbrowser.Reply, 1)
	if err := c.write(method, params, ch); err != nil {
		return err
	}
	return realbrowser.Await(ctx, method, ch, result)
}

// send sends a command without waiting for its answer, for event handlers.
func (c *conn) send(method string, params any) error {
	return c.write(method, params, nil)
}

func (c *conn) close() { c.ws.CloseNow() }
