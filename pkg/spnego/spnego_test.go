package spnego

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// tlv builds one DER element by hand, independently of encoding/asn1, so
// that malformed inputs can be written as structure rather than hex.
func tlv(tag byte, content ...[]byte) []byte {
	body := bytes.Join(content, nil)
	out := []byte{tag}
	switch n := len(body); {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	default:
		out = append(out, 0x82, byte(n>>8), byte(n))
	}
	return append(out, body...)
}

var (
	derSPNEGO   = []byte{0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02}
	derNTLM     = []byte{0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a}
	derMechList = tlv(0xa0, tlv(0x30, derNTLM))
	derToken    = tlv(0xa2, tlv(0x04, []byte("NTLMSSP\x00")))
)

// initOf wraps NegTokenInit fields in the SEQUENCE, [0] and InitialContextToken.
func initOf(fields ...[]byte) []byte {
	return tlv(0x60, derSPNEGO, tlv(0xa0, tlv(0x30, fields...)))
}

// respOf wraps NegTokenResp fields in the SEQUENCE and [1].
func respOf(fields ...[]byte) []byte { return tlv(0xa1, tlv(0x30, fields...)) }

// malformedTokens are tokens Decode must refuse with ErrMalformed; the
// differential fuzzers start from them too.
func malformedTokens() []struct {
	name  string
	token []byte
} {
	big := make([]byte, MaxTokenLen+1)
	copy(big, initOf(derMechList))
	return []struct {
		name  string
		token []byte
	}{
		{"empty", nil},
		{"too large", big},
		{"wrapper tag only", []byte{0x60}},
		{"wrapper length past end", []byte{0x60, 0x05, 0x06, 0x06}},
		{"wrapper indefinite length (BER)", append([]byte{0x60, 0x80}, append(derSPNEGO, 0, 0)...)},
		{"wrapper non-minimal length", append([]byte{0x60, 0x81, 0x08}, derSPNEGO...)},
		{"wrapper without inner token", tlv(0x60, derSPNEGO)},
		{"wrapper without mech OID", tlv(0x60, tlv(0xa0, tlv(0x30, derMechList)))},
		{"bytes after wrapper", append(initOf(derMechList), 0x00)},
		{"bytes after inner token", tlv(0x60, derSPNEGO, tlv(0xa0, tlv(0x30, derMechList)), []byte{0x05, 0x00})},
		{"wrapper carrying negTokenResp", tlv(0x60, derSPNEGO, respOf())},
		{"wrapper carrying octet string", tlv(0x60, derSPNEGO, tlv(0x04, []byte("x")))},
		{"bare negTokenInit", tlv(0xa0, tlv(0x30, derMechList))},
		{"negTokenInit not a SEQUENCE", tlv(0x60, derSPNEGO, tlv(0xa0, tlv(0x31, derMechList)))},
		{"negTokenInit holds two elements", tlv(0x60, derSPNEGO, tlv(0xa0, tlv(0x30, derMechList), tlv(0x30)))},
		{"no mechTypes", initOf(derToken)},
		{"empty mechTypes", initOf(tlv(0xa0, tlv(0x30)))},
		{"empty [0]", initOf(tlv(0xa0))},
		{"mechTypes holds an INTEGER", initOf(tlv(0xa0, tlv(0x30, []byte{0x02, 0x01, 0x01})))},
		{"mechTypes holds an empty OID", initOf(tlv(0xa0, tlv(0x30, []byte{0x06, 0x00})))},
		{"mechTypes not a SEQUENCE", initOf(tlv(0xa0, derNTLM))},
		{"bytes after mechTypes in [0]", initOf(tlv(0xa0, tlv(0x30, derNTLM), []byte{0x05, 0x00}))},
		{"fields out of order", initOf(derToken, derMechList)},
		{"duplicate field", initOf(derMechList, derMechList)},
		{"primitive context tag", initOf(derMechList, tlv(0x82, []byte("x")))},
		{"universal element among fields", initOf(derMechList, tlv(0x04, []byte("x")))},
		{"mechToken is an INTEGER", initOf(derMechList, tlv(0xa2, []byte{0x02, 0x01, 0x01}))},
		{"mechToken constructed OCTET STRING (BER)", initOf(derMechList, tlv(0xa2, tlv(0x24, tlv(0x04, []byte("x")))))},
		{"reqFlags padding bits set", initOf(derMechList, tlv(0xa1, []byte{0x03, 0x02, 0x01, 0x01}))},
		{"reqFlags padding of 8", initOf(derMechList, tlv(0xa1, []byte{0x03, 0x02, 0x08, 0x00}))},
		{"mechListMIC is a SEQUENCE", initOf(derMechList, tlv(0xa3, tlv(0x30)))},
		{"resp tag only", []byte{0xa1}},
		{"resp not a SEQUENCE", tlv(0xa1, tlv(0x04))},
		{"bytes after resp", append(respOf(), 0x00)},
		{"resp indefinite length", []byte{0xa1, 0x80, 0x30, 0x00, 0x00, 0x00}},
		{"resp non-minimal length", []byte{0xa1, 0x81, 0x02, 0x30, 0x00}},
		{"negState 4", respOf(tlv(0xa0, []byte{0x0a, 0x01, 0x04}))},
		{"negState -1 on the wire", respOf(tlv(0xa0, []byte{0x0a, 0x01, 0xff}))},
		{"negState non-minimal", respOf(tlv(0xa0, []byte{0x0a, 0x02, 0x00, 0x01}))},
		{"negState is an INTEGER", respOf(tlv(0xa0, []byte{0x02, 0x01, 0x01}))},
		{"negState huge", respOf(tlv(0xa0, []byte{0x0a, 0x09, 0x01, 0, 0, 0, 0, 0, 0, 0, 0}))},
		{"supportedMech not an OID", respOf(tlv(0xa1, tlv(0x04, []byte("x"))))},
		{"supportedMech OID component overflow", respOf(tlv(0xa1, []byte{0x06, 0x0b, 0x2b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}))},
		{"responseToken twice", respOf(tlv(0xa2, tlv(0x04)), tlv(0xa2, tlv(0x04)))},
		{"resp fields out of order", respOf(tlv(0xa2, tlv(0x04)), tlv(0xa0, []byte{0x0a, 0x01, 0x01}))},
		{"empty [2] in resp", respOf(tlv(0xa2))},
		{"thisMech empty OID", tlv(0x60, []byte{0x06, 0x00}, tlv(0xa0, tlv(0x30, derMechList)))},
		{"thisMech arc not minimal", tlv(0x60, []byte{0x06, 0x02, 0x80, 0x01}, tlv(0xa0, tlv(0x30, derMechList)))},
		{"thisMech arc truncated", tlv(0x60, []byte{0x06, 0x02, 0x2b, 0x86}, tlv(0xa0, tlv(0x30, derMechList)))},
		// Extensions are skipped, not unchecked: their headers are DER.
		{"extension tag number not minimal", initOf(derMechList, []byte{0xbf, 0x1e, 0x00})},
		{"extension tag number with a leading 0x80", initOf(derMechList, []byte{0xbf, 0x80, 0x20, 0x00})},
		{"extension tag number beyond 2^31-1", initOf(derMechList, []byte{0xbf, 0x88, 0x80, 0x80, 0x80, 0x00, 0x00})},
		{"extension tag number in six octets", initOf(derMechList, []byte{0xbf, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00, 0x00})},
		{"extension tag number truncated", initOf(derMechList, []byte{0xbf, 0x81})},
		{"extension length not minimal", initOf(derMechList, []byte{0xa7, 0x81, 0x02, 0x04, 0x00})},
		{"extension length with a leading zero", initOf(derMechList, []byte{0xa7, 0x82, 0x00, 0x02, 0x04, 0x00})},
		{"extension indefinite length", initOf(derMechList, []byte{0xa7, 0x80, 0x04, 0x00, 0x00, 0x00})},
		{"extension length past the end", initOf(derMechList, []byte{0xa7, 0x05, 0x04, 0x00})},
		{"extension primitive", initOf(derMechList, []byte{0x9f, 0x20, 0x00})},
		{"extension [31] before [4]", initOf(derMechList, []byte{0xbf, 0x1f, 0x00}, []byte{0xa4, 0x00})},
	}
}

