package firefox

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// A Firefox HTTP log (MOZ_LOG nsHttp:5, NTLM, negotiateauth) cut to what
// ReadHTTPLog reads: a first 401 with three challenges (its merged view,
// a field with a newline, then the fields as received), a Type1 on a new
// connection, a line of another thread in the middle of a block.
const httpLogSample = `2026-12-06 03:14:22.500001 UTC - [Parent 1: Main Thread]: E/nsHttp nsHttpTransaction::Init [this=7f01 caps=1001001]
2026-12-06 03:14:22.500002 UTC - [Parent 1: Main Thread]: E/nsHttp http request [
2026-12-06 03:14:22.500003 UTC - [Parent 1: Main Thread]: E/nsHttp   GET /private/whoami?c=1-login HTTP/1.1
2026-12-06 03:14:22.500004 UTC - [Parent 1: Main Thread]: E/nsHttp   Host: 127.0.0.1:8080
2026-12-06 03:14:22.500005 UTC - [Parent 1: Socket Thread]: V/nsHttp something else
2026-12-06 03:14:22.500006 UTC - [Parent 1: Main Thread]: E/nsHttp   Connection: keep-alive
2026-12-06 03:14:22.500007 UTC - [Parent 1: Main Thread]: E/nsHttp   
2026-12-06 03:14:22.500008 UTC - [Parent 1: Main Thread]: E/nsHttp ]
2026-12-06 03:14:22.500009 UTC - [Parent 1: Socket Thread]: E/nsHttp nsHttpConnection::Activate [this=c1 trans=7f01 caps=1001001]
2026-12-06 03:14:22.500010 UTC - [Parent 1: Socket Thread]: D/nsHttp nsHttpTransaction::HandleContentStart [this=7f01]
2026-12-06 03:14:22.500011 UTC - [Parent 1: Socket Thread]: I/nsHttp http response [
2026-12-06 03:14:22.500012 UTC - [Parent 1: Socket Thread]: E/nsHttp   HTTP/1.1 401 Unauthorized
2026-12-06 03:14:22.500013 UTC - [Parent 1: Socket Thread]: E/nsHttp   WWW-Authenticate: NTLM
Negotiate
Basic realm="Intranet"
2026-12-06 03:14:22.500014 UTC - [Parent 1: Socket Thread]: E/nsHttp     OriginalHeaders
2026-12-06 03:14:22.500015 UTC - [Parent 1: Socket Thread]: E/nsHttp   WWW-Authenticate: NTLM
2026-12-06 03:14:22.500016 UTC - [Parent 1: Socket Thread]: E/nsHttp   WWW-Authenticate: Negotiate
2026-12-06 03:14:22.500017 UTC - [Parent 1: Socket Thread]: E/nsHttp   WWW-Authenticate: Basic realm="Intranet"
2026-12-06 03:14:22.500018 UTC - [Parent 1: Socket Thread]: E/nsHttp   Connection: Keep-Alive
2026-12-06 03:14:22.500019 UTC - [Parent 1: Socket Thread]: D/nsHttp nsHttpTransaction::HandleContent [this=7f01 count=0]
2026-12-06 03:14:22.500020 UTC - [Parent 1: Main Thread]: D/nsHttp trying auth for negotiate
2026-12-06 03:14:22.500021 UTC - [Parent 1: Main Thread]: D/negotiateauth entering nsAuthGSSAPI::GetNextToken()
2026-12-06 03:14:22.500022 UTC - [Parent 1: Main Thread]: D/negotiateauth nsHttpNegotiateAuth::ChallengeReceived URI blocked
2026-12-06 03:14:22.500023 UTC - [Parent 1: Main Thread]: D/nsHttp trying auth for ntlm
2026-12-06 03:14:22.500024 UTC - [Parent 1: Main Thread]: V/nsHttp Native sys-ntlm auth module not found.
2026-12-06 03:14:22.500025 UTC - [Parent 1: Main Thread]: D/nsHttp nsHttpChannelAuthProvider::PromptForIdentity [this=1 channel=2]
2026-12-06 03:14:22.500026 UTC - [Parent 1: Main Thread]: E/nsHttp nsHttpTransaction::Init [this=7f02 caps=1001001]
2026-12-06 03:14:22.500027 UTC - [Parent 1: Main Thread]: E/nsHttp http request [
2026-12-06 03:14:22.500028 UTC - [Parent 1: Main Thread]: E/nsHttp   GET /private/whoami?c=1-login HTTP/1.1
2026-12-06 03:14:22.500029 UTC - [Parent 1: Main Thread]: E/nsHttp   Authorization: NTLM TlRMTVNTUAABAAAAB4IIAAAAAAAAAAAAAAAAAAAAAAA=
2026-12-06 03:14:22.500030 UTC - [Parent 1: Main Thread]: E/nsHttp ]
2026-12-06 03:14:22.500031 UTC - [Parent 1: Socket Thread]: E/nsHttp nsHttpConnection::Activate [this=c2 trans=7f02 caps=1001001]
`

