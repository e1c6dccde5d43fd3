// Package fcgi is a FastCGI 1.0 server for the Authorizer role, the role
// Apache's mod_authnz_fcgi uses to ask an external program whether a request
// may proceed. Go's net/http/fcgi only implements the Responder role, hence
// this package.
//
// The package owns the wire protocol (record framing, name-value pairs, this
// file) and the connection and request lifecycle on top of it (server.go):
// accepting connections, collecting a request's parameters, calling the
// Handler, and writing its answer as CGI headers ("Status:", response
// headers, "Variable-NAME:" lines that Apache turns into environment
// variables) plus body. It knows nothing about NTLM.
//
// The server is tuned for the way Apache 2.4 talks to an authorizer: a new
// TCP connection per request, a single request with keep_conn unset, no
// FCGI_STDIN. Such a request is answered by the connection's own goroutine
// with one write system call, and the server closes the connection first so
// that TIME_WAIT sockets accumulate on the daemon's side rather than on
// Apache's ephemeral ports. Peers that multiplex requests or keep
// connections open are still served correctly.
package fcgi

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// This file holds the raw record protocol only: pure functions over byte
// slices and strings, so that they can be fuzzed and tested in isolation.

const (
	version1 = 1

	// headerLen is the size of every record header (and also of the
	// BEGIN_REQUEST, END_REQUEST and UNKNOWN_TYPE bodies).
	headerLen = 8

	// maxContent is the largest content length one record can carry.
	maxContent = 65535

	// maxChunk is the content length used when a stream has to be split
	// over several records: the largest multiple of 8 that fits, so that
	// full chunks need no padding.
	maxChunk = maxContent &^ 7

	// flagKeepConn is the BEGIN_REQUEST flag asking the application to keep
	// the connection open after the request.
	flagKeepConn = 1
)

// recType is the type of a FastCGI record.
type recType uint8

const (
	typeBeginRequest    recType = 1
	typeAbortRequest    recType = 2
	typeEndRequest      recType = 3
	typeParams          recType = 4
	typeStdin           recType = 5
	typeStdout          recType = 6
	typeStderr          recType = 7
	typeData            recType = 8
	typeGetValues       recType = 9
	typeGetValuesResult recType = 10
	typeUnknownType     recType = 11
)

// protocolStatus is the protocolStatus field of an END_REQUEST record.
type protocolStatus uint8

const (
	statusRequestComplete protocolStatus = 0
	statusCantMultiplex   protocolStatus = 1
	statusOverloaded      protocolStatus = 2
	statusUnknownRole     protocolStatus = 3
)

// Names of the FCGI_GET_VALUES variables the server answers.
const (
	valueMaxConns  = "FCGI_MAX_CONNS"
	valueMaxReqs   = "FCGI_MAX_REQS"
	valueMpxsConns = "FCGI_MPXS_CONNS"
)

// errMalformed is wrapped by every error caused by bytes that do not follow
// the protocol, so that the server can tell a misbehaving peer (logged at
// warn) from a network error.
var errMalformed = errors.New("fcgi: malformed input")

// header is a decoded record header.
type header struct {
	typ           recType
	id            uint16
	contentLength uint16
	paddingLength uint8
}

// parseHeader decodes a record header. b must hold at least headerLen bytes.
func parseHeader(b []byte) (header, error) {
	_ = b[headerLen-1]
	if b[0] != version1 {
		return header{}, fmt.Errorf("%w: record version %d", errMalformed, b[0])
	}
	return header{
		typ:           recType(b[1]),
		id:            binary.BigEndian.Uint16(b[2:4]),
		contentLength: binary.BigEndian.Uint16(b[4:6]),
		paddingLength: b[6],
	}, nil
}

// paddingFor returns the padding that aligns n content bytes to 8 bytes, the
// alignment the specification recommends.
func paddingFor(n int) int { return -n & 7 }

// putHeader writes a record header into b[:headerLen]. contentLength must be
// at most maxContent and paddingLength at most 255.
func putHeader(b []byte, t recType, id uint16, contentLength, paddingLength int) {
	_ = b[headerLen-1]
	b[0] = version1
	b[1] = byte(t)
	binary.BigEndian.PutUint16(b[2:4], id)
	binary.BigEndian.PutUint16(b[4:6], uint16(contentLength))
	b[6] = byte(paddingLength)
	b[7] = 0
}

// appendHeader appends a record header to dst.
func appendHeader(dst []byte, t recType, id uint16, contentLength, paddingLength int) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, headerLen)...)
	putHeader(dst[n:], t, id, contentLength, paddingLength)
	return dst
}

// appendRecord appends one complete record (header, content, padding).
// len(content) must be at most maxContent.
func appendRecord(dst []byte, t recType, id uint16, content []byte) []byte {
	pad := paddingFor(len(content))
	dst = appendHeader(dst, t, id, len(content), pad)
	dst = append(dst, content...)
	return append(dst, make([]byte, pad)...)
}

// beginRequest is the body of a BEGIN_REQUEST record.
type beginRequest struct {
	role  Role
	flags uint8
}

