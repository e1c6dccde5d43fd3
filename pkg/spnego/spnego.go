// Package spnego decodes and encodes the SPNEGO negotiation tokens of
// RFC 4178 as browsers carry them in "Authorization: Negotiate <base64>"
// and "WWW-Authenticate: Negotiate <base64>" headers (RFC 4559).
//
// It owns only the SPNEGO envelope: the InitialContextToken wrapper of
// RFC 2743 section 3.1 around the first client token, NegTokenInit and
// NegTokenResp. The mechanism tokens inside (NTLM, Kerberos) are opaque
// bytes; parsing them is the job of packages ntlmmsg and kerberos.
//
// The package is pure: bytes in, values out, no I/O and no state between
// calls. [Decode] treats its input as hostile: it never panics, refuses
// tokens larger than 64 KiB, accepts only DER (which is what every client
// sends, RFC 2743 requires it of the wrapper) and reports every defect as an
// error wrapping [ErrMalformed]. A token that is not SPNEGO at all, such as
// the raw NTLMSSP message some Windows clients put in a Negotiate header, is
// reported as [ErrNotSPNEGO] so that the caller can hand it to the mechanism
// directly.
//
// The DER is read and written with cryptobyte, not encoding/asn1, whose
// reflection cost every Kerberos login about 50 allocations here (Decode of
// the client's token, Marshal of the answer) and some 15% of the handler's
// CPU; the differential fuzzers hold the two to the same results.
package spnego

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"math"
	"slices"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Mechanism and protocol object identifiers.
var (
	// OIDSPNEGO identifies SPNEGO itself in the InitialContextToken
	// wrapper (RFC 4178 section 3).
	OIDSPNEGO = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 2}
	// OIDNTLM is NTLMSSP ([MS-NLMP]; [MS-SPNG] section 3.1.5.1).
	OIDNTLM = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 2, 10}
	// OIDKerberos is Kerberos V5 (RFC 4121 section 1.1).
	OIDKerberos = asn1.ObjectIdentifier{1, 2, 840, 113554, 1, 2, 2}
	// OIDMSKerberos is the truncated Kerberos OID that Windows puts first
	// in its mechanism list for historical reasons ([MS-SPNG] 3.1.5.1).
	OIDMSKerberos = asn1.ObjectIdentifier{1, 2, 840, 48018, 1, 2, 2}
)

// ErrMalformed is wrapped by every error Decode returns for a token that
// claims to be SPNEGO but is not a valid DER encoding of one. A caller
// answers it with 400 or a fresh challenge.
var ErrMalformed = errors.New("malformed SPNEGO token")

// ErrNotSPNEGO is wrapped by the error Decode returns when the token is not
// SPNEGO at all: it does not start like a NegotiationToken, or it is a GSS
// InitialContextToken for another mechanism (a bare Kerberos AP-REQ). The
// caller may pass such a token to a mechanism directly; Windows clients do
// send raw NTLMSSP messages under the Negotiate scheme.
var ErrNotSPNEGO = errors.New("not a SPNEGO token")

// MaxTokenLen bounds the tokens Decode accepts. NTLM tokens are a few hundred
// bytes; a Kerberos ticket with a large PAC stays within Windows' own
// MaxTokenSize limit of 65535 bytes.
const MaxTokenLen = 64 << 10

// DER identifier octets for the two shapes Decode accepts.
const (
	tagInitialContextToken = 0x60 // [APPLICATION 0] constructed, RFC 2743 3.1
	tagNegTokenInit        = 0xa0 // [0] constructed, RFC 4178 4.2
	tagNegTokenResp        = 0xa1 // [1] constructed, RFC 4178 4.2
)

// State is the negState of a NegTokenResp (RFC 4178 section 4.2.2).
type State int

// Values of State. StateAbsent is not on the wire: it stands for a
// NegTokenResp without a negState, which RFC 4178 allows after the first
// reply.
const (
	StateAbsent           State = -1
	StateAcceptCompleted  State = 0 // accept-completed
	StateAcceptIncomplete State = 1 // accept-incomplete
	StateReject           State = 2 // reject
	StateRequestMIC       State = 3 // request-mic
)