func TestReadHTTPLog(t *testing.T) {
	dir := t.TempDir()
	// The parent's log and a content process's, as Firefox names them.
	if err := os.WriteFile(filepath.Join(dir, "http.log.moz_log"), []byte(httpLogSample), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "http.log.child-1.moz_log"), []byte("2026-12-06 03:14:22.5 UTC - [Child 2: Main Thread]: D/nsHttp nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := ReadHTTPLog(filepath.Join(dir, "http.log*"))
	if err != nil {
		t.Fatal(err)
	}
	ex := l.For("c=1-login ")
	if len(ex) != 2 {
		t.Fatalf("%d exchanges: %+v", len(ex), l.Exchanges)
	}
	first, type1 := ex[0], ex[1]
	if first.Line != "GET /private/whoami?c=1-login HTTP/1.1" || first.Get("Host") != "127.0.0.1:8080" || first.Conn != "c1" || first.Source != "7f01" {
		t.Errorf("first request: %+v", first)
	}
	if got := first.Fields("WWW-Authenticate"); first.Status() != 401 || strings.Join(got, "|") != `NTLM|Negotiate|Basic realm="Intranet"` {
		t.Errorf("first answer: %d %q (want the fields as received)", first.Status(), got)
	}
	if type1.Conn != "c2" || type1.Get("Authorization") != "NTLM TlRMTVNTUAABAAAAB4IIAAAAAAAAAAAAAAAAAAAAAAA=" || type1.Status() != 0 {
		t.Errorf("Type1: %+v", type1)
	}
	want := []string{
		"auth: trying auth for negotiate",
		"negotiateauth: nsHttpNegotiateAuth::ChallengeReceived URI blocked",
		"auth: trying auth for ntlm",
		"auth: Native sys-ntlm auth module not found.",
		"auth: prompts for a user name and password",
	}
	if strings.Join(l.Verdicts, "\n") != strings.Join(want, "\n") {
		t.Errorf("verdicts:\n%s\nwant:\n%s", strings.Join(l.Verdicts, "\n"), strings.Join(want, "\n"))
	}
	if _, err := ReadHTTPLog(filepath.Join(dir, "none*")); err == nil {
		t.Errorf("no log files: no error")
	}
}

func TestUserJS(t *testing.T) {
	js, err := userJS(map[string]any{"b.str": `x"y`, "a.int": 9, "c.bool": false})
	if err != nil {
		t.Fatal(err)
	}
	if want := "user_pref(\"a.int\", 9);\nuser_pref(\"b.str\", \"x\\\"y\");\nuser_pref(\"c.bool\", false);\n"; js != want {
		t.Errorf("user.js:\n%s\nwant:\n%s", js, want)
	}
	for _, bad := range []map[string]any{
		{"a": 1.5},
		{"a\");\nuser_pref(\"x": 1},
	} {
		if js, err := userJS(bad); err == nil {
			t.Errorf("%q: accepted as\n%s", bad, js)
		}
	}
	// A value cannot end its line: it is escaped as the prefs parser reads it.
	if js, err := userJS(map[string]any{"a": "x\");\nuser_pref(\"y\", 1"}); err != nil || strings.Count(js, "\n") != 1 {
		t.Errorf("a value with a newline: %v\n%s", err, js)
	}
}

// The BiDi connection against a fake remote end: no Origin header (Firefox
// refuses a handshake with one), answers matched by id, errors typed,
// events handed to onEvent, a closed connection failing calls.
func TestConn(t *testing.T) {
	origin := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin <- r.Header.Get("Origin")
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := context.Background()
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				return
			}
			var id, method string
			if i := strings.Index(string(b), `"id":`); i >= 0 {
				id = strings.SplitN(string(b)[i+5:], ",", 2)[0]
			}
			if i := strings.Index(string(b), `"method":"`); i >= 0 {
				method = strings.SplitN(string(b)[i+10:], `"`, 2)[0]
			}
			switch method {
			case "session.new":
				ws.Write(ctx, websocket.MessageText, []byte(`{"type":"event","method":"browsingContext.load","params":{"context":"C"}}`))
				ws.Write(ctx, websocket.MessageText, []byte(`{"type":"success","id":`+id+`,"result":{"capabilities":{"browserName":"firefox"}}}`))
			case "bad.method":
				ws.Write(ctx, websocket.MessageText, []byte(`{"type":"error","id":`+id+`,"error":"unknown command","message":"bad.method"}`))
			case "browser.close":
				ws.Close(websocket.StatusNormalClosure, "")
				return
			}
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events := make(chan string, 1)
	c, err := dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/session", func(method string, _ json.RawMessage) { events <- method })
	if err != nil {
		t.Fatal(err)
	}
	if o := <-origin; o != "" {
		t.Errorf("the handshake carried Origin %q", o)
	}
	var r struct{ Capabilities struct{ BrowserName string } }
	if err := c.call(ctx, "session.new", map[string]any{"capabilities": map[string]any{}}, &r); err != nil || r.Capabilities.BrowserName != "firefox" {
		t.Fatalf("session.new: %+v %v", r, err)
	}
	if e := <-events; e != "browsingContext.load" {
		t.Errorf("event %q", e)
	}
	var pe *ProtocolError
	if err := c.call(ctx, "bad.method", nil, nil); err == nil || !errors.As(err, &pe) || pe.Code != "unknown command" {
		t.Errorf("error answer: %v", err)
	}
	if err := c.call(ctx, "browser.close", nil, nil); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("call on a closing connection: %v", err)
	}
	if err := c.send("session.status", nil); err == nil {
		t.Errorf("send after close: no error")
	}
}
