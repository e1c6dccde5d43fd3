package fcgi

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
)

// appendAnswer appends the complete answer to a request: STDOUT record(s)
// with CGI headers and body, empty STDOUT, END_REQUEST. What cannot be
// written safely (a header or variable that would inject another line, a
// reserved header, a status out of range) is left out or replaced, and
// logged to log.
func appendAnswer(dst []byte, id uint16, resp *Response, log *slog.Logger) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, headerLen)...) // placeholder, see frameStdout

	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	} else if status < 100 || status > 999 {
		log.Error("fcgi: handler returned an invalid status; answering 500", "status", status)
		status = http.StatusInternalServerError
	}
	dst = append(dst, "Status: "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	if text := http.StatusText(status); text != "" {
		dst = append(dst, ' ')
		dst = append(dst, text...)
	}
	dst = append(dst, "\r\n"...)

	for name, values := range resp.Header {
		if !validHeaderName(name) {
			log.Error("fcgi: dropping response header with an invalid name", "name", name)
			continue
		}
		// Status would contradict Response.Status; Variable-* would set
		// environment variables through what is documented as client
		// headers.
		if strings.EqualFold(name, "Status") || hasPrefixFold(name, "Variable-") {
			log.Error("fcgi: dropping reserved response header", "name", name)
			continue
		}
		for _, v := range values {
			if !validHeaderValue(v) {
				log.Error("fcgi: dropping response header with control characters (header injection?)", "name", name)
				continue
			}
			dst = append(dst, name...)
			dst = append(dst, ": "...)
			dst = append(dst, v...)
			dst = append(dst, "\r\n"...)
		}
	}
	for name, v := range resp.Variables {
		if !validHeaderName(name) {
			log.Error("fcgi: dropping variable with an invalid name", "name", name)
			continue
		}
		if !validHeaderValue(v) {
			log.Error("fcgi: dropping variable with control characters (header injection?)", "name", name)
			continue
		}
		dst = append(dst, "Variable-"...)
		dst = append(dst, name...)
		dst = append(dst, ": "...)
		dst = append(dst, v...)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	dst = append(dst, resp.Body...)
	return frameStdout(dst, start, id)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
}

// validHeaderValue reports whether v can be written as a header value: no
// control characters but tab. CR and LF would let a value start a new header
// (or the body); NUL would truncate it in Apache's C strings.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; (b < 0x20 && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}
