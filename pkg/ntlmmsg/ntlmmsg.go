// Package ntlmmsg encodes and decodes the NTLM authentication messages of
// [MS-NLMP]: NEGOTIATE, CHALLENGE and AUTHENTICATE, the AV_PAIR list carried
// in TargetInfo, and the NTLMv2 client computation used to turn a password
// into an AUTHENTICATE message.
//
// The package is pure: bytes in, structs out. It does no I/O, keeps no state
// between calls and never verifies a response; verification belongs to the
// domain controller the messages are relayed to. Every decoder treats its
// input as hostile: an offset or length outside the message is reported as an
// error wrapping [ErrMalformed], never as a panic, and messages larger than
// 64 KiB are refused outright.
//
// [MS-NLMP]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-nlmp/
package ntlmmsg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"unicode/utf16"
)

// ErrMalformed is wrapped by every decoding error, so callers can tell a bad
// message from the peer (answer 400 / re-challenge) apart from anything else.
var ErrMalformed = errors.New("malformed NTLM message")

// maxMessageLen bounds every message we decode. Real messages are a few
// hundred bytes; AUTHENTICATE grows with TargetInfo but stays far below this.
// The cap also guarantees that re-marshaling a parsed message can never need
// a 16-bit length field larger than 65535.
const maxMessageLen = 64 << 10

// signature opens every NTLM message (MS-NLMP 2.2.1).
const signature = "NTLMSSP\x00"

// headerLen is the signature plus the MessageType field.
const headerLen = len(signature) + 4

// MessageType is the MessageType field common to all messages (MS-NLMP 2.2.1).
type MessageType uint32

// Message types, MS-NLMP 2.2.1.1 to 2.2.1.3.
const (
	TypeNegotiate    MessageType = 1 // NtLmNegotiate
	TypeChallenge    MessageType = 2 // NtLmChallenge
	TypeAuthenticate MessageType = 3 // NtLmAuthenticate
)

func (t MessageType) String() string {
	switch t {
	case TypeNegotiate:
		return "NEGOTIATE"
	case TypeChallenge:
		return "CHALLENGE"
	case TypeAuthenticate:
		return "AUTHENTICATE"
	}
	return fmt.Sprintf("MessageType(%d)", uint32(t))
}

// Type reports the type of message b after checking its signature and size.
// It is meant for dispatch; it does not validate the rest of the message.
func Type(b []byte) (MessageType, error) {
	if len(b) > maxMessageLen {
		return 0, fmt.Errorf("ntlmmsg: message of %d bytes exceeds %d: %w", len(b), maxMessageLen, ErrMalformed)
	}
	if len(b) < headerLen {
		return 0, fmt.Errorf("ntlmmsg: message of %d bytes is shorter than its header: %w", len(b), ErrMalformed)
	}
	if string(b[:len(signature)]) != signature {
		return 0, fmt.Errorf("ntlmmsg: bad signature: %w", ErrMalformed)
	}
	t := MessageType(binary.LittleEndian.Uint32(b[len(signature):]))
	switch t {
	case TypeNegotiate, TypeChallenge, TypeAuthenticate:
		return t, nil
	}
	return 0, fmt.Errorf("ntlmmsg: unknown message type %d: %w", uint32(t), ErrMalformed)
}

// checkHeader verifies that b is a message of type want with at least
// fixedLen bytes of fixed fields.
func checkHeader(b []byte, want MessageType, fixedLen int) error {
	t, err := Type(b)
	if err != nil {
		return err
	}
	if t != want {
		return fmt.Errorf("ntlmmsg: got %v message, want %v: %w", t, want, ErrMalformed)
	}
	if len(b) < fixedLen {
		return fmt.Errorf("ntlmmsg: %v message of %d bytes is shorter than its %d fixed bytes: %w",
			want, len(b), fixedLen, ErrMalformed)
	}
	return nil
}

// Version is the VERSION structure (MS-NLMP 2.2.2.10). It describes the
// peer's OS build and is informational only; nothing may depend on it.
type Version struct {
	ProductMajor uint8
	ProductMinor uint8
	ProductBuild uint16
	NTLMRevision uint8 // NTLMSSP_REVISION_W2K3 (15) on every current Windows
}

const versionLen = 8

func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d/%d", v.ProductMajor, v.ProductMinor, v.ProductBuild, v.NTLMRevision)
}

func parseVersion(b []byte) *Version {
	return &Version{
		ProductMajor: b[0],
		ProductMinor: b[1],
		ProductBuild: binary.LittleEndian.Uint16(b[2:]),
		// b[4:7] is Reserved.
		NTLMRevision: b[7],
	}
}

func (v *Version) marshal(b []byte) {
	b[0] = v.ProductMajor
	b[1] = v.ProductMinor
	binary.LittleEndian.PutUint16(b[2:], v.ProductBuild)
	b[4], b[5], b[6] = 0, 0, 0
	b[7] = v.NTLMRevision
}

// field is a decoded payload reference (the *Fields structures of
// MS-NLMP 2.2.1: Len, MaxLen, BufferOffset), already bounds checked.
type field struct {
	name string
	off  int
	len  int
}