func (s State) String() string {
	switch s {
	case StateAbsent:
		return "absent"
	case StateAcceptCompleted:
		return "accept-completed"
	case StateAcceptIncomplete:
		return "accept-incomplete"
	case StateReject:
		return "reject"
	case StateRequestMIC:
		return "request-mic"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// NegTokenInit is the client's first SPNEGO token, RFC 4178 section 4.2.1:
//
//	NegTokenInit ::= SEQUENCE {
//	    mechTypes     [0] MechTypeList,
//	    reqFlags      [1] ContextFlags  OPTIONAL,
//	    mechToken     [2] OCTET STRING  OPTIONAL,
//	    mechListMIC   [3] OCTET STRING  OPTIONAL,
//	    ...
//	}
//
// An absent optional field is nil (zero for ReqFlags); a present but empty
// one is a non-nil empty slice, so that re-encoding a decoded token gives the
// same bytes.
type NegTokenInit struct {
	// MechTypes lists the mechanisms the client offers, most preferred
	// first. Decode requires at least one.
	MechTypes []asn1.ObjectIdentifier
	// ReqFlags is the obsolete reqFlags bit string (RFC 4178 4.2.1 says
	// it is RECOMMENDED to leave it out; old clients still send it).
	ReqFlags asn1.BitString
	// MechToken is the optimistic token, which RFC 4178 section 3.2
	// reserves for the first mechanism of MechTypes only; see TokenFor.
	MechToken []byte
	// MechListMIC is the mechanism-level MIC over the DER encoding of
	// MechTypes (RFC 4178 section 5).
	MechListMIC []byte
}

// NegTokenResp is every later SPNEGO token, in either direction, RFC 4178
// section 4.2.2:
//
//	NegTokenResp ::= SEQUENCE {
//	    negState       [0] ENUMERATED { ... }  OPTIONAL,
//	    supportedMech  [1] MechType            OPTIONAL,
//	    responseToken  [2] OCTET STRING        OPTIONAL,
//	    mechListMIC    [3] OCTET STRING        OPTIONAL,
//	    ...
//	}
//
// Beware that the zero value has NegState StateAcceptCompleted; set it to
// StateAbsent to leave negState out.
type NegTokenResp struct {
	NegState      State
	SupportedMech asn1.ObjectIdentifier // nil when absent
	ResponseToken []byte                // nil when absent
	MechListMIC   []byte                // nil when absent
}

// Token is a decoded client token: exactly one of Init and Resp is set.
type Token struct {
	Init *NegTokenInit
	Resp *NegTokenResp
}

// Offers reports whether oid is among the mechanisms the client offers.
func (t *NegTokenInit) Offers(oid asn1.ObjectIdentifier) bool {
	return slices.ContainsFunc(t.MechTypes, oid.Equal)
}

// TokenFor returns the optimistic MechToken if it belongs to mechanism oid,
// and nil otherwise. RFC 4178 section 3.2 defines the optimistic token as
// the first offered mechanism's, so a client preferring Kerberos sends an
// AP-REQ here even when it also offers NTLM; reading MechToken without this
// check would feed that AP-REQ to the NTLM code.
func (t *NegTokenInit) TokenFor(oid asn1.ObjectIdentifier) []byte {
	if len(t.MechTypes) == 0 || !t.MechTypes[0].Equal(oid) {
		return nil
	}
	return t.MechToken
}

// MechName returns a short human name for a mechanism OID, for logs.
func MechName(oid asn1.ObjectIdentifier) string {
	switch {
	case oid.Equal(OIDNTLM):
		return "NTLM"
	case oid.Equal(OIDKerberos):
		return "Kerberos"
	case oid.Equal(OIDMSKerberos):
		return "MS-Kerberos"
	case oid.Equal(oidNegoEx):
		return "NEGOEX"
	}
	return oid.String()
}

// oidNegoEx is the NEGOEX extension ([MS-NEGOEX] 1.9) that recent Windows
// versions offer; it is only named in logs.
var oidNegoEx = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 2, 30}

// Decode parses a token a client sent under the Negotiate scheme. It is
// either the first token, an InitialContextToken (RFC 2743 section 3.1)
//
//	[APPLICATION 0] IMPLICIT SEQUENCE {
//	    thisMech           MechType,        -- OIDSPNEGO
//	    innerContextToken  NegotiationToken -- negTokenInit [0]
//	}
//
// or a later one, a bare NegotiationToken carrying negTokenResp [1]
// (RFC 4178 section 4.2). Other combinations are not what a client sends and
// are rejected.
func Decode(b []byte) (*Token, error) {
	if len(b) > MaxTokenLen {
		return nil, fmt.Errorf("spnego: token of %d bytes exceeds %d: %w", len(b), MaxTokenLen, ErrMalformed)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("spnego: empty token: %w", ErrMalformed)
	}
	switch b[0] {
	case tagInitialContextToken:
		return decodeInitialContextToken(b)
	case tagNegTokenResp:
		body, ok := readOnly(b, tagNegTokenResp)
		if !ok {
			return nil, malformed("NegotiationToken is not one DER element")
		}
		return decodeNegTokenResp(body)
	case tagNegTokenInit:
		// RFC 4178 section 4.2 makes the wrapper mandatory on the first
		// token; a bare negTokenInit is a broken client.
		return nil, malformed("negTokenInit without its InitialContextToken wrapper")
	}
	return nil, fmt.Errorf("spnego: token starts with 0x%02x, not a NegotiationToken: %w", b[0], ErrNotSPNEGO)
}

// spnegoOIDContents is the DER contents of OIDSPNEGO. DER gives an OID one
// encoding, so comparing bytes is comparing OIDs.
const spnegoOIDContents = "\x2b\x06\x01\x05\x05\x02"

func decodeInitialContextToken(b []byte) (*Token, error) {
	contents, ok := readOnly(b, tagInitialContextToken)
	if !ok {
		return nil, malformed("InitialContextToken is not one DER element")
	}
	body := cryptobyte.String(contents)
	var mech cryptobyte.String
	if !body.ReadASN1(&mech, cbasn1.OBJECT_IDENTIFIER) || oidArcs(mech) == 0 {
		return nil, malformed("InitialContextToken.thisMech is not a DER OBJECT IDENTIFIER")
	}
	if string(mech) != spnegoOIDContents {
		// A GSS token for another mechanism, such as the raw Kerberos
		// token Java clients send: not ours to judge.
		return nil, fmt.Errorf("spnego: InitialContextToken for mechanism %s: %w", parseOID(mech, nil), ErrNotSPNEGO)
	}
	if body.Empty() || body[0] != tagNegTokenInit {
		// RFC 4178 section 4.2: the initial token is negTokenInit.
		return nil, malformed("InitialContextToken does not carry a negTokenInit")
	}
	inner, ok := readOnly(body, tagNegTokenInit)
	if !ok {
		return nil, malformed("InitialContextToken.innerContextToken is not one DER element")
	}
	return decodeNegTokenInit(inner)
}

// The decoders below check everything before they allocate, then allocate
// once per kind of memory: the Token with its value, the mechanism list,
// the arcs of all its OIDs, and a copy of all the octets the token keeps
// (copies, so that the caller's buffer may be reused, each capped so that an
// append to one field cannot overwrite the next).

func decodeNegTokenInit(b []byte) (*Token, error) {
	f, err := decodeFields(b, "NegTokenInit")
	if err != nil {
		return nil, err
	}
	if f[0] == nil {
		return nil, malformed("NegTokenInit without mechTypes")
	}
	mechs, ok := readOnly(f[0], cbasn1.SEQUENCE)
	if !ok {
		return nil, malformed("NegTokenInit.mechTypes is not a DER SEQUENCE")
	}
	nMechs, nArcs := 0, 0
	for s := cryptobyte.String(mechs); !s.Empty(); nMechs++ {
		var oid cryptobyte.String
		n := 0
		if s.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) {
			n = oidArcs(oid)
		}
		if n == 0 {
			return nil, malformed("NegTokenInit.mechTypes holds something else than DER OBJECT IDENTIFIERs")
		}
		nArcs += n
	}
	if nMechs == 0 {
		return nil, malformed("NegTokenInit offers no mechanism")
	}
	var flags asn1.BitString
	if f[1] != nil {
		s := cryptobyte.String(f[1])
		if !s.ReadASN1BitString(&flags) || !s.Empty() {
			return nil, malformed("NegTokenInit.reqFlags is not a DER BIT STRING")
		}
		if flags.Bytes == nil { // present, so not the zero BitString
			flags.Bytes = []byte{}
		}
	}
	mechToken, mic, err := octetFields(f, "NegTokenInit.mechToken", "NegTokenInit.mechListMIC")
	if err != nil {
		return nil, err
	}

	v := new(struct {
		tok  Token
		init NegTokenInit
	})
	v.tok.Init = &v.init
	t := &v.init
	t.MechTypes = make([]asn1.ObjectIdentifier, nMechs)
	arcs := make([]int, nArcs)
	for i, s := 0, cryptobyte.String(mechs); !s.Empty(); i++ {
		var oid cryptobyte.String
		s.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER)
		t.MechTypes[i] = parseOID(oid, arcs)
		arcs = arcs[len(t.MechTypes[i]):]
	}
	c := newCopier(len(flags.Bytes) + len(mechToken) + len(mic))
	t.ReqFlags = asn1.BitString{Bytes: c.copy(flags.Bytes), BitLength: flags.BitLength}
	t.MechToken, t.MechListMIC = c.copy(mechToken), c.copy(mic)
	return &v.tok, nil
}

