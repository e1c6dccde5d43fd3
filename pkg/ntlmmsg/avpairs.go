package ntlmmsg

import (
	"encoding/binary"
	"fmt"
	"time"
)

// AVID is the AvId of an AV_PAIR (MS-NLMP 2.2.2.1).
type AVID uint16

// AV_PAIR identifiers, MS-NLMP 2.2.2.1.
const (
	MsvAvEOL             AVID = 0x0000 // terminates the list; never stored in AVPairs
	MsvAvNbComputerName  AVID = 0x0001 // NetBIOS computer name, UTF-16LE
	MsvAvNbDomainName    AVID = 0x0002 // NetBIOS domain name, UTF-16LE
	MsvAvDnsComputerName AVID = 0x0003 // FQDN of the computer, UTF-16LE
	MsvAvDnsDomainName   AVID = 0x0004 // FQDN of the domain, UTF-16LE
	MsvAvDnsTreeName     AVID = 0x0005 // FQDN of the forest, UTF-16LE
	MsvAvFlags           AVID = 0x0006 // 32-bit flags; 0x2 says the AUTHENTICATE carries a MIC
	MsvAvTimestamp       AVID = 0x0007 // FILETIME of the server
	MsvAvSingleHost      AVID = 0x0008 // Single_Host_Data structure
	MsvAvTargetName      AVID = 0x0009 // SPN of the target server, UTF-16LE
	MsvAvChannelBindings AVID = 0x000A // MD5 of gss_channel_bindings_struct
)

func (id AVID) String() string {
	switch id {
	case MsvAvEOL:
		return "MsvAvEOL"
	case MsvAvNbComputerName:
		return "MsvAvNbComputerName"
	case MsvAvNbDomainName:
		return "MsvAvNbDomainName"
	case MsvAvDnsComputerName:
		return "MsvAvDnsComputerName"
	case MsvAvDnsDomainName:
		return "MsvAvDnsDomainName"
	case MsvAvDnsTreeName:
		return "MsvAvDnsTreeName"
	case MsvAvFlags:
		return "MsvAvFlags"
	case MsvAvTimestamp:
		return "MsvAvTimestamp"
	case MsvAvSingleHost:
		return "MsvAvSingleHost"
	case MsvAvTargetName:
		return "MsvAvTargetName"
	case MsvAvChannelBindings:
		return "MsvAvChannelBindings"
	}
	return fmt.Sprintf("AVID(%#04x)", uint16(id))
}

// isName reports whether the value of id is a UTF-16LE string.
func (id AVID) isName() bool {
	switch id {
	case MsvAvNbComputerName, MsvAvNbDomainName, MsvAvDnsComputerName,
		MsvAvDnsDomainName, MsvAvDnsTreeName, MsvAvTargetName:
		return true
	}
	return false
}

// AVPair is one AV_PAIR (MS-NLMP 2.2.2.1).
type AVPair struct {
	ID    AVID
	Value []byte
}

// AVPairs is an AV_PAIR list as carried in CHALLENGE TargetInfo and in the
// NTLMv2 client blob, in wire order and without its MsvAvEOL terminator.
type AVPairs []AVPair

const avHeaderLen = 4 // AvId, AvLen

// ParseAVPairs decodes an AV_PAIR list. The list must be terminated by
// MsvAvEOL; bytes after the terminator are ignored, because in the NTLMv2
// client blob the list is followed by padding.
func ParseAVPairs(b []byte) (AVPairs, error) {
	if len(b) > maxMessageLen {
		return nil, fmt.Errorf("ntlmmsg: AV pairs of %d bytes exceed %d: %w", len(b), maxMessageLen, ErrMalformed)
	}
	var p AVPairs
	for off := 0; ; {
		if len(b)-off < avHeaderLen {
			return nil, fmt.Errorf("ntlmmsg: AV pairs: missing MsvAvEOL at offset %d: %w", off, ErrMalformed)
		}
		id := AVID(binary.LittleEndian.Uint16(b[off:]))
		n := int(binary.LittleEndian.Uint16(b[off+2:]))
		off += avHeaderLen
		if id == MsvAvEOL {
			// AvLen MUST be 0 here; a non-zero one changes nothing
			// we read, so it is tolerated.
			return p, nil
		}
		if n > len(b)-off {
			return nil, fmt.Errorf("ntlmmsg: AV pairs: %v value of %d bytes at offset %d past end of %d bytes: %w",
				id, n, off, len(b), ErrMalformed)
		}
		p = append(p, AVPair{ID: id, Value: append([]byte(nil), b[off:off+n]...)})
		off += n
	}
}

// Marshal encodes p followed by MsvAvEOL. MsvAvEOL entries in p are
// skipped: one would silently truncate the list for the receiver.
//
// It panics if a value exceeds 65535 bytes, which no parsed value can.
func (p AVPairs) Marshal() []byte {
	var b []byte
	for _, av := range p {
		if av.ID == MsvAvEOL {
			continue
		}
		if len(av.Value) > 0xffff {
			panic(fmt.Sprintf("ntlmmsg: %v value of %d bytes does not fit a 16-bit length", av.ID, len(av.Value)))
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(av.ID))
		b = binary.LittleEndian.AppendUint16(b, uint16(len(av.Value)))
		b = append(b, av.Value...)
	}
	return binary.LittleEndian.AppendUint32(b, 0) // MsvAvEOL, AvLen 0
}

// Get returns the value of the first pair with the given id. The spec
// allows each id at most once; taking the first matches Windows.
func (p AVPairs) Get(id AVID) ([]byte, bool) {
	for _, av := range p {
		if av.ID == id {
			return av.Value, true
		}
	}
	return nil, false
}

// String returns the value of the name pair id (MsvAvNbComputerName,
// MsvAvNbDomainName, MsvAvDnsComputerName, MsvAvDnsDomainName,
// MsvAvDnsTreeName, MsvAvTargetName) decoded from UTF-16LE. It returns ""
// when the pair is absent, is not a name, or is not valid UTF-16LE.
func (p AVPairs) String(id AVID) string {
	v, ok := p.Get(id)
	if !ok || !id.isName() {
		return ""
	}
	s, err := decodeString(v, true)
	if err != nil {
		return ""
	}
	return s
}

// timestamp returns the MsvAvTimestamp value, if present and well formed.
func (p AVPairs) timestamp() (uint64, bool) {
	v, ok := p.Get(MsvAvTimestamp)
	if !ok || len(v) != 8 {
		return 0, false
	}
	return binary.LittleEndian.Uint64(v), true
}

// FILETIME counts 100ns intervals since 1601-01-01 UTC; Unix time starts
// 11644473600 seconds later.
const (
	filetimeUnixEpochSec = 11644473600
	filetimePerSec       = 10_000_000
)

func toFiletime(t time.Time) uint64 {
	sec := t.Unix() + filetimeUnixEpochSec
	if sec < 0 {
		return 0 // before 1601 is not representable; no real clock is there
	}
	return uint64(sec)*filetimePerSec + uint64(t.Nanosecond()/100)
}

func fromFiletime(ft uint64) time.Time {
	sec := int64(ft/filetimePerSec) - filetimeUnixEpochSec
	return time.Unix(sec, int64(ft%filetimePerSec)*100).UTC()
}
