package ntlmmsg

import (
	"fmt"
	"math/bits"
	"strings"
)

// NegotiateFlags is the NEGOTIATE structure of MS-NLMP 2.2.2.5, carried in
// every message. Bits the specification marks reserved have no constant;
// String prints them in hex so that nothing a peer sends is hidden.
type NegotiateFlags uint32

// Flags in bit order, MS-NLMP 2.2.2.5 (letters A to W).
const (
	NegotiateUnicode        NegotiateFlags = 1 << 0  // A: NTLMSSP_NEGOTIATE_UNICODE
	NegotiateOEM            NegotiateFlags = 1 << 1  // B: NTLM_NEGOTIATE_OEM
	RequestTarget           NegotiateFlags = 1 << 2  // C: NTLMSSP_REQUEST_TARGET
	NegotiateSign           NegotiateFlags = 1 << 4  // D: NTLMSSP_NEGOTIATE_SIGN
	NegotiateSeal           NegotiateFlags = 1 << 5  // E: NTLMSSP_NEGOTIATE_SEAL
	NegotiateDatagram       NegotiateFlags = 1 << 6  // F: NTLMSSP_NEGOTIATE_DATAGRAM
	NegotiateLMKey          NegotiateFlags = 1 << 7  // G: NTLMSSP_NEGOTIATE_LM_KEY
	NegotiateNTLM           NegotiateFlags = 1 << 9  // H: NTLMSSP_NEGOTIATE_NTLM
	Anonymous               NegotiateFlags = 1 << 11 // J: anonymous connection
	OEMDomainSupplied       NegotiateFlags = 1 << 12 // K: NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED
	OEMWorkstationSupplied  NegotiateFlags = 1 << 13 // L: NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED
	AlwaysSign              NegotiateFlags = 1 << 15 // M: NTLMSSP_NEGOTIATE_ALWAYS_SIGN
	TargetTypeDomain        NegotiateFlags = 1 << 16 // N: NTLMSSP_TARGET_TYPE_DOMAIN
	TargetTypeServer        NegotiateFlags = 1 << 17 // O: NTLMSSP_TARGET_TYPE_SERVER
	ExtendedSessionSecurity NegotiateFlags = 1 << 19 // P: NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
	Identify                NegotiateFlags = 1 << 20 // Q: NTLMSSP_NEGOTIATE_IDENTIFY
	RequestNonNTSessionKey  NegotiateFlags = 1 << 22 // R: NTLMSSP_REQUEST_NON_NT_SESSION_KEY
	TargetInfo              NegotiateFlags = 1 << 23 // S: NTLMSSP_NEGOTIATE_TARGET_INFO
	NegotiateVersion        NegotiateFlags = 1 << 25 // T: NTLMSSP_NEGOTIATE_VERSION
	Negotiate128            NegotiateFlags = 1 << 29 // U: NTLMSSP_NEGOTIATE_128
	KeyExchange             NegotiateFlags = 1 << 30 // V: NTLMSSP_NEGOTIATE_KEY_EXCH
	Negotiate56             NegotiateFlags = 1 << 31 // W: NTLMSSP_NEGOTIATE_56
)

// name returns the name of the single flag f, or "" for a reserved bit.
func (f NegotiateFlags) name() string {
	switch f {
	case NegotiateUnicode:
		return "Unicode"
	case NegotiateOEM:
		return "OEM"
	case RequestTarget:
		return "RequestTarget"
	case NegotiateSign:
		return "Sign"
	case NegotiateSeal:
		return "Seal"
	case NegotiateDatagram:
		return "Datagram"
	case NegotiateLMKey:
		return "LMKey"
	case NegotiateNTLM:
		return "NTLM"
	case Anonymous:
		return "Anonymous"
	case OEMDomainSupplied:
		return "OEMDomainSupplied"
	case OEMWorkstationSupplied:
		return "OEMWorkstationSupplied"
	case AlwaysSign:
		return "AlwaysSign"
	case TargetTypeDomain:
		return "TargetTypeDomain"
	case TargetTypeServer:
		return "TargetTypeServer"
	case ExtendedSessionSecurity:
		return "ExtendedSessionSecurity"
	case Identify:
		return "Identify"
	case RequestNonNTSessionKey:
		return "RequestNonNTSessionKey"
	case TargetInfo:
		return "TargetInfo"
	case NegotiateVersion:
		return "Version"
	case Negotiate128:
		return "128"
	case KeyExchange:
		return "KeyExchange"
	case Negotiate56:
		return "56"
	}
	return ""
}

// String returns the set flags joined by "|" in bit order, followed by the
// reserved bits in hex, e.g. "Unicode|NTLM|AlwaysSign|0x8".
func (f NegotiateFlags) String() string {
	if f == 0 {
		return "0"
	}
	var (
		parts   []string
		unknown NegotiateFlags
	)
	for rest := f; rest != 0; rest &= rest - 1 {
		bit := NegotiateFlags(1) << bits.TrailingZeros32(uint32(rest))
		if n := bit.name(); n != "" {
			parts = append(parts, n)
		} else {
			unknown |= bit
		}
	}
	if unknown != 0 {
		parts = append(parts, fmt.Sprintf("%#x", uint32(unknown)))
	}
	return strings.Join(parts, "|")
}
