// Package spnego decodes and encodes the SPNEGO negotiation tokens of
// RFC 4178 as browsers carry them in "Authorization: Negotiate <base64>"
// and "WWW-Authenticate: Negotiate <base64>" headers (RFC 4559).
//
// It owns only the SPNEGO envelope: the InitialContextToken wrapper of
// RFC 2743 section 3.1 around the first client token, NegTokenInit and
// NegTokenResp. The mechanism tokens inside (NTLM here) are opaque bytes;
// parsing them is package ntlmmsg's job.
//
// The package is pure: bytes in, values out, no I/O and no state between
// calls. [Decode] treats its input as hostile: it never panics, refuses
// tokens larger than 64 KiB, accepts only DER (which is what every client
// sends, RFC 2743 requires it of the wrapper) and reports every defect as an
// error wrapping [ErrMalformed]. A token that is not SPNEGO at all, such as
// the raw NTLMSSP message some Windows clients put in a Negotiate header, is
// reported as [ErrNotSPNEGO] so that the caller can hand it to the mechanism
// directly.
package spnego

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
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
		init, err := decodeInitialContextToken(b)
		if err != nil {
			return nil, err
		}
		return &Token{Init: init}, nil
	case tagNegTokenResp:
		v, err := unmarshalOne(b, "NegotiationToken")
		if err != nil {
			return nil, err
		}
		resp, err := decodeNegTokenResp(v.Bytes)
		if err != nil {
			return nil, err
		}
		return &Token{Resp: resp}, nil
	case tagNegTokenInit:
		// RFC 4178 section 4.2 makes the wrapper mandatory on the first
		// token; a bare negTokenInit is a broken client.
		return nil, fmt.Errorf("spnego: negTokenInit without its InitialContextToken wrapper: %w", ErrMalformed)
	}
	return nil, fmt.Errorf("spnego: token starts with 0x%02x, not a NegotiationToken: %w", b[0], ErrNotSPNEGO)
}

// decodeInitialContextToken parses the [APPLICATION 0] wrapper by hand:
// encoding/asn1 has no notion of an implicit SEQUENCE whose second element
// is an untyped CHOICE.
func decodeInitialContextToken(b []byte) (*NegTokenInit, error) {
	outer, err := unmarshalOne(b, "InitialContextToken")
	if err != nil {
		return nil, err
	}
	var mech asn1.ObjectIdentifier
	rest, err := asn1.Unmarshal(outer.Bytes, &mech)
	if err != nil {
		return nil, fmt.Errorf("spnego: decoding InitialContextToken.thisMech: %v: %w", err, ErrMalformed)
	}
	if !mech.Equal(OIDSPNEGO) {
		// A GSS token for another mechanism, such as the raw Kerberos
		// token Java clients send: not ours to judge.
		return nil, fmt.Errorf("spnego: InitialContextToken for mechanism %s: %w", mech, ErrNotSPNEGO)
	}
	if len(rest) == 0 || rest[0] != tagNegTokenInit {
		// RFC 4178 section 4.2: the initial token is negTokenInit.
		return nil, fmt.Errorf("spnego: InitialContextToken does not carry a negTokenInit: %w", ErrMalformed)
	}
	inner, err := unmarshalOne(rest, "InitialContextToken.innerContextToken")
	if err != nil {
		return nil, err
	}
	return decodeNegTokenInit(inner.Bytes)
}

