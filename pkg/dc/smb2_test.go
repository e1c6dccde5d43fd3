package dc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
)

func le16(b []byte, off int) uint16 { return binary.LittleEndian.Uint16(b[off:]) }
func le32(b []byte, off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
func le64(b []byte, off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }

func TestEncodeNegotiate(t *testing.T) {
	h := header{Command: cmdNegotiate, Credits: 127, MessageID: 0}
	salt := bytes.Repeat([]byte{0xAB}, 32)
	req := negotiateRequest{
		SecurityMode: securitySigningEnabled,
		ClientGUID:   [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		Dialects:     offeredDialects,
		Contexts:     []negotiateContext{preauthContext(salt)},
	}
	frame := make([]byte, 4)
	frame = h.encode(frame)
	frame = req.encode(frame)
	putFrameHeader(frame)

	if got, want := frame[:4], []byte{0, 0, 0, byte(len(frame) - 4)}; !bytes.Equal(got, want) {
		t.Fatalf("frame header % x, want % x", got, want)
	}
	m := frame[4:]
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"ProtocolId", uint64(le32(m, 0)), 0x424D53FE},
		{"StructureSize", uint64(le16(m, 4)), 64},
		{"CreditCharge", uint64(le16(m, 6)), 0},
		{"Command", uint64(le16(m, 12)), 0},
		{"CreditRequest", uint64(le16(m, 14)), 127},
		{"Flags", uint64(le32(m, 16)), 0},
		{"MessageId", le64(m, 24), 0},
		{"SessionId", le64(m, 40), 0},
		{"body StructureSize", uint64(le16(m, 64)), 36},
		{"DialectCount", uint64(le16(m, 66)), 5},
		{"SecurityMode", uint64(le16(m, 68)), 1},
		{"Capabilities", uint64(le32(m, 72)), 0},
		{"NegotiateContextOffset", uint64(le32(m, 92)), 112},
		{"NegotiateContextCount", uint64(le16(m, 96)), 1},
		{"Dialect[0]", uint64(le16(m, 100)), 0x0202},
		{"Dialect[4]", uint64(le16(m, 108)), 0x0311},
		{"padding", uint64(le16(m, 110)), 0},
		{"ContextType", uint64(le16(m, 112)), 1},
		{"DataLength", uint64(le16(m, 114)), 38},
		{"HashAlgorithmCount", uint64(le16(m, 120)), 1},
		{"SaltLength", uint64(le16(m, 122)), 32},
		{"HashAlgorithm", uint64(le16(m, 124)), 1},
		{"message length", uint64(len(m)), 112 + 8 + 38},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	if !bytes.Equal(m[76:92], req.ClientGUID[:]) {
		t.Errorf("ClientGuid = % x", m[76:92])
	}
	if !bytes.Equal(m[126:], salt) {
		t.Errorf("salt = % x", m[126:])
	}
}

func TestEncodeSessionSetup(t *testing.T) {
	token := []byte("NTLMSSP\x00\x01\x00\x00\x00rest")
	h := header{CreditCharge: 1, Command: cmdSessionSetup, Credits: 5, MessageID: 7, SessionID: 0x1122334455667788}
	req := sessionSetupRequest{SecurityMode: 1, SecurityBuffer: token}
	frame := req.encode(h.encode(make([]byte, 4)))
	putFrameHeader(frame)
	m := frame[4:]
	hh, err := decodeHeader(m)
	if err != nil {
		t.Fatal(err)
	}
	if hh != h {
		t.Errorf("header round trip: %+v, want %+v", hh, h)
	}
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"StructureSize", uint64(le16(m, 64)), 25},
		{"Flags", uint64(m[66]), 0},
		{"SecurityMode", uint64(m[67]), 1},
		{"Capabilities", uint64(le32(m, 68)), 0},
		{"Channel", uint64(le32(m, 72)), 0},
		{"SecurityBufferOffset", uint64(le16(m, 76)), 88},
		{"SecurityBufferLength", uint64(le16(m, 78)), uint64(len(token))},
		{"PreviousSessionId", le64(m, 80), 0},
		{"length", uint64(len(m)), 88 + uint64(len(token))},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	if !bytes.Equal(m[88:], token) {
		t.Errorf("buffer = %q", m[88:])
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The testdata/*.bin files are real responses of the Samba 4.17 dev DC,
// recorded by TestCaptureTestdata.
func TestDecodeCapturedNegotiate(t *testing.T) {
	msg := readTestdata(t, "negotiate_response.bin")
	h, err := decodeHeader(msg)
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != StatusSuccess || h.Flags&flagServerToRedir == 0 || h.Credits == 0 {
		t.Errorf("header %+v", h)
	}
	r, err := decodeNegotiateResponse(msg)
	if err != nil {
		t.Fatal(err)
	}
	if r.DialectRevision != dialect311 {
		t.Errorf("dialect %#x", r.DialectRevision)
	}
	if r.SecurityMode&securitySigningRequired == 0 {
		t.Errorf("SecurityMode %#x: the dev DC requires signing", r.SecurityMode)
	}
	if len(r.SecurityBuffer) == 0 || r.SecurityBuffer[0] != 0x60 {
		t.Errorf("SecurityBuffer is not a GSS token: % x", r.SecurityBuffer)
	}
	var preauth bool
	for _, c := range r.Contexts {
		if c.Type == ctxPreauthIntegrity {
			preauth = true
		}
	}
	if !preauth {
		t.Errorf("no PREAUTH_INTEGRITY context in %+v", r.Contexts)
	}
}

func TestDecodeCapturedSessionSetup(t *testing.T) {
	for _, tc := range []struct {
		file   string
		status NTStatus
		flags  uint16
		ntlm   ntlmmsg.MessageType // NTLM message type in the buffer, 0 for none
		noBody bool                // error response
	}{
		{"session_setup_challenge.bin", StatusMoreProcessingRequired, 0, 2, false},
		{"session_setup_success.bin", StatusSuccess, 0, 0, false},
		{"session_setup_anonymous.bin", StatusSuccess, 0, 0, false},
		{"session_setup_logon_failure.bin", StatusLogonFailure, 0, 0, true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			msg := readTestdata(t, tc.file)
			h, err := decodeHeader(msg)
			if err != nil {
				t.Fatal(err)
			}
			if h.Status != tc.status || h.Command != cmdSessionSetup || h.SessionID == 0 {
				t.Fatalf("header %+v", h)
			}
			if tc.noBody {
				return
			}
			r, err := decodeSessionSetupResponse(msg)
			if err != nil {
				t.Fatal(err)
			}
			if r.SessionFlags != tc.flags {
				t.Errorf("SessionFlags %#x, want %#x", r.SessionFlags, tc.flags)
			}
			if typ, _ := ntlmmsg.Type(r.SecurityBuffer); typ != tc.ntlm {
				t.Errorf("buffer % x", r.SecurityBuffer)
			}
		})
	}
}

// synthNegotiateResponse builds a NEGOTIATE response for decoder tests.
func synthNegotiateResponse(dialect uint16, sec []byte, ctxs []negotiateContext) []byte {
	h := header{Command: cmdNegotiate, Flags: flagServerToRedir, Credits: 1}
	b := h.encode(nil)
	body := make([]byte, 64)
	binary.LittleEndian.PutUint16(body[0:], 65)
	binary.LittleEndian.PutUint16(body[2:], 3)
	binary.LittleEndian.PutUint16(body[4:], dialect)
	binary.LittleEndian.PutUint16(body[6:], uint16(len(ctxs)))
	binary.LittleEndian.PutUint16(body[56:], 128)
	binary.LittleEndian.PutUint16(body[58:], uint16(len(sec)))
	b = append(b, body...)
	b = append(b, sec...)
	if len(ctxs) > 0 {
		for len(b)%8 != 0 {
			b = append(b, 0)
		}
		binary.LittleEndian.PutUint32(b[64+60:], uint32(len(b)))
		for i, c := range ctxs {
			if i > 0 {
				for len(b)%8 != 0 {
					b = append(b, 0)
				}
			}
			b = binary.LittleEndian.AppendUint16(b, c.Type)
			b = binary.LittleEndian.AppendUint16(b, uint16(len(c.Data)))
			b = append(b, 0, 0, 0, 0)
			b = append(b, c.Data...)
		}
	}
	return b
}

func synthSessionSetupResponse(status NTStatus, sid uint64, flags uint16, token []byte) []byte {
	h := header{Command: cmdSessionSetup, Flags: flagServerToRedir, Credits: 1, Status: status, SessionID: sid}
	b := h.encode(nil)
	b = binary.LittleEndian.AppendUint16(b, 9)
	b = binary.LittleEndian.AppendUint16(b, flags)
	b = binary.LittleEndian.AppendUint16(b, 72)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(token)))
	return append(b, token...)
}

func TestDecodeSynthetic(t *testing.T) {
	ctxs := []negotiateContext{{Type: 1, Data: []byte{1, 2, 3}}, {Type: 2, Data: []byte{4, 5, 6, 7, 8, 9, 10, 11, 12}}}
	msg := synthNegotiateResponse(dialect311, []byte("gss"), ctxs)
	r, err := decodeNegotiateResponse(msg)
	if err != nil {
		t.Fatal(err)
	}
	if string(r.SecurityBuffer) != "gss" || len(r.Contexts) != 2 || !bytes.Equal(r.Contexts[1].Data, ctxs[1].Data) {
		t.Errorf("decoded %+v", r)
	}
	// Below 3.1.1 the context fields are reserved and ignored.
	msg = synthNegotiateResponse(dialect302, nil, nil)
	binary.LittleEndian.PutUint16(msg[64+6:], 7)
	binary.LittleEndian.PutUint32(msg[64+60:], 0xFFFFFFFF)
	if _, err := decodeNegotiateResponse(msg); err != nil {
		t.Errorf("3.0.2 with garbage reserved fields: %v", err)
	}

	ss := synthSessionSetupResponse(StatusSuccess, 9, sessionFlagIsGuest, []byte("tok"))
	sr, err := decodeSessionSetupResponse(ss)
	if err != nil || sr.SessionFlags != 1 || string(sr.SecurityBuffer) != "tok" {
		t.Errorf("decoded %+v, %v", sr, err)
	}
}

func TestDecodeMalformed(t *testing.T) {
	neg := synthNegotiateResponse(dialect311, []byte("gss"), []negotiateContext{{Type: 1, Data: []byte{1, 2}}})
	ss := synthSessionSetupResponse(StatusSuccess, 9, 0, []byte("tok"))
	mod := func(b []byte, f func([]byte)) []byte {
		b = bytes.Clone(b)
		f(b)
		return b
	}
	for name, tc := range map[string]struct {
		msg []byte
		dec func([]byte) error
	}{
		"short header":         {neg[:63], func(b []byte) error { _, err := decodeHeader(b); return err }},
		"bad protocol":         {mod(neg, func(b []byte) { b[0] = 0xFF }), func(b []byte) error { _, err := decodeHeader(b); return err }},
		"SMB1":                 {mod(neg, func(b []byte) { copy(b, "\xFFSMB") }), func(b []byte) error { _, err := decodeHeader(b); return err }},
		"header size":          {mod(neg, func(b []byte) { b[4] = 65 }), func(b []byte) error { _, err := decodeHeader(b); return err }},
		"neg short body":       {neg[:64+63], decNeg},
		"neg structure size":   {mod(neg, func(b []byte) { b[64] = 64 }), decNeg},
		"neg wrong command":    {mod(neg, func(b []byte) { b[12] = 1 }), decNeg},
		"neg sec offset":       {mod(neg, func(b []byte) { binary.LittleEndian.PutUint16(b[64+56:], 0xFFFF) }), decNeg},
		"neg sec length":       {mod(neg, func(b []byte) { binary.LittleEndian.PutUint16(b[64+58:], 0xFFFF) }), decNeg},
		"neg ctx offset":       {mod(neg, func(b []byte) { binary.LittleEndian.PutUint32(b[64+60:], 0xFFFFFFFF) }), decNeg},
		"neg ctx count":        {mod(neg, func(b []byte) { binary.LittleEndian.PutUint16(b[64+6:], 2) }), decNeg},
		"neg ctx data length":  {mod(neg, func(b []byte) { binary.LittleEndian.PutUint16(b[len(b)-8:], 0xFFFF) }), decNeg},
		"ss short body":        {ss[:64+7], decSS},
		"ss structure size":    {mod(ss, func(b []byte) { b[64] = 8 }), decSS},
		"ss wrong command":     {mod(ss, func(b []byte) { b[12] = 0 }), decSS},
		"ss buffer offset":     {mod(ss, func(b []byte) { binary.LittleEndian.PutUint16(b[68:], 0xFFFF) }), decSS},
		"ss buffer length":     {mod(ss, func(b []byte) { binary.LittleEndian.PutUint16(b[70:], 4) }), decSS},
		"compound next beyond": {mod(ss, func(b []byte) { binary.LittleEndian.PutUint32(b[20:], 1024) }), decCompound},
		"compound unaligned":   {mod(ss, func(b []byte) { binary.LittleEndian.PutUint32(b[20:], 65) }), decCompound},
		"compound short":       {mod(ss, func(b []byte) { binary.LittleEndian.PutUint32(b[20:], 8) }), decCompound},
	} {
		if err := tc.dec(tc.msg); !errors.Is(err, errMalformed) {
			t.Errorf("%s: err = %v, want errMalformed", name, err)
		}
	}
}

func decNeg(b []byte) error      { _, err := decodeNegotiateResponse(b); return err }
func decSS(b []byte) error       { _, err := decodeSessionSetupResponse(b); return err }
func decCompound(b []byte) error { _, err := splitCompound(b); return err }

func TestSplitCompound(t *testing.T) {
	a := synthSessionSetupResponse(StatusSuccess, 1, 0, []byte("tok")) // 75 bytes
	for len(a)%8 != 0 {
		a = append(a, 0)
	}
	binary.LittleEndian.PutUint32(a[20:], uint32(len(a)))
	b := synthSessionSetupResponse(StatusSuccess, 2, 0, nil)
	msgs, err := splitCompound(append(bytes.Clone(a), b...))
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || !bytes.Equal(msgs[0], a) || !bytes.Equal(msgs[1], b) {
		t.Errorf("split into %d messages", len(msgs))
	}
}

func TestReadFrame(t *testing.T) {
	msg := synthSessionSetupResponse(StatusSuccess, 1, 0, nil)
	frame := append(make([]byte, 4), msg...)
	putFrameHeader(frame)
	got, err := readFrame(bytes.NewReader(frame))
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("readFrame = %x, %v", got, err)
	}
	for name, tc := range map[string]struct {
		in   []byte
		want error
	}{
		"empty":      {nil, io.EOF},
		"cut header": {frame[:2], io.ErrUnexpectedEOF},
		"cut body":   {frame[:40], io.ErrUnexpectedEOF},
		"too big":    {[]byte{0, 0x10, 0, 1}, errMalformed},
		"max 24-bit": {[]byte{0, 0xFF, 0xFF, 0xFF}, errMalformed},
		"tiny":       {[]byte{0, 0, 0, 10}, errMalformed},
		"not 0 type": {[]byte{0x85, 0, 0, 0}, errMalformed},
	} {
		if _, err := readFrame(bytes.NewReader(tc.in)); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
}

func TestNTStatusString(t *testing.T) {
	for s, want := range map[NTStatus]string{
		0:          "STATUS_SUCCESS",
		0xC000006D: "STATUS_LOGON_FAILURE",
		0xC0000234: "STATUS_ACCOUNT_LOCKED_OUT",
		0xC000018D: "STATUS_TRUSTED_RELATIONSHIP_FAILURE",
		0xC00000AB: "0xC00000AB",
	} {
		if got := s.String(); got != want {
			t.Errorf("%#x: %q, want %q", uint32(s), got, want)
		}
	}
	e := &StatusError{DC: "dc1:445", Status: 0xC0000072}
	if got := e.Error(); got != "dc dc1:445: refused: STATUS_ACCOUNT_DISABLED (0xC0000072)" {
		t.Errorf("Error() = %q", got)
	}
}

// FuzzDecode feeds arbitrary bytes to every response decoder: they must
// return errors, never panic, and never return slices outside the input.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"negotiate_response.bin", "session_setup_challenge.bin",
		"session_setup_success.bin", "session_setup_logon_failure.bin", "session_setup_anonymous.bin"} {
		if b, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(b)
		}
	}
	f.Add(synthNegotiateResponse(dialect311, []byte("gss"), []negotiateContext{{Type: 1, Data: []byte{1}}, {Type: 2, Data: []byte{2, 3}}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if h, err := decodeHeader(data); err == nil {
			var h2 header
			enc := h.encode(nil)
			h2, err = decodeHeader(enc)
			if err != nil || h2 != h {
				t.Fatalf("header round trip: %+v != %+v (%v)", h2, h, err)
			}
		}
		if msgs, err := splitCompound(data); err == nil {
			n := 0
			for _, m := range msgs {
				n += len(m)
			}
			if n != len(data) {
				t.Fatalf("compound split covers %d of %d bytes", n, len(data))
			}
		}
		if r, err := decodeNegotiateResponse(data); err == nil {
			if len(r.SecurityBuffer) > len(data) {
				t.Fatal("security buffer larger than input")
			}
		}
		if r, err := decodeSessionSetupResponse(data); err == nil {
			if len(r.SecurityBuffer) > len(data) {
				t.Fatal("security buffer larger than input")
			}
		}
		readFrame(bytes.NewReader(data))
	})
}
