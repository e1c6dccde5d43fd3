package spnego

import (
	"bytes"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode. It must never panic, must
// fail only with ErrMalformed or ErrNotSPNEGO, and whatever it accepts must
// re-encode to a token that decodes to the same value: the authorizer
// answers with tokens built from these types, so an encoder that cannot
// express what the decoder accepts would send clients garbage.
//
// Seeds live in testdata/fuzz/FuzzDecode; f.Add adds the captured vectors.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{capturedWindowsInit, capturedNegoExInit, capturedServerChallenge, gokrb5NegTokenResp, windowsStyleInit} {
		f.Add(unhex(f, s))
	}
	f.Add(wrapInit(f, unhex(f, gokrb5NegTokenInit)))
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := Decode(b)
		if err != nil {
			if tok != nil {
				t.Fatalf("Decode returned a token with error %v", err)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotSPNEGO) {
				t.Fatalf("Decode error %v wraps neither sentinel", err)
			}
			return
		}
		var (
			m   interface{ Marshal() ([]byte, error) }
			val any
		)
		switch {
		case tok.Init != nil && tok.Resp == nil:
			m, val = tok.Init, *tok.Init
			_ = tok.Init.Offers(OIDNTLM)
			_ = tok.Init.TokenFor(OIDNTLM)
			for _, o := range tok.Init.MechTypes {
				_ = MechName(o)
			}
		case tok.Resp != nil && tok.Init == nil:
			m, val = tok.Resp, *tok.Resp
			_ = tok.Resp.NegState.String()
		default:
			t.Fatalf("Decode = %+v: want exactly one of Init and Resp", tok)
		}
		enc, err := m.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a decoded token failed: %v\ninput %x", err, b)
		}
		again, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Marshal) failed: %v\ninput %x\nenc   %x", err, b, enc)
		}
		var got any
		if again.Init != nil {
			got = *again.Init
		} else if again.Resp != nil {
			got = *again.Resp
		}
		if !reflect.DeepEqual(got, val) {
			t.Fatalf("round trip changed the token:\n got %+v\nwant %+v", got, val)
		}
		// Marshal is a function of the value: encoding twice agrees.
		if enc2, _ := m.Marshal(); !bytes.Equal(enc, enc2) {
			t.Fatalf("Marshal is not deterministic")
		}
	})
}

// FuzzDecodeDifferential holds Decode to the encoding/asn1 decoder it
// replaced (decodeOracle): for any bytes, both accept with deeply equal
// tokens (nil and empty slices told apart), or both refuse with the same
// sentinel. Accepted NegTokenInits must also marshal to the same bytes, and
// the token must not alias the input, which callers may reuse.
func FuzzDecodeDifferential(f *testing.F) {
	addDecodeSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if d := oracleMismatch(b); d != "" {
			t.Fatal(d)
		}
	})
}

// oracleMismatch says how Decode and decodeOracle differ on b, or "" when
// they agree as FuzzDecodeDifferential requires.
func oracleMismatch(b []byte) string {
	in := bytes.Clone(b)
	got, err := Decode(in)
	want, wantErr := decodeOracle(b)
	if (err == nil) != (wantErr == nil) {
		return fmt.Sprintf("input %x:\nDecode       = %+v, %v\ndecodeOracle = %+v, %v", b, got, err, want, wantErr)
	}
	if err != nil {
		for _, sentinel := range []error{ErrMalformed, ErrNotSPNEGO} {
			if errors.Is(err, sentinel) != errors.Is(wantErr, sentinel) {
				return fmt.Sprintf("input %x: Decode refuses with %v, decodeOracle with %v", b, err, wantErr)
			}
		}
		return ""
	}
	clear(in)
	if !reflect.DeepEqual(got, want) {
		return fmt.Sprintf("input %x:\nDecode       = %s\ndecodeOracle = %s", b, dumpToken(got), dumpToken(want))
	}
	if got.Init != nil {
		enc, err := got.Init.Marshal()
		wantEnc, wantErr := marshalInitOracle(want.Init)
		if err != nil || wantErr != nil || !bytes.Equal(enc, wantEnc) {
			return fmt.Sprintf("input %x: Marshal = %x, %v; marshalInitOracle = %x, %v", b, enc, err, wantEnc, wantErr)
		}
	}
	return ""
}

// dumpToken shows what DeepEqual compares, nil slices included.
func dumpToken(t *Token) string {
	if t.Init != nil {
		return fmt.Sprintf("Init %#v", *t.Init)
	}
	return fmt.Sprintf("Resp %#v", *t.Resp)
}

