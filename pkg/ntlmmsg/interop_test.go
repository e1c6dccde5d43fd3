package ntlmmsg

import (
	"bytes"
	"crypto/hmac"
	"testing"

	"github.com/Azure/go-ntlmssp"
)

// These tests decode messages produced by an independent implementation,
// github.com/Azure/go-ntlmssp, so that a symmetric misreading of MS-NLMP in
// our encoder and decoder cannot go unnoticed.

func TestInteropNegotiate(t *testing.T) {
	tests := []struct {
		domain, workstation string
		wantFlags           NegotiateFlags
	}{
		{"", "", 0},
		{"corp", "ws1", OEMDomainSupplied | OEMWorkstationSupplied},
		{"corp", "", OEMDomainSupplied},
	}
	for _, tt := range tests {
		raw, err := ntlmssp.NewNegotiateMessage(tt.domain, tt.workstation)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ParseNegotiate(raw)
		if err != nil {
			t.Fatalf("ParseNegotiate(go-ntlmssp %q, %q): %v", tt.domain, tt.workstation, err)
		}
		// go-ntlmssp upper-cases the names and writes a Version without
		// setting NegotiateVersion, so the Version must be ignored.
		if m.Domain != upper(tt.domain) || m.Workstation != upper(tt.workstation) || m.Version != nil {
			t.Errorf("parsed %v", m)
		}
		if want := NegotiateUnicode | NegotiateNTLM | ExtendedSessionSecurity | TargetInfo; m.Flags&want != want ||
			m.Flags&(OEMDomainSupplied|OEMWorkstationSupplied) != tt.wantFlags {
			t.Errorf("Flags = %v", m.Flags)
		}
	}
}

func TestInteropAuthenticate(t *testing.T) {
	ch := &Challenge{
		Flags:           NegotiateUnicode | NegotiateNTLM | AlwaysSign | ExtendedSessionSecurity | TargetInfo | TargetTypeDomain,
		TargetName:      "CORP",
		ServerChallenge: [8]byte{0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04},
		TargetInfo: AVPairs{
			{MsvAvNbDomainName, utf16le("CORP")},
			{MsvAvNbComputerName, utf16le("DC1")},
			{MsvAvDnsDomainName, utf16le("corp.example")},
			{MsvAvTimestamp, []byte{0, 0x80, 0x3e, 0xd5, 0xde, 0xb1, 0x9d, 0x01}},
		}.Marshal(),
		Version: &Version{10, 0, 20348, 15},
	}
	tests := []struct {
		login, password, user, domain string
	}{
		{`CORP\jdoe`, "S3cret!", "jdoe", "CORP"},
		{"jdoe@corp.example", "pässwörd", "jdoe@corp.example", ""},
	}
	for _, tt := range tests {
		raw, err := ntlmssp.ProcessChallenge(ch.Marshal(), tt.login, tt.password, true)
		if err != nil {
			t.Fatalf("go-ntlmssp rejected our CHALLENGE: %v", err)
		}
		m, err := ParseAuthenticate(raw)
		if err != nil {
			t.Fatalf("ParseAuthenticate(go-ntlmssp): %v", err)
		}
		if m.User != tt.user || m.Domain != tt.domain || !m.NTLMv2() || m.Anonymous() || m.MIC != nil {
			t.Errorf("parsed %v", m)
		}
		if !bytes.Equal(m.LmChallengeResponse, make([]byte, 24)) && len(m.LmChallengeResponse) != 0 {
			t.Errorf("LmChallengeResponse = %x, want none or Z(24) with a server timestamp", m.LmChallengeResponse)
		}
		// The NTProofStr must verify under our NTOWFv2 over their blob,
		// which must in turn embed the server's TargetInfo verbatim.
		proof, blob := m.NtChallengeResponse[:16], m.NtChallengeResponse[16:]
		key := NTOWFv2(tt.password, tt.user, tt.domain)
		if !hmac.Equal(proof, hmacMD5(key, ch.ServerChallenge[:], blob)) {
			t.Errorf("NTProofStr from go-ntlmssp does not verify with our NTOWFv2")
		}
		if !bytes.Contains(blob, ch.TargetInfo) {
			t.Errorf("blob does not embed TargetInfo")
		}
		blobAV, err := ParseAVPairs(blob[28:])
		if err != nil || blobAV.String(MsvAvDnsDomainName) != "corp.example" {
			t.Errorf("blob AV pairs = %v, %v", blobAV, err)
		}
	}
}

func upper(s string) string { return string(bytes.ToUpper([]byte(s))) }
