package spnego

import (
	"bytes"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
)

// Captured tokens from real implementations. They test Decode against
// encoders we did not write, and Marshal against their exact bytes: a
// server answer that differs from what IIS sends in even one length octet
// is what breaks picky clients.
const (
	// capturedWindowsInit is a Windows client's first token offering
	// only NTLM, with an NTLM NEGOTIATE as optimistic token. It was
	// carved out of the SMB1 SESSION_SETUP payload of a Suricata eve log
	// (public test data); the same bytes open every IE/Edge "Negotiate
	// YEgGBisGAQUFAqA+MDyg..." header seen when Kerberos is unavailable.
	capturedWindowsInit = "604806062b0601050502a03e303ca00e300c060a2b06010401823702020aa22a04284e544c4d5353500001000000978208e2000000000000000000000000000000000a00614a0000000f"

	// capturedNegoExInit offers NEGOEX then NTLM, with a NEGOEX message
	// as optimistic token, as recent Windows versions send (from a
	// public SMB test, base64 "YIIBPAYGKwYBBQUCoIIBMDCCASyg...").
	capturedNegoExInit = "6082013c06062b0601050502a08201303082012ca01a3018060a2b06010401823702021e060a2b06010401823702020aa282010c048201084e45474f455854530100000000000000600000007000000066a2a6d4df022a638baf72f898888f9657d8a3afe5596965a146215bf275ef3767153460ebee52fe8f7403ac12f14c110000000000000000600000000100000000000000000000005c33530deaf90d4db2ec4ae3786ec3084e45474f455854530300000001000000400000009800000066a2a6d4df022a638baf72f898888f965c33530deaf90d4db2ec4ae3786ec30840000000580000003056a05430523027802530233121301f06035504031318546f6b656e205369676e696e67205075626c6963204b65793027802530233121301f06035504031318546f6b656e205369676e696e67205075626c6963204b6579"

	// capturedServerChallenge is a Windows server's answer to the first
	// leg: accept-incomplete, supportedMech NTLM and an NTLM CHALLENGE,
	// in the "a1 81 xx 30 81 xx a0 03 0a 01 01 a1 0c 06 0a ..." layout
	// IIS uses (same public SMB test as capturedNegoExInit).
	capturedServerChallenge = "a181ce3081cba0030a0101a10c060a2b06010401823702020aa281b50481b24e544c4d5353500002000000120012003800000015828a621123fb69007423ac0000000000000000680068004a0000000a00614a0000000f52004f004f004c00490043002d005a0039000200120052004f004f004c00490043002d005a0039000100120052004f004f004c00490043002d005a0039000400120052006f006f006c00690063002d005a0039000300120052006f006f006c00690063002d005a00390007000800a0ffb034a90ddc0100000000"

	// gokrb5NegTokenInit is the bare negTokenInit [0] from
	// jcmturner/gokrb5's spnego tests: MIT Kerberos client, four
	// mechanisms, Kerberos AP-REQ optimistic token. It is wrapped in the
	// InitialContextToken header by the test, since Decode insists on it.
	gokrb5NegTokenInit = "a08202aa308202a6a027302506092a864886f71201020206052b0501050206092a864882f71201020206062b0601050205a2820279048202756082027106092a864886f71201020201006e8202603082025ca003020105a10302010ea20703050000000000a38201706182016c30820168a003020105a10d1b0b544553542e474f4b524235a2233021a003020103a11a30181b04485454501b10686f73742e746573742e676f6b726235a382012b30820127a003020112a103020102a282011904820115d4bd890abc456f44e2e7a2e8111bd6767abf03266dfcda97c629af2ece450a5ae1f145e4a4d1bc2c848e66a6c6b31d9740b26b03cdbd2570bfcf126e90adf5f5ebce9e283ff5086da47b129b14fc0aabd4d1df9c1f3c72b80cc614dfc28783450b2c7b7749651f432b47aaa2ff158c0066b757f3fb00dd7b4f63d68276c76373ecdd3f19c66ebc43a81e577f3c263b878356f57e8d6c4eccd587b81538e70392cf7e73fc12a6f7c537a894a7bb5566c83ac4d69757aa320a51d8d690017aebf952add1889adfc3307b0e6cd8c9b57cf8589fbe52800acb6461c25473d49faa1bdceb8bce3f61db23f9cd6a09d5adceb411e1c4546b30b33331e570fd6bc50aa403557e75f488e759750ea038aab6454667d9b64f41a481d23081cfa003020112a281c70481c4d67ba2ae4cf5d917caab1d863605249320e90482563662ed92408a543b6ad5edeb8f9375e9060a205491df082fd2a5fec93dfb76f41012bb60cae20f07adbb77a1aa56f0521f36e1ea10dc9fb762902b254dd7664d0bcc6f751f2003e41990af1b4330d10477bfad638b9f0b704ac80cc47731f8ec8d801762bad8884b8de90adb1dbe7fc7b0ffafd38fb5eb8b6547cee30d89873281ce63ad70042a13478b1a7c2bdde0f223ace62dbb84e2d06f1070f4265f66e0544449335e2fcc4d0aee5bf81c5999"

	// gokrb5NegTokenResp is gokrb5's accept-completed answer for
	// Kerberos, without a response token.
	gokrb5NegTokenResp = "a1143012a0030a0100a10b06092a864886f712010202"

	// windowsStyleInit is built by hand (and checked with
	// "openssl asn1parse"): mechTypes MS-KRB5, KRB5, NTLM as a domain
	// member's browser lists them, carrying an NTLM NEGOTIATE as
	// mechToken. RFC 4178 3.2 makes the optimistic token the first
	// mechanism's, so TokenFor(OIDNTLM) must not return it.
	windowsStyleInit = "605e06062b0601050502a0543052a0243022" +
		"06092a864882f712010202" + "06092a864886f712010202" + "060a2b06010401823702020a" +
		"a22a0428" + ntlmNegotiate

	// ntlmNegotiate is the NTLM NEGOTIATE inside capturedWindowsInit.
	ntlmNegotiate = "4e544c4d5353500001000000978208e2000000000000000000000000000000000a00614a0000000f"
)

