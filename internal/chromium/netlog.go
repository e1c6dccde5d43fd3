package chromium

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// NetLog is what Chromium's NetLog (--log-net-log, IncludeSensitive)
// says about HTTP authentication: every request sent with its headers,
// every response's headers, and Chromium's verdict on every challenge.
// DevTools' own Network events show neither the handshake's intermediate
// requests nor their Authorization headers.
type NetLog struct {
	Exchanges []Exchange   // in the order sent
	Verdicts  []AuthResult // in the order decided
	Connects  []string     // the address of every TCP connection attempted
}

// Exchange is one HTTP request as sent and the response headers read for
// it. A page load that authenticates is several exchanges of one source.
type Exchange struct {
	Source   int      // Chromium's URL_REQUEST source id
	Line     string   // request line, e.g. "GET /private/whoami?c=1 HTTP/1.1"
	Header   []string // request header lines
	Response []string // response status line and header lines; nil if none was read
}

// Get returns the value of request header name ("" if absent).
func (e Exchange) Get(name string) string { return lookup(e.Header, name) }

// Status is the response's status code, 0 if none was read.
func (e Exchange) Status() int {
	if len(e.Response) == 0 {
		return 0
	}
	var proto string
	var code int
	fmt.Sscanf(e.Response[0], "%s %d", &proto, &code)
	return code
}

func lookup(lines []string, name string) string {
	for _, l := range lines {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// AuthResult is Chromium's verdict on one challenge (AUTH_HANDLER_CREATE_RESULT):
// Err is "" when it could use it, else the net error's name, such as
// ERR_UNSUPPORTED_AUTH_SCHEME.
type AuthResult struct {
	Source                 int
	Challenge, Scheme, Err string
}

func (a AuthResult) String() string {
	s := fmt.Sprintf("auth: challenge %q -> scheme %q", a.Challenge, a.Scheme)
	if a.Err != "" {
		s += ": " + a.Err
	}
	return s
}

// ReadNetLog reads a NetLog file. A browser that was killed leaves the
// file without its end; what was written is still read.
func ReadNetLog(path string) (*NetLog, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSpace(b)
	if !json.Valid(b) {
		// Cut off mid-way: the events array is never closed.
		b = append(bytes.TrimRight(b, ", \n"), "]}"...)
	}
	var raw struct {
		Constants struct {
			LogEventTypes map[string]int `json:"logEventTypes"`
			NetError      map[string]int `json:"netError"`
		} `json:"constants"`
		Events []struct {
			Type   int `json:"type"`
			Source struct {
				ID int `json:"id"`
			} `json:"source"`
			Params json.RawMessage `json:"params"`
		} `json:"events"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("reading the NetLog %s: %w", path, err)
	}
	types := raw.Constants.LogEventTypes
	errName := map[int]string{}
	for k, v := range raw.Constants.NetError {
		errName[v] = k
	}
	send, read, verdict := types["HTTP_TRANSACTION_SEND_REQUEST_HEADERS"], types["HTTP_TRANSACTION_READ_RESPONSE_HEADERS"], types["AUTH_HANDLER_CREATE_RESULT"]
	connect := types["TCP_CONNECT_ATTEMPT"]
	if send == 0 || read == 0 {
		return nil, fmt.Errorf("the NetLog %s names no HTTP_TRANSACTION events", path)
	}
	nl := &NetLog{}
	last := map[int]int{} // source -> index of its last exchange
	for _, ev := range raw.Events {
		switch ev.Type {
		case send:
			var p struct {
				Line    string   `json:"line"`
				Headers []string `json:"headers"`
			}
			json.Unmarshal(ev.Params, &p)
			last[ev.Source.ID] = len(nl.Exchanges)
			nl.Exchanges = append(nl.Exchanges, Exchange{Source: ev.Source.ID, Line: strings.TrimSpace(p.Line), Header: p.Headers})
		case read:
			var p struct {
				Headers []string `json:"headers"`
			}
			json.Unmarshal(ev.Params, &p)
			if i, ok := last[ev.Source.ID]; ok {
				nl.Exchanges[i].Response = p.Headers
			}
		case connect:
			var p struct {
				Address string `json:"address"`
			}
			if json.Unmarshal(ev.Params, &p) == nil && p.Address != "" {
				nl.Connects = append(nl.Connects, p.Address)
			}
		case verdict:
			var p struct {
				Challenge string `json:"challenge"`
				Scheme    string `json:"scheme"`
				NetError  int    `json:"net_error"`
			}
			json.Unmarshal(ev.Params, &p)
			r := AuthResult{Source: ev.Source.ID, Challenge: p.Challenge, Scheme: p.Scheme}
			if p.NetError != 0 {
				r.Err = errName[p.NetError]
				if r.Err == "" {
					r.Err = fmt.Sprint(p.NetError)
				}
			}
			nl.Verdicts = append(nl.Verdicts, r)
		}
	}
	return nl, nil
}

// For returns the exchanges whose request line contains s (a path with a
// query string that marks one step of a test).
func (nl *NetLog) For(s string) []Exchange {
	var out []Exchange
	for _, e := range nl.Exchanges {
		if strings.Contains(e.Line, s) {
			out = append(out, e)
		}
	}
	return out
}

// Summary describes the exchanges whose request line contains s ("" for
// all) and every verdict on a challenge, for a test failure: the tokens
// are shortened, the Basic credentials hidden.
func (nl *NetLog) Summary(s string) string {
	var b strings.Builder
	for _, e := range nl.Exchanges {
		if !strings.Contains(e.Line, s) {
			continue
		}
		fmt.Fprintf(&b, "  -> [%d] %s", e.Source, e.Line)
		if a := e.Get("Authorization"); a != "" {
			fmt.Fprintf(&b, "  Authorization: %s", shorten(a))
		}
		if c := e.Get("Cookie"); c != "" {
			fmt.Fprintf(&b, "  Cookie: %s", shorten(c))
		}
		b.WriteString("\n")
		if len(e.Response) > 0 {
			fmt.Fprintf(&b, "  <- %s", e.Response[0])
			for _, l := range e.Response[1:] {
				k, v, _ := strings.Cut(l, ":")
				switch strings.ToLower(k) {
				case "www-authenticate", "connection", "set-cookie":
					fmt.Fprintf(&b, " | %s: %s", k, shorten(v))
				}
			}
			b.WriteString("\n")
		}
	}
	// Verdicts are logged on sources of their own: list each once.
	seen := map[string]int{}
	var order []string
	for _, v := range nl.Verdicts {
		k := v.String()
		if seen[k] == 0 {
			order = append(order, k)
		}
		seen[k]++
	}
	for _, k := range order {
		fmt.Fprintf(&b, "  %s (%d times)\n", k, seen[k])
	}
	return b.String()
}

// shorten keeps the scheme and the start of a token or cookie value, and
// never shows a Basic credential.
func shorten(v string) string {
	v = strings.TrimSpace(v)
	scheme, tok, _ := strings.Cut(v, " ")
	if strings.EqualFold(scheme, "Basic") && !strings.Contains(tok, "realm") {
		return "Basic <hidden>"
	}
	if len(v) > 60 {
		return v[:60] + "..."
	}
	return v
}
