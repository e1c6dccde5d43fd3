package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
)

// httpConn is a minimal HTTP/1.1 keep-alive client on one TCP connection:
// what the load generator needs and nothing more, so that its own cost
// stays small and equal for every variant.
type httpConn struct {
	c    net.Conn
	br   *bufio.Reader
	host string
	wbuf []byte
	// cookie is what the server set ("name=value; ..."), sent back as a
	// browser would: the authorizer ties logins to its binding cookie.
	cookie string
}

type httpResp struct {
	status  int
	wwwAuth string
	close   bool
	bodyLen int
}

func dialHTTP(addr string, timeout time.Duration) (*httpConn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return &httpConn{c: c, br: bufio.NewReaderSize(c, 16<<10), host: addr}, nil
}

func (h *httpConn) Close() error { return h.c.Close() }

// get sends one GET and reads the whole answer.
func (h *httpConn) get(path, authorization string, deadline time.Time) (httpResp, error) {
	var r httpResp
	h.c.SetDeadline(deadline)
	b := h.wbuf[:0]
	b = append(b, "GET "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, h.host...)
	b = append(b, "\r\nUser-Agent: goauthenntlm-bench\r\n"...)
	if h.cookie != "" {
		b = append(b, "Cookie: "...)
		b = append(b, h.cookie...)
		b = append(b, "\r\n"...)
	}
	if authorization != "" {
		b = append(b, "Authorization: "...)
		b = append(b, authorization...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	h.wbuf = b
	if _, err := h.c.Write(b); err != nil {
		return r, err
	}
	line, err := h.br.ReadSlice('\n')
	if err != nil {
		return r, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return r, fmt.Errorf("bad status line %q", line)
	}
	r.status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return r, fmt.Errorf("bad status line %q", line)
	}
	clen, chunked := -1, false
	for {
		line, err = h.br.ReadSlice('\n')
		if err != nil {
			return r, err
		}
		l := bytes.TrimRight(line, "\r\n")
		if len(l) == 0 {
			break
		}
		i := bytes.IndexByte(l, ':')
		if i < 0 {
			continue
		}
		k, v := l[:i], bytes.TrimSpace(l[i+1:])
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			clen, err = strconv.Atoi(string(v))
			if err != nil {
				return r, fmt.Errorf("bad Content-Length %q", v)
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			chunked = bytes.Contains(bytes.ToLower(v), []byte("chunked"))
		case bytes.EqualFold(k, []byte("Connection")):
			r.close = bytes.EqualFold(v, []byte("close"))
		case bytes.EqualFold(k, []byte("WWW-Authenticate")):
			r.wwwAuth = string(v)
		case bytes.EqualFold(k, []byte("Set-Cookie")):
			h.setCookie(v)
		}
	}
	switch {
	case chunked:
		for {
			line, err = h.br.ReadSlice('\n')
			if err != nil {
				return r, err
			}
			n, err := strconv.ParseInt(strings.TrimSpace(strings.SplitN(string(line), ";", 2)[0]), 16, 32)
			if err != nil {
				return r, fmt.Errorf("bad chunk size %q", line)
			}
			if n == 0 {
				// trailers
				for {
					line, err = h.br.ReadSlice('\n')
					if err != nil {
						return r, err
					}
					if len(bytes.TrimRight(line, "\r\n")) == 0 {
						break
					}
				}
				break
			}
			if _, err := h.br.Discard(int(n) + 2); err != nil {
				return r, err
			}
			r.bodyLen += int(n)
		}
	case clen >= 0:
		if _, err := h.br.Discard(clen); err != nil {
			return r, err
		}
		r.bodyLen = clen
	default:
		n, _ := io.Copy(io.Discard, h.br)
		r.bodyLen = int(n)
		r.close = true
	}
	return r, nil
}

// setCookie keeps the name=value part of a Set-Cookie, replacing a cookie
// of the same name.
func (h *httpConn) setCookie(v []byte) {
	nv, _, _ := strings.Cut(string(v), ";")
	name, _, _ := strings.Cut(nv, "=")
	var kept []string
	for _, c := range strings.Split(h.cookie, "; ") {
		if c != "" && !strings.HasPrefix(c, name+"=") {
			kept = append(kept, c)
		}
	}
	h.cookie = strings.Join(append(kept, strings.TrimSpace(nv)), "; ")
}

// ntlmLogin authenticates the connection with an NTLM handshake on path:
// Type1 (as curl --ntlm does, without a first anonymous request), the
// DC's Type2, then Type3; the last answer must be 200.
func (h *httpConn) ntlmLogin(path, user, pass string, deadline time.Time) error {
	t1, err := ntlmssp.NewNegotiateMessage("", "")
	if err != nil {
		return err
	}
	r, err := h.get(path, "NTLM "+base64.StdEncoding.EncodeToString(t1), deadline)
	if err != nil {
		return fmt.Errorf("type1: %w", err)
	}
	if r.status != 401 || !strings.HasPrefix(r.wwwAuth, "NTLM ") {
		return fmt.Errorf("type1: got %d %q, want 401 with an NTLM challenge", r.status, r.wwwAuth)
	}
	t2, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(r.wwwAuth, "NTLM "))
	if err != nil {
		return fmt.Errorf("type2: %w", err)
	}
	t3, err := ntlmssp.ProcessChallenge(t2, user, pass, false)
	if err != nil {
		return fmt.Errorf("type3: %w", err)
	}
	r, err = h.get(path, "NTLM "+base64.StdEncoding.EncodeToString(t3), deadline)
	if err != nil {
		return fmt.Errorf("type3: %w", err)
	}
	if r.status != 200 {
		return &statusErr{step: "type3", status: r.status}
	}
	if r.close {
		return errors.New("type3: server closed the authenticated connection")
	}
	return nil
}

type statusErr struct {
	step   string
	status int
}

func (e *statusErr) Error() string { return fmt.Sprintf("%s: status %d", e.step, e.status) }
