package dc

// This file is the pure SMB2 wire layer: encoding of the few requests the
// relay sends and strict decoding of the responses it reads. It does no I/O
// (apart from the framing helpers, which take an io.Reader/io.Writer), keeps
// no state and never panics on malformed input: every offset and length is
// checked against the message it points into.
//
// References are to [MS-SMB2] "Server Message Block (SMB) Protocol Versions 2
// and 3".

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Protocol constants.
const (
	// headerSize is the size of the SMB2 packet header (MS-SMB2 2.2.1).
	headerSize = 64

	// maxFrameSize bounds one Direct TCP frame on read. A SESSION_SETUP
	// response carrying an NTLM CHALLENGE is well under 4 KiB; 1 MiB leaves
	// room for anything a DC legitimately sends while refusing to allocate
	// the 16 MiB a hostile length field could ask for.
	maxFrameSize = 1 << 20

	// Commands (MS-SMB2 2.2.1.2).
	cmdNegotiate    uint16 = 0x0000
	cmdSessionSetup uint16 = 0x0001

	// Header flags (MS-SMB2 2.2.1.2).
	flagServerToRedir uint32 = 0x00000001
	flagAsyncCommand  uint32 = 0x00000002
	flagSigned        uint32 = 0x00000008

	// SecurityMode (MS-SMB2 2.2.3, 2.2.5).
	securitySigningEnabled  uint16 = 0x0001
	securitySigningRequired uint16 = 0x0002

	// SessionFlags in the SESSION_SETUP response (MS-SMB2 2.2.6).
	sessionFlagIsGuest   uint16 = 0x0001
	sessionFlagIsNull    uint16 = 0x0002
	sessionFlagEncrypted uint16 = 0x0004

	// Negotiate context types (MS-SMB2 2.2.3.1).
	ctxPreauthIntegrity uint16 = 0x0001

	// Hash algorithm for PREAUTH_INTEGRITY_CAPABILITIES (MS-SMB2 2.2.3.1.1).
	hashSHA512 uint16 = 0x0001

	// Dialects (MS-SMB2 2.2.3).
	dialect202      uint16 = 0x0202
	dialect210      uint16 = 0x0210
	dialect300      uint16 = 0x0300
	dialect302      uint16 = 0x0302
	dialect311      uint16 = 0x0311
	dialectWildcard uint16 = 0x02FF
)

// offeredDialects are the dialects the relay offers, oldest first.
var offeredDialects = []uint16{dialect202, dialect210, dialect300, dialect302, dialect311}

var protocolID = [4]byte{0xFE, 'S', 'M', 'B'}

// errMalformed is wrapped by every decoding error.
var errMalformed = errors.New("malformed SMB2 message")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, args...))
}

// header is the SMB2 packet header (MS-SMB2 2.2.1.1 async, 2.2.1.2 sync).
// The relay sends only sync requests; responses may be async (an interim
// STATUS_PENDING and its final response, MS-SMB2 3.3.4.2), in which case
// AsyncID is set and TreeID is zero.
type header struct {
	CreditCharge uint16   // MS-SMB2 2.2.1.2 CreditCharge
	Status       NTStatus // responses: the NTSTATUS of the request; requests: ChannelSequence/Reserved (0)
	Command      uint16
	Credits      uint16 // CreditRequest in a request, CreditResponse in a response
	Flags        uint32
	NextCommand  uint32 // offset of the next compounded message, 0 if none
	MessageID    uint64
	AsyncID      uint64 // only when Flags has flagAsyncCommand
	TreeID       uint32 // only in sync messages
	SessionID    uint64
	Signature    [16]byte
}

// encode appends the 64-byte header to b.
func (h *header) encode(b []byte) []byte {
	b = append(b, protocolID[:]...)
	b = binary.LittleEndian.AppendUint16(b, headerSize) // StructureSize
	b = binary.LittleEndian.AppendUint16(b, h.CreditCharge)
	b = binary.LittleEndian.AppendUint32(b, uint32(h.Status))
	b = binary.LittleEndian.AppendUint16(b, h.Command)
	b = binary.LittleEndian.AppendUint16(b, h.Credits)
	b = binary.LittleEndian.AppendUint32(b, h.Flags)
	b = binary.LittleEndian.AppendUint32(b, h.NextCommand)
	b = binary.LittleEndian.AppendUint64(b, h.MessageID)
	if h.Flags&flagAsyncCommand != 0 {
		b = binary.LittleEndian.AppendUint64(b, h.AsyncID)
	} else {
		b = binary.LittleEndian.AppendUint32(b, 0) // Reserved (ProcessId)
		b = binary.LittleEndian.AppendUint32(b, h.TreeID)
	}
	b = binary.LittleEndian.AppendUint64(b, h.SessionID)
	b = append(b, h.Signature[:]...)
	return b
}

