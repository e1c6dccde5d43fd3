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

// field reads the explicitly tagged field n and has f read its content,
// which f must use up.
func field(s *cryptobyte.String, n uint8, f func(*cryptobyte.String) bool) bool {
	var c cryptobyte.String
	return s.ReadASN1(&c, ctxTag(n)) && f(&c) && c.Empty()
}

// optional is field for an OPTIONAL one: absent is fine.
func optional(s *cryptobyte.String, n uint8, f func(*cryptobyte.String) bool) bool {
	if !s.PeekASN1Tag(ctxTag(n)) {
		return true
	}
	return field(s, n, f)
}

func integer[T int | int32 | int64](out *T) func(*cryptobyte.String) bool {
	return func(s *cryptobyte.String) bool { return s.ReadASN1Integer(out) }
}

func generalString(out *string) func(*cryptobyte.String) bool {
	return func(s *cryptobyte.String) bool {
		var b cryptobyte.String
		if !s.ReadASN1(&b, tagGeneralString) {
			return false
		}
		*out = string(b)
		return true
	}
}

func octets(out *[]byte) func(*cryptobyte.String) bool {
	return func(s *cryptobyte.String) bool {
		var b cryptobyte.String
		if !s.ReadASN1(&b, cbasn1.OCTET_STRING) {
			return false
		}
		*out = append([]byte{}, b...)
		return true
	}
}

func sequence(f func(*cryptobyte.String) bool) func(*cryptobyte.String) bool {
	return func(s *cryptobyte.String) bool {
		var b cryptobyte.String
		return s.ReadASN1(&b, cbasn1.SEQUENCE) && f(&b) && b.Empty()
	}
}

func principalName(p *types.PrincipalName) func(*cryptobyte.String) bool {
	return sequence(func(s *cryptobyte.String) bool {
		return field(s, 0, integer(&p.NameType)) && field(s, 1, sequence(func(s *cryptobyte.String) bool {
			p.NameString = []string{}
			for !s.Empty() {
				var n string
				if !generalString(&n)(s) {
					return false
				}
				p.NameString = append(p.NameString, n)
			}
			return true
		}))
	})
}

func encryptedData(e *types.EncryptedData) func(*cryptobyte.String) bool {
	return sequence(func(s *cryptobyte.String) bool {
		return field(s, 0, integer(&e.EType)) && optional(s, 1, integer(&e.KVNO)) && field(s, 2, octets(&e.Cipher))
	})
}

func kerberosTime(t *time.Time) func(*cryptobyte.String) bool {
	return func(s *cryptobyte.String) bool { return s.ReadASN1GeneralizedTime(t) }
}

// decodeAPReq decodes b as messages.APReq.Unmarshal does, for strict DER
// alone: false for anything else.
func decodeAPReq(b []byte, req *messages.APReq) bool {
	s := cryptobyte.String(b)
	var body cryptobyte.String
	if !s.ReadASN1(&body, appTag(asnAppTag.APREQ)) || !s.Empty() {
		return false
	}
	var r messages.APReq
	t := &r.Ticket
	ok := sequence(func(s *cryptobyte.String) bool {
		return field(s, 0, integer(&r.PVNO)) && field(s, 1, integer(&r.MsgType)) &&
			field(s, 2, func(s *cryptobyte.String) bool {
				var bs asn1.BitString
				if !s.ReadASN1BitString(&bs) {
					return false
				}
				r.APOptions = fasn1.BitString{Bytes: append([]byte{}, bs.Bytes...), BitLength: bs.BitLength}
				return true
			}) &&
			field(s, 3, func(s *cryptobyte.String) bool {
				var tb cryptobyte.String
				return s.ReadASN1(&tb, appTag(asnAppTag.Ticket)) && sequence(func(s *cryptobyte.String) bool {
					return field(s, 0, integer(&t.TktVNO)) && field(s, 1, generalString(&t.Realm)) &&
						field(s, 2, principalName(&t.SName)) && field(s, 3, encryptedData(&t.EncPart))
				})(&tb) && tb.Empty()
			}) &&
			field(s, 4, encryptedData(&r.EncryptedAuthenticator))
	})(&body) && body.Empty()
	if !ok || r.MsgType != msgtype.KRB_AP_REQ {
		return false
	}
	*req = r
	return true
}

// decodeAuthenticator decodes b as types.Authenticator.Unmarshal does,
// for strict DER alone: false for anything else.
func decodeAuthenticator(b []byte, out *types.Authenticator) bool {
	s := cryptobyte.String(b)
	var body cryptobyte.String
	if !s.ReadASN1(&body, appTag(asnAppTag.Authenticator)) || !s.Empty() {
		return false
	}
	var a types.Authenticator
	ok := sequence(func(s *cryptobyte.String) bool {
		return field(s, 0, integer(&a.AVNO)) && field(s, 1, generalString(&a.CRealm)) &&
			field(s, 2, principalName(&a.CName)) &&
			optional(s, 3, sequence(func(s *cryptobyte.String) bool {
				return field(s, 0, integer(&a.Cksum.CksumType)) && field(s, 1, octets(&a.Cksum.Checksum))
			})) &&
			field(s, 4, integer(&a.Cusec)) && field(s, 5, kerberosTime(&a.CTime)) &&
			optional(s, 6, sequence(func(s *cryptobyte.String) bool {
				return field(s, 0, integer(&a.SubKey.KeyType)) && field(s, 1, octets(&a.SubKey.KeyValue))
			})) &&
			optional(s, 7, integer(&a.SeqNumber)) &&
			optional(s, 8, sequence(func(s *cryptobyte.String) bool {
				for !s.Empty() {
					var e types.AuthorizationDataEntry
					if !sequence(func(s *cryptobyte.String) bool {
						return field(s, 0, integer(&e.ADType)) && field(s, 1, octets(&e.ADData))
					})(s) {
						return false
					}
					a.AuthorizationData = append(a.AuthorizationData, e)
				}
				return true
			}))
	})(&body) && body.Empty()
	if !ok {
		return false
	}
	*out = a
	return true
}
