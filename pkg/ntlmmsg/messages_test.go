package ntlmmsg

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

func TestType(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    MessageType
		wantErr bool
	}{
		{"negotiate", []byte("NTLMSSP\x00\x01\x00\x00\x00"), TypeNegotiate, false},
		{"challenge", []byte("NTLMSSP\x00\x02\x00\x00\x00"), TypeChallenge, false},
		{"authenticate", []byte("NTLMSSP\x00\x03\x00\x00\x00extra"), TypeAuthenticate, false},
		{"empty", nil, 0, true},
		{"short", []byte("NTLMSSP\x00\x01\x00\x00"), 0, true},
		{"bad signature", []byte("NTLMSSP\x01\x01\x00\x00\x00"), 0, true},
		{"type 0", []byte("NTLMSSP\x00\x00\x00\x00\x00"), 0, true},
		{"type 4", []byte("NTLMSSP\x00\x04\x00\x00\x00"), 0, true},
		{"type high bits", []byte("NTLMSSP\x00\x01\x00\x00\x01"), 0, true},
		{"too large", append([]byte("NTLMSSP\x00\x01\x00\x00\x00"), make([]byte, maxMessageLen)...), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Type(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("Type = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
		})
	}
}

func TestNegotiateFlagsString(t *testing.T) {
	tests := []struct {
		f    NegotiateFlags
		want string
	}{
		{0, "0"},
		{NegotiateUnicode, "Unicode"},
		{NegotiateUnicode | NegotiateNTLM | AlwaysSign, "Unicode|NTLM|AlwaysSign"},
		{Negotiate56 | KeyExchange | Negotiate128, "128|KeyExchange|56"},
		{NegotiateNTLM | 1<<3 | 1<<24, "NTLM|0x1000008"},
		{1 << 8, "0x100"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("NegotiateFlags(%#x).String() = %q, want %q", uint32(tt.f), got, tt.want)
		}
	}
	// Every named constant must have a name, and they must be distinct bits.
	var all NegotiateFlags
	for _, f := range []NegotiateFlags{NegotiateUnicode, NegotiateOEM, RequestTarget, NegotiateSign,
		NegotiateSeal, NegotiateDatagram, NegotiateLMKey, NegotiateNTLM, Anonymous, OEMDomainSupplied,
		OEMWorkstationSupplied, AlwaysSign, TargetTypeDomain, TargetTypeServer, ExtendedSessionSecurity,
		Identify, RequestNonNTSessionKey, TargetInfo, NegotiateVersion, Negotiate128, KeyExchange, Negotiate56} {
		if f.name() == "" || all&f != 0 {
			t.Errorf("flag %#x unnamed or duplicated", uint32(f))
		}
		all |= f
	}
}

func TestRoundTrip(t *testing.T) {
	v := &Version{10, 0, 19041, 15}
	tests := []struct {
		name  string
		msg   interface{ Marshal() []byte }
		parse func([]byte) (any, error)
	}{
		{"negotiate empty", &Negotiate{Flags: NegotiateUnicode | NegotiateNTLM}, parseNeg},
		{"negotiate names", &Negotiate{
			Flags:  NegotiateUnicode | NegotiateNTLM | OEMDomainSupplied | OEMWorkstationSupplied | NegotiateVersion,
			Domain: "CORP", Workstation: "WS-Ünïcode", Version: v,
		}, parseNeg},
		{"challenge", &Challenge{
			Flags:           NegotiateUnicode | NegotiateNTLM | TargetInfo | NegotiateVersion | TargetTypeDomain,
			TargetName:      "CORP",
			ServerChallenge: [8]byte{1, 2, 3, 4, 5, 6, 7, 8},
			TargetInfo:      AVPairs{{MsvAvNbDomainName, utf16le("CORP")}, {MsvAvDnsDomainName, utf16le("corp.example")}}.Marshal(),
			Version:         v,
		}, parseCh},
		{"challenge OEM no version", &Challenge{Flags: NegotiateOEM, TargetName: "CORP"}, parseCh},
		{"authenticate v2 with MIC", &Authenticate{
			Flags:                     NegotiateUnicode | NegotiateNTLM | NegotiateVersion | KeyExchange,
			LmChallengeResponse:       make([]byte, 24),
			NtChallengeResponse:       make([]byte, 100),
			Domain:                    "CORP",
			User:                      "jdoe",
			Workstation:               "WS1",
			EncryptedRandomSessionKey: []byte("0123456789abcdef"),
			Version:                   v,
			MIC:                       []byte("MICMICMICMICMIC!"),
		}, parseAu},
		{"authenticate OEM v1", &Authenticate{
			Flags:               NegotiateOEM | NegotiateNTLM,
			LmChallengeResponse: make([]byte, 24),
			NtChallengeResponse: make([]byte, 24),
			User:                "jdoe",
			Domain:              "CORP",
		}, parseAu},
		{"authenticate anonymous", &Authenticate{
			Flags:               NegotiateUnicode | Anonymous,
			LmChallengeResponse: []byte{0},
		}, parseAu},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse(tt.msg.Marshal())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.msg) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, tt.msg)
			}
		})
	}
}