func TestDecodeMalformed(t *testing.T) {
	for _, tt := range malformedTokens() {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Decode(tt.token)
			if err == nil {
				t.Fatalf("Decode(%x) = %+v, want an error", tt.token, tok)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("Decode(%x) = %v, want ErrMalformed", tt.token, err)
			}
			if tok != nil {
				t.Errorf("Decode returned a token with error %v", err)
			}
		})
	}
}

// TestDecodeExtensions checks that fields RFC 4178 may add after "..." are
// skipped rather than rejected, in both token types.
func TestDecodeExtensions(t *testing.T) {
	ext := tlv(0xa7, tlv(0x04, []byte("future")))
	tok, err := Decode(initOf(derMechList, derToken, ext))
	if err != nil || !tok.Init.Offers(OIDNTLM) || string(tok.Init.MechToken) != "NTLMSSP\x00" {
		t.Errorf("init with extension: %+v, %v", tok, err)
	}
	tok, err = Decode(respOf(tlv(0xa0, []byte{0x0a, 0x01, 0x02}), ext))
	if err != nil || tok.Resp.NegState != StateReject {
		t.Errorf("resp with extension: %+v, %v", tok, err)
	}
	// Tag numbers from 31 up take several identifier octets (X.690
	// 8.1.2.4): [31], then [1000].
	tok, err = Decode(initOf(derMechList, derToken, []byte{0xbf, 0x1f, 0x01, 0x05}, []byte{0xbf, 0x87, 0x68, 0x00}))
	if err != nil || !tok.Init.Offers(OIDNTLM) {
		t.Errorf("init with high-tag-number extensions: %+v, %v", tok, err)
	}
}

