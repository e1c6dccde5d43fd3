package ntlmmsg

import "encoding/binary"

// Negotiate is the NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1), the "Type 1" a
// browser sends first.
//
// Domain and Workstation name the client machine, not the user, and are
// always in the OEM character set whatever the Unicode flag says.
type Negotiate struct {
	Flags       NegotiateFlags
	Domain      string
	Workstation string
	Version     *Version // nil unless NegotiateVersion is set and the field is present
}

// Offsets within the NEGOTIATE_MESSAGE.
const (
	negFlags       = 12
	negDomain      = 16
	negWorkstation = 24
	negFixedLen    = 32
	negMinLen      = 16 // signature, type and flags only
	negWithVersion = negFixedLen + versionLen
)

// ParseNegotiate decodes a NEGOTIATE_MESSAGE.
//
// A 16-byte message carrying only flags is accepted: the domain and
// workstation fields are optional in the oldest clients' messages.
func ParseNegotiate(b []byte) (*Negotiate, error) {
	if err := checkHeader(b, TypeNegotiate, negMinLen); err != nil {
		return nil, err
	}
	m := &Negotiate{Flags: NegotiateFlags(binary.LittleEndian.Uint32(b[negFlags:]))}
	if len(b) < negFixedLen {
		return m, nil
	}
	fs, err := readFields(b, TypeNegotiate, negFixedLen,
		[]string{"DomainName", "WorkstationName"}, []int{negDomain, negWorkstation})
	if err != nil {
		return nil, err
	}
	if m.Domain, err = fs[0].string(b, TypeNegotiate, false); err != nil {
		return nil, err
	}
	if m.Workstation, err = fs[1].string(b, TypeNegotiate, false); err != nil {
		return nil, err
	}
	if m.Flags&NegotiateVersion != 0 && payloadStart(b, fs) >= negWithVersion {
		m.Version = parseVersion(b[negFixedLen:])
	}
	return m, nil
}

// Marshal encodes m. It sets NegotiateVersion when m.Version is non-nil,
// since a receiver ignores the Version field otherwise; all other flags are
// written as given.
func (m *Negotiate) Marshal() []byte {
	flags, fixed := m.Flags, negFixedLen
	if m.Version != nil {
		flags |= NegotiateVersion
		fixed = negWithVersion
	}
	w := newBuilder(TypeNegotiate, fixed)
	binary.LittleEndian.PutUint32(w.buf[negFlags:], uint32(flags))
	if m.Version != nil {
		m.Version.marshal(w.buf[negFixedLen:])
	}
	w.field(negDomain, encodeString(m.Domain, false))
	w.field(negWorkstation, encodeString(m.Workstation, false))
	return w.buf
}
