package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
)

// A minimal FastCGI client that speaks to the authorizer as Apache's
// mod_authnz_fcgi does: a new TCP connection per request, BEGIN_REQUEST
// role AUTHORIZER (2) flags 0 request id 1, the PARAMS, an empty PARAMS
// record, no STDIN; then read until the server closes (it closes first, so
// TIME_WAIT lands on its side, as with Apache).

const (
	fcgiBeginRequest = 1
	fcgiEndRequest   = 3
	fcgiParams       = 4
	fcgiStdout       = 6
	fcgiStderr       = 7
)

type fcgiResp struct {
	status int
	header textproto.MIMEHeader
	body   []byte
}

func appendRecord(b []byte, typ byte, content []byte) []byte {
	for {
		n := len(content)
		if n > 65535 {
			n = 65535
		}
		pad := (8 - n%8) % 8
		b = append(b, 1, typ, 0, 1, byte(n>>8), byte(n), byte(pad), 0)
		b = append(b, content[:n]...)
		b = append(b, make([]byte, pad)...)
		content = content[n:]
		if len(content) == 0 {
			return b
		}
	}
}

func appendLen(b []byte, n int) []byte {
	if n < 128 {
		return append(b, byte(n))
	}
	return binary.BigEndian.AppendUint32(b, uint32(n)|1<<31)
}

// fcgiAuthorize sends one AUTHORIZER request with params and returns the
// answer parsed as CGI headers (Status: absent means 200).
func fcgiAuthorize(addr string, params [][2]string, timeout time.Duration) (fcgiResp, error) {
	var r fcgiResp
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return r, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))

	var pb []byte
	for _, kv := range params {
		pb = appendLen(pb, len(kv[0]))
		pb = appendLen(pb, len(kv[1]))
		pb = append(pb, kv[0]...)
		pb = append(pb, kv[1]...)
	}
	msg := make([]byte, 0, 64+len(pb))
	msg = appendRecord(msg, fcgiBeginRequest, []byte{0, 2, 0, 0, 0, 0, 0, 0})
	msg = appendRecord(msg, fcgiParams, pb)
	msg = append(msg, 1, fcgiParams, 0, 1, 0, 0, 0, 0)
	if _, err := c.Write(msg); err != nil {
		return r, err
	}

	br := bufio.NewReader(c)
	var stdout []byte
	ended := false
	var hdr [8]byte
	for !ended {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return r, fmt.Errorf("reading record: %w", err)
		}
		n := int(binary.BigEndian.Uint16(hdr[4:6]))
		buf := make([]byte, n+int(hdr[6]))
		if _, err := io.ReadFull(br, buf); err != nil {
			return r, fmt.Errorf("reading record body: %w", err)
		}
		switch hdr[1] {
		case fcgiStdout:
			stdout = append(stdout, buf[:n]...)
		case fcgiEndRequest:
			ended = true
		}
	}
	// Let the server close first, as it does with Apache.
	io.Copy(io.Discard, br)

	i := bytes.Index(stdout, []byte("\r\n\r\n"))
	if i < 0 {
		return r, errors.New("no end of CGI headers in STDOUT")
	}
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(stdout[:i+4])))
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		return r, err
	}
	r.header, r.body = h, stdout[i+4:]
	r.status = 200
	if s := h.Get("Status"); s != "" {
		if r.status, err = strconv.Atoi(strings.Fields(s)[0]); err != nil {
			return r, fmt.Errorf("bad Status %q", s)
		}
	}
	return r, nil
}

// fcgiClient is the fixed part of what "Apache" sends: the authorizer's
// address and the Apache server address the connection keys carry.
type fcgiClient struct {
	addr       string
	serverAddr string
	serverPort string
	timeout    time.Duration
	// secret is the caller secret the stack's config asks of Apache
	// (caller_secret_file), sent as Apache's RequestHeader sends it.
	secret string

	// cookies holds, per made-up browser connection, the binding cookie
	// its login got (auth.bind_connections), sent back as a browser would.
	cookies sync.Map // clientKey -> "NTLM_CONN=..."
}

// clientKey is a browser connection as Apache reports it. The bench makes
// up distinct REMOTE_ADDR/REMOTE_PORT pairs (no packet goes to them).
type clientKey struct {
	ip   string
	port int
}

func (f *fcgiClient) params(k clientKey, authorization string) [][2]string {
	p := [][2]string{
		{"FCGI_ROLE", "AUTHORIZER"},
		{"FCGI_APACHE_ROLE", "AUTHENTICATOR"},
		{"AUTH_TYPE", "NTLM"},
		{"REMOTE_ADDR", k.ip},
		{"REMOTE_PORT", strconv.Itoa(k.port)},
		{"SERVER_ADDR", f.serverAddr},
		{"SERVER_PORT", f.serverPort},
		{"SERVER_NAME", "127.0.0.1"},
		{"SERVER_PROTOCOL", "HTTP/1.1"},
		{"REQUEST_METHOD", "GET"},
		{"REQUEST_URI", "/private/file.txt"},
		{"HTTP_HOST", f.serverAddr + ":" + f.serverPort},
		{"HTTP_USER_AGENT", "goauthenntlm-bench"},
		{"HTTP_CONNECTION", "close"},
	}
	if authorization != "" {
		p = append(p, [2]string{"HTTP_AUTHORIZATION", authorization})
	}
	if f.secret != "" {
		p = append(p, [2]string{"HTTP_GOAUTHENNTLM_SECRET", f.secret})
	}
	if c, ok := f.cookies.Load(k); ok {
		p = append(p, [2]string{"HTTP_COOKIE", c.(string)})
	}
	return p
}

// type1 sends an NTLM Type1 for k and returns the DC's Type2.
func (f *fcgiClient) type1(k clientKey) ([]byte, error) {
	t1, err := ntlmssp.NewNegotiateMessage("", "")
	if err != nil {
		return nil, err
	}
	r, err := fcgiAuthorize(f.addr, f.params(k, "NTLM "+base64.StdEncoding.EncodeToString(t1)), f.timeout)
	if err != nil {
		return nil, err
	}
	wa := r.header.Get("Www-Authenticate")
	if r.status != 401 || !strings.HasPrefix(wa, "NTLM ") {
		return nil, &statusErr{step: "fcgi type1", status: r.status}
	}
	return base64.StdEncoding.DecodeString(strings.TrimPrefix(wa, "NTLM "))
}

// login does a full handshake for k: afterwards the authorizer tracks k as
// an authenticated connection.
func (f *fcgiClient) login(k clientKey, user, pass string) error {
	t2, err := f.type1(k)
	if err != nil {
		return err
	}
	t3, err := ntlmssp.ProcessChallenge(t2, user, pass, false)
	if err != nil {
		return err
	}
	r, err := fcgiAuthorize(f.addr, f.params(k, "NTLM "+base64.StdEncoding.EncodeToString(t3)), f.timeout)
	if err != nil {
		return err
	}
	if r.status != 200 || r.header.Get("Variable-Remote_user") == "" {
		return &statusErr{step: "fcgi type3", status: r.status}
	}
	if c := r.header.Get("Set-Cookie"); c != "" {
		nv, _, _ := strings.Cut(c, ";")
		f.cookies.Store(k, nv)
	}
	return nil
}

// touch is a later request on an authenticated connection (no
// Authorization header): true when the authorizer still knows k.
func (f *fcgiClient) touch(k clientKey) (bool, error) {
	r, err := fcgiAuthorize(f.addr, f.params(k, ""), f.timeout)
	if err != nil {
		return false, err
	}
	return r.status == 200, nil
}