func TestRoundTrip(t *testing.T) {
	inits := []NegTokenInit{
		{MechTypes: []asn1.ObjectIdentifier{OIDNTLM}},
		{MechTypes: []asn1.ObjectIdentifier{OIDNTLM}, MechToken: []byte("NTLMSSP\x00\x01\x00\x00\x00")},
		{
			MechTypes:   []asn1.ObjectIdentifier{OIDMSKerberos, OIDKerberos, OIDNTLM},
			ReqFlags:    asn1.BitString{Bytes: []byte{0xb0}, BitLength: 4},
			MechToken:   bytes.Repeat([]byte{0xaa}, 70000>>2), // long-form lengths
			MechListMIC: []byte{1, 2, 3},
		},
		// Present but empty fields stay present.
		{MechTypes: []asn1.ObjectIdentifier{OIDNTLM}, ReqFlags: asn1.BitString{Bytes: []byte{}}, MechToken: []byte{}, MechListMIC: []byte{}},
	}
	for i, in := range inits {
		t.Run(fmt.Sprintf("init%d", i), func(t *testing.T) {
			b, err := in.Marshal()
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			tok, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if tok.Resp != nil || !reflect.DeepEqual(*tok.Init, in) {
				t.Errorf("round trip:\n got %+v\nwant %+v", tok.Init, in)
			}
		})
	}
	resps := []NegTokenResp{
		{NegState: StateAbsent},
		{NegState: StateAcceptCompleted},
		{NegState: StateAcceptIncomplete, SupportedMech: OIDNTLM, ResponseToken: []byte("NTLMSSP\x00\x02")},
		{NegState: StateReject},
		{NegState: StateRequestMIC, SupportedMech: OIDNTLM, MechListMIC: bytes.Repeat([]byte{7}, 300)},
		{NegState: StateAbsent, ResponseToken: []byte("NTLMSSP\x00\x03"), MechListMIC: []byte{}},
	}
	for i, r := range resps {
		t.Run(fmt.Sprintf("resp%d", i), func(t *testing.T) {
			b, err := r.Marshal()
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			tok, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if tok.Init != nil || !reflect.DeepEqual(*tok.Resp, r) {
				t.Errorf("round trip:\n got %+v\nwant %+v", tok.Resp, r)
			}
		})
	}
}

