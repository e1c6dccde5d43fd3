package ntlmmsg

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// secretForms returns the encodings in which b could leak into a log line.
func secretForms(b []byte) []string {
	forms := []string{
		hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)),
		base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
		fmt.Sprint(b), // [104 205 ...]
	}
	// Any 8-byte window is enough to identify a response, so check those
	// in hex too: a handler might truncate or split the value.
	for i := 0; i+8 <= len(b); i += 8 {
		forms = append(forms, hex.EncodeToString(b[i:i+8]))
	}
	return forms
}

func TestAuthenticateLogHasNoSecrets(t *testing.T) {
	ch, err := ParseChallenge(unhex(t, specChallenge))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseAuthenticate(unhex(t, specAuthenticate))
	if err != nil {
		t.Fatal(err)
	}
	m.MIC = bytes.Repeat([]byte{0x5a, 0xc3}, 8)
	secrets := map[string][]byte{
		"LmChallengeResponse":       m.LmChallengeResponse,
		"NtChallengeResponse":       m.NtChallengeResponse[:16], // NTProofStr; the blob holds zeros and names
		"EncryptedRandomSessionKey": m.EncryptedRandomSessionKey,
		"MIC":                       m.MIC,
	}

	var buf bytes.Buffer
	for _, h := range []slog.Handler{
		slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}),
		slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}),
	} {
		slog.New(h).Debug("ntlm", "authenticate", m, "challenge", ch)
	}
	fmt.Fprintf(&buf, "%v %s %+v %#v %v %+v %#v\n", m, m, m, m, *m, *m, *m)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("copy", "authenticate", *m)
	out := buf.String()

	for name, secret := range secrets {
		for _, form := range secretForms(secret) {
			if strings.Contains(out, form) {
				t.Errorf("log output contains %s as %q:\n%s", name, form, out)
			}
		}
	}
	for _, want := range []string{
		"user=User", "domain=Domain", "workstation=COMPUTER", "nt_response_len=84", "lm_response_len=24",
		"session_key_len=16", "mic_len=16", "ntlmv2=true", "version=5.1.2600/15",
		"flags=Unicode|RequestTarget|Sign|Seal|NTLM|AlwaysSign|ExtendedSessionSecurity|TargetInfo|Version|128|KeyExchange|56",
		"target_name=Server", "target_info.MsvAvNbDomainName=Domain", "target_info.MsvAvNbComputerName=Server",
		`"user":"User"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log output lacks %q:\n%s", want, out)
		}
	}
}

func TestChallengeLogValue(t *testing.T) {
	ch := &Challenge{
		Flags:      NegotiateUnicode,
		TargetName: "CORP",
		TargetInfo: AVPairs{
			{MsvAvDnsDomainName, utf16le("corp.example")},
			{MsvAvFlags, []byte{2, 0, 0, 0}},
			{MsvAvTimestamp, []byte{0x00, 0x80, 0x3e, 0xd5, 0xde, 0xb1, 0x9d, 0x01}}, // 1970-01-01
			{MsvAvChannelBindings, make([]byte, 16)},
		}.Marshal(),
	}
	got := ch.LogValue().String()
	for _, want := range []string{
		"MsvAvDnsDomainName=corp.example", "MsvAvFlags=0x2",
		"MsvAvTimestamp=1970-01-01T00:00:00Z", "MsvAvChannelBindings=16 bytes",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("LogValue = %s; lacks %q", got, want)
		}
	}
	ch.TargetInfo = []byte{1, 2, 3}
	if got := ch.LogValue().String(); !strings.Contains(got, "malformed (3 bytes)") {
		t.Errorf("LogValue with bad TargetInfo = %s", got)
	}
}

func TestNegotiateLogValue(t *testing.T) {
	n := &Negotiate{Flags: NegotiateUnicode | NegotiateNTLM, Domain: "CORP", Workstation: "WS1"}
	got := n.String()
	for _, want := range []string{"NEGOTIATE", "Unicode|NTLM", "domain=CORP", "workstation=WS1"} {
		if !strings.Contains(got, want) {
			t.Errorf("String = %s; lacks %q", got, want)
		}
	}
}
