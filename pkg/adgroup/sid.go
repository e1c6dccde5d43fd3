package adgroup

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
)

// sid is a Windows security identifier in its binary wire form, as AD
// stores it in objectSid and tokenGroups. Kept as the validated raw bytes
// (string-typed so it can be a map key) because the only things we do with
// it are compare it, print it for logs, and put it back into a filter.
type sid string

// maxSubAuthorities is the limit Windows itself places on a SID.
const maxSubAuthorities = 15

var errBadSID = errors.New("malformed SID")

// parseSID validates b as a binary SID: revision 1, a sub-authority count
// no larger than 15, and exactly the length that count implies. Directory
// data is not trusted to be well formed, so everything is checked before
// any index is used.
func parseSID(b []byte) (sid, error) {
	if len(b) < 8 || b[0] != 1 {
		return "", errBadSID
	}
	n := int(b[1])
	if n > maxSubAuthorities || len(b) != 8+4*n {
		return "", errBadSID
	}
	return sid(b), nil
}

// parseSIDString reads the S-1-5-21-... form back into a sid.
func parseSIDString(s string) (sid, error) {
	parts := strings.Split(s, "-")
	if len(parts) < 3 || parts[0] != "S" || parts[1] != "1" || len(parts)-3 > maxSubAuthorities {
		return "", errBadSID
	}
	auth, err := strconv.ParseUint(parts[2], 10, 48)
	if err != nil {
		return "", errBadSID
	}
	b := make([]byte, 8, 8+4*(len(parts)-3))
	b[0], b[1] = 1, byte(len(parts)-3)
	for i := 0; i < 6; i++ {
		b[7-i] = byte(auth >> (8 * i))
	}
	for _, p := range parts[3:] {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return "", errBadSID
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	return sid(b), nil
}

// subAuthorities is the count of sub-authorities; s must come from parseSID.
func (s sid) subAuthorities() int { return int(s[1]) }

// domain returns the SID without its last sub-authority: for a user or
// group SID that is the SID of its domain.
func (s sid) domain() (sid, bool) {
	n := s.subAuthorities()
	if n == 0 {
		return "", false
	}
	b := []byte(s[:8+4*(n-1)])
	b[1] = byte(n - 1)
	return sid(b), true
}

// withRID appends a relative identifier, giving e.g. the primary group's
// SID from the domain SID and primaryGroupID.
func (s sid) withRID(rid uint32) (sid, bool) {
	n := s.subAuthorities()
	if n >= maxSubAuthorities {
		return "", false
	}
	b := make([]byte, len(s)+4)
	copy(b, s)
	b[1] = byte(n + 1)
	binary.LittleEndian.PutUint32(b[len(s):], rid)
	return sid(b), true
}

// String renders the S-1-5-21-... form, for logs only.
func (s sid) String() string {
	if _, err := parseSID([]byte(s)); err != nil {
		return "S-?"
	}
	var auth uint64
	for _, c := range []byte(s[2:8]) {
		auth = auth<<8 | uint64(c)
	}
	var sb strings.Builder
	sb.WriteString("S-1-")
	sb.WriteString(strconv.FormatUint(auth, 10))
	for i := 0; i < s.subAuthorities(); i++ {
		sb.WriteByte('-')
		sb.WriteString(strconv.FormatUint(uint64(binary.LittleEndian.Uint32([]byte(s[8+4*i:]))), 10))
	}
	return sb.String()
}

// filterValue escapes every byte as \hh. ldap.EscapeFilter only escapes
// the filter metacharacters and bytes >= 0x80, which leaves control bytes
// raw; escaping all of them keeps a binary value unambiguous in any server.
func (s sid) filterValue() string {
	const hexDigits = "0123456789abcdef"
	b := make([]byte, 0, 3*len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		b = append(b, '\\', hexDigits[c>>4], hexDigits[c&0xf])
	}
	return string(b)
}
