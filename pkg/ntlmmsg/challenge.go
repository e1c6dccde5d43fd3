package ntlmmsg

import (
	"encoding/binary"
	"fmt"
)

// Challenge is the CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2), the "Type 2" the
// domain controller returns and we forward to the browser.
type Challenge struct {
	Flags           NegotiateFlags
	TargetName      string
	ServerChallenge [8]byte
	// TargetInfo is the raw AV_PAIR list exactly as received. It is kept
	// raw because the NTLMv2 response is computed over these bytes; a
	// re-encoding that differed in any way would break authentication.
	TargetInfo []byte
	Version    *Version // nil unless NegotiateVersion is set and the field is present
}

// Offsets within the CHALLENGE_MESSAGE.
const (
	chTargetName      = 12
	chFlags           = 20
	chServerChallenge = 24
	// 32..40 is Reserved.
	chTargetInfo     = 40
	chFixedLen       = 48
	chWithVersionLen = chFixedLen + versionLen
)

// ParseChallenge decodes a CHALLENGE_MESSAGE. TargetInfo is not decoded;
// use [Challenge.AVPairs].
func ParseChallenge(b []byte) (*Challenge, error) {
	if err := checkHeader(b, TypeChallenge, chFixedLen); err != nil {
		return nil, err
	}
	fs, err := readFields(b, TypeChallenge, chFixedLen,
		[]string{"TargetName", "TargetInfo"}, []int{chTargetName, chTargetInfo})
	if err != nil {
		return nil, err
	}
	m := &Challenge{Flags: NegotiateFlags(binary.LittleEndian.Uint32(b[chFlags:]))}
	copy(m.ServerChallenge[:], b[chServerChallenge:])
	if m.TargetName, err = fs[0].string(b, TypeChallenge, m.Flags&NegotiateUnicode != 0); err != nil {
		return nil, err
	}
	m.TargetInfo = fs[1].bytes(b)
	if m.Flags&NegotiateVersion != 0 && payloadStart(b, fs) >= chWithVersionLen {
		m.Version = parseVersion(b[chFixedLen:])
	}
	return m, nil
}

// Marshal encodes m. It sets NegotiateVersion when m.Version is non-nil,
// since a receiver ignores the Version field otherwise; all other flags are
// written as given.
func (m *Challenge) Marshal() []byte {
	flags, fixed := m.Flags, chFixedLen
	if m.Version != nil {
		flags |= NegotiateVersion
		fixed = chWithVersionLen
	}
	w := newBuilder(TypeChallenge, fixed)
	binary.LittleEndian.PutUint32(w.buf[chFlags:], uint32(flags))
	copy(w.buf[chServerChallenge:], m.ServerChallenge[:])
	if m.Version != nil {
		m.Version.marshal(w.buf[chFixedLen:])
	}
	w.field(chTargetName, encodeString(m.TargetName, flags&NegotiateUnicode != 0))
	w.field(chTargetInfo, m.TargetInfo)
	return w.buf
}

// AVPairs decodes m.TargetInfo. An absent TargetInfo yields an empty list.
func (m *Challenge) AVPairs() (AVPairs, error) {
	if len(m.TargetInfo) == 0 {
		return nil, nil
	}
	p, err := ParseAVPairs(m.TargetInfo)
	if err != nil {
		return nil, fmt.Errorf("ntlmmsg: CHALLENGE: TargetInfo field: %w", err)
	}
	return p, nil
}