// readFields decodes the 8-byte field descriptors at the given positions of
// b and checks that each one lies within b, after the fixedLen bytes of
// fixed fields, and does not overlap another.
//
// A zero-length field is accepted whatever its offset: clients routinely
// leave the offset of an absent field at 0 or at an arbitrary value.
// Overlapping or header-aliasing fields are refused: no real client produces
// them, and allowing them would let a small message decode into larger
// values than it carries.
func readFields(b []byte, msg MessageType, fixedLen int, names []string, at []int) ([]field, error) {
	fs := make([]field, len(at))
	for i, pos := range at {
		n := int(binary.LittleEndian.Uint16(b[pos:]))
		// MaxLen (b[pos+2:]) is to be ignored on receipt, MS-NLMP 2.2.1.
		off := binary.LittleEndian.Uint32(b[pos+4:])
		fs[i] = field{name: names[i], len: n}
		if n == 0 {
			continue
		}
		// uint64 so that offset+len cannot wrap, even where int is 32 bits.
		if end := uint64(off) + uint64(n); end > uint64(len(b)) {
			return nil, fmt.Errorf("ntlmmsg: %v: %s field: offset %d length %d past end of %d-byte message: %w",
				msg, names[i], off, n, len(b), ErrMalformed)
		}
		if int(off) < fixedLen {
			return nil, fmt.Errorf("ntlmmsg: %v: %s field: offset %d inside the fixed header: %w",
				msg, names[i], off, ErrMalformed)
		}
		fs[i].off = int(off)
	}
	sorted := slices.Clone(fs)
	slices.SortFunc(sorted, func(a, b field) int { return a.off - b.off })
	var prev *field
	for i := range sorted {
		f := &sorted[i]
		if f.len == 0 {
			continue
		}
		if prev != nil && f.off < prev.off+prev.len {
			return nil, fmt.Errorf("ntlmmsg: %v: %s field overlaps %s field: %w", msg, f.name, prev.name, ErrMalformed)
		}
		prev = f
	}
	return fs, nil
}

// payloadStart returns where the payload begins: the lowest offset of a
// non-empty field, or the message end when every field is empty. The
// optional trailing header fields (Version, MIC) exist only below it.
func payloadStart(b []byte, fs []field) int {
	start := len(b)
	for _, f := range fs {
		if f.len > 0 && f.off < start {
			start = f.off
		}
	}
	return start
}

// bytes returns a copy of f's contents, or nil when it is empty. Copying
// keeps decoded messages independent of the caller's buffer.
func (f field) bytes(b []byte) []byte {
	if f.len == 0 {
		return nil
	}
	return slices.Clone(b[f.off : f.off+f.len])
}

func (f field) string(b []byte, msg MessageType, unicode bool) (string, error) {
	s, err := decodeString(b[f.off:f.off+f.len], unicode)
	if err != nil {
		return "", fmt.Errorf("ntlmmsg: %v: %s field: %w", msg, f.name, err)
	}
	return s, nil
}

// builder lays out a message: a fixed header followed by the payload the
// header's field descriptors point into.
type builder struct {
	buf []byte
}

func newBuilder(t MessageType, fixedLen int) *builder {
	b := &builder{buf: make([]byte, fixedLen, fixedLen+128)}
	copy(b.buf, signature)
	binary.LittleEndian.PutUint32(b.buf[len(signature):], uint32(t))
	return b
}

// field appends data to the payload and writes its descriptor at pos.
//
// It panics if data exceeds the 16-bit length field. No message produced by
// this package's parsers can trigger that (they are capped at 64 KiB and
// refuse overlapping fields); a caller building a message by hand from
// oversized values has a programming error, as with encoding/binary.
func (b *builder) field(pos int, data []byte) {
	if len(data) > 0xffff {
		panic(fmt.Sprintf("ntlmmsg: field of %d bytes does not fit a 16-bit length", len(data)))
	}
	binary.LittleEndian.PutUint16(b.buf[pos:], uint16(len(data)))
	binary.LittleEndian.PutUint16(b.buf[pos+2:], uint16(len(data)))
	binary.LittleEndian.PutUint32(b.buf[pos+4:], uint32(len(b.buf)))
	b.buf = append(b.buf, data...)
}

// decodeString decodes a message string: UTF-16LE when NTLMSSP_NEGOTIATE_UNICODE
// was negotiated, otherwise the OEM code page. We cannot know the peer's OEM
// code page, so OEM bytes are read as Latin-1, which is exact for ASCII and
// round-trips every byte.
func decodeString(b []byte, unicode bool) (string, error) {
	if !unicode {
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return string(r), nil
	}
	if len(b)%2 != 0 {
		return "", fmt.Errorf("odd length %d for UTF-16: %w", len(b), ErrMalformed)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u)), nil
}

// encodeString is the inverse of decodeString. Runes outside Latin-1 have no
// OEM encoding we can rely on and become '?', as Windows' best-fit mapping
// does for unmappable characters.
func encodeString(s string, unicode bool) []byte {
	if !unicode {
		b := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 0xff {
				r = '?'
			}
			b = append(b, byte(r))
		}
		return b
	}
	return utf16le(s)
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}
