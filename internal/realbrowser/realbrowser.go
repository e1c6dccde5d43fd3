// Package realbrowser holds what the drivers of real browsers for the
// end-to-end tests (internal/chromium, internal/firefox) have in common:
// the page a navigation ended on, an authentication prompt, one HTTP
// exchange as the browser's own log recorded it, and the summary of such a
// log that a failing test prints. The tests read every browser the same
// way through these; only the way each browser is driven, and the format
// of its log, differ.
package realbrowser

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Page is what a navigation ended on.
type Page struct {
	Status int    // the main document's HTTP status
	Body   string // its text as rendered
}

// Prompt is one authentication prompt the browser showed.
type Prompt struct {
	URL, Scheme, Realm string
	Answered           bool // false: cancelled (a repeated prompt, or no user)
}

// Answered counts the prompts that were answered with credentials.
func Answered(ps []Prompt) int {
	n := 0
	for _, p := range ps {
		if p.Answered {
			n++
		}
	}
	return n
}

// Exchange is one HTTP request as the browser sent it and the response
// headers it read for it. A page load that authenticates is several
// exchanges.
type Exchange struct {
	Source   string   // the browser's id of the request or transaction
	Conn     string   // the browser's id of the connection it went on; "" if its log does not say
	Line     string   // request line, e.g. "GET /private/whoami?c=1 HTTP/1.1"
	Header   []string // request header lines
	Response []string // response status line and header lines; nil if none was read
}

// Get returns the value of request header name ("" if absent).
func (e Exchange) Get(name string) string { return Lookup(e.Header, name) }

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

// Fields returns the values of the response header name, one per field.
func (e Exchange) Fields(name string) []string {
	var out []string
	for _, l := range e.Response {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// Lookup returns the value of the first header line named name.
func Lookup(lines []string, name string) string {
	for _, l := range lines {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// For returns the exchanges whose request line contains s (a path with a
// query string that marks one step of a test).
func For(exs []Exchange, s string) []Exchange {
	var out []Exchange
	for _, e := range exs {
		if strings.Contains(e.Line, s) {
			out = append(out, e)
		}
	}
	return out
}

// Summary describes the exchanges whose request line contains s ("" for
// all), then the browser's verdicts on challenges (each once, with a
// count), for a test failure: tokens are shortened, Basic credentials
// hidden.
func Summary(exs []Exchange, s string, verdicts []string) string {
	var b strings.Builder
	for _, e := range exs {
		if !strings.Contains(e.Line, s) {
			continue
		}
		fmt.Fprintf(&b, "  -> [%s] %s", e.Source, e.Line)
		if a := e.Get("Authorization"); a != "" {
			fmt.Fprintf(&b, "  Authorization: %s", Shorten(a))
		}
		if c := e.Get("Cookie"); c != "" {
			fmt.Fprintf(&b, "  Cookie: %s", Shorten(c))
		}
		b.WriteString("\n")
		if len(e.Response) > 0 {
			fmt.Fprintf(&b, "  <- %s", e.Response[0])
			for _, l := range e.Response[1:] {
				k, v, _ := strings.Cut(l, ":")
				switch strings.ToLower(strings.TrimSpace(k)) {
				case "www-authenticate", "connection", "set-cookie":
					fmt.Fprintf(&b, " | %s: %s", strings.TrimSpace(k), Shorten(v))
				}
			}
			b.WriteString("\n")
		}
	}
	seen := map[string]int{}
	var order []string
	for _, v := range verdicts {
		if seen[v] == 0 {
			order = append(order, v)
		}
		seen[v]++
	}
	for _, k := range order {
		fmt.Fprintf(&b, "  %s (%d times)\n", k, seen[k])
	}
	return b.String()
}

// Shorten keeps the scheme and the start of a token or cookie value, and
// never shows a Basic credential.
func Shorten(v string) string {
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

// NTLMType is the NTLM message type an Authorization value carries (raw
// NTLM, in the NTLM or the Negotiate scheme), 0 if none.
func NTLMType(auth string) int {
	_, tok, _ := strings.Cut(auth, " ")
	switch {
	case strings.HasPrefix(tok, "TlRMTVNTUAAB"):
		return 1
	case strings.HasPrefix(tok, "TlRMTVNTUAAD"):
		return 3
	}
	return 0
}

// FormJS is JavaScript that adds a form to the current page and submits
// it as POST to action with fields, evaluating to "submitted".
func FormJS(action string, fields map[string]string) (string, error) {
	f, err := json.Marshal(fields)
	if err != nil {
		return "", err
	}
	a, _ := json.Marshal(action)
	return fmt.Sprintf(`(() => {
		const f = document.createElement('form');
		f.method = 'POST'; f.action = %s;
		for (const [k, v] of Object.entries(%s)) {
			const i = document.createElement('input');
			i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i);
		}
		document.documentElement.appendChild(f);
		f.submit();
		return 'submitted';
	})()`, a, f), nil
}