// addDecodeSeeds seeds a differential fuzzer with FuzzDecode's corpus, the
// captured vectors and the malformed tokens of the unit tests.
func addDecodeSeeds(f *testing.F) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	entries, err := os.ReadDir(dir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		f.Add(readCorpusBytes(f, filepath.Join(dir, e.Name())))
	}
	for _, s := range []string{capturedWindowsInit, capturedNegoExInit, capturedServerChallenge, gokrb5NegTokenResp, windowsStyleInit} {
		f.Add(unhex(f, s))
	}
	f.Add(wrapInit(f, unhex(f, gokrb5NegTokenInit)))
	for _, tt := range malformedTokens() {
		f.Add(tt.token)
	}
}

// readCorpusBytes reads a one-[]byte file of the go test fuzz v1 corpus
// format, so that one fuzzer's corpus can seed another.
func readCorpusBytes(f *testing.F, path string) []byte {
	raw, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	header, value, _ := strings.Cut(strings.TrimSpace(string(raw)), "\n")
	lit, ok := strings.CutPrefix(value, "[]byte(")
	lit, ok2 := strings.CutSuffix(lit, ")")
	s, err := strconv.Unquote(lit)
	if header != "go test fuzz v1" || !ok || !ok2 || err != nil {
		f.Fatalf("%s: not a go test fuzz v1 []byte value", path)
	}
	return []byte(s)
}

// FuzzNegTokenRespMarshalDifferential holds NegTokenResp.Marshal to the
// encoding/asn1 encoder it replaced (marshalRespOracle): the same bytes or
// both an error, for fields made from the fuzz input (see fuzzOID; present
// sets which of SupportedMech, ResponseToken and MechListMIC are not nil).
//
// One difference is wanted: encoding/asn1 writes a negative OID arc as no
// octets at all, so that {1, 3, -1, 6} came out as 1.3.6, while cryptobyte
// refuses it. Such an OID must be refused.
func FuzzNegTokenRespMarshalDifferential(f *testing.F) {
	for _, r := range []NegTokenResp{
		{NegState: StateAbsent},
		{NegState: StateAcceptCompleted, SupportedMech: OIDKerberos, ResponseToken: []byte{0x6f, 0x00}},
		{NegState: StateAcceptIncomplete, SupportedMech: OIDNTLM, ResponseToken: []byte("NTLMSSP\x00\x02")},
		{NegState: StateRequestMIC, SupportedMech: OIDNTLM, MechListMIC: bytes.Repeat([]byte{7}, 300)},
		{NegState: StateAbsent, ResponseToken: []byte{}, MechListMIC: []byte{}},
		{NegState: StateReject, SupportedMech: asn1.ObjectIdentifier{}},
		{NegState: StateReject, SupportedMech: asn1.ObjectIdentifier{2, 999, 1<<31 - 1, 1 << 40}},
		{NegState: 4},
	} {
		present := presentBits(r.SupportedMech != nil, r.ResponseToken != nil, r.MechListMIC != nil)
		f.Add(int8(r.NegState), fuzzOIDBytes(r.SupportedMech), r.ResponseToken, r.MechListMIC, present)
	}
	f.Fuzz(func(t *testing.T, state int8, mech, respToken, mic []byte, present uint8) {
		r := &NegTokenResp{NegState: State(state)}
		if present&1 != 0 {
			r.SupportedMech = fuzzOID(mech)
		}
		if present&2 != 0 {
			r.ResponseToken = fuzzPresent(respToken)
		}
		if present&4 != 0 {
			r.MechListMIC = fuzzPresent(mic)
		}
		sameMarshal(t, r, (*NegTokenResp).Marshal, marshalRespOracle, hasNegativeArc(r.SupportedMech))
	})
}

