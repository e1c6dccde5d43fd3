package ntlmmsg

import (
	"crypto"
	"crypto/md5"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
)

// ChannelBindings is the value of MsvAvChannelBindings: the MD5 hash of a
// gss_channel_bindings_struct (MS-NLMP 2.2.2.1, 3.1.5.2.2; RFC 2744 3.11).
type ChannelBindings [16]byte

// IsZero reports whether b is all zeros, which MS-NLMP treats as "no
// binding" (Chromium and Windows send 16 zero bytes over plain HTTP).
func (b ChannelBindings) IsZero() bool { return b == ChannelBindings{} }

// ErrNoEndpointHash is wrapped by [TLSServerEndPoint] for a certificate
// whose signature algorithm names no single hash (Ed25519, say): RFC 5929
// 4.1 leaves its tls-server-end-point binding undefined.
var ErrNoEndpointHash = errors.New("certificate signature algorithm has no tls-server-end-point hash")

// TLSServerEndPoint returns the tls-server-end-point channel binding data
// of cert (RFC 5929 4.1): the hash of its DER encoding with the hash of its
// signature algorithm, SHA-256 when that is MD5 or SHA-1.
func TLSServerEndPoint(cert *x509.Certificate) ([]byte, error) {
	var h crypto.Hash
	switch cert.SignatureAlgorithm {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1,
		x509.SHA256WithRSA, x509.SHA256WithRSAPSS, x509.ECDSAWithSHA256, x509.DSAWithSHA256:
		h = crypto.SHA256
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		h = crypto.SHA384
	case x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
		h = crypto.SHA512
	default:
		return nil, fmt.Errorf("ntlmmsg: %v: %w", cert.SignatureAlgorithm, ErrNoEndpointHash)
	}
	d := h.New()
	d.Write(cert.Raw)
	return d.Sum(nil), nil
}

// TLSChannelBindings is the MsvAvChannelBindings value a client that
// checked cert computes: MD5 of the gss_channel_bindings_struct whose
// application data is "tls-server-end-point:" + [TLSServerEndPoint], with
// no addresses. The struct is flattened as Windows SSPI and ntlm_auth
// flatten it: each field little-endian, each length before its bytes.
func TLSChannelBindings(cert *x509.Certificate) (ChannelBindings, error) {
	ep, err := TLSServerEndPoint(cert)
	if err != nil {
		return ChannelBindings{}, err
	}
	return GSSChannelBindings(append([]byte("tls-server-end-point:"), ep...)), nil
}

// GSSChannelBindings is MD5 of the gss_channel_bindings_struct with zero
// address types, empty addresses and the given application data.
func GSSChannelBindings(applicationData []byte) ChannelBindings {
	var hdr [20]byte // initiator addrtype, length; acceptor addrtype, length; application data length
	binary.LittleEndian.PutUint32(hdr[16:], uint32(len(applicationData)))
	h := md5.New()
	h.Write(hdr[:])
	h.Write(applicationData)
	var b ChannelBindings
	h.Sum(b[:0])
	return b
}

// ntlmv2BlobAVOffset is where the AV pairs start in an NTLMv2
// NtChallengeResponse: NTProofStr (16), then the blob's RespType,
// HiRespType, Z(6), TimeStamp (8), ChallengeFromClient (8), Z(4)
// (MS-NLMP 2.2.2.7).
const ntlmv2BlobAVOffset = 16 + 28

// ClientAVPairs returns the AV pairs inside m's NTLMv2 response: the ones
// the NTProofStr covers, so the ones a domain controller authenticates when
// it checks the response. ok is false for an NTLMv1 response, which has
// none.
func (m *Authenticate) ClientAVPairs() (av AVPairs, ok bool, err error) {
	if !m.NTLMv2() {
		return nil, false, nil
	}
	nt := m.NtChallengeResponse
	if len(nt) < ntlmv2BlobAVOffset {
		return nil, true, fmt.Errorf("ntlmmsg: NTLMv2 response of %d bytes has no AV pairs: %w", len(nt), ErrMalformed)
	}
	av, err = ParseAVPairs(nt[ntlmv2BlobAVOffset:])
	return av, true, err
}
