package spnego

import (
	"bytes"
	"encoding/base64"
	"os"
	"strings"
	"testing"
)

// sambaKerberosInit is the NegTokenInit curl --negotiate sent to the test
// stack's Samba DC realm (pkg/kerberos's testdata, 1453 bytes with a PAC):
// the size and shape of every Kerberos login's Negotiate header.
func sambaKerberosInit(b *testing.B) []byte {
	b.Helper()
	b64, err := os.ReadFile("../kerberos/testdata/samba-jdoe.negotiate")
	if err != nil {
		b.Fatal(err)
	}
	tok, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b64)))
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct {
		name  string
		token []byte
	}{
		{"kerberos-init", sambaKerberosInit(b)},
		{"negoex-ntlm-init", unhex(b, capturedNegoExInit)},
		{"ntlm-resp", unhex(b, capturedServerChallenge)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.token)))
			for b.Loop() {
				if _, err := Decode(bc.token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkNegTokenRespMarshal(b *testing.B) {
	for _, bc := range []struct {
		name string
		resp NegTokenResp
	}{
		// The Kerberos answer: accept-completed with an AP-REP of the
		// size an aes256 mutual-authentication reply has.
		{"kerberos-aprep", NegTokenResp{NegState: StateAcceptCompleted, SupportedMech: OIDKerberos, ResponseToken: bytes.Repeat([]byte{0x6f}, 156)}},
		// The NTLM answer: accept-incomplete with a Type2 as IIS sends it.
		{"ntlm-challenge", NegTokenResp{NegState: StateAcceptIncomplete, SupportedMech: OIDNTLM, ResponseToken: bytes.Repeat([]byte{0x4e}, 178)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.resp.Marshal(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