func decodeNegTokenResp(b []byte) (*Token, error) {
	f, err := decodeFields(b, "NegTokenResp")
	if err != nil {
		return nil, err
	}
	state := StateAbsent
	if f[0] != nil {
		s := cryptobyte.String(f[0])
		var e int
		if !s.ReadASN1Enum(&e) || !s.Empty() {
			return nil, malformed("NegTokenResp.negState is not a DER ENUMERATED")
		}
		// Reject values outside the enumeration rather than carry
		// them: -1 would masquerade as an absent negState.
		if e < int(StateAcceptCompleted) || e > int(StateRequestMIC) {
			return nil, malformed("NegTokenResp.negState %d is not defined", e)
		}
		state = State(e)
	}
	var mech []byte
	nArcs := 0
	if f[1] != nil {
		var ok bool
		if mech, ok = readOnly(f[1], cbasn1.OBJECT_IDENTIFIER); ok {
			nArcs = oidArcs(mech)
		}
		if nArcs == 0 {
			return nil, malformed("NegTokenResp.supportedMech is not a DER OBJECT IDENTIFIER")
		}
	}
	respToken, mic, err := octetFields(f, "NegTokenResp.responseToken", "NegTokenResp.mechListMIC")
	if err != nil {
		return nil, err
	}

	v := new(struct {
		tok  Token
		resp NegTokenResp
	})
	v.tok.Resp = &v.resp
	t := &v.resp
	t.NegState = state
	if f[1] != nil {
		t.SupportedMech = parseOID(mech, make([]int, nArcs))
	}
	c := newCopier(len(respToken) + len(mic))
	t.ResponseToken, t.MechListMIC = c.copy(respToken), c.copy(mic)
	return &v.tok, nil
}

