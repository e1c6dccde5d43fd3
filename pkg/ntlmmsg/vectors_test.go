package ntlmmsg

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// Values of MS-NLMP 4.2.1 (common values) and 4.2.4 (NTLMv2).
var (
	specUser            = "User"
	specDomain          = "Domain"
	specPassword        = "Password"
	specWorkstation     = "COMPUTER"
	specClientChallenge = [8]byte{0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa}
	specServerChallenge = [8]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	specTime            = time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC) // FILETIME 0
)

// specChallenge is the CHALLENGE_MESSAGE of MS-NLMP 4.2.4.3.
const specChallenge = "4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef" +
	"00000000000000002400240044000000060070170000000f5300650072007600" +
	"6500720002000c0044006f006d00610069006e0001000c005300650072007600" +
	"6500720000000000"

// specAuthenticate is the AUTHENTICATE_MESSAGE of MS-NLMP 4.2.4.3.
const specAuthenticate = "4e544c4d5353500003000000180018006c00000054005400840000000c000c00" +
	"48000000080008005400000010001000" + "5c00000010001000d8000000358288e2" +
	"0501280a0000000f44006f006d00610069006e00550073006500720043004f00" +
	"4d005000550054004500520086c35097ac9cec102554764a57cccc19aaaaaaaa" +
	"aaaaaaaa68cd0ab851e51c96aabc927bebef6a1c010100000000000000000000" +
	"00000000aaaaaaaaaaaaaaaa0000000002000c0044006f006d00610069006e00" +
	"01000c005300650072007600650072000000000000000000c5dad2544fc97990" +
	"94ce1ce90bc9d03e"

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

func TestSpecHashes(t *testing.T) {
	tests := []struct {
		name string // MS-NLMP section
		got  []byte
		want string
	}{
		{"4.2.2.1.2 NTOWFv1", NTOWFv1(specPassword), "a4f49c406510bdcab6824ee7c30fd852"},
		{"4.2.4.1.1 NTOWFv2", NTOWFv2(specPassword, specUser, specDomain), "0c868a403bfd7a93a3001ef22ef02e3f"},
		// The user name is upper-cased before hashing, the domain is not.
		{"NTOWFv2 user case", NTOWFv2(specPassword, "uSeR", specDomain), "0c868a403bfd7a93a3001ef22ef02e3f"},
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(tt.got); got != tt.want {
			t.Errorf("%s = %s, want %s", tt.name, got, tt.want)
		}
	}
	if bytes.Equal(NTOWFv2(specPassword, specUser, "DOMAIN"), NTOWFv2(specPassword, specUser, specDomain)) {
		t.Error("NTOWFv2 ignores the case of the domain; MS-NLMP 3.3.2 keeps it")
	}
}

