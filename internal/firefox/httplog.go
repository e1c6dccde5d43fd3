package firefox

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/goauthenntlm/goauthenntlm/internal/realbrowser"
)

// HTTPLog is what Firefox's HTTP log (MOZ_LOG nsHttp, NTLM and
// negotiateauth) says about HTTP authentication: every request as sent,
// with its headers (Authorization in clear: the profile turns off
// network.http.sanitize-headers-in-logs), the response headers read for
// it, one WWW-Authenticate line per field as received, the connection
// each went on, and Firefox's reasoning on each challenge (which scheme it
// tried, what its NTLM and GSSAPI modules said, when it prompted).
type HTTPLog struct {
	Exchanges []realbrowser.Exchange // in the order sent
	Verdicts  []string               // in the order logged
}

// logLine is "2026-12-06 03:14:22.530348 UTC - [Parent 3342: Main Thread]: E/nsHttp message".
var logLine = regexp.MustCompile(`^\S+ \S+ UTC - \[([^\]]+)\]: [A-Z]/(\S+) ?(.*)$`)

var (
	transInit   = regexp.MustCompile(`^nsHttpTransaction::Init \[this=([0-9a-f]+)`)
	transStart  = regexp.MustCompile(`^nsHttpTransaction::HandleContentStart \[this=([0-9a-f]+)`)
	connActive  = regexp.MustCompile(`^nsHttpConnection::Activate \[this=([0-9a-f]+) trans=([0-9a-f]+)`)
	challengeOf = regexp.MustCompile(`challenges=(.*)\]$`)
)

// ReadHTTPLog reads the log files matching glob (Firefox writes one per
// process: FILE.moz_log for the parent, where the network is, and
// FILE.child-N.moz_log). A browser that was killed leaves what was written.
func ReadHTTPLog(glob string) (*HTTPLog, error) {
	files, err := filepath.Glob(glob)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no Firefox HTTP log matches %s", glob)
	}
	sort.Strings(files)
	l := &HTTPLog{}
	for _, f := range files {
		if err := l.read(f); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (l *HTTPLog) read(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	type block struct {
		ex       int  // index in Exchanges
		response bool // a response block (else a request block)
		original bool // in its OriginalHeaders part
	}
	open := map[string]*block{}         // by thread
	pendingTrans := map[string]string{} // by thread: the transaction the next block is for
	byTrans := map[string]int{}         // transaction -> its latest exchange
	var last *[]string                  // the header list a continuation line belongs to
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		m := logLine.FindStringSubmatch(sc.Text())
		if m == nil {
			// A header value with a newline (Firefox joins same-named
			// fields with one) goes on without the prefix.
			if last != nil && len(*last) > 0 {
				(*last)[len(*last)-1] += "\n" + sc.Text()
			}
			continue
		}
		thread, module, msg := m[1], m[2], m[3]
		if b := open[thread]; b != nil {
			if b.response && strings.TrimSpace(msg) == "OriginalHeaders" {
				// The headers as received, one line per field: they
				// replace the merged view printed first.
				e := &l.Exchanges[b.ex]
				e.Response = e.Response[:1]
				b.original = true
				last = &e.Response
				continue
			}
			if !b.response && msg == "]" {
				delete(open, thread)
				last = nil
				continue
			}
			if strings.HasPrefix(msg, "  ") {
				line := strings.TrimPrefix(msg, "  ")
				e := &l.Exchanges[b.ex]
				if b.response {
					e.Response = append(e.Response, line)
					last = &e.Response
				} else if e.Line == "" {
					e.Line = strings.TrimSpace(line)
				} else if line != "" {
					e.Header = append(e.Header, line)
					last = &e.Header
				}
				continue
			}
			if b.response {
				delete(open, thread)
				last = nil
			}
		}
		if module != "nsHttp" {
			msg = strings.TrimSpace(msg)
			if (module == "negotiateauth" || module == "NTLM") && !strings.HasPrefix(msg, "entering") && !strings.HasPrefix(msg, "leaving") && !strings.HasPrefix(msg, "Attempting") {
				l.Verdicts = append(l.Verdicts, module+": "+msg)
			}
			continue
		}
		switch {
		case msg == "http request [":
			l.Exchanges = append(l.Exchanges, realbrowser.Exchange{Source: pendingTrans[thread]})
			byTrans[pendingTrans[thread]] = len(l.Exchanges) - 1
			open[thread] = &block{ex: len(l.Exchanges) - 1}
			delete(pendingTrans, thread)
		case msg == "http response [":
			i, ok := byTrans[pendingTrans[thread]]
			delete(pendingTrans, thread)
			if !ok {
				continue
			}
			l.Exchanges[i].Response = nil
			open[thread] = &block{ex: i, response: true}
		case transInit.MatchString(msg):
			pendingTrans[thread] = transInit.FindStringSubmatch(msg)[1]
		case transStart.MatchString(msg):
			pendingTrans[thread] = transStart.FindStringSubmatch(msg)[1]
		case connActive.MatchString(msg):
			c := connActive.FindStringSubmatch(msg)
			if i, ok := byTrans[c[2]]; ok {
				l.Exchanges[i].Conn = c[1]
			}
		case strings.HasPrefix(msg, "trying auth for "):
			l.Verdicts = append(l.Verdicts, "auth: "+msg)
		case strings.Contains(msg, "::PromptForIdentity"):
			l.Verdicts = append(l.Verdicts, "auth: prompts for a user name and password")
		case strings.Contains(msg, "::GetCredentialsForChallenge"):
			if c := challengeOf.FindStringSubmatch(msg); c != nil {
				l.Verdicts = append(l.Verdicts, "auth: challenge "+realbrowser.Shorten(c[1]))
			}
		case strings.HasPrefix(msg, "Default credentials allowed"), strings.Contains(msg, "sys-ntlm"),
			strings.Contains(msg, "internal ntlm"), strings.HasPrefix(msg, "Force use of generic ntlm"):
			l.Verdicts = append(l.Verdicts, "auth: "+msg)
		case strings.Contains(msg, "auth") && (strings.Contains(msg, "unsupported") || strings.Contains(msg, "failed")):
			l.Verdicts = append(l.Verdicts, "auth: "+msg)
		}
	}
	return sc.Err()
}

// For returns the exchanges whose request line contains s.
func (l *HTTPLog) For(s string) []realbrowser.Exchange { return realbrowser.For(l.Exchanges, s) }

// Summary describes the exchanges whose request line contains s ("" for
// all) and Firefox's reasoning on the challenges, for a test failure.
func (l *HTTPLog) Summary(s string) string { return realbrowser.Summary(l.Exchanges, s, l.Verdicts) }