// decodeHeader parses the SMB2 header at the start of msg.
func decodeHeader(msg []byte) (header, error) {
	var h header
	if len(msg) < headerSize {
		return h, malformed("message of %d bytes is shorter than the SMB2 header", len(msg))
	}
	if [4]byte(msg[0:4]) != protocolID {
		return h, malformed("protocol id %x is not SMB2", msg[0:4])
	}
	if s := binary.LittleEndian.Uint16(msg[4:]); s != headerSize {
		return h, malformed("header StructureSize %d, want 64", s)
	}
	h.CreditCharge = binary.LittleEndian.Uint16(msg[6:])
	h.Status = NTStatus(binary.LittleEndian.Uint32(msg[8:]))
	h.Command = binary.LittleEndian.Uint16(msg[12:])
	h.Credits = binary.LittleEndian.Uint16(msg[14:])
	h.Flags = binary.LittleEndian.Uint32(msg[16:])
	h.NextCommand = binary.LittleEndian.Uint32(msg[20:])
	h.MessageID = binary.LittleEndian.Uint64(msg[24:])
	if h.Flags&flagAsyncCommand != 0 {
		h.AsyncID = binary.LittleEndian.Uint64(msg[32:])
	} else {
		h.TreeID = binary.LittleEndian.Uint32(msg[36:])
	}
	h.SessionID = binary.LittleEndian.Uint64(msg[40:])
	copy(h.Signature[:], msg[48:64])
	return h, nil
}

// splitCompound splits a frame into its compounded messages (MS-SMB2
// 3.2.5.1: NextCommand is the offset of the next header from the start of
// the current one, 8-byte aligned). A frame without compounding yields
// itself.
func splitCompound(frame []byte) ([][]byte, error) {
	var msgs [][]byte
	for {
		h, err := decodeHeader(frame)
		if err != nil {
			return nil, err
		}
		if h.NextCommand == 0 {
			return append(msgs, frame), nil
		}
		next := uint64(h.NextCommand)
		if next < headerSize || next%8 != 0 || next >= uint64(len(frame)) {
			return nil, malformed("NextCommand %d outside the %d-byte frame", h.NextCommand, len(frame))
		}
		msgs = append(msgs, frame[:next])
		frame = frame[next:]
	}
}

// negotiateContext is one SMB2 NEGOTIATE_CONTEXT (MS-SMB2 2.2.3.1).
type negotiateContext struct {
	Type uint16
	Data []byte
}

// negotiateRequest is the SMB2 NEGOTIATE request body (MS-SMB2 2.2.3).
type negotiateRequest struct {
	SecurityMode uint16
	Capabilities uint32
	ClientGUID   [16]byte
	Dialects     []uint16
	Contexts     []negotiateContext // sent only when Dialects contains 3.1.1
}

// preauthContext builds a PREAUTH_INTEGRITY_CAPABILITIES context (MS-SMB2
// 2.2.3.1.1) with SHA-512 and salt.
func preauthContext(salt []byte) negotiateContext {
	d := binary.LittleEndian.AppendUint16(nil, 1) // HashAlgorithmCount
	d = binary.LittleEndian.AppendUint16(d, uint16(len(salt)))
	d = binary.LittleEndian.AppendUint16(d, hashSHA512)
	d = append(d, salt...)
	return negotiateContext{Type: ctxPreauthIntegrity, Data: d}
}

