package spnego

// The encoding/asn1 implementation of Decode and the Marshal methods as
// they were before they moved to cryptobyte (commit 129aee3), kept verbatim
// but for the names as the oracle of the differential fuzzers in
// fuzz_test.go: the cryptobyte code must accept, refuse and encode exactly
// as this did. Do not "improve" it; it is the reference.

import (
	"encoding/asn1"
	"errors"
	"fmt"
)

// decodeOracle is the old Decode.
func decodeOracle(b []byte) (*Token, error) {
	if len(b) > MaxTokenLen {
		return nil, fmt.Errorf("spnego: token of %d bytes exceeds %d: %w", len(b), MaxTokenLen, ErrMalformed)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("spnego: empty token: %w", ErrMalformed)
	}
	switch b[0] {
	case tagInitialContextToken:
		init, err := decodeInitialContextTokenOracle(b)
		if err != nil {
			return nil, err
		}
		return &Token{Init: init}, nil
	case tagNegTokenResp:
		v, err := unmarshalOneOracle(b, "NegotiationToken")
		if err != nil {
			return nil, err
		}
		resp, err := decodeNegTokenRespOracle(v.Bytes)
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

// decodeInitialContextTokenOracle parses the [APPLICATION 0] wrapper by hand:
// encoding/asn1 has no notion of an implicit SEQUENCE whose second element
// is an untyped CHOICE.
func decodeInitialContextTokenOracle(b []byte) (*NegTokenInit, error) {
	outer, err := unmarshalOneOracle(b, "InitialContextToken")
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
	inner, err := unmarshalOneOracle(rest, "InitialContextToken.innerContextToken")
	if err != nil {
		return nil, err
	}
	return decodeNegTokenInitOracle(inner.Bytes)
}

func decodeNegTokenInitOracle(b []byte) (*NegTokenInit, error) {
	f, err := decodeFieldsOracle(b, "NegTokenInit")
	if err != nil {
		return nil, err
	}
	if f[0] == nil {
		return nil, fmt.Errorf("spnego: NegTokenInit without mechTypes: %w", ErrMalformed)
	}
	t := new(NegTokenInit)
	if err := unmarshalAllOracle(f[0], &t.MechTypes, "NegTokenInit.mechTypes"); err != nil {
		return nil, err
	}
	if len(t.MechTypes) == 0 {
		return nil, fmt.Errorf("spnego: NegTokenInit offers no mechanism: %w", ErrMalformed)
	}
	if f[1] != nil {
		if err := unmarshalAllOracle(f[1], &t.ReqFlags, "NegTokenInit.reqFlags"); err != nil {
			return nil, err
		}
	}
	if f[2] != nil {
		if err := unmarshalAllOracle(f[2], &t.MechToken, "NegTokenInit.mechToken"); err != nil {
			return nil, err
		}
	}
	if f[3] != nil {
		if err := unmarshalAllOracle(f[3], &t.MechListMIC, "NegTokenInit.mechListMIC"); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func decodeNegTokenRespOracle(b []byte) (*NegTokenResp, error) {
	f, err := decodeFieldsOracle(b, "NegTokenResp")
	if err != nil {
		return nil, err
	}
	t := &NegTokenResp{NegState: StateAbsent}
	if f[0] != nil {
		var e asn1.Enumerated
		if err := unmarshalAllOracle(f[0], &e, "NegTokenResp.negState"); err != nil {
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
		if err := unmarshalAllOracle(f[1], &t.SupportedMech, "NegTokenResp.supportedMech"); err != nil {
			return nil, err
		}
	}
	if f[2] != nil {
		if err := unmarshalAllOracle(f[2], &t.ResponseToken, "NegTokenResp.responseToken"); err != nil {
			return nil, err
		}
	}
	if f[3] != nil {
		if err := unmarshalAllOracle(f[3], &t.MechListMIC, "NegTokenResp.mechListMIC"); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// decodeFieldsOracle splits the SEQUENCE in b into the contents of its explicitly
// tagged fields [0] to [3]; an absent field is nil. It is stricter than
// letting encoding/asn1 fill a struct, which silently skips an optional
// field whose tag does not match and ignores whatever follows: here tags
// must be context-specific, constructed and strictly increasing (DER order,
// no duplicates). Tags above [3] are skipped, as the "..." extension marker
// in RFC 4178 requires.
func decodeFieldsOracle(b []byte, what string) ([4][]byte, error) {
	var f [4][]byte
	seq, err := unmarshalOneOracle(b, what)
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

// unmarshalOneOracle reads exactly one DER element from b.
func unmarshalOneOracle(b []byte, what string) (asn1.RawValue, error) {
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

// unmarshalAllOracle decodes b into v and insists that nothing follows.
func unmarshalAllOracle(b []byte, v any, what string) error {
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
type negTokenInitOracle struct {
	MechTypes   []asn1.ObjectIdentifier `asn1:"explicit,tag:0"`
	ReqFlags    asn1.BitString          `asn1:"explicit,tag:1,optional"`
	MechToken   []byte                  `asn1:"explicit,tag:2,optional"`
	MechListMIC []byte                  `asn1:"explicit,tag:3,optional"`
}

// negTokenResp is the wire form of NegTokenResp; default:-1 makes the
// encoder leave out an absent negState while still writing
// accept-completed (0).
type negTokenRespOracle struct {
	NegState      asn1.Enumerated       `asn1:"explicit,tag:0,optional,default:-1"`
	SupportedMech asn1.ObjectIdentifier `asn1:"explicit,tag:1,optional"`
	ResponseToken []byte                `asn1:"explicit,tag:2,optional"`
	MechListMIC   []byte                `asn1:"explicit,tag:3,optional"`
}

// marshalInitOracle is the old NegTokenInit.Marshal.
func marshalInitOracle(t *NegTokenInit) ([]byte, error) {
	if len(t.MechTypes) == 0 {
		return nil, errors.New("spnego: marshaling NegTokenInit: no mechTypes")
	}
	if err := checkBitString(t.ReqFlags); err != nil {
		return nil, fmt.Errorf("spnego: marshaling NegTokenInit.reqFlags: %w", err)
	}
	seq, err := asn1.Marshal(negTokenInitOracle{
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

// marshalRespOracle is the old NegTokenResp.Marshal.
func marshalRespOracle(t *NegTokenResp) ([]byte, error) {
	if t.NegState < StateAbsent || t.NegState > StateRequestMIC {
		return nil, fmt.Errorf("spnego: marshaling NegTokenResp: undefined negState %d", int(t.NegState))
	}
	seq, err := asn1.Marshal(negTokenRespOracle{
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
