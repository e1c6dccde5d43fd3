package ntlmmsg

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	// MS-NLMP defines the NT one-way function as MD4 and the standard
	// library has no MD4. It is used here only because the protocol
	// mandates it, never as a general-purpose hash.
	"golang.org/x/crypto/md4"
)

// NTOWFv1 returns the NT hash of password, MD4(UNICODE(password))
// (MS-NLMP 3.3.1).
func NTOWFv1(password string) []byte {
	h := md4.New()
	h.Write(utf16le(password))
	return h.Sum(nil)
}

// NTOWFv2 returns the NTLMv2 response key,
// HMAC_MD5(NTOWFv1(password), UNICODE(Uppercase(user) + domain))
// (MS-NLMP 3.3.2). Only the user is upper-cased: the domain is used as
// given, so callers must pass it exactly as the client would.
func NTOWFv2(password, user, domain string) []byte {
	return hmacMD5(NTOWFv1(password), utf16le(strings.ToUpper(user)+domain))
}

func hmacMD5(key []byte, data ...[]byte) []byte {
	h := hmac.New(md5.New, key)
	for _, d := range data {
		h.Write(d)
	}
	return h.Sum(nil)
}

// v2Flags are the flags NewAuthenticateV2 can honour. Signing, sealing and
// key exchange are absent: the message is relayed for authentication only,
// so no session security is ever established with the key.
const v2Flags = NegotiateUnicode | NegotiateOEM | NegotiateNTLM | AlwaysSign |
	ExtendedSessionSecurity | TargetInfo

// ntlmv2Response computes the NTLMv2 responses of MS-NLMP 3.3.2 from the
// response key NTOWFv2. serverName is the CHALLENGE TargetInfo verbatim.
func ntlmv2Response(responseKey []byte, serverChallenge, clientChallenge [8]byte, timestamp uint64, serverName []byte) (nt, lm, sessionBaseKey []byte) {
	// temp = Responserversion, HiResponserversion, Z(6), Time,
	// ClientChallenge, Z(4), ServerName, Z(4).
	temp := make([]byte, 0, 28+len(serverName)+4)
	temp = append(temp, 1, 1, 0, 0, 0, 0, 0, 0)
	temp = binary.LittleEndian.AppendUint64(temp, timestamp)
	temp = append(temp, clientChallenge[:]...)
	temp = append(temp, 0, 0, 0, 0)
	temp = append(temp, serverName...)
	temp = append(temp, 0, 0, 0, 0)

	proof := hmacMD5(responseKey, serverChallenge[:], temp)
	nt = append(proof, temp...)
	lm = append(hmacMD5(responseKey, serverChallenge[:], clientChallenge[:]), clientChallenge[:]...)
	return nt, lm, hmacMD5(responseKey, proof)
}

// NewAuthenticateV2 computes the NTLMv2 AUTHENTICATE answering ch for the
// given credentials (MS-NLMP 3.3.2), as a client would. It is how an HTTP
// Basic password becomes something the domain controller can verify.
//
// The caller supplies the client challenge (8 random bytes) and the time so
// that the result is deterministic under test. If ch.TargetInfo carries
// MsvAvTimestamp, that timestamp is used instead of now and, as Windows
// does, the LMv2 response is sent as Z(24); otherwise LMv2 is computed.
//
// The message has no MIC, no Version and no session key: Flags are
// ch.Flags restricted to Unicode, OEM, NTLM, AlwaysSign,
// ExtendedSessionSecurity and TargetInfo. NewAuthenticateV2 also returns
// the session base key, which is as sensitive as the password.
func NewAuthenticateV2(ch *Challenge, user, domain, password, workstation string, clientChallenge [8]byte, now time.Time) (*Authenticate, []byte, error) {
	if ch == nil {
		return nil, nil, errors.New("ntlmmsg: NewAuthenticateV2: nil challenge")
	}
	av, err := ch.AVPairs()
	if err != nil {
		return nil, nil, err
	}
	ts, serverTime := av.timestamp()
	if _, present := av.Get(MsvAvTimestamp); present && !serverTime {
		return nil, nil, fmt.Errorf("ntlmmsg: CHALLENGE: MsvAvTimestamp is not 8 bytes: %w", ErrMalformed)
	}
	if !serverTime {
		ts = toFiletime(now)
	}
	nt, lm, key := ntlmv2Response(NTOWFv2(password, user, domain), ch.ServerChallenge, clientChallenge, ts, ch.TargetInfo)
	if len(nt) > 0xffff {
		return nil, nil, fmt.Errorf("ntlmmsg: CHALLENGE: TargetInfo too large for an NTLMv2 response: %w", ErrMalformed)
	}
	if serverTime {
		lm = make([]byte, 24)
	}
	flags := ch.Flags & v2Flags
	if flags&NegotiateUnicode != 0 {
		flags &^= NegotiateOEM // Unicode wins when a server offers both.
	}
	return &Authenticate{
		Flags:               flags,
		LmChallengeResponse: lm,
		NtChallengeResponse: nt,
		Domain:              domain,
		User:                user,
		Workstation:         workstation,
	}, key, nil
}
