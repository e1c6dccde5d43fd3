package spnego

// Red-team attacks on the cryptobyte Decode (issue 32): hand-made framings
// where a hand-written DER header reader most easily parts from
// encoding/asn1, each held to decodeOracle (same acceptance, same
// sentinel, deeply equal token); and no aliasing of the input.

import (
	"bytes"
	"testing"
)

func rtTLV(tag []byte, content ...byte) []byte {
	n := len(content)
	var l []byte
	switch {
	case n < 0x80:
		l = []byte{byte(n)}
	case n <= 0xff:
		l = []byte{0x81, byte(n)}
	default:
		l = []byte{0x82, byte(n >> 8), byte(n)}
	}
	return append(append(bytes.Clone(tag), l...), content...)
}

func rtInit(fields ...[]byte) []byte {
	seq := rtTLV([]byte{0x30}, bytes.Join(fields, nil)...)
	body := append([]byte{0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02}, rtTLV([]byte{0xa0}, seq...)...)
	return rtTLV([]byte{0x60}, body...)
}

func rtResp(fields ...[]byte) []byte {
	return rtTLV([]byte{0xa1}, rtTLV([]byte{0x30}, bytes.Join(fields, nil)...)...)
}

func TestRedTeamDecodeEdgeCases(t *testing.T) {
	krb := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}
	mechs := rtTLV([]byte{0xa0}, rtTLV([]byte{0x30}, krb...)...)
	tok := rtTLV([]byte{0xa2}, rtTLV([]byte{0x04}, 0x60, 0x00)...)
	oid := func(c ...byte) []byte { return rtTLV([]byte{0x06}, c...) }
	mechsOf := func(o ...[]byte) []byte { return rtTLV([]byte{0xa0}, rtTLV([]byte{0x30}, bytes.Join(o, nil)...)...) }
	cases := map[string][]byte{
		"plain":                         rtInit(mechs, tok),
		"field [31] high form":          rtInit(mechs, tok, rtTLV([]byte{0xbf, 0x1f}, 0x05, 0x00)),
		"field [30] in high form":       rtInit(mechs, tok, rtTLV([]byte{0xbf, 0x1e}, 0x05, 0x00)),
		"field [2] in high form":        rtInit(mechs, rtTLV([]byte{0xbf, 0x02}, rtTLV([]byte{0x04}, 1)...)),
		"field high form 0x80 lead":     rtInit(mechs, tok, rtTLV([]byte{0xbf, 0x80, 0x1f}, 0x05, 0x00)),
		"field tag 2^31-1":              rtInit(mechs, tok, rtTLV([]byte{0xbf, 0x87, 0xff, 0xff, 0xff, 0x7f}, 0x05, 0x00)),
		"field tag 2^31":                rtInit(mechs, tok, rtTLV([]byte{0xbf, 0x88, 0x80, 0x80, 0x80, 0x00}, 0x05, 0x00)),
		"field tag 6 octets":            rtInit(mechs, tok, rtTLV([]byte{0xbf, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00}, 0x05, 0x00)),
		"field tag truncated":           rtInit(mechs, tok, []byte{0xbf, 0x81}),
		"field [5] then [4]":            rtInit(mechs, tok, rtTLV([]byte{0xa5}), rtTLV([]byte{0xa4})),
		"field [4] twice":               rtInit(mechs, tok, rtTLV([]byte{0xa4}), rtTLV([]byte{0xa4})),
		"field [4] primitive":           rtInit(mechs, tok, rtTLV([]byte{0x84})),
		"field application class":       rtInit(mechs, tok, rtTLV([]byte{0x64})),
		"field private class":           rtInit(mechs, tok, rtTLV([]byte{0xe4})),
		"universal after fields":        rtInit(mechs, tok, []byte{0x05, 0x00}),
		"length 0x81 short":             rtInit(mechs, tok, []byte{0xa4, 0x81, 0x01, 0x00}),
		"length 0x82 leading zero":      rtInit(mechs, tok, append([]byte{0xa4, 0x82, 0x00, 0x80}, make([]byte, 0x80)...)),
		"length 0x81 0x80":              rtInit(mechs, tok, append([]byte{0xa4, 0x81, 0x80}, make([]byte, 0x80)...)),
		"length 0x80 indefinite":        rtInit(mechs, tok, []byte{0xa4, 0x80, 0x00, 0x00}),
		"length 0x84 huge":              rtInit(mechs, tok, []byte{0xa4, 0x84, 0x7f, 0xff, 0xff, 0xff}),
		"length 0x85":                   rtInit(mechs, tok, []byte{0xa4, 0x85, 0x00, 0x00, 0x00, 0x00, 0x01}),
		"length 0x88 wraps":             rtInit(mechs, tok, []byte{0xa4, 0x88, 0x80, 0, 0, 0, 0, 0, 0, 0}),
		"length past end":               rtInit(mechs, tok, []byte{0xa4, 0x05, 0x00}),
		"oid arc 2^31-1":                rtInit(mechsOf(oid(0x2a, 0x87, 0xff, 0xff, 0xff, 0x7f)), tok),
		"oid arc 2^31":                  rtInit(mechsOf(oid(0x2a, 0x88, 0x80, 0x80, 0x80, 0x00)), tok),
		"oid arc 0x80 lead":             rtInit(mechsOf(oid(0x2a, 0x80, 0x01)), tok),
		"oid first 2.x large":           rtInit(mechsOf(oid(0x88, 0x37, 0x01)), tok),
		"oid first byte 79":             rtInit(mechsOf(oid(79, 1)), tok),
		"oid first byte 80":             rtInit(mechsOf(oid(80, 1)), tok),
		"oid one byte":                  rtInit(mechsOf(oid(0x2a)), tok),
		"oid empty":                     rtInit(mechsOf(oid()), tok),
		"oid truncated arc":             rtInit(mechsOf(oid(0x2a, 0x86)), tok),
		"oid constructed":               rtInit(mechsOf(rtTLV([]byte{0x26}, 0x2a, 0x03)), tok),
		"oid high-form tag":             rtInit(mechsOf(rtTLV([]byte{0x1f, 0x06}, 0x2a, 0x03)), tok),
		"mechs SET":                     rtInit(rtTLV([]byte{0xa0}, rtTLV([]byte{0x31}, krb...)...), tok),
		"mechs empty":                   rtInit(mechsOf(), tok),
		"mechs trailing":                rtInit(rtTLV([]byte{0xa0}, append(rtTLV([]byte{0x30}, krb...), 0x05, 0x00)...), tok),
		"reqFlags empty bitstring":      rtInit(mechs, rtTLV([]byte{0xa1}, 0x03, 0x01, 0x00), tok),
		"reqFlags pad 7":                rtInit(mechs, rtTLV([]byte{0xa1}, 0x03, 0x02, 0x07, 0x80), tok),
		"reqFlags bad pad":              rtInit(mechs, rtTLV([]byte{0xa1}, 0x03, 0x02, 0x07, 0x81), tok),
		"reqFlags pad 8":                rtInit(mechs, rtTLV([]byte{0xa1}, 0x03, 0x02, 0x08, 0x00), tok),
		"reqFlags pad no bytes":         rtInit(mechs, rtTLV([]byte{0xa1}, 0x03, 0x01, 0x01), tok),
		"reqFlags zero length":          rtInit(mechs, rtTLV([]byte{0xa1}, 0x03, 0x00), tok),
		"mechToken constructed":         rtInit(mechs, rtTLV([]byte{0xa2}, rtTLV([]byte{0x24}, rtTLV([]byte{0x04}, 1)...)...)),
		"mechToken empty":               rtInit(mechs, rtTLV([]byte{0xa2}, 0x04, 0x00)),
		"mechToken field empty":         rtInit(mechs, rtTLV([]byte{0xa2})),
		"mechToken trailing":            rtInit(mechs, rtTLV([]byte{0xa2}, 0x04, 0x00, 0x05, 0x00)),
		"mic only":                      rtInit(mechs, rtTLV([]byte{0xa3}, 0x04, 0x01, 0xff)),
		"init trailing after wrapper":   append(rtInit(mechs, tok), 0x00),
		"thisMech kerberos":             rtTLV([]byte{0x60}, append(krb, 0x01, 0x00)...),
		"thisMech bad oid":              rtTLV([]byte{0x60}, 0x06, 0x02, 0x2a, 0x80, 0xa0, 0x00),
		"thisMech spnego then nothing":  rtTLV([]byte{0x60}, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02),
		"thisMech spnego then resp":     rtTLV([]byte{0x60}, append([]byte{0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02}, rtResp()...)...),
		"inner trailing":                rtTLV([]byte{0x60}, append(append([]byte{0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02}, rtTLV([]byte{0xa0}, rtTLV([]byte{0x30}, mechs...)...)...), 0x00)...),
		"resp empty":                    rtResp(),
		"resp state 0":                  rtResp(rtTLV([]byte{0xa0}, 0x0a, 0x01, 0x00)),
		"resp state 3":                  rtResp(rtTLV([]byte{0xa0}, 0x0a, 0x01, 0x03)),
		"resp state 4":                  rtResp(rtTLV([]byte{0xa0}, 0x0a, 0x01, 0x04)),
		"resp state -1":                 rtResp(rtTLV([]byte{0xa0}, 0x0a, 0x01, 0xff)),
		"resp state non-minimal":        rtResp(rtTLV([]byte{0xa0}, 0x0a, 0x02, 0x00, 0x01)),
		"resp state 5 octets":           rtResp(rtTLV([]byte{0xa0}, 0x0a, 0x05, 0x01, 0x00, 0x00, 0x00, 0x00)),
		"resp state empty":              rtResp(rtTLV([]byte{0xa0}, 0x0a, 0x00)),
		"resp state INTEGER":            rtResp(rtTLV([]byte{0xa0}, 0x02, 0x01, 0x00)),
		"resp mech":                     rtResp(rtTLV([]byte{0xa1}, krb...)),
		"resp mech empty":               rtResp(rtTLV([]byte{0xa1}, 0x06, 0x00)),
		"resp token":                    rtResp(rtTLV([]byte{0xa2}, 0x04, 0x01, 0x4e)),
		"resp [7] high-form extension":  rtResp(rtTLV([]byte{0xa2}, 0x04, 0x01, 0x4e), rtTLV([]byte{0xbf, 0x40})),
		"resp outer long-form length":   append([]byte{0xa1, 0x81, 0x02}, 0x30, 0x00),
		"resp seq long-form length":     []byte{0xa1, 0x03, 0x30, 0x81, 0x00},
		"resp two elements":             append(rtResp(), rtResp()...),
		"bare negTokenInit":             rtTLV([]byte{0xa0}, rtTLV([]byte{0x30}, mechs...)...),
		"ntlmssp":                       []byte("NTLMSSP\x00\x01\x00\x00\x00"),
		"wrapper long-form non-minimal": append([]byte{0x60, 0x82, 0x00, 0x10}, make([]byte, 16)...),
	}
	for name, b := range cases {
		if d := oracleMismatch(b); d != "" {
			t.Errorf("%s: %s", name, d)
		}
	}
}

// An append to one decoded field must not write into the next (the
// copier's capping), nor into the caller's buffer.
func TestRedTeamDecodedFieldsDoNotOverlap(t *testing.T) {
	krb := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}
	b := rtInit(rtTLV([]byte{0xa0}, rtTLV([]byte{0x30}, krb...)...),
		rtTLV([]byte{0xa1}, 0x03, 0x02, 0x00, 0xaa),
		rtTLV([]byte{0xa2}, rtTLV([]byte{0x04}, 1, 2, 3)...),
		rtTLV([]byte{0xa3}, rtTLV([]byte{0x04}, 9, 9)...))
	orig := bytes.Clone(b)
	tok, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	in := tok.Init
	_ = append(in.ReqFlags.Bytes, 0xee)
	_ = append(in.MechToken, 0xee, 0xee)
	_ = append(in.MechTypes[0], 7, 7)
	if !bytes.Equal(in.MechToken, []byte{1, 2, 3}) || !bytes.Equal(in.MechListMIC, []byte{9, 9}) || !bytes.Equal(b, orig) ||
		!in.MechTypes[0].Equal(OIDKerberos) {
		t.Fatalf("an append ran into the next field: %+v", in)
	}
}