// decodeFields splits the SEQUENCE in b into the contents of its explicitly
// tagged fields [0] to [3]; an absent field is nil, a present but empty one
// is empty and not nil. It is stricter than letting encoding/asn1 fill a
// struct would be, which silently skips an optional field whose tag does
// not match and ignores whatever follows: here tags must be
// context-specific, constructed and strictly increasing (DER order, no
// duplicates). Tags above [3] are skipped, as the "..." extension marker in
// RFC 4178 requires.
func decodeFields(b []byte, what string) ([4][]byte, error) {
	var f [4][]byte
	seq, ok := readOnly(b, cbasn1.SEQUENCE)
	if !ok {
		return f, malformed("%s is not one DER SEQUENCE", what)
	}
	last := -1
	for len(seq) > 0 {
		var (
			tag     int
			content []byte
		)
		tag, content, seq, ok = readField(seq)
		if !ok {
			return f, malformed("%s has a field that is not an explicit context tag in DER", what)
		}
		if tag <= last {
			return f, malformed("%s field [%d] after [%d]", what, tag, last)
		}
		last = tag
		if tag < len(f) {
			f[tag] = content
			if f[tag] == nil {
				f[tag] = []byte{}
			}
		}
	}
	return f, nil
}

// readField reads one explicitly tagged field, [n] context-specific and
// constructed, from b. It reads the DER header itself because cryptobyte
// refuses identifiers in the high-tag-number form ([31] and up), which
// extensions after RFC 4178's "..." may use; the rules are encoding/asn1's
// (X.690 section 10: minimal tag number, definite and minimal length).
func readField(b []byte) (tag int, content, rest []byte, ok bool) {
	if len(b) == 0 || b[0]&0xe0 != 0xa0 {
		return 0, nil, nil, false
	}
	i := 1
	tag = int(b[0] & 0x1f)
	if tag == 0x1f {
		if tag, i, ok = readBase128(b, i); !ok || tag < 0x1f {
			return 0, nil, nil, false
		}
	}
	if i >= len(b) {
		return 0, nil, nil, false
	}
	n := int(b[i])
	i++
	if n&0x80 != 0 {
		octets := n & 0x7f
		if octets == 0 { // indefinite length: BER, not DER
			return 0, nil, nil, false
		}
		n = 0
		for ; octets > 0; octets-- {
			if i >= len(b) || n >= 1<<23 {
				return 0, nil, nil, false
			}
			n = n<<8 | int(b[i])
			i++
			if n == 0 { // a leading zero octet
				return 0, nil, nil, false
			}
		}
		if n < 0x80 { // the short form was due
			return 0, nil, nil, false
		}
	}
	if n > len(b)-i {
		return 0, nil, nil, false
	}
	return tag, b[i : i+n], b[i+n:], true
}