func TestMarshalErrors(t *testing.T) {
	tests := []struct {
		name string
		tok  interface{ Marshal() ([]byte, error) }
	}{
		{"init without mechs", &NegTokenInit{}},
		{"init with short OID", &NegTokenInit{MechTypes: []asn1.ObjectIdentifier{{1}}}},
		{"reqFlags length mismatch", &NegTokenInit{MechTypes: []asn1.ObjectIdentifier{OIDNTLM}, ReqFlags: asn1.BitString{BitLength: 3}}},
		{"reqFlags bits past length", &NegTokenInit{MechTypes: []asn1.ObjectIdentifier{OIDNTLM}, ReqFlags: asn1.BitString{Bytes: []byte{0x01}, BitLength: 7}}},
		{"negState 4", &NegTokenResp{NegState: 4}},
		{"negState -2", &NegTokenResp{NegState: -2}},
		{"empty supportedMech", &NegTokenResp{NegState: StateAbsent, SupportedMech: asn1.ObjectIdentifier{}}},
		// encoding/asn1 wrote a negative arc as nothing: 1.3.-1.6 went
		// out as 1.3.6, another mechanism.
		{"supportedMech with a negative arc", &NegTokenResp{NegState: StateAbsent, SupportedMech: asn1.ObjectIdentifier{1, 3, -1, 6}}},
		{"mechType with a negative arc", &NegTokenInit{MechTypes: []asn1.ObjectIdentifier{{1, 3, -1, 6}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := tt.tok.Marshal(); err == nil {
				t.Errorf("Marshal = %x, want an error", b)
			}
		})
	}
}

// TestBERCrossCheck parses what Marshal writes with go-asn1-ber, an
// independent BER decoder (already a dependency through go-ldap), so that a
// misreading of the ASN.1 shared by our encoder and decoder cannot hide
// behind a passing round trip.
func TestBERCrossCheck(t *testing.T) {
	ntlm := []byte("NTLMSSP\x00")
	tests := []struct {
		name string
		tok  interface{ Marshal() ([]byte, error) }
		want string
	}{
		{
			name: "init",
			tok: &NegTokenInit{
				MechTypes: []asn1.ObjectIdentifier{OIDMSKerberos, OIDKerberos, OIDNTLM},
				MechToken: ntlm,
			},
			want: "A0+{U6=1.3.6.1.5.5.2 C0+{U16+{C0+{U16+{U6=1.2.840.48018.1.2.2 U6=1.2.840.113554.1.2.2 U6=1.3.6.1.4.1.311.2.2.10}} C2+{U4=4e544c4d53535000}}}}",
		},
		{
			name: "iis answer",
			tok:  &NegTokenResp{NegState: StateAcceptIncomplete, SupportedMech: OIDNTLM, ResponseToken: ntlm},
			want: "C1+{U16+{C0+{U10=1} C1+{U6=1.3.6.1.4.1.311.2.2.10} C2+{U4=4e544c4d53535000}}}",
		},
		{
			name: "accept-completed alone",
			tok:  &NegTokenResp{NegState: StateAcceptCompleted},
			want: "C1+{U16+{C0+{U10=0}}}",
		},
		{
			name: "absent negState",
			tok:  &NegTokenResp{NegState: StateAbsent, MechListMIC: []byte{1}},
			want: "C1+{U16+{C3+{U4=01}}}",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.tok.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			p, err := ber.DecodePacketErr(b)
			if err != nil {
				t.Fatalf("go-asn1-ber: %v", err)
			}
			if got := berTree(p); got != tt.want {
				t.Errorf("go-asn1-ber sees\n %s\nwant\n %s", got, tt.want)
			}
		})
	}
}

// berTree renders a go-asn1-ber packet as class letter, tag, "+" when
// constructed, and the value of the universal types we use.
func berTree(p *ber.Packet) string {
	var sb strings.Builder
	switch p.ClassType {
	case ber.ClassUniversal:
		sb.WriteByte('U')
	case ber.ClassApplication:
		sb.WriteByte('A')
	case ber.ClassContext:
		sb.WriteByte('C')
	default:
		sb.WriteByte('P')
	}
	fmt.Fprintf(&sb, "%d", p.Tag)
	if p.TagType == ber.TypeConstructed {
		sb.WriteString("+{")
		for i, c := range p.Children {
			if i > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(berTree(c))
		}
		sb.WriteByte('}')
		return sb.String()
	}
	if p.ClassType == ber.ClassUniversal {
		switch p.Tag {
		case ber.TagObjectIdentifier, ber.TagEnumerated:
			fmt.Fprintf(&sb, "=%v", p.Value)
		case ber.TagOctetString:
			fmt.Fprintf(&sb, "=%x", p.Data.Bytes())
		}
	}
	return sb.String()
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{
		StateAbsent: "absent", StateAcceptCompleted: "accept-completed", StateAcceptIncomplete: "accept-incomplete",
		StateReject: "reject", StateRequestMIC: "request-mic", 9: "State(9)",
	} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", int(s), got, want)
		}
	}
}

func TestMechName(t *testing.T) {
	for _, tt := range []struct {
		oid  asn1.ObjectIdentifier
		want string
	}{
		{OIDNTLM, "NTLM"}, {OIDKerberos, "Kerberos"}, {OIDMSKerberos, "MS-Kerberos"},
		{oidNegoExForTest, "NEGOEX"}, {asn1.ObjectIdentifier{1, 2, 3}, "1.2.3"},
	} {
		if got := MechName(tt.oid); got != tt.want {
			t.Errorf("MechName(%s) = %q, want %q", tt.oid, got, tt.want)
		}
	}
}