func parseNeg(b []byte) (any, error) { return ParseNegotiate(b) }
func parseCh(b []byte) (any, error)  { return ParseChallenge(b) }
func parseAu(b []byte) (any, error)  { return ParseAuthenticate(b) }

// putField writes a field descriptor, for building hostile messages.
func putField(b []byte, pos int, n uint16, off uint32) []byte {
	b = append([]byte(nil), b...)
	binary.LittleEndian.PutUint16(b[pos:], n)
	binary.LittleEndian.PutUint16(b[pos+2:], n)
	binary.LittleEndian.PutUint32(b[pos+4:], off)
	return b
}

func TestMalformed(t *testing.T) {
	neg := (&Negotiate{Flags: NegotiateNTLM, Domain: "CORP", Workstation: "WS"}).Marshal()
	ch := (&Challenge{Flags: NegotiateUnicode, TargetName: "CORP", TargetInfo: AVPairs{}.Marshal()}).Marshal()
	au := (&Authenticate{
		Flags: NegotiateUnicode, User: "jdoe", Domain: "CORP",
		LmChallengeResponse: make([]byte, 24), NtChallengeResponse: make([]byte, 24),
	}).Marshal()
	tests := []struct {
		name  string
		parse func([]byte) (any, error)
		in    []byte
	}{
		{"negotiate truncated header", parseNeg, neg[:15]},
		{"negotiate truncated payload", parseNeg, neg[:len(neg)-1]},
		{"negotiate bad signature", parseNeg, append([]byte("NTLMSSQ\x00"), neg[8:]...)},
		{"negotiate wrong type", parseNeg, ch},
		{"negotiate offset past end", parseNeg, putField(neg, negDomain, 4, 1000)},
		{"negotiate offset+len overflow", parseNeg, putField(neg, negDomain, 0xffff, 0xffffffff)},
		{"negotiate field in header", parseNeg, putField(neg, negDomain, 4, 8)},
		{"negotiate overlapping fields", parseNeg, putField(neg, negWorkstation, 4, negFixedLen)},
		{"challenge truncated", parseCh, ch[:47]},
		{"challenge wrong type", parseCh, au},
		{"challenge offset past end", parseCh, putField(ch, chTargetInfo, 4, uint32(len(ch)-2))},
		{"challenge offset+len overflow", parseCh, putField(ch, chTargetName, 8, 0xfffffffc)},
		{"challenge odd UTF-16", parseCh, putField(ch, chTargetName, 7, chFixedLen)},
		{"authenticate truncated", parseAu, au[:63]},
		{"authenticate bad signature", parseAu, append([]byte("ntlmssp\x00"), au[8:]...)},
		{"authenticate wrong type", parseAu, neg},
		{"authenticate offset past end", parseAu, putField(au, auNt, 24, uint32(len(au)))},
		{"authenticate offset+len overflow", parseAu, putField(au, auNt, 0x20, 0xfffffff0)},
		{"authenticate odd UTF-16 user", parseAu, putField(au, auUser, 7, auFixedLen+8)},
		{"authenticate overlapping responses", parseAu, putField(au, auLm, 24, binary.LittleEndian.Uint32(au[auNt+4:]))},
		{"authenticate too large", parseAu, append(au, make([]byte, maxMessageLen)...)},
		{"avpairs empty", parseAV, nil},
		{"avpairs no EOL", parseAV, AVPairs{{MsvAvNbDomainName, utf16le("X")}}.Marshal()[:6]},
		{"avpairs truncated header", parseAV, []byte{2, 0, 2}},
		{"avpairs value past end", parseAV, []byte{2, 0, 0xff, 0xff, 'X', 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.parse(tt.in)
			if err == nil {
				t.Fatalf("parsed %+v, want error", m)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %q does not wrap ErrMalformed", err)
			}
			t.Log(err)
		})
	}
}

func parseAV(b []byte) (any, error) { return ParseAVPairs(b) }

// TestTolerated covers quirks real clients produce that must not be refused.
func TestTolerated(t *testing.T) {
	neg := (&Negotiate{Flags: NegotiateUnicode | NegotiateNTLM}).Marshal()
	au := (&Authenticate{Flags: NegotiateUnicode | NegotiateVersion, User: "jdoe", NtChallengeResponse: make([]byte, 24)}).Marshal()
	tests := []struct {
		name  string
		parse func([]byte) (any, error)
		in    []byte
		check func(any) bool
	}{
		{"negotiate flags only, 16 bytes", parseNeg, neg[:negMinLen],
			func(m any) bool { return m.(*Negotiate).Flags == NegotiateUnicode|NegotiateNTLM }},
		{"negotiate empty field, wild offset", parseNeg, putField(neg, negDomain, 0, 0xffffffff),
			func(m any) bool { return m.(*Negotiate).Domain == "" }},
		{"negotiate version flag without version", parseNeg,
			(&Negotiate{Flags: NegotiateVersion | NegotiateNTLM, Domain: "CORP"}).Marshal(),
			func(m any) bool { n := m.(*Negotiate); return n.Version == nil && n.Domain == "CORP" }},
		{"negotiate unicode flag keeps OEM names", parseNeg,
			(&Negotiate{Flags: NegotiateUnicode, Domain: "CORP"}).Marshal(),
			func(m any) bool { return m.(*Negotiate).Domain == "CORP" }},
		{"authenticate version flag, payload at 64", parseAu, putField(au, auUser, 8, auFixedLen),
			func(m any) bool { a := m.(*Authenticate); return a.Version == nil && a.MIC == nil }},
		{"authenticate empty session key, wild offset", parseAu, putField(au, auSessionKey, 0, 0xdeadbeef),
			func(m any) bool { return m.(*Authenticate).EncryptedRandomSessionKey == nil }},
		{"avpairs bytes after EOL", parseAV, append(AVPairs{{MsvAvFlags, []byte{2, 0, 0, 0}}}.Marshal(), 0, 0, 0, 0),
			func(m any) bool { return len(m.(AVPairs)) == 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(m) {
				t.Errorf("unexpected result %+v", m)
			}
		})
	}
}

