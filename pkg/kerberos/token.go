package kerberos

import (
	"bytes"
	"encoding/asn1"
	"errors"

	"github.com/goauthenntlm/goauthenntlm/pkg/spnego"
	"golang.org/x/crypto/cryptobyte"
)

// The Kerberos mechanism's OIDs: RFC 4121's, and the one Windows put first
// in SPNEGO for years (a misspelling of it that every acceptor takes).
// Package spnego, which names every mechanism, holds their values.
var (
	OIDKerberos   = spnego.OIDKerberos
	OIDKerberosMS = spnego.OIDMSKerberos
)

// IsKerberosOID reports whether oid names Kerberos.
func IsKerberosOID(oid asn1.ObjectIdentifier) bool {
	return oid.Equal(OIDKerberos) || oid.Equal(OIDKerberosMS)
}

// Token IDs of RFC 4121 section 4.1.
var (
	tokAPReq = []byte{0x01, 0x00}
	tokAPRep = []byte{0x02, 0x00}
)

var errNotKerberos = errors.New("not a Kerberos GSS-API token")

// IsGSSKerberos reports whether b looks like an RFC 2743 initial context
// token for Kerberos (what curl sends raw without SPNEGO, and what SPNEGO
// carries as its mechToken). It only reads the framing.
func IsGSSKerberos(b []byte) bool {
	_, _, err := splitGSS(b)
	return err == nil
}

// splitGSS takes an initial context token apart: [APPLICATION 0] { mech
// OID, innerToken }, where innerToken is the 2-byte TOK_ID and the
// message. It is not DER throughout (the inner token is raw), hence by
// hand.
func splitGSS(b []byte) (oid asn1.ObjectIdentifier, inner []byte, err error) {
	var outer asn1.RawValue
	rest, err := asn1.Unmarshal(b, &outer)
	if err != nil || len(rest) != 0 || outer.Class != asn1.ClassApplication || outer.Tag != 0 || !outer.IsCompound {
		return nil, nil, errNotKerberos
	}
	var mech asn1.RawValue
	inner, err = asn1.Unmarshal(outer.Bytes, &mech)
	if err != nil || mech.Class != asn1.ClassUniversal || mech.Tag != asn1.TagOID {
		return nil, nil, errNotKerberos
	}
	if _, err := asn1.Unmarshal(mech.FullBytes, &oid); err != nil || !IsKerberosOID(oid) {
		return nil, nil, errNotKerberos
	}
	return oid, inner, nil
}

// apReqOf returns the AP-REQ inside a Kerberos initial context token.
func apReqOf(b []byte) ([]byte, error) {
	_, raw, err := splitAPReq(b)
	return raw, err
}

// splitAPReq returns the mech OID and the AP-REQ of a Kerberos initial
// context token.
func splitAPReq(b []byte) (asn1.ObjectIdentifier, []byte, error) {
	oid, inner, err := splitGSS(b)
	if err != nil {
		return nil, nil, err
	}
	if len(inner) < 2 || !bytes.Equal(inner[:2], tokAPReq) {
		return nil, nil, errors.New("the Kerberos token is not an AP-REQ (TOK_ID 01 00)")
	}
	return oid, inner[2:], nil
}

// wrapGSS frames msg (with its TOK_ID) as an initial-context-style token
// under the Kerberos OID, the form an AP-REP takes on the wire.
func wrapGSS(oid asn1.ObjectIdentifier, tokID, msg []byte) ([]byte, error) {
	b := cryptobyte.NewBuilder(make([]byte, 0, 24+len(tokID)+len(msg)))
	b.AddASN1(appTag(0), func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		b.AddBytes(tokID)
		b.AddBytes(msg)
	})
	return b.Bytes()
}

// WrapSPNEGO puts a Kerberos token in a SPNEGO NegTokenInit offering
// Kerberos, as browsers send it.
func WrapSPNEGO(tok []byte) ([]byte, error) {
	oid, _, err := splitGSS(tok)
	if err != nil {
		return nil, err
	}
	return (&spnego.NegTokenInit{MechTypes: []asn1.ObjectIdentifier{oid}, MechToken: tok}).Marshal()
}
