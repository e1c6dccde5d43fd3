package fcgi

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// parseAnswer reads an encoded answer back as a web server would: STDOUT
// records up to the empty one, then END_REQUEST. It returns the CGI header
// lines and the body.
func parseAnswer(t *testing.T, b []byte, id uint16) (lines []string, body []byte) {
	t.Helper()
	var stdout []byte
	for first := true; ; first = false {
		h, err := parseHeader(b)
		if err != nil {
			t.Fatalf("record header: %v", err)
		}
		n := headerLen + int(h.contentLength) + int(h.paddingLength)
		if h.id != id || len(b) < n {
			t.Fatalf("record id %d (want %d), %d bytes of %d", h.id, id, len(b), n)
		}
		content := b[headerLen : headerLen+int(h.contentLength)]
		b = b[n:]
		if h.typ != typeStdout {
			t.Fatalf("record type %d, want STDOUT", h.typ)
		}
		if len(content) == 0 {
			break
		}
		if first && !bytes.Contains(content, []byte("\r\n\r\n")) {
			t.Fatal("the first STDOUT record does not hold all CGI headers")
		}
		stdout = append(stdout, content...)
	}
	h, err := parseHeader(b)
	if err != nil || h.typ != typeEndRequest || len(b) != headerLen+8 {
		t.Fatalf("answer does not end with one END_REQUEST: %v %+v, %d bytes left", err, h, len(b))
	}
	head, body, ok := bytes.Cut(stdout, []byte("\r\n\r\n"))
	if !ok {
		t.Fatal("no end of the CGI headers")
	}
	return strings.Split(string(head), "\r\n"), body
}

func TestAppendAnswer(t *testing.T) {
	resp := &Response{
		Status:    http.StatusUnauthorized,
		Header:    http.Header{"WWW-Authenticate": {"NTLM", "Negotiate"}, "Bad\nName": {"x"}, "X-Inject": {"a\r\nVariable-REMOTE_USER: admin"}, "Status": {"200"}},
		Variables: map[string]string{"REMOTE_USER": "jdoe", "AD GROUPS": "x"},
		Body:      []byte("no\r\n\r\n"),
	}
	lines, body := parseAnswer(t, appendAnswer(nil, 3, resp, slog.New(slog.DiscardHandler)), 3)
	want := map[string]bool{"Status: 401 Unauthorized": true, "WWW-Authenticate: NTLM": true, "WWW-Authenticate: Negotiate": true, "Variable-REMOTE_USER: jdoe": true}
	if len(lines) != len(want) || lines[0] != "Status: 401 Unauthorized" {
		t.Fatalf("header lines %q", lines)
	}
	for _, l := range lines {
		if !want[l] {
			t.Errorf("unexpected line %q", l)
		}
	}
	if string(body) != "no\r\n\r\n" {
		t.Errorf("body %q", body)
	}
	for _, st := range []int{0, 99, 1000, -1} {
		lines, _ := parseAnswer(t, appendAnswer(nil, 1, &Response{Status: st}, slog.New(slog.DiscardHandler)), 1)
		if want := map[bool]string{true: "Status: 200 OK", false: "Status: 500 Internal Server Error"}[st == 0]; lines[0] != want {
			t.Errorf("status %d: %q, want %q", st, lines[0], want)
		}
	}
	big := bytes.Repeat([]byte("x"), 3*maxContent)
	if _, body := parseAnswer(t, appendAnswer(nil, 1, &Response{Body: big}, slog.New(slog.DiscardHandler)), 1); !bytes.Equal(body, big) {
		t.Error("a body spanning several records came back changed")
	}
}

// FuzzAppendAnswer: whatever a handler returns, the answer is well framed,
// starts with the handler's status line, and every other line is a header
// or variable the handler set, whole: no value can start a line of its own.
func FuzzAppendAnswer(f *testing.F) {
	f.Add(200, "WWW-Authenticate", "NTLM", "REMOTE_USER", "jdoe", []byte("body"))
	f.Add(401, "X", "a\r\nVariable-REMOTE_USER: admin", "A\r\nB", "v\n", []byte{})
	f.Add(0, "Variable-REMOTE_USER", "admin", "", "", []byte("\r\n\r\n"))
	f.Fuzz(func(t *testing.T, status int, hname, hval, vname, vval string, body []byte) {
		resp := &Response{Status: status, Header: http.Header{hname: {hval}}, Variables: map[string]string{vname: vval}, Body: body}
		lines, got := parseAnswer(t, appendAnswer(nil, 1, resp, slog.New(slog.DiscardHandler)), 1)
		if !strings.HasPrefix(lines[0], "Status: ") {
			t.Fatalf("first line %q", lines[0])
		}
		for _, l := range lines[1:] {
			if l != hname+": "+hval && l != "Variable-"+vname+": "+vval {
				t.Fatalf("line %q is neither the header nor the variable set", l)
			}
			if strings.HasPrefix(strings.ToLower(l), "variable-") && l != "Variable-"+vname+": "+vval {
				t.Fatalf("a header became a variable: %q", l)
			}
		}
		if !bytes.Equal(got, body) {
			t.Fatal("body changed")
		}
	})
}
