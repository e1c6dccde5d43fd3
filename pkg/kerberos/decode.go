package kerberos

import (
	"encoding/asn1"
	"time"

	fasn1 "github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// A DER decoder for the two messages every login decodes: the AP-REQ
// (with its ticket's clear part) and the authenticator. gokrb5 decodes
// them by reflection, which took a sixth of a login's CPU.
//
// It is a fast path, not a second parser to trust: it takes strict DER in
// the field order of RFC 4120 and nothing else, and on anything it does
// not take, the caller decodes with gokrb5 as before. So what is refused
// is exactly what gokrb5 refuses, and FuzzDecodeAPReq and
// FuzzDecodeAuthenticator check that what it takes, gokrb5 takes with
// the same values.

func appTag(n uint8) cbasn1.Tag { return cbasn1.Tag(n).Constructed() | classApplication }
func ctxTag(n uint8) cbasn1.Tag { return cbasn1.Tag(n).Constructed().ContextSpecific() }

const tagGeneralString = cbasn1.Tag(27)

// The readers below are plain functions over the caller's
// cryptobyte.Strings, not combinators of closures: a closure taking a
// *cryptobyte.String made every field's String escape to the heap (28
// allocations a login).

// readField reads the explicitly tagged field n of s into c.
func readField(s *cryptobyte.String, n uint8, c *cryptobyte.String) bool {
	return s.ReadASN1(c, ctxTag(n))
}

// present reports whether the OPTIONAL field n comes next in s.
func present(s *cryptobyte.String, n uint8) bool { return s.PeekASN1Tag(ctxTag(n)) }

// seqField reads field n of s, a SEQUENCE, into body.
func seqField(s *cryptobyte.String, n uint8, body *cryptobyte.String) bool {
	var c cryptobyte.String
	return readField(s, n, &c) && c.ReadASN1(body, cbasn1.SEQUENCE) && c.Empty()
}

func intField[T int | int32 | int64](s *cryptobyte.String, n uint8, out *T) bool {
	var c cryptobyte.String
	return readField(s, n, &c) && c.ReadASN1Integer(out) && c.Empty()
}

func readGeneralString(s *cryptobyte.String, out *string) bool {
	var b cryptobyte.String
	if !s.ReadASN1(&b, tagGeneralString) {
		return false
	}
	*out = string(b)
	return true
}

func stringField(s *cryptobyte.String, n uint8, out *string) bool {
	var c cryptobyte.String
	return readField(s, n, &c) && readGeneralString(&c, out) && c.Empty()
}

func octetsField(s *cryptobyte.String, n uint8, out *[]byte) bool {
	var c, b cryptobyte.String
	if !readField(s, n, &c) || !c.ReadASN1(&b, cbasn1.OCTET_STRING) || !c.Empty() {
		return false
	}
	*out = append([]byte{}, b...)
	return true
}

func timeField(s *cryptobyte.String, n uint8, out *time.Time) bool {
	var c cryptobyte.String
	return readField(s, n, &c) && c.ReadASN1GeneralizedTime(out) && c.Empty()
}

func principalNameField(s *cryptobyte.String, n uint8, p *types.PrincipalName) bool {
	var body, names cryptobyte.String
	if !seqField(s, n, &body) || !intField(&body, 0, &p.NameType) || !seqField(&body, 1, &names) || !body.Empty() {
		return false
	}
	p.NameString = []string{}
	for !names.Empty() {
		var name string
		if !readGeneralString(&names, &name) {
			return false
		}
		p.NameString = append(p.NameString, name)
	}
	return true
}

func encryptedDataField(s *cryptobyte.String, n uint8, e *types.EncryptedData) bool {
	var body cryptobyte.String
	return seqField(s, n, &body) && intField(&body, 0, &e.EType) &&
		(!present(&body, 1) || intField(&body, 1, &e.KVNO)) &&
		octetsField(&body, 2, &e.Cipher) && body.Empty()
}

// decodeAPReq decodes b as messages.APReq.Unmarshal does, for strict DER
// alone: false for anything else.
func decodeAPReq(b []byte, req *messages.APReq) bool {
	s := cryptobyte.String(b)
	var outer, body cryptobyte.String
	if !s.ReadASN1(&outer, appTag(asnAppTag.APREQ)) || !s.Empty() ||
		!outer.ReadASN1(&body, cbasn1.SEQUENCE) || !outer.Empty() {
		return false
	}
	var r messages.APReq
	if !intField(&body, 0, &r.PVNO) || !intField(&body, 1, &r.MsgType) || r.MsgType != msgtype.KRB_AP_REQ {
		return false
	}
	var c cryptobyte.String
	var bs asn1.BitString
	if !readField(&body, 2, &c) || !c.ReadASN1BitString(&bs) || !c.Empty() {
		return false
	}
	r.APOptions = fasn1.BitString{Bytes: append([]byte{}, bs.Bytes...), BitLength: bs.BitLength}
	var tkt, tb cryptobyte.String
	t := &r.Ticket
	if !readField(&body, 3, &c) || !c.ReadASN1(&tkt, appTag(asnAppTag.Ticket)) || !c.Empty() ||
		!tkt.ReadASN1(&tb, cbasn1.SEQUENCE) || !tkt.Empty() ||
		!intField(&tb, 0, &t.TktVNO) || !stringField(&tb, 1, &t.Realm) ||
		!principalNameField(&tb, 2, &t.SName) || !encryptedDataField(&tb, 3, &t.EncPart) || !tb.Empty() {
		return false
	}
	if !encryptedDataField(&body, 4, &r.EncryptedAuthenticator) || !body.Empty() {
		return false
	}
	*req = r
	return true
}

// decodeAuthenticator decodes b as types.Authenticator.Unmarshal does,
// for strict DER alone: false for anything else.
func decodeAuthenticator(b []byte, out *types.Authenticator) bool {
	s := cryptobyte.String(b)
	var outer, body cryptobyte.String
	if !s.ReadASN1(&outer, appTag(asnAppTag.Authenticator)) || !s.Empty() ||
		!outer.ReadASN1(&body, cbasn1.SEQUENCE) || !outer.Empty() {
		return false
	}
	var a types.Authenticator
	if !intField(&body, 0, &a.AVNO) || !stringField(&body, 1, &a.CRealm) || !principalNameField(&body, 2, &a.CName) {
		return false
	}
	var seq cryptobyte.String
	if present(&body, 3) && (!seqField(&body, 3, &seq) ||
		!intField(&seq, 0, &a.Cksum.CksumType) || !octetsField(&seq, 1, &a.Cksum.Checksum) || !seq.Empty()) {
		return false
	}
	if !intField(&body, 4, &a.Cusec) || !timeField(&body, 5, &a.CTime) {
		return false
	}
	if present(&body, 6) && (!seqField(&body, 6, &seq) ||
		!intField(&seq, 0, &a.SubKey.KeyType) || !octetsField(&seq, 1, &a.SubKey.KeyValue) || !seq.Empty()) {
		return false
	}
	if present(&body, 7) && !intField(&body, 7, &a.SeqNumber) {
		return false
	}
	if present(&body, 8) {
		if !seqField(&body, 8, &seq) {
			return false
		}
		for !seq.Empty() {
			var e types.AuthorizationDataEntry
			var entry cryptobyte.String
			if !seq.ReadASN1(&entry, cbasn1.SEQUENCE) ||
				!intField(&entry, 0, &e.ADType) || !octetsField(&entry, 1, &e.ADData) || !entry.Empty() {
				return false
			}
			a.AuthorizationData = append(a.AuthorizationData, e)
		}
	}
	if !body.Empty() {
		return false
	}
	*out = a
	return true
}