// encode appends the NEGOTIATE request body to b, whose last 64 bytes must
// be the SMB2 header: NegotiateContextOffset counts from the header start.
func (r *negotiateRequest) encode(b []byte) []byte {
	base := len(b) - headerSize
	b = binary.LittleEndian.AppendUint16(b, 36) // StructureSize
	b = binary.LittleEndian.AppendUint16(b, uint16(len(r.Dialects)))
	b = binary.LittleEndian.AppendUint16(b, r.SecurityMode)
	b = binary.LittleEndian.AppendUint16(b, 0) // Reserved
	b = binary.LittleEndian.AppendUint32(b, r.Capabilities)
	b = append(b, r.ClientGUID[:]...)
	ctxOffPos := len(b)
	b = binary.LittleEndian.AppendUint32(b, 0) // NegotiateContextOffset, patched below
	b = binary.LittleEndian.AppendUint16(b, uint16(len(r.Contexts)))
	b = binary.LittleEndian.AppendUint16(b, 0) // Reserved2
	for _, d := range r.Dialects {
		b = binary.LittleEndian.AppendUint16(b, d)
	}
	if len(r.Contexts) == 0 {
		return b
	}
	for i, c := range r.Contexts {
		for (len(b)-base)%8 != 0 { // each context starts 8-byte aligned
			b = append(b, 0)
		}
		if i == 0 {
			binary.LittleEndian.PutUint32(b[ctxOffPos:], uint32(len(b)-base))
		}
		b = binary.LittleEndian.AppendUint16(b, c.Type)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(c.Data)))
		b = binary.LittleEndian.AppendUint32(b, 0) // Reserved
		b = append(b, c.Data...)
	}
	return b
}

// negotiateResponse is the SMB2 NEGOTIATE response body (MS-SMB2 2.2.4).
type negotiateResponse struct {
	SecurityMode    uint16
	DialectRevision uint16
	ServerGUID      [16]byte
	Capabilities    uint32
	MaxTransactSize uint32
	MaxReadSize     uint32
	MaxWriteSize    uint32
	SystemTime      uint64 // FILETIME
	ServerStartTime uint64 // FILETIME
	SecurityBuffer  []byte // GSS token (SPNEGO NegTokenInit); unused by the relay
	Contexts        []negotiateContext
}

// decodeNegotiateResponse parses a whole SMB2 message (header included)
// holding a successful NEGOTIATE response.
func decodeNegotiateResponse(msg []byte) (*negotiateResponse, error) {
	h, err := decodeHeader(msg)
	if err != nil {
		return nil, err
	}
	if h.Command != cmdNegotiate {
		return nil, malformed("command %#x is not NEGOTIATE", h.Command)
	}
	body := msg[headerSize:]
	if len(body) < 64 {
		return nil, malformed("NEGOTIATE response body of %d bytes, want at least 64", len(body))
	}
	if s := binary.LittleEndian.Uint16(body[0:]); s != 65 {
		return nil, malformed("NEGOTIATE response StructureSize %d, want 65", s)
	}
	r := &negotiateResponse{
		SecurityMode:    binary.LittleEndian.Uint16(body[2:]),
		DialectRevision: binary.LittleEndian.Uint16(body[4:]),
		Capabilities:    binary.LittleEndian.Uint32(body[24:]),
		MaxTransactSize: binary.LittleEndian.Uint32(body[28:]),
		MaxReadSize:     binary.LittleEndian.Uint32(body[32:]),
		MaxWriteSize:    binary.LittleEndian.Uint32(body[36:]),
		SystemTime:      binary.LittleEndian.Uint64(body[40:]),
		ServerStartTime: binary.LittleEndian.Uint64(body[48:]),
	}
	copy(r.ServerGUID[:], body[8:24])
	ctxCount := binary.LittleEndian.Uint16(body[6:])
	secOff := binary.LittleEndian.Uint16(body[56:])
	secLen := binary.LittleEndian.Uint16(body[58:])
	ctxOff := binary.LittleEndian.Uint32(body[60:])
	r.SecurityBuffer, err = slice(msg, uint64(secOff), uint64(secLen), "NEGOTIATE SecurityBuffer")
	if err != nil {
		return nil, err
	}
	if r.DialectRevision != dialect311 || ctxCount == 0 {
		return r, nil // NegotiateContextCount/Offset are reserved below 3.1.1
	}
	off := uint64(ctxOff)
	for i := 0; i < int(ctxCount); i++ {
		if i > 0 {
			off = (off + 7) &^ 7
		}
		hdr, err := slice(msg, off, 8, "negotiate context header")
		if err != nil {
			return nil, err
		}
		typ := binary.LittleEndian.Uint16(hdr[0:])
		n := binary.LittleEndian.Uint16(hdr[2:])
		data, err := slice(msg, off+8, uint64(n), "negotiate context data")
		if err != nil {
			return nil, err
		}
		r.Contexts = append(r.Contexts, negotiateContext{Type: typ, Data: data})
		off += 8 + uint64(n)
	}
	return r, nil
}

