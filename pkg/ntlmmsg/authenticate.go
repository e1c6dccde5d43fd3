package ntlmmsg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
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

// ErrBadName is wrapped by [ParseAuthenticateAgreed]'s errors for a message
// whose user or domain name could be read differently by the domain
// controller than by us. Such a message is an attack or a broken client;
// either way it must not be relayed.
var ErrBadName = errors.New("NTLM user or domain name not accepted")

// maxNameLen bounds user and domain names, in runes. sAMAccountName has at
// most 20 characters and a NetBIOS domain 15; a UPN or DNS domain name can
// be longer, but not this long.
const maxNameLen = 256

// ParseAuthenticateAgreed decodes an AUTHENTICATE_MESSAGE the way the
// domain controller it is relayed to reads it, or refuses it.
//
// The server reads the names in the character set agreed at NEGOTIATE time
// (unicode: the UNICODE flag of its CHALLENGE, which echoes the client's
// NEGOTIATE) and ignores the AUTHENTICATE's own UNICODE flag (Samba's
// ntlmssp_server_preauth does exactly that). Following the message's own
// flag instead would let one set of bytes name jdoe at the DC and 摪敯 here.
// So a message whose UNICODE flag disagrees with the agreement is refused.
//
// User and domain must also read the same everywhere: no NUL (the DC stops
// at one: "alice\x00jdoe" logs in alice) or other control character, no
// unpaired UTF-16 surrogate (we would read U+FFFD, the DC something else),
// and in OEM only ASCII (the DC reads OEM in its own code page, which we do
// not know). Every such error wraps ErrBadName and ErrMalformed.
func ParseAuthenticateAgreed(b []byte, unicode bool) (*Authenticate, error) {
	m, err := ParseAuthenticate(b)
	if err != nil {
		return nil, err
	}
	if (m.Flags&NegotiateUnicode != 0) != unicode {
		return nil, fmt.Errorf("ntlmmsg: AUTHENTICATE: UNICODE flag %v, but %v was agreed at NEGOTIATE: %w",
			m.Flags&NegotiateUnicode != 0, unicode, errBadName)
	}
	fs, _ := readFields(b, TypeAuthenticate, auFixedLen,
		[]string{"DomainName", "UserName"}, []int{auDomain, auUser})
	for _, f := range fs {
		if err := checkName(b[f.off:f.off+f.len], unicode); err != nil {
			return nil, fmt.Errorf("ntlmmsg: AUTHENTICATE: %s field: %w", f.name, err)
		}
	}
	return m, nil
}

// errBadName wraps both sentinels, so callers may test for either.
var errBadName = fmt.Errorf("%w (%w)", ErrBadName, ErrMalformed)

// checkName reports whether the raw name b reads the same to every
// decoder: see ParseAuthenticateAgreed.
func checkName(b []byte, unicode bool) error {
	if !unicode {
		if len(b) > maxNameLen {
			return fmt.Errorf("%d bytes, more than %d: %w", len(b), maxNameLen, errBadName)
		}
		for _, c := range b {
			if c < 0x20 || c >= 0x7f {
				return fmt.Errorf("OEM byte %#02x (only printable ASCII is read alike by every code page): %w", c, errBadName)
			}
		}
		return nil
	}
	if len(b)%2 != 0 {
		return fmt.Errorf("odd length %d for UTF-16: %w", len(b), errBadName)
	}
	if len(b)/2 > maxNameLen {
		return fmt.Errorf("%d UTF-16 units, more than %d: %w", len(b)/2, maxNameLen, errBadName)
	}
	for i := 0; i < len(b); i += 2 {
		u := rune(binary.LittleEndian.Uint16(b[i:]))
		switch {
		case u < 0x20 || u == 0x7f || (u >= 0x80 && u < 0xa0):
			return fmt.Errorf("control character %U: %w", u, errBadName)
		case utf16.IsSurrogate(u):
			if i+3 >= len(b) {
				return fmt.Errorf("unpaired UTF-16 surrogate %U: %w", u, errBadName)
			}
			v := rune(binary.LittleEndian.Uint16(b[i+2:]))
			if utf16.DecodeRune(u, v) == utf8.RuneError {
				return fmt.Errorf("unpaired UTF-16 surrogate %U: %w", u, errBadName)
			}
			i += 2
		}
	}
	return nil
}