// readBase128 reads the base-128 number at b[i:] as encoding/asn1 does for
// tag numbers and OID arcs: minimal (no leading 0x80), at most five octets
// and at most 2^31-1, whatever the size of int.
func readBase128(b []byte, i int) (v, next int, ok bool) {
	var n int64
	for k := 0; k < 5 && i+k < len(b); k++ {
		c := b[i+k]
		if k == 0 && c == 0x80 {
			return 0, 0, false
		}
		n = n<<7 | int64(c&0x7f)
		if c&0x80 == 0 {
			return int(n), i + k + 1, n <= math.MaxInt32
		}
	}
	return 0, 0, false
}

// oidArcs returns the number of arcs in the DER contents of an OBJECT
// IDENTIFIER, or 0 if encoding/asn1 would refuse it.
func oidArcs(der []byte) int {
	if len(der) == 0 {
		return 0
	}
	n := 1 // the first number holds two arcs
	for i := 0; i < len(der); n++ {
		var ok bool
		if _, i, ok = readBase128(der, i); !ok {
			return 0
		}
	}
	return n
}

// parseOID decodes DER contents that oidArcs accepted into arcs, which must
// hold oidArcs(der) of them (nil: allocate), and returns them capped.
func parseOID(der []byte, arcs []int) asn1.ObjectIdentifier {
	if arcs == nil {
		arcs = make([]int, oidArcs(der))
	}
	v, i, _ := readBase128(der, 0)
	if v < 80 {
		arcs[0], arcs[1] = v/40, v%40
	} else {
		arcs[0], arcs[1] = 2, v-80
	}
	n := 2
	for ; i < len(der); n++ {
		arcs[n], i, _ = readBase128(der, i)
	}
	return asn1.ObjectIdentifier(arcs[:n:n])
}

// readOnly returns the contents of the one DER element with tag that b
// holds, and false if b holds anything else or more.
func readOnly(b []byte, tag cbasn1.Tag) ([]byte, bool) {
	s := cryptobyte.String(b)
	var v cryptobyte.String
	return v, s.ReadASN1(&v, tag) && s.Empty()
}

// octetFields returns the contents of the OCTET STRINGs in fields [2] and
// [3], which both token types have: nil for an absent field, not nil for a
// present one, even empty.
func octetFields(f [4][]byte, name2, name3 string) (two, three []byte, err error) {
	if two, err = octets(f[2], name2); err != nil {
		return nil, nil, err
	}
	three, err = octets(f[3], name3)
	return two, three, err
}

