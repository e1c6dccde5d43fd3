package kerberos

import (
	"bytes"
	"encoding/asn1"
	"errors"

	"github.com/goauthenntlm/goauthenntlm/pkg/spnego"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
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
// hand. The OID is compared as DER bytes with the two Kerberos OIDs' (DER
// has one encoding per OID), which spares parsing it: this runs twice a
// login, and encoding/asn1's reflection made it six allocations. The OID
// returned is the package's own variable: callers only read it.
func splitGSS(b []byte) (oid asn1.ObjectIdentifier, inner []byte, err error) {
	s := cryptobyte.String(b)
	var outer, mech cryptobyte.String
	if !s.ReadASN1(&outer, appTag(0)) || !s.Empty() || !outer.ReadASN1(&mech, cbasn1.OBJECT_IDENTIFIER) {
		return nil, nil, errNotKerberos
	}
	switch {
	case bytes.Equal(mech, derOIDKerberos):
		return OIDKerberos, outer, nil
	case bytes.Equal(mech, derOIDKerberosMS):
		return OIDKerberosMS, outer, nil
	}
	return nil, nil, errNotKerberos
}

// The contents octets of the Kerberos OIDs' DER, for splitGSS.
var (
	derOIDKerberos   = oidContents(OIDKerberos)
	derOIDKerberosMS = oidContents(OIDKerberosMS)
)

func oidContents(oid asn1.ObjectIdentifier) []byte {
	b, err := asn1.Marshal(oid)
	if err != nil {
		panic(err) // a constant OID
	}
	return b[2:] // tag and a one-byte length
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
