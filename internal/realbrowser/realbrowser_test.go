package realbrowser

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestExchange(t *testing.T) {
	e := Exchange{
		Line:     "GET /a?c=1-login HTTP/1.1",
		Header:   []string{"Host: x", "Authorization: Basic amRvZTpzZWNyZXQ="},
		Response: []string{"HTTP/1.1 401 Unauthorized", "WWW-Authenticate: NTLM", "www-authenticate:  Negotiate ", "Connection: close"},
	}
	if e.Status() != 401 || e.Get("host") != "x" || strings.Join(e.Fields("WWW-Authenticate"), "|") != "NTLM|Negotiate" {
		t.Errorf("%d %q %q", e.Status(), e.Get("host"), e.Fields("WWW-Authenticate"))
	}
	sum := Summary([]Exchange{e, {Line: "GET /other HTTP/1.1"}}, "c=1-", []string{"v", "w", "v"})
	for _, want := range []string{"Basic <hidden>", "www-authenticate: Negotiate", "v (2 times)", "w (1 times)"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
	if strings.Contains(sum, "amRvZTpzZWNyZXQ=") || strings.Contains(sum, "/other") {
		t.Errorf("summary:\n%s", sum)
	}
	for auth, want := range map[string]int{"NTLM TlRMTVNTUAABAAAA": 1, "Negotiate TlRMTVNTUAADAAAA": 3, "Negotiate YIIB": 0, "": 0} {
		if got := NTLMType(auth); got != want {
			t.Errorf("NTLMType(%q) = %d, want %d", auth, got, want)
		}
	}
}

func TestFormJS(t *testing.T) {
	js, err := FormJS(`/x?a="b"`, map[string]string{"k": "</script>'"})
	if err != nil || !strings.Contains(js, `f.action = "/x?a=\"b\""`) || !strings.Contains(js, `"k":"\u003c/script\u003e'"`) {
		t.Errorf("%v\n%s", err, js)
	}
}

func TestCalls(t *testing.T) {
	var c Calls
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch := make(chan Reply, 1)
	id, err := c.Add(ch)
	if err != nil {
		t.Fatal(err)
	}
	if id2, _ := c.Add(nil); id2 == id {
		t.Errorf("two commands numbered %d", id)
	}
	c.Answer(id, Reply{Result: json.RawMessage(`{"v":7}`)})
	c.Answer(id, Reply{}) // a second answer for the id goes nowhere
	var r struct{ V int }
	if err := Await(ctx, "m", ch, &r); err != nil || r.V != 7 {
		t.Errorf("answer: %+v %v", r, err)
	}
	ch2 := make(chan Reply, 1)
	c.Add(ch2)
	closed := errors.New("closed")
	c.Close(closed)
	if err := Await(ctx, "m2", ch2, nil); !errors.Is(err, closed) {
		t.Errorf("waiting at close: %v", err)
	}
	if _, err := c.Add(nil); !errors.Is(err, closed) {
		t.Errorf("after close: %v", err)
	}
	short, cancel2 := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel2()
	if err := Await(short, "m3", make(chan Reply), nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("no answer: %v", err)
	}
}

func TestWatch(t *testing.T) {
	var w Watch
	n := 0
	done := make(chan error, 1)
	go func() {
		done <- w.Wait(context.Background(), func() bool { return n >= 2 })
	}()
	w.Update(func() { n++ })
	w.Update(func() { n++ })
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not see the updates")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Wait(ctx, func() bool { return false }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v", err)
	}
}