// FuzzNegTokenInitMarshalDifferential is FuzzNegTokenRespMarshalDifferential
// for NegTokenInit.Marshal: mechs holds OIDs separated by 0xff (fuzzOID),
// and present sets which of MechTypes, ReqFlags.Bytes, MechToken and
// MechListMIC are not nil.
func FuzzNegTokenInitMarshalDifferential(f *testing.F) {
	for _, in := range []NegTokenInit{
		{MechTypes: []asn1.ObjectIdentifier{OIDNTLM}, MechToken: []byte("NTLMSSP\x00\x01")},
		{MechTypes: []asn1.ObjectIdentifier{OIDMSKerberos, OIDKerberos, OIDNTLM}, ReqFlags: asn1.BitString{Bytes: []byte{0xb0}, BitLength: 4}, MechListMIC: []byte{1}},
		{MechTypes: []asn1.ObjectIdentifier{OIDNTLM}, ReqFlags: asn1.BitString{Bytes: []byte{}}, MechToken: []byte{}, MechListMIC: []byte{}},
		{MechTypes: []asn1.ObjectIdentifier{OIDNTLM}, ReqFlags: asn1.BitString{Bytes: []byte{0x01}, BitLength: 7}},
		{MechTypes: []asn1.ObjectIdentifier{{1}}},
		{MechTypes: []asn1.ObjectIdentifier{}},
	} {
		var mechs []byte
		for i, m := range in.MechTypes {
			if i > 0 {
				mechs = append(mechs, 0xff)
			}
			mechs = append(mechs, fuzzOIDBytes(m)...)
		}
		present := presentBits(in.MechTypes != nil, in.ReqFlags.Bytes != nil, in.MechToken != nil, in.MechListMIC != nil)
		f.Add(mechs, in.ReqFlags.Bytes, in.ReqFlags.BitLength, in.MechToken, in.MechListMIC, present)
	}
	f.Fuzz(func(t *testing.T, mechs, flags []byte, bitLength int, mechToken, mic []byte, present uint8) {
		in := &NegTokenInit{ReqFlags: asn1.BitString{BitLength: bitLength}}
		if present&1 != 0 {
			in.MechTypes = []asn1.ObjectIdentifier{}
			if len(mechs) > 0 {
				for m := range bytes.SplitSeq(mechs, []byte{0xff}) {
					in.MechTypes = append(in.MechTypes, fuzzOID(m))
				}
			}
		}
		if present&2 != 0 {
			in.ReqFlags.Bytes = fuzzPresent(flags)
		}
		if present&4 != 0 {
			in.MechToken = fuzzPresent(mechToken)
		}
		if present&8 != 0 {
			in.MechListMIC = fuzzPresent(mic)
		}
		sameMarshal(t, in, (*NegTokenInit).Marshal, marshalInitOracle, slices.ContainsFunc(in.MechTypes, hasNegativeArc))
	})
}

// sameMarshal fails unless marshal and the oracle give the same bytes for v
// or both an error, and unless marshal refuses a v with a negative arc.
func sameMarshal[T any](t *testing.T, v *T, marshal, oracle func(*T) ([]byte, error), negativeArc bool) {
	t.Helper()
	got, err := marshal(v)
	if negativeArc {
		if err == nil {
			t.Fatalf("Marshal(%+v) = %x, want an error for the negative arc", v, got)
		}
		return
	}
	want, wantErr := oracle(v)
	if (err == nil) != (wantErr == nil) || !bytes.Equal(got, want) {
		t.Fatalf("%+v:\nMarshal = %x, %v\noracle  = %x, %v", v, got, err, want, wantErr)
	}
}

// fuzzOID makes an OID of any arcs from fuzz bytes: an octet below 0xf0 is
// an arc; 0xf0 and up takes the next eight octets as a big-endian int64
// (fewer at the end), to reach the negative and the huge. Empty b gives an
// empty, not nil, OID.
func fuzzOID(b []byte) asn1.ObjectIdentifier {
	oid := asn1.ObjectIdentifier{}
	for len(b) > 0 {
		if b[0] < 0xf0 {
			oid = append(oid, int(b[0]))
			b = b[1:]
			continue
		}
		var v [8]byte
		n := copy(v[:], b[1:])
		oid = append(oid, int(int64(binary.BigEndian.Uint64(v[:]))))
		b = b[1+n:]
	}
	return oid
}

// fuzzOIDBytes is the inverse of fuzzOID, for seeds; nil for nil.
func fuzzOIDBytes(oid asn1.ObjectIdentifier) []byte {
	var b []byte
	for _, a := range oid {
		if a >= 0 && a < 0xf0 {
			b = append(b, byte(a))
			continue
		}
		b = binary.BigEndian.AppendUint64(append(b, 0xf0), uint64(a))
	}
	return b
}

// fuzzPresent makes a present field of b: the fuzzing engine may hand over
// nil for an empty []byte.
func fuzzPresent(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func hasNegativeArc(oid asn1.ObjectIdentifier) bool {
	return slices.ContainsFunc(oid, func(a int) bool { return a < 0 })
}

// presentBits is the present argument of the marshal fuzzers: bit i for
// field i not nil.
func presentBits(fields ...bool) uint8 {
	var b uint8
	for i, v := range fields {
		if v {
			b |= 1 << i
		}
	}
	return b
}
