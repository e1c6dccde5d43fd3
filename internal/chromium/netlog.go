package chromium

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/goauthenntlm/goauthenntlm/internal/realbrowser"
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
// it, Source being Chromium's URL_REQUEST source id.
type Exchange = realbrowser.Exchange

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
			nl.Exchanges = append(nl.Exchanges, Exchange{Source: fmt.Sprint(ev.Source.ID), Line: strings.TrimSpace(p.Line), Header: p.Headers})
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
func (nl *NetLog) For(s string) []Exchange { return realbrowser.For(nl.Exchanges, s) }

// Summary describes the exchanges whose request line contains s ("" for
// all) and every verdict on a challenge, for a test failure: the tokens
// are shortened, the Basic credentials hidden.
func (nl *NetLog) Summary(s string) string {
	vs := make([]string, len(nl.Verdicts))
	for i, v := range nl.Verdicts {
		vs[i] = v.String()
	}
	return realbrowser.Summary(nl.Exchanges, s, vs)
}