var oidNegoExForTest = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 2, 30}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wrapInit puts a bare negTokenInit into an InitialContextToken by hand,
// independently of Marshal.
func wrapInit(t testing.TB, bare []byte) []byte {
	t.Helper()
	body := append(unhex(t, "06062b0601050502"), bare...)
	out, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassApplication, Tag: 0, IsCompound: true, Bytes: body})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCapturedInit(t *testing.T) {
	tests := []struct {
		name      string
		token     []byte
		mechs     []asn1.ObjectIdentifier
		mechToken []byte // prefix of MechToken to expect
		tokenFor  asn1.ObjectIdentifier
		offersNTL bool
	}{
		{
			name:      "windows NTLM only",
			token:     unhex(t, capturedWindowsInit),
			mechs:     []asn1.ObjectIdentifier{OIDNTLM},
			mechToken: unhex(t, ntlmNegotiate),
			tokenFor:  OIDNTLM,
			offersNTL: true,
		},
		{
			name:      "windows NEGOEX then NTLM",
			token:     unhex(t, capturedNegoExInit),
			mechs:     []asn1.ObjectIdentifier{oidNegoExForTest, OIDNTLM},
			mechToken: []byte("NEGOEXTS"),
			tokenFor:  oidNegoExForTest,
			offersNTL: true,
		},
		{
			name:  "gokrb5 kerberos",
			token: wrapInit(t, unhex(t, gokrb5NegTokenInit)),
			mechs: []asn1.ObjectIdentifier{
				OIDKerberos, {1, 3, 5, 1, 5, 2}, OIDMSKerberos, {1, 3, 6, 1, 5, 2, 5},
			},
			mechToken: unhex(t, "6082027106092a864886f712010202"), // GSS-wrapped AP-REQ
			tokenFor:  OIDKerberos,
		},
		{
			name:      "hand-built MS-KRB5, KRB5, NTLM",
			token:     unhex(t, windowsStyleInit),
			mechs:     []asn1.ObjectIdentifier{OIDMSKerberos, OIDKerberos, OIDNTLM},
			mechToken: unhex(t, ntlmNegotiate),
			tokenFor:  OIDMSKerberos,
			offersNTL: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Decode(tt.token)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if tok.Resp != nil || tok.Init == nil {
				t.Fatalf("Decode = %+v, want only Init", tok)
			}
			in := tok.Init
			if !oidsEqual(in.MechTypes, tt.mechs) {
				t.Errorf("MechTypes = %v, want %v", in.MechTypes, tt.mechs)
			}
			if !bytes.HasPrefix(in.MechToken, tt.mechToken) {
				t.Errorf("MechToken = %x, want prefix %x", in.MechToken, tt.mechToken)
			}
			if got := in.Offers(OIDNTLM); got != tt.offersNTL {
				t.Errorf("Offers(NTLM) = %v, want %v", got, tt.offersNTL)
			}
			if got := in.TokenFor(tt.tokenFor); !bytes.Equal(got, in.MechToken) {
				t.Errorf("TokenFor(%s) is not the MechToken", tt.tokenFor)
			}
			if !tt.tokenFor.Equal(OIDNTLM) && in.TokenFor(OIDNTLM) != nil {
				t.Errorf("TokenFor(NTLM) returned the optimistic token of %s", in.MechTypes[0])
			}
			again, err := in.Marshal()
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if !bytes.Equal(again, tt.token) {
				t.Errorf("Marshal differs from the captured token:\n got %x\nwant %x", again, tt.token)
			}
		})
	}
}

