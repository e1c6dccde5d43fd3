package ntlmmsg

import (
	"encoding/binary"
)

// Authenticate is the AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3), the "Type 3"
// the browser answers the challenge with and we relay to the domain
// controller.
//
// LmChallengeResponse, NtChallengeResponse, EncryptedRandomSessionKey and
// MIC are credentials-equivalent: they must never be logged. The LogValue
// and String methods print only their lengths.
type Authenticate struct {
	Flags                     NegotiateFlags
	LmChallengeResponse       []byte
	NtChallengeResponse       []byte
	Domain                    string
	User                      string
	Workstation               string
	EncryptedRandomSessionKey []byte
	Version                   *Version // nil unless NegotiateVersion is set and the field is present
	MIC                       []byte   // 16 bytes, or nil when absent
}

// Offsets within the AUTHENTICATE_MESSAGE.
const (
	auLm             = 12
	auNt             = 20
	auDomain         = 28
	auUser           = 36
	auWorkstation    = 44
	auSessionKey     = 52
	auFlags          = 60
	auFixedLen       = 64
	auMIC            = auFixedLen + versionLen
	micLen           = 16
	auWithVersionLen = auMIC
	auWithMICLen     = auMIC + micLen
)

// ParseAuthenticate decodes an AUTHENTICATE_MESSAGE.
//
// The MIC has no length field of its own. MS-NLMP places it after Version,
// so it is taken to be present when Version is and the payload starts at or
// after byte 88, which is how every client that sends one lays it out.
func ParseAuthenticate(b []byte) (*Authenticate, error) {
	if err := checkHeader(b, TypeAuthenticate, auFixedLen); err != nil {
		return nil, err
	}
	fs, err := readFields(b, TypeAuthenticate, auFixedLen,
		[]string{"LmChallengeResponse", "NtChallengeResponse", "DomainName", "UserName", "Workstation", "EncryptedRandomSessionKey"},
		[]int{auLm, auNt, auDomain, auUser, auWorkstation, auSessionKey})
	if err != nil {
		return nil, err
	}
	m := &Authenticate{Flags: NegotiateFlags(binary.LittleEndian.Uint32(b[auFlags:]))}
	unicode := m.Flags&NegotiateUnicode != 0
	m.LmChallengeResponse = fs[0].bytes(b)
	m.NtChallengeResponse = fs[1].bytes(b)
	if m.Domain, err = fs[2].string(b, TypeAuthenticate, unicode); err != nil {
		return nil, err
	}
	if m.User, err = fs[3].string(b, TypeAuthenticate, unicode); err != nil {
		return nil, err
	}
	if m.Workstation, err = fs[4].string(b, TypeAuthenticate, unicode); err != nil {
		return nil, err
	}
	m.EncryptedRandomSessionKey = fs[5].bytes(b)
	if start := payloadStart(b, fs); m.Flags&NegotiateVersion != 0 && start >= auWithVersionLen {
		m.Version = parseVersion(b[auFixedLen:])
		if start >= auWithMICLen {
			m.MIC = append([]byte(nil), b[auMIC:auMIC+micLen]...)
		}
	}
	return m, nil
}

// Marshal encodes m. It sets NegotiateVersion when m.Version or m.MIC is
// non-nil; a MIC without a Version gets a zero Version, because the MIC's
// position is only defined after one. A MIC shorter than 16 bytes is
// zero-padded (a placeholder for computing it), a longer one truncated.
func (m *Authenticate) Marshal() []byte {
	flags, fixed := m.Flags, auFixedLen
	if m.Version != nil || m.MIC != nil {
		flags |= NegotiateVersion
		fixed = auWithVersionLen
	}
	if m.MIC != nil {
		fixed = auWithMICLen
	}
	unicode := flags&NegotiateUnicode != 0
	w := newBuilder(TypeAuthenticate, fixed)
	binary.LittleEndian.PutUint32(w.buf[auFlags:], uint32(flags))
	if m.Version != nil {
		m.Version.marshal(w.buf[auFixedLen:])
	}
	if m.MIC != nil {
		copy(w.buf[auMIC:auMIC+micLen], m.MIC)
	}
	// Payload order follows Windows: names first, then responses.
	w.field(auDomain, encodeString(m.Domain, unicode))
	w.field(auUser, encodeString(m.User, unicode))
	w.field(auWorkstation, encodeString(m.Workstation, unicode))
	w.field(auLm, m.LmChallengeResponse)
	w.field(auNt, m.NtChallengeResponse)
	w.field(auSessionKey, m.EncryptedRandomSessionKey)
	return w.buf
}

// Anonymous reports whether m is an anonymous authentication in the sense
// of MS-NLMP 3.2.5.1.2: no user name, no NT response, and an LM response
// that is empty or the single zero byte Z(1).
func (m *Authenticate) Anonymous() bool {
	return m.User == "" && len(m.NtChallengeResponse) == 0 &&
		(len(m.LmChallengeResponse) == 0 || (len(m.LmChallengeResponse) == 1 && m.LmChallengeResponse[0] == 0))
}

// NoCredentials reports whether m proves no user's password, whatever a
// domain controller answers to it: it is anonymous (see
// [Authenticate.Anonymous]), asks for an anonymous session
// (NTLMSSP_NEGOTIATE_ANONYMOUS), names no user, or has no NT response and
// at most Z(1) as LM response. Samba answers an anonymous AUTHENTICATE with
// STATUS_SUCCESS (a null session), so a relay must refuse these itself
// rather than leave them to the DC.
func (m *Authenticate) NoCredentials() bool {
	return m.Anonymous() || m.Flags&Anonymous != 0 || m.User == "" ||
		(len(m.NtChallengeResponse) == 0 && len(m.LmChallengeResponse) <= 1)
}

// NTLMv2 reports whether NtChallengeResponse is an NTLMv2 response. An
// NTLMv1 response is exactly 24 bytes; an NTLMv2 one is the 16-byte
// NTProofStr plus a variable blob and so always longer.
func (m *Authenticate) NTLMv2() bool {
	return len(m.NtChallengeResponse) > 24
}
