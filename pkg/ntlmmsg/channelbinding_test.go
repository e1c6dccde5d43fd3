package ntlmmsg

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"
	"time"
)

// testCert makes a self-signed certificate signed with alg.
func testCert(t *testing.T, alg x509.SignatureAlgorithm) *x509.Certificate {
	t.Helper()
	var key crypto.Signer
	var err error
	switch alg {
	case x509.ECDSAWithSHA256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case x509.ECDSAWithSHA384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case x509.PureEd25519:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "www.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"www.example.test"}, SignatureAlgorithm: alg,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if c.SignatureAlgorithm != alg {
		t.Fatalf("made a %v certificate, wanted %v", c.SignatureAlgorithm, alg)
	}
	return c
}

// The tls-server-end-point hash is the signature's hash, SHA-256 for
// SHA-1 (RFC 5929 4.1), over the DER certificate.
func TestTLSServerEndPoint(t *testing.T) {
	for _, tt := range []struct {
		alg  x509.SignatureAlgorithm
		hash crypto.Hash
	}{
		{x509.SHA256WithRSA, crypto.SHA256},
		{x509.ECDSAWithSHA256, crypto.SHA256},
		{x509.ECDSAWithSHA384, crypto.SHA384},
		{x509.SHA384WithRSA, crypto.SHA384},
		{x509.SHA512WithRSA, crypto.SHA512},
	} {
		t.Run(tt.alg.String(), func(t *testing.T) {
			c := testCert(t, tt.alg)
			got, err := TLSServerEndPoint(c)
			if err != nil {
				t.Fatal(err)
			}
			h := tt.hash.New()
			h.Write(c.Raw)
			if want := h.Sum(nil); hex.EncodeToString(got) != hex.EncodeToString(want) {
				t.Errorf("end point %x, want %v of the DER certificate %x", got, tt.hash, want)
			}
		})
	}
	// SHA-1 signatures: Go no longer makes them, so the switch is checked
	// on a parsed certificate whose algorithm field says so.
	c := testCert(t, x509.SHA256WithRSA)
	c.SignatureAlgorithm = x509.SHA1WithRSA
	if got, _ := TLSServerEndPoint(c); len(got) != 32 {
		t.Errorf("SHA-1 certificate: %d-byte end point, want SHA-256's 32", len(got))
	}
	c.SignatureAlgorithm = x509.MD5WithRSA
	if got, _ := TLSServerEndPoint(c); len(got) != 32 {
		t.Errorf("MD5 certificate: %d-byte end point, want SHA-256's 32", len(got))
	}
	if _, err := TLSServerEndPoint(testCert(t, x509.PureEd25519)); !errors.Is(err, ErrNoEndpointHash) {
		t.Errorf("Ed25519 certificate: err %v, want ErrNoEndpointHash", err)
	}
}

// The gss_channel_bindings_struct hash, against what Debian's
// python3-ntlm-auth (the library python3-requests-ntlm sends bindings
// with) computes:
//
//	g = GssChannelBindingsStruct()
//	g['application_data'] = b'tls-server-end-point:' + bytes(range(32))
//	hashlib.md5(g.get_data()).hexdigest()
func TestGSSChannelBindingsVectors(t *testing.T) {
	seq := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}
	for _, tt := range []struct {
		name string
		hash []byte
		want string
	}{
		{"SHA-256 end point", seq(32), "8f1214c9c9cab8dc3bf866da9aba57a7"},
		{"SHA-384 end point", seq(48), "97987e635e8710fe8eb4e56a60a0b621"},
	} {
		got := GSSChannelBindings(append([]byte("tls-server-end-point:"), tt.hash...))
		if hex.EncodeToString(got[:]) != tt.want {
			t.Errorf("%s: %x, want %s", tt.name, got, tt.want)
		}
	}
}

// TLSChannelBindings differs between certificates and between a SHA-256
// and a SHA-384 one; each is the GSS hash of its own end point.
func TestTLSChannelBindings(t *testing.T) {
	seen := map[ChannelBindings]bool{}
	for _, alg := range []x509.SignatureAlgorithm{x509.ECDSAWithSHA256, x509.ECDSAWithSHA256, x509.ECDSAWithSHA384} {
		c := testCert(t, alg)
		cb, err := TLSChannelBindings(c)
		if err != nil {
			t.Fatal(err)
		}
		ep, _ := TLSServerEndPoint(c)
		if want := GSSChannelBindings(append([]byte("tls-server-end-point:"), ep...)); cb != want || cb.IsZero() {
			t.Errorf("%v: %x, want %x", alg, cb, want)
		}
		if seen[cb] {
			t.Errorf("two certificates with one binding %x", cb)
		}
		seen[cb] = true
	}
}

// ClientAVPairs reads the AV pairs of the NTLMv2 blob: for MS-NLMP
// 4.2.4.3's AUTHENTICATE, the challenge's TargetInfo the client echoed.
func TestClientAVPairs(t *testing.T) {
	m, err := ParseAuthenticate(unhex(t, specAuthenticate))
	if err != nil {
		t.Fatal(err)
	}
	av, v2, err := m.ClientAVPairs()
	if err != nil || !v2 {
		t.Fatalf("ClientAVPairs: v2 %v, err %v", v2, err)
	}
	if got := av.String(MsvAvNbDomainName); got != "Domain" {
		t.Errorf("MsvAvNbDomainName %q, want Domain", got)
	}
	if got := av.String(MsvAvNbComputerName); got != "Server" {
		t.Errorf("MsvAvNbComputerName %q, want Server", got)
	}

	// A client that adds a binding and a target name, as an EPA client
	// does: they are read back from the response it computed.
	ch, err := ParseChallenge(unhex(t, specChallenge))
	if err != nil {
		t.Fatal(err)
	}
	cav, _ := ch.AVPairs()
	cb := GSSChannelBindings([]byte("tls-server-end-point:x"))
	cav = append(cav, AVPair{MsvAvTargetName, utf16le("HTTP/www.example.test")}, AVPair{MsvAvChannelBindings, cb[:]})
	ch.TargetInfo = cav.Marshal()
	au, _, err := NewAuthenticateV2(ch, specUser, specDomain, specPassword, specWorkstation, specClientChallenge, specTime)
	if err != nil {
		t.Fatal(err)
	}
	av, _, err = au.ClientAVPairs()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := av.Get(MsvAvChannelBindings); string(got) != string(cb[:]) {
		t.Errorf("binding %x, want %x", got, cb)
	}
	if got := av.String(MsvAvTargetName); got != "HTTP/www.example.test" {
		t.Errorf("target name %q", got)
	}

	// NTLMv1 has none; a v2 response too short for its blob is malformed.
	if _, v2, err := (&Authenticate{NtChallengeResponse: make([]byte, 24)}).ClientAVPairs(); v2 || err != nil {
		t.Errorf("NTLMv1: v2 %v err %v", v2, err)
	}
	if _, _, err := (&Authenticate{NtChallengeResponse: make([]byte, 40)}).ClientAVPairs(); !errors.Is(err, ErrMalformed) {
		t.Errorf("short NTLMv2: err %v, want ErrMalformed", err)
	}
}