func octets(field []byte, name string) ([]byte, error) {
	if field == nil {
		return nil, nil
	}
	v, ok := readOnly(field, cbasn1.OCTET_STRING)
	if !ok {
		return nil, malformed("%s is not a DER OCTET STRING", name)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// copier hands out copies of decoded octets from one allocation.
type copier struct{ buf []byte }

func newCopier(size int) copier { return copier{buf: make([]byte, 0, size)} }

// copy returns a copy of b whose capacity is its length, nil for nil: an
// empty b stays present.
func (c *copier) copy(b []byte) []byte {
	if b == nil {
		return nil
	}
	start := len(c.buf)
	c.buf = append(c.buf, b...)
	return c.buf[start:len(c.buf):len(c.buf)]
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("spnego: "+format+": %w", append(args, ErrMalformed)...)
}

// Marshal encodes t as a client's first token: the NegTokenInit as
// negTokenInit [0] inside an InitialContextToken for OIDSPNEGO (RFC 2743
// section 3.1, RFC 4178 section 4.2). The server never sends this; it is
// for tests and clients.
func (t *NegTokenInit) Marshal() ([]byte, error) {
	if len(t.MechTypes) == 0 {
		return nil, errors.New("spnego: marshaling NegTokenInit: no mechTypes")
	}
	if err := checkBitString(t.ReqFlags); err != nil {
		return nil, fmt.Errorf("spnego: marshaling NegTokenInit.reqFlags: %w", err)
	}
	size := 64 + len(t.ReqFlags.Bytes) + len(t.MechToken) + len(t.MechListMIC)
	for _, m := range t.MechTypes {
		size += 8 + 5*len(m)
	}
	b := cryptobyte.NewBuilder(make([]byte, 0, size))
	b.AddASN1(tagInitialContextToken, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(OIDSPNEGO)
		b.AddASN1(tagNegTokenInit, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(explicit(0), func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						for _, m := range t.MechTypes {
							b.AddASN1ObjectIdentifier(m)
						}
					})
				})
				// encoding/asn1 left out the zero BitString only,
				// so a non-nil empty one stays present.
				if t.ReqFlags.Bytes != nil || t.ReqFlags.BitLength != 0 {
					b.AddASN1(explicit(1), func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.BIT_STRING, func(b *cryptobyte.Builder) {
							b.AddUint8(uint8(-t.ReqFlags.BitLength & 7)) // unused bits
							b.AddBytes(t.ReqFlags.Bytes)
						})
					})
				}
				addOctets(b, 2, t.MechToken)
				addOctets(b, 3, t.MechListMIC)
			})
		})
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("spnego: marshaling NegTokenInit: %w", err)
	}
	return out, nil
}

// Marshal encodes t as negTokenResp [1], the form of every server answer
// (RFC 4178 section 4.2.2, RFC 4559 section 5).
func (t *NegTokenResp) Marshal() ([]byte, error) {
	if t.NegState < StateAbsent || t.NegState > StateRequestMIC {
		return nil, fmt.Errorf("spnego: marshaling NegTokenResp: undefined negState %d", int(t.NegState))
	}
	b := cryptobyte.NewBuilder(make([]byte, 0, 64+5*len(t.SupportedMech)+len(t.ResponseToken)+len(t.MechListMIC)))
	b.AddASN1(tagNegTokenResp, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			if t.NegState != StateAbsent {
				b.AddASN1(explicit(0), func(b *cryptobyte.Builder) { b.AddASN1Enum(int64(t.NegState)) })
			}
			// nil is absent; an empty OID is present, and refused.
			if t.SupportedMech != nil {
				b.AddASN1(explicit(1), func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(t.SupportedMech) })
			}
			addOctets(b, 2, t.ResponseToken)
			addOctets(b, 3, t.MechListMIC)
		})
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("spnego: marshaling NegTokenResp: %w", err)
	}
	return out, nil
}

// explicit is the identifier of the explicitly tagged field [n].
func explicit(n uint8) cbasn1.Tag { return cbasn1.Tag(n).Constructed().ContextSpecific() }

// addOctets adds field [n] holding v as an OCTET STRING, unless v is nil:
// an empty but not nil v is present.
func addOctets(b *cryptobyte.Builder, n uint8, v []byte) {
	if v != nil {
		b.AddASN1(explicit(n), func(b *cryptobyte.Builder) { b.AddASN1OctetString(v) })
	}
}

// checkBitString rejects bit strings that encoding/asn1 would encode as
// invalid DER: a BitLength that does not match len(Bytes), or set bits past
// BitLength.
func checkBitString(s asn1.BitString) error {
	if s.BitLength < 0 || (s.BitLength+7)/8 != len(s.Bytes) {
		return fmt.Errorf("BitLength %d does not fit %d bytes", s.BitLength, len(s.Bytes))
	}
	if pad := len(s.Bytes)*8 - s.BitLength; pad > 0 && s.Bytes[len(s.Bytes)-1]&byte(1<<pad-1) != 0 {
		return errors.New("bits set past BitLength")
	}
	return nil
}