func decodeNegTokenInit(b []byte) (*NegTokenInit, error) {
	f, err := decodeFields(b, "NegTokenInit")
	if err != nil {
		return nil, err
	}
	if f[0] == nil {
		return nil, fmt.Errorf("spnego: NegTokenInit without mechTypes: %w", ErrMalformed)
	}
	t := new(NegTokenInit)
	if err := unmarshalAll(f[0], &t.MechTypes, "NegTokenInit.mechTypes"); err != nil {
		return nil, err
	}
	if len(t.MechTypes) == 0 {
		return nil, fmt.Errorf("spnego: NegTokenInit offers no mechanism: %w", ErrMalformed)
	}
	if f[1] != nil {
		if err := unmarshalAll(f[1], &t.ReqFlags, "NegTokenInit.reqFlags"); err != nil {
			return nil, err
		}
	}
	if f[2] != nil {
		if err := unmarshalAll(f[2], &t.MechToken, "NegTokenInit.mechToken"); err != nil {
			return nil, err
		}
	}
	if f[3] != nil {
		if err := unmarshalAll(f[3], &t.MechListMIC, "NegTokenInit.mechListMIC"); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func decodeNegTokenResp(b []byte) (*NegTokenResp, error) {
	f, err := decodeFields(b, "NegTokenResp")
	if err != nil {
		return nil, err
	}
	t := &NegTokenResp{NegState: StateAbsent}
	if f[0] != nil {
		var e asn1.Enumerated
		if err := unmarshalAll(f[0], &e, "NegTokenResp.negState"); err != nil {
			return nil, err
		}
		// Reject values outside the enumeration rather than carry
		// them: -1 would masquerade as an absent negState.
		if e < asn1.Enumerated(StateAcceptCompleted) || e > asn1.Enumerated(StateRequestMIC) {
			return nil, fmt.Errorf("spnego: NegTokenResp.negState %d is not defined: %w", e, ErrMalformed)
		}
		t.NegState = State(e)
	}
	if f[1] != nil {
		if err := unmarshalAll(f[1], &t.SupportedMech, "NegTokenResp.supportedMech"); err != nil {
			return nil, err
		}
	}
	if f[2] != nil {
		if err := unmarshalAll(f[2], &t.ResponseToken, "NegTokenResp.responseToken"); err != nil {
			return nil, err
		}
	}
	if f[3] != nil {
		if err := unmarshalAll(f[3], &t.MechListMIC, "NegTokenResp.mechListMIC"); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// decodeFields splits the SEQUENCE in b into the contents of its explicitly
// tagged fields [0] to [3]; an absent field is nil. It is stricter than
// letting encoding/asn1 fill a struct, which silently skips an optional
// field whose tag does not match and ignores whatever follows: here tags
// must be context-specific, constructed and strictly increasing (DER order,
// no duplicates). Tags above [3] are skipped, as the "..." extension marker
// in RFC 4178 requires.
func decodeFields(b []byte, what string) ([4][]byte, error) {
	var f [4][]byte
	seq, err := unmarshalOne(b, what)
	if err != nil {
		return f, err
	}
	if seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence || !seq.IsCompound {
		return f, fmt.Errorf("spnego: %s is not a SEQUENCE: %w", what, ErrMalformed)
	}
	last := -1
	for rest := seq.Bytes; len(rest) > 0; {
		var v asn1.RawValue
		rest, err = asn1.Unmarshal(rest, &v)
		if err != nil {
			return f, fmt.Errorf("spnego: decoding a field of %s: %v: %w", what, err, ErrMalformed)
		}
		if v.Class != asn1.ClassContextSpecific || !v.IsCompound {
			return f, fmt.Errorf("spnego: %s has a field that is not an explicit context tag: %w", what, ErrMalformed)
		}
		if v.Tag <= last {
			return f, fmt.Errorf("spnego: %s field [%d] after [%d]: %w", what, v.Tag, last, ErrMalformed)
		}
		last = v.Tag
		if v.Tag < len(f) {
			f[v.Tag] = v.Bytes
			if f[v.Tag] == nil {
				// Keep "present but empty" distinguishable from absent;
				// the inner decode will then reject it.
				f[v.Tag] = []byte{}
			}
		}
	}
	return f, nil
}

// unmarshalOne reads exactly one DER element from b.
func unmarshalOne(b []byte, what string) (asn1.RawValue, error) {
	var v asn1.RawValue
	rest, err := asn1.Unmarshal(b, &v)
	if err != nil {
		return v, fmt.Errorf("spnego: decoding %s: %v: %w", what, err, ErrMalformed)
	}
	if len(rest) > 0 {
		return v, fmt.Errorf("spnego: %d bytes after %s: %w", len(rest), what, ErrMalformed)
	}
	return v, nil
}

// unmarshalAll decodes b into v and insists that nothing follows.
func unmarshalAll(b []byte, v any, what string) error {
	rest, err := asn1.Unmarshal(b, v)
	if err != nil {
		return fmt.Errorf("spnego: decoding %s: %v: %w", what, err, ErrMalformed)
	}
	if len(rest) > 0 {
		return fmt.Errorf("spnego: %d bytes after %s: %w", len(rest), what, ErrMalformed)
	}
	return nil
}

// negTokenInit is the wire form of NegTokenInit for encoding/asn1's encoder.
// Optional fields at their zero value (nil) are left out.
type negTokenInit struct {
	MechTypes   []asn1.ObjectIdentifier `asn1:"explicit,tag:0"`
	ReqFlags    asn1.BitString          `asn1:"explicit,tag:1,optional"`
	MechToken   []byte                  `asn1:"explicit,tag:2,optional"`
	MechListMIC []byte                  `asn1:"explicit,tag:3,optional"`
}

// negTokenResp is the wire form of NegTokenResp; default:-1 makes the
// encoder leave out an absent negState while still writing
// accept-completed (0).
type negTokenResp struct {
	NegState      asn1.Enumerated       `asn1:"explicit,tag:0,optional,default:-1"`
	SupportedMech asn1.ObjectIdentifier `asn1:"explicit,tag:1,optional"`
	ResponseToken []byte                `asn1:"explicit,tag:2,optional"`
	MechListMIC   []byte                `asn1:"explicit,tag:3,optional"`
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
	seq, err := asn1.Marshal(negTokenInit{
		MechTypes:   t.MechTypes,
		ReqFlags:    t.ReqFlags,
		MechToken:   t.MechToken,
		MechListMIC: t.MechListMIC,
	})
	if err != nil {
		return nil, fmt.Errorf("spnego: marshaling NegTokenInit: %w", err)
	}
	inner, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: seq})
	if err != nil {
		return nil, fmt.Errorf("spnego: marshaling negTokenInit: %w", err)
	}
	mech, err := asn1.Marshal(OIDSPNEGO)
	if err != nil {
		return nil, fmt.Errorf("spnego: marshaling thisMech: %w", err)
	}
	out, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassApplication, Tag: 0, IsCompound: true, Bytes: append(mech, inner...)})
	if err != nil {
		return nil, fmt.Errorf("spnego: marshaling InitialContextToken: %w", err)
	}
	return out, nil
}

// Marshal encodes t as negTokenResp [1], the form of every server answer
// (RFC 4178 section 4.2.2, RFC 4559 section 5).
func (t *NegTokenResp) Marshal() ([]byte, error) {
	if t.NegState < StateAbsent || t.NegState > StateRequestMIC {
		return nil, fmt.Errorf("spnego: marshaling NegTokenResp: undefined negState %d", int(t.NegState))
	}
	seq, err := asn1.Marshal(negTokenResp{
		NegState:      asn1.Enumerated(t.NegState),
		SupportedMech: t.SupportedMech,
		ResponseToken: t.ResponseToken,
		MechListMIC:   t.MechListMIC,
	})
	if err != nil {
		return nil, fmt.Errorf("spnego: marshaling NegTokenResp: %w", err)
	}
	out, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, IsCompound: true, Bytes: seq})
	if err != nil {
		return nil, fmt.Errorf("spnego: marshaling negTokenResp: %w", err)
	}
	return out, nil
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