func TestSpecNTLMv2Response(t *testing.T) {
	ch, err := ParseChallenge(unhex(t, specChallenge))
	if err != nil {
		t.Fatal(err)
	}
	nt, lm, key := ntlmv2Response(NTOWFv2(specPassword, specUser, specDomain),
		specServerChallenge, specClientChallenge, 0, ch.TargetInfo)
	tests := []struct {
		name string // MS-NLMP section
		got  []byte
		want string
	}{
		{"4.2.4.2.2 NTProofStr", nt[:16], "68cd0ab851e51c96aabc927bebef6a1c"},
		{"4.2.4.2.1 LMv2 response", lm, "86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa"},
		{"4.2.4.1.2 session base key", key, "8de40ccadbc14a82f15cb0ad0de95ca3"},
		{"4.2.4.3 NtChallengeResponse", nt, "68cd0ab851e51c96aabc927bebef6a1c" +
			"0101000000000000" + "0000000000000000" + "aaaaaaaaaaaaaaaa" + "00000000" +
			"02000c0044006f006d00610069006e0001000c00530065007200760065007200" + "00000000" +
			"00000000"},
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(tt.got); got != tt.want {
			t.Errorf("%s = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestSpecChallenge(t *testing.T) {
	raw := unhex(t, specChallenge)
	m, err := ParseChallenge(raw)
	if err != nil {
		t.Fatal(err)
	}
	const wantFlags = NegotiateUnicode | NegotiateOEM | NegotiateSign | NegotiateSeal | NegotiateNTLM |
		AlwaysSign | TargetTypeServer | ExtendedSessionSecurity | TargetInfo | NegotiateVersion |
		Negotiate128 | KeyExchange | Negotiate56
	if m.Flags != wantFlags || uint32(m.Flags) != 0xe28a8233 {
		t.Errorf("Flags = %v, want %v", m.Flags, wantFlags)
	}
	if m.TargetName != "Server" {
		t.Errorf("TargetName = %q, want Server", m.TargetName)
	}
	if m.ServerChallenge != specServerChallenge {
		t.Errorf("ServerChallenge = %x", m.ServerChallenge)
	}
	if want := (Version{6, 0, 6000, 15}); m.Version == nil || *m.Version != want {
		t.Errorf("Version = %v, want %v", m.Version, want)
	}
	av, err := m.AVPairs()
	if err != nil {
		t.Fatal(err)
	}
	if len(av) != 2 || av.String(MsvAvNbDomainName) != "Domain" || av.String(MsvAvNbComputerName) != "Server" {
		t.Errorf("AVPairs = %v", av)
	}
	// The layout is the canonical one, so re-encoding must be byte exact.
	if got := m.Marshal(); !bytes.Equal(got, raw) {
		t.Errorf("Marshal =\n%x\nwant\n%x", got, raw)
	}
}

func TestSpecAuthenticate(t *testing.T) {
	raw := unhex(t, specAuthenticate)
	m, err := ParseAuthenticate(raw)
	if err != nil {
		t.Fatal(err)
	}
	if uint32(m.Flags) != 0xe2888235 {
		t.Errorf("Flags = %#x (%v), want 0xe2888235", uint32(m.Flags), m.Flags)
	}
	if m.Domain != specDomain || m.User != specUser || m.Workstation != specWorkstation {
		t.Errorf("names = %q %q %q", m.Domain, m.User, m.Workstation)
	}
	if want := (Version{5, 1, 2600, 15}); m.Version == nil || *m.Version != want {
		t.Errorf("Version = %v, want %v", m.Version, want)
	}
	if m.MIC != nil {
		t.Errorf("MIC = %x, want none: the payload starts at 72", m.MIC)
	}
	if got := hex.EncodeToString(m.LmChallengeResponse); got != "86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa" {
		t.Errorf("LmChallengeResponse = %s", got)
	}
	if got := hex.EncodeToString(m.NtChallengeResponse[:16]); got != "68cd0ab851e51c96aabc927bebef6a1c" {
		t.Errorf("NTProofStr = %s", got)
	}
	if got := hex.EncodeToString(m.EncryptedRandomSessionKey); got != "c5dad2544fc9799094ce1ce90bc9d03e" {
		t.Errorf("EncryptedRandomSessionKey = %s", got)
	}
	if !m.NTLMv2() || m.Anonymous() || m.NoCredentials() {
		t.Errorf("NTLMv2, Anonymous, NoCredentials = %v %v %v", m.NTLMv2(), m.Anonymous(), m.NoCredentials())
	}
	if got := m.Marshal(); !bytes.Equal(got, raw) {
		t.Errorf("Marshal =\n%x\nwant\n%x", got, raw)
	}
}

// TestNewAuthenticateV2Spec rebuilds the responses of the 4.2.4.3
// AUTHENTICATE from its CHALLENGE.
func TestNewAuthenticateV2Spec(t *testing.T) {
	ch, err := ParseChallenge(unhex(t, specChallenge))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ParseAuthenticate(unhex(t, specAuthenticate))
	if err != nil {
		t.Fatal(err)
	}
	m, key, err := NewAuthenticateV2(ch, specUser, specDomain, specPassword, specWorkstation, specClientChallenge, specTime)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.LmChallengeResponse, want.LmChallengeResponse) {
		t.Errorf("LmChallengeResponse = %x, want %x", m.LmChallengeResponse, want.LmChallengeResponse)
	}
	if !bytes.Equal(m.NtChallengeResponse, want.NtChallengeResponse) {
		t.Errorf("NtChallengeResponse = %x, want %x", m.NtChallengeResponse, want.NtChallengeResponse)
	}
	if got := hex.EncodeToString(key); got != "8de40ccadbc14a82f15cb0ad0de95ca3" {
		t.Errorf("session base key = %s", got)
	}
	if wantFlags := NegotiateUnicode | NegotiateNTLM | AlwaysSign | ExtendedSessionSecurity | TargetInfo; m.Flags != wantFlags {
		t.Errorf("Flags = %v, want %v", m.Flags, wantFlags)
	}
	if m.Domain != specDomain || m.User != specUser || m.Workstation != specWorkstation || m.MIC != nil || m.Version != nil {
		t.Errorf("unexpected message %v", m)
	}
	// And it must survive the wire.
	back, err := ParseAuthenticate(m.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.NtChallengeResponse, m.NtChallengeResponse) || back.User != specUser {
		t.Errorf("round trip changed the message: %v", back)
	}
}

func TestNewAuthenticateV2ServerTimestamp(t *testing.T) {
	const serverTime = 0x01d9_0000_1234_5678
	ts := make([]byte, 8)
	for i := range ts {
		ts[i] = byte(uint64(serverTime) >> (8 * i))
	}
	ch := &Challenge{
		Flags:           NegotiateUnicode | NegotiateNTLM | TargetInfo,
		ServerChallenge: specServerChallenge,
		TargetInfo: AVPairs{
			{MsvAvNbDomainName, utf16le("Domain")},
			{MsvAvTimestamp, ts},
		}.Marshal(),
	}
	m, _, err := NewAuthenticateV2(ch, specUser, specDomain, specPassword, "", specClientChallenge, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.LmChallengeResponse, make([]byte, 24)) {
		t.Errorf("LmChallengeResponse = %x, want Z(24) when the server sends MsvAvTimestamp", m.LmChallengeResponse)
	}
	// The blob's Time field (after NTProofStr and 8 header bytes) must be
	// the server's, not our clock.
	if got := m.NtChallengeResponse[24:32]; !bytes.Equal(got, ts) {
		t.Errorf("blob timestamp = %x, want %x", got, ts)
	}

	ch.TargetInfo = AVPairs{{MsvAvTimestamp, ts[:4]}}.Marshal()
	if _, _, err := NewAuthenticateV2(ch, specUser, specDomain, specPassword, "", specClientChallenge, time.Now()); err == nil {
		t.Error("NewAuthenticateV2 accepted a 4-byte MsvAvTimestamp")
	}
	ch.TargetInfo = []byte{1, 0, 9}
	if _, _, err := NewAuthenticateV2(ch, specUser, specDomain, specPassword, "", specClientChallenge, time.Now()); err == nil {
		t.Error("NewAuthenticateV2 accepted malformed TargetInfo")
	}
}

func TestFiletime(t *testing.T) {
	tests := []struct {
		t    time.Time
		want uint64
	}{
		{specTime, 0},
		{time.Unix(0, 0), 116444736000000000},
		// davenport.sourceforge.net/ntlm.html: 2003-06-17 10:00 UTC.
		{time.Unix(1055844000, 0), 127003176000000000},
		{time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC), 0},
	}
	for _, tt := range tests {
		if got := toFiletime(tt.t); got != tt.want {
			t.Errorf("toFiletime(%v) = %d, want %d", tt.t, got, tt.want)
		}
		if tt.want != 0 && !fromFiletime(tt.want).Equal(tt.t) {
			t.Errorf("fromFiletime(%d) = %v, want %v", tt.want, fromFiletime(tt.want), tt.t)
		}
	}
}