func TestAVPairs(t *testing.T) {
	p := AVPairs{
		{MsvAvNbComputerName, utf16le("SERVER")},
		{MsvAvEOL, []byte("dropped")},
		{MsvAvDnsDomainName, utf16le("corp.example")},
		{MsvAvFlags, []byte{2, 0, 0, 0}},
	}
	got, err := ParseAVPairs(p.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	want := AVPairs{p[0], p[2], p[3]}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseAVPairs(Marshal) = %v, want %v", got, want)
	}
	tests := []struct {
		id   AVID
		want string
	}{
		{MsvAvNbComputerName, "SERVER"},
		{MsvAvDnsDomainName, "corp.example"},
		{MsvAvFlags, ""},        // not a name
		{MsvAvNbDomainName, ""}, // absent
	}
	for _, tt := range tests {
		if s := got.String(tt.id); s != tt.want {
			t.Errorf("String(%v) = %q, want %q", tt.id, s, tt.want)
		}
	}
	if v, ok := got.Get(MsvAvFlags); !ok || len(v) != 4 {
		t.Errorf("Get(MsvAvFlags) = %x, %v", v, ok)
	}
	if _, ok := got.Get(MsvAvTimestamp); ok {
		t.Error("Get(MsvAvTimestamp) found an absent pair")
	}
	if empty := (AVPairs(nil)).Marshal(); len(empty) != 4 {
		t.Errorf("empty list marshals to %x, want only MsvAvEOL", empty)
	}
}

func TestAuthenticatePredicates(t *testing.T) {
	tests := []struct {
		name                            string
		m                               Authenticate
		anonymous, noCredentials, ntlm2 bool
	}{
		{"spec anonymous, empty LM", Authenticate{}, true, true, false},
		{"spec anonymous, Z(1) LM", Authenticate{LmChallengeResponse: []byte{0}}, true, true, false},
		{"LM not Z(1)", Authenticate{LmChallengeResponse: []byte{1}}, false, true, false},
		{"empty user with NT response", Authenticate{NtChallengeResponse: make([]byte, 24)}, false, true, false},
		{"user, no responses", Authenticate{User: "jdoe"}, false, true, false},
		{"user, LM Z(1) only", Authenticate{User: "jdoe", LmChallengeResponse: []byte{0}}, false, true, false},
		{"user, anonymous flag", Authenticate{User: "jdoe", Flags: Anonymous, NtChallengeResponse: make([]byte, 25)}, false, true, true},
		{"user, LM only", Authenticate{User: "jdoe", LmChallengeResponse: make([]byte, 24)}, false, false, false},
		{"NTLMv1", Authenticate{User: "jdoe", NtChallengeResponse: make([]byte, 24)}, false, false, false},
		{"NTLMv2", Authenticate{User: "jdoe", NtChallengeResponse: make([]byte, 25)}, false, false, true},
	}
	for _, tt := range tests {
		if a, n, v := tt.m.Anonymous(), tt.m.NoCredentials(), tt.m.NTLMv2(); a != tt.anonymous || n != tt.noCredentials || v != tt.ntlm2 {
			t.Errorf("%s: Anonymous, NoCredentials, NTLMv2 = %v %v %v; want %v %v %v",
				tt.name, a, n, v, tt.anonymous, tt.noCredentials, tt.ntlm2)
		}
		// What the relay refuses survives the wire: the DC would read the
		// same message.
		b := tt.m.Marshal()
		m, err := ParseAuthenticate(b)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if m.NoCredentials() != tt.noCredentials {
			t.Errorf("%s: NoCredentials after a round trip = %v", tt.name, m.NoCredentials())
		}
	}
}

func TestParseDoesNotAlias(t *testing.T) {
	raw := (&Authenticate{Flags: NegotiateUnicode, NtChallengeResponse: []byte("response-bytes-that-are-long-enough")}).Marshal()
	m, err := ParseAuthenticate(raw)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		raw[i] = 0
	}
	if string(m.NtChallengeResponse) != "response-bytes-that-are-long-enough" {
		t.Error("parsed message aliases the input buffer")
	}
}
