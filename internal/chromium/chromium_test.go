package chromium

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A NetLog as Chromium writes it, cut to what ReadNetLog reads: a login
// refused because of a merged challenge, then one that works.
const netlogSample = `{"constants":{"logEventTypes":{"HTTP_TRANSACTION_SEND_REQUEST_HEADERS":10,"HTTP_TRANSACTION_READ_RESPONSE_HEADERS":11,"AUTH_HANDLER_CREATE_RESULT":12,"TCP_CONNECT_ATTEMPT":13},"netError":{"ERR_UNSUPPORTED_AUTH_SCHEME":-339}},
"events":[
{"type":13,"source":{"id":5,"type":3},"phase":1,"params":{"address":"127.0.0.1:8080"}},
{"type":10,"source":{"id":7,"type":1},"phase":0,"params":{"line":"GET /a?c=1-login HTTP/1.1\r\n","headers":["Host: x"]}},
{"type":11,"source":{"id":7,"type":1},"phase":0,"params":{"headers":["HTTP/1.1 401 Unauthorized","WWW-Authenticate: NTLM, Basic realm=\"R\""]}},
{"type":12,"source":{"id":8,"type":2},"phase":0,"params":{"challenge":"NTLM, Basic realm=\"R\"","scheme":"ntlm,","net_error":-339}},
{"type":10,"source":{"id":9,"type":1},"phase":0,"params":{"line":"GET /a?c=1-next HTTP/1.1\r\n","headers":["Host: x","Authorization: Basic amRvZTpzZWNyZXQ="]}},
{"type":11,"source":{"id":9,"type":1},"phase":0,"params":{"headers":["HTTP/1.1 200 OK"]}},
{"type":12,"source":{"id":8,"type":2},"phase":0,"params":{"challenge":"NTLM","scheme":"ntlm"}}
]}`

func TestReadNetLog(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		exchanges  int
	}{
		{"complete", netlogSample, 2},
		// A killed browser leaves the events array open.
		{"cut off", strings.TrimSuffix(netlogSample, "\n]}") + ",\n", 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "netlog.json")
			if err := os.WriteFile(p, []byte(tt.text), 0o600); err != nil {
				t.Fatal(err)
			}
			nl, err := ReadNetLog(p)
			if err != nil {
				t.Fatal(err)
			}
			if len(nl.Exchanges) != tt.exchanges {
				t.Fatalf("%d exchanges: %+v", len(nl.Exchanges), nl.Exchanges)
			}
			if fmt.Sprint(nl.Connects) != "[127.0.0.1:8080]" {
				t.Errorf("connects: %q", nl.Connects)
			}
			login := nl.For("c=1-login ")
			if len(login) != 1 || login[0].Status() != 401 || login[0].Line != "GET /a?c=1-login HTTP/1.1" || login[0].Get("host") != "x" {
				t.Errorf("login: %+v", login)
			}
			if got := nl.Verdicts[0].String(); got != `auth: challenge "NTLM, Basic realm=\"R\"" -> scheme "ntlm,": ERR_UNSUPPORTED_AUTH_SCHEME` {
				t.Errorf("verdict: %s", got)
			}
			sum := nl.Summary("")
			if strings.Contains(sum, "amRvZTpzZWNyZXQ=") || !strings.Contains(sum, "Basic <hidden>") {
				t.Errorf("the summary shows a Basic credential:\n%s", sum)
			}
			if !strings.Contains(sum, "ERR_UNSUPPORTED_AUTH_SCHEME (1 times)") || !strings.Contains(sum, `WWW-Authenticate: NTLM, Basic realm="R"`) {
				t.Errorf("summary:\n%s", sum)
			}
		})
	}
}

// The pipe protocol against a fake browser: NUL-terminated JSON, answers
// matched by id, events handed to onEvent, a closed pipe failing calls.
func TestConn(t *testing.T) {
	toBrowser, fromUs := io.Pipe()
	toUs, fromBrowser := io.Pipe()
	events := make(chan string, 1)
	c := &conn{w: fromUs, onEvent: func(session, method string, _ json.RawMessage) {
		events <- session + " " + method
	}}
	go c.read(toUs)
	go func() { // the browser
		r := bufio.NewReader(toBrowser)
		for {
			b, err := r.ReadBytes(0)
			if err != nil {
				return
			}
			var m inMessage
			json.Unmarshal(b[:len(b)-1], &m)
			switch m.Method {
			case "Browser.getVersion":
				io.WriteString(fromBrowser, `{"method":"Page.loadEventFired","sessionId":"S","params":{}}`+"\x00")
				out, _ := json.Marshal(map[string]any{"id": m.ID, "result": map[string]string{"product": "Chrome/1"}})
				fromBrowser.Write(append(out, 0))
			case "Bad.method":
				out, _ := json.Marshal(map[string]any{"id": m.ID, "error": map[string]any{"code": -32601, "message": "'Bad.method' wasn't found"}})
				fromBrowser.Write(append(out, 0))
			case "Browser.close":
				fromBrowser.Close()
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var v struct{ Product string }
	if err := c.call(ctx, "", "Browser.getVersion", nil, &v); err != nil || v.Product != "Chrome/1" {
		t.Fatalf("getVersion: %+v %v", v, err)
	}
	if e := <-events; e != "S Page.loadEventFired" {
		t.Errorf("event %q", e)
	}
	if err := c.call(ctx, "", "Bad.method", nil, nil); err == nil || !strings.Contains(err.Error(), "wasn't found") {
		t.Errorf("protocol error: %v", err)
	}
	if err := c.call(ctx, "", "Browser.close", nil, nil); err == nil || !strings.Contains(err.Error(), "pipe closed") {
		t.Errorf("call on a closing pipe: %v", err)
	}
	if err := c.send("", "Page.enable", nil); err == nil {
		t.Errorf("send after close: no error")
	}
}