// sessionSetupRequest is the SMB2 SESSION_SETUP request body (MS-SMB2
// 2.2.5). The relay puts the browser's raw NTLMSSP message in
// SecurityBuffer.
type sessionSetupRequest struct {
	Flags             uint8 // SMB2_SESSION_FLAG_BINDING; always 0 here
	SecurityMode      uint8
	Capabilities      uint32
	Channel           uint32 // reserved, 0
	PreviousSessionID uint64
	SecurityBuffer    []byte
}

// sessionSetupFixed is the size of the fixed part of the request body.
const sessionSetupFixed = 24

// encode appends the SESSION_SETUP request body to b, whose last 64 bytes
// must be the SMB2 header.
func (r *sessionSetupRequest) encode(b []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, 25) // StructureSize
	b = append(b, r.Flags, r.SecurityMode)
	b = binary.LittleEndian.AppendUint32(b, r.Capabilities)
	b = binary.LittleEndian.AppendUint32(b, r.Channel)
	b = binary.LittleEndian.AppendUint16(b, headerSize+sessionSetupFixed) // SecurityBufferOffset
	b = binary.LittleEndian.AppendUint16(b, uint16(len(r.SecurityBuffer)))
	b = binary.LittleEndian.AppendUint64(b, r.PreviousSessionID)
	return append(b, r.SecurityBuffer...)
}

// sessionSetupResponse is the SMB2 SESSION_SETUP response body (MS-SMB2
// 2.2.6), sent with STATUS_SUCCESS or STATUS_MORE_PROCESSING_REQUIRED. Any
// other status comes with an SMB2 ERROR response body (MS-SMB2 2.2.2)
// instead, which the relay does not need to parse.
type sessionSetupResponse struct {
	SessionFlags   uint16
	SecurityBuffer []byte
}

// decodeSessionSetupResponse parses a whole SMB2 message (header included)
// holding a SESSION_SETUP response with STATUS_SUCCESS or
// STATUS_MORE_PROCESSING_REQUIRED.
func decodeSessionSetupResponse(msg []byte) (*sessionSetupResponse, error) {
	h, err := decodeHeader(msg)
	if err != nil {
		return nil, err
	}
	if h.Command != cmdSessionSetup {
		return nil, malformed("command %#x is not SESSION_SETUP", h.Command)
	}
	body := msg[headerSize:]
	if len(body) < 8 {
		return nil, malformed("SESSION_SETUP response body of %d bytes, want at least 8", len(body))
	}
	if s := binary.LittleEndian.Uint16(body[0:]); s != 9 {
		return nil, malformed("SESSION_SETUP response StructureSize %d, want 9", s)
	}
	r := &sessionSetupResponse{SessionFlags: binary.LittleEndian.Uint16(body[2:])}
	secOff := binary.LittleEndian.Uint16(body[4:])
	secLen := binary.LittleEndian.Uint16(body[6:])
	r.SecurityBuffer, err = slice(msg, uint64(secOff), uint64(secLen), "SESSION_SETUP SecurityBuffer")
	if err != nil {
		return nil, err
	}
	return r, nil
}

// slice returns msg[off:off+n] after checking that it lies inside msg. An
// empty buffer may have any offset (servers send 0).
func slice(msg []byte, off, n uint64, what string) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	if off > uint64(len(msg)) || n > uint64(len(msg))-off {
		return nil, malformed("%s [%d, +%d) outside the %d-byte message", what, off, n, len(msg))
	}
	return msg[off : off+n], nil
}

// putFrameHeader fills in the Direct TCP transport header (MS-SMB2 2.1) in
// the first 4 bytes of frame, which holds it and then one SMB2 message: a
// zero byte and the message length as 24-bit big-endian.
func putFrameHeader(frame []byte) {
	n := len(frame) - 4
	frame[0], frame[1], frame[2], frame[3] = 0, byte(n>>16), byte(n>>8), byte(n)
}

// readFrame reads one Direct TCP frame (MS-SMB2 2.1) and returns its SMB2
// payload. Frames larger than maxFrameSize, or with a non-zero first byte
// (a NetBIOS session-service message other than SESSION MESSAGE), are
// errors: the stream cannot be trusted afterwards.
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	if hdr[0] != 0 {
		return nil, malformed("Direct TCP frame type %#x, want 0", hdr[0])
	}
	n := int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
	if n > maxFrameSize {
		return nil, malformed("frame of %d bytes exceeds the %d-byte limit", n, maxFrameSize)
	}
	if n < headerSize {
		return nil, malformed("frame of %d bytes is shorter than the SMB2 header", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}