// parseBeginRequest decodes a BEGIN_REQUEST body.
func parseBeginRequest(b []byte) (beginRequest, error) {
	if len(b) < 3 {
		return beginRequest{}, fmt.Errorf("%w: BEGIN_REQUEST body of %d bytes", errMalformed, len(b))
	}
	return beginRequest{role: Role(binary.BigEndian.Uint16(b[0:2])), flags: b[2]}, nil
}

// appendEndRequest appends an END_REQUEST record.
func appendEndRequest(dst []byte, id uint16, appStatus uint32, ps protocolStatus) []byte {
	dst = appendHeader(dst, typeEndRequest, id, 8, 0)
	dst = binary.BigEndian.AppendUint32(dst, appStatus)
	return append(dst, byte(ps), 0, 0, 0)
}

// appendUnknownType appends the UNKNOWN_TYPE answer to a management record
// of type t.
func appendUnknownType(dst []byte, t recType) []byte {
	dst = appendHeader(dst, typeUnknownType, 0, 8, 0)
	return append(dst, byte(t), 0, 0, 0, 0, 0, 0, 0)
}

// frameStdout turns buf[start:], an headerLen-byte placeholder followed by
// the whole answer (CGI headers and body), into the STDOUT record(s), then
// appends the empty STDOUT record and END_REQUEST: everything Apache needs,
// ready for a single write.
//
// The answer is built in place behind a placeholder because it nearly always
// fits one record, which avoids a copy. Apache requires the CGI headers to
// arrive in the first STDOUT record together with the start of the body, so
// a larger answer keeps as much as possible in the first record and only the
// rest of the body spills into further records.
func frameStdout(buf []byte, start int, id uint16) []byte {
	n := len(buf) - start - headerLen
	if n <= maxContent {
		pad := paddingFor(n)
		putHeader(buf[start:], typeStdout, id, n, pad)
		buf = append(buf, make([]byte, pad)...)
	} else {
		// Rare path: re-frame a copy of the content.
		content := append([]byte(nil), buf[start+headerLen:]...)
		buf = buf[:start]
		for len(content) > 0 {
			chunk := min(len(content), maxChunk)
			buf = appendRecord(buf, typeStdout, id, content[:chunk])
			content = content[chunk:]
		}
	}
	buf = appendHeader(buf, typeStdout, id, 0, 0)
	return appendEndRequest(buf, id, 0, statusRequestComplete)
}

// nextPair decodes the first name-value pair of s, returning the name, the
// value and what follows them. Names and values are substrings of s: a
// caller that converted a whole params stream to one string gets every pair
// without further allocation.
func nextPair(s string) (name, value, rest string, err error) {
	nameLen, s, err := pairLen(s)
	if err != nil {
		return "", "", "", err
	}
	valueLen, s, err := pairLen(s)
	if err != nil {
		return "", "", "", err
	}
	// Compare as uint64 so that two lengths near 2^31 cannot overflow int
	// on 32-bit platforms.
	if uint64(nameLen)+uint64(valueLen) > uint64(len(s)) {
		return "", "", "", fmt.Errorf("%w: name-value pair longer than its record", errMalformed)
	}
	return s[:nameLen], s[nameLen : nameLen+valueLen], s[nameLen+valueLen:], nil
}

// pairLen decodes a name-value length: one byte below 128, otherwise four
// bytes with the high bit set.
func pairLen(s string) (int, string, error) {
	if len(s) == 0 {
		return 0, "", fmt.Errorf("%w: truncated name-value length", errMalformed)
	}
	if s[0] < 0x80 {
		return int(s[0]), s[1:], nil
	}
	if len(s) < 4 {
		return 0, "", fmt.Errorf("%w: truncated name-value length", errMalformed)
	}
	n := uint32(s[0]&0x7f)<<24 | uint32(s[1])<<16 | uint32(s[2])<<8 | uint32(s[3])
	return int(n), s[4:], nil
}

// countPairs validates a whole params stream and returns the number of
// pairs, so that the map receiving them can be allocated at its final size.
func countPairs(s string) (int, error) {
	n := 0
	for len(s) > 0 {
		var err error
		if _, _, s, err = nextPair(s); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// parseParams decodes a whole params stream into a map. The map's strings
// share the memory of s.
func parseParams(s string) (map[string]string, error) {
	n, err := countPairs(s)
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, n)
	for len(s) > 0 {
		var name, value string
		name, value, s, _ = nextPair(s) // already validated by countPairs
		m[name] = value
	}
	return m, nil
}

// appendPairLen appends a name-value length in its one- or four-byte form.
func appendPairLen(dst []byte, n int) []byte {
	if n < 0x80 {
		return append(dst, byte(n))
	}
	return binary.BigEndian.AppendUint32(dst, uint32(n)|0x80000000)
}

// appendPair appends one name-value pair.
func appendPair(dst []byte, name, value string) []byte {
	dst = appendPairLen(dst, len(name))
	dst = appendPairLen(dst, len(value))
	dst = append(dst, name...)
	return append(dst, value...)
}