// TestWindowsNTLMNegotiateParses checks the mechToken with our NTLM decoder:
// the SPNEGO layer must hand over exactly the NTLM message, no more.
func TestWindowsNTLMNegotiateParses(t *testing.T) {
	tok, err := Decode(unhex(t, capturedWindowsInit))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ntlmmsg.ParseNegotiate(tok.Init.TokenFor(OIDNTLM)); err != nil {
		t.Fatalf("ParseNegotiate(mechToken): %v", err)
	}
}

func TestCapturedResp(t *testing.T) {
	tests := []struct {
		name  string
		token []byte
		want  NegTokenResp // ResponseToken compared by prefix
	}{
		{
			name:  "windows NTLM challenge",
			token: unhex(t, capturedServerChallenge),
			want: NegTokenResp{
				NegState:      StateAcceptIncomplete,
				SupportedMech: OIDNTLM,
				ResponseToken: []byte("NTLMSSP\x00\x02\x00\x00\x00"),
			},
		},
		{
			name:  "gokrb5 accept-completed",
			token: unhex(t, gokrb5NegTokenResp),
			want:  NegTokenResp{NegState: StateAcceptCompleted, SupportedMech: OIDKerberos},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Decode(tt.token)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if tok.Init != nil || tok.Resp == nil {
				t.Fatalf("Decode = %+v, want only Resp", tok)
			}
			r := tok.Resp
			if r.NegState != tt.want.NegState || !r.SupportedMech.Equal(tt.want.SupportedMech) ||
				!bytes.HasPrefix(r.ResponseToken, tt.want.ResponseToken) || r.MechListMIC != nil {
				t.Errorf("Decode = %+v, want %+v", r, tt.want)
			}
			again, err := r.Marshal()
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if !bytes.Equal(again, tt.token) {
				t.Errorf("Marshal differs from the captured token:\n got %x\nwant %x", again, tt.token)
			}
		})
	}
}

// TestIISAnswerLayout builds the server's first answer the way the
// authorizer will, from an NTLM CHALLENGE of the length IIS sends, and
// checks it byte for byte against the layout IIS uses.
func TestIISAnswerLayout(t *testing.T) {
	resp, err := Decode(unhex(t, capturedServerChallenge))
	if err != nil {
		t.Fatal(err)
	}
	challenge := resp.Resp.ResponseToken
	if _, err := ntlmmsg.ParseChallenge(challenge); err != nil {
		t.Fatalf("the captured responseToken is not an NTLM CHALLENGE: %v", err)
	}
	got, err := (&NegTokenResp{
		NegState:      StateAcceptIncomplete,
		SupportedMech: OIDNTLM,
		ResponseToken: challenge,
	}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	n := len(challenge) // 178: every length below is in long form
	want := append([]byte{
		0xa1, 0x81, byte(n + 28),
		0x30, 0x81, byte(n + 25),
		0xa0, 0x03, 0x0a, 0x01, 0x01,
		0xa1, 0x0c, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a,
		0xa2, 0x81, byte(n + 3), 0x04, 0x81, byte(n),
	}, challenge...)
	if !bytes.Equal(got, want) {
		t.Errorf("answer:\n got %x\nwant %x", got, want)
	}
}

func TestDecodeNotSPNEGO(t *testing.T) {
	tests := []struct {
		name  string
		token []byte
	}{
		{"raw NTLMSSP", unhex(t, ntlmNegotiate)},
		// A GSS InitialContextToken for Kerberos, as Java clients send
		// under Negotiate without SPNEGO.
		{"raw kerberos GSS token", unhex(t, "600d06092a864886f7120102020100")},
		{"printable garbage", []byte("hello")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.token)
			if !errors.Is(err, ErrNotSPNEGO) || errors.Is(err, ErrMalformed) {
				t.Errorf("Decode = %v, want ErrNotSPNEGO only", err)
			}
		})
	}
}

func oidsEqual(a, b []asn1.ObjectIdentifier) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}
