package kerberos

import (
	"crypto/rand"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/types"
)

// MechOID is the Kerberos OID the client used, for the SPNEGO answer's
// supportedMech. It is the package's OIDKerberos or OIDKerberosMS itself:
// read it, never write into it.
func (l *Login) MechOID() asn1.ObjectIdentifier {
	if l.oid == nil {
		return OIDKerberos
	}
	return l.oid
}

// APRep is the GSS-API token answering the AP-REQ (RFC 4121 section 4.1,
// TOK_ID 02 00): the proof that this server holds the service key, which
// a client that asked for mutual authentication checks. It holds the
// authenticator's time encrypted with the session key, and a sequence
// number; no subkey, so the client's own (or the session key) stays the
// context key.
func (l *Login) APRep() ([]byte, error) {
	var seq [4]byte
	if _, err := rand.Read(seq[:]); err != nil {
		return nil, err
	}
	plain := encAPRepPart(l.ctime, l.cusec, int64(binary.BigEndian.Uint32(seq[:])&0x3fffffff))
	var ed types.EncryptedData
	var err error
	if l.repKeys != nil {
		ed.EType = l.sessionKey.KeyType
		ed.Cipher, err = l.repKeys.seal(plain)
	} else {
		ed, err = crypto.GetEncryptedData(plain, l.sessionKey, keyusage.AP_REP_ENCPART, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("AP-REP: encrypt: %w", err)
	}
	return wrapGSS(l.MechOID(), tokAPRep, apRep(ed))
}

// The AP-REP's DER is built by hand (der.go), not with gokrb5's
// reflection-based encoder (a tenth of a login's CPU for two small
// structures); aprep_test.go checks the bytes against gokrb5's.

// encAPRepPart is EncAPRepPart (RFC 4120 section 5.5.2) without subkey:
// [APPLICATION 27] SEQUENCE { ctime [0], cusec [1], seq-number [3] }.
func encAPRepPart(ctime time.Time, cusec int, seq int64) []byte {
	w := newDERWriter(48)
	if seq != 0 { // OPTIONAL; absent is 0, as gokrb5 encodes it
		w.explicitInt(3, seq)
	}
	w.explicitInt(1, int64(cusec))
	m := w.mark()
	w.generalizedTime(ctime)
	w.wrap(ctxConstructed|0, m)
	w.wrap(tagSequence, 0)
	w.wrap(classApplication|0x20|asnAppTag.EncAPRepPart, 0)
	return w.bytes()
}

// apRep is KRB_AP_REP (RFC 4120 section 5.5.2): [APPLICATION 15]
// SEQUENCE { pvno [0] 5, msg-type [1] 15, enc-part [2] EncryptedData },
// the enc-part without kvno (it is the session key's).
func apRep(ed types.EncryptedData) []byte {
	w := newDERWriter(40 + len(ed.Cipher))
	w.raw(ed.Cipher...)
	w.wrap(tagOctetString, 0)
	w.wrap(ctxConstructed|2, 0)
	if ed.KVNO != 0 {
		w.explicitInt(1, int64(ed.KVNO))
	}
	w.explicitInt(0, int64(ed.EType))
	w.wrap(tagSequence, 0)
	w.wrap(ctxConstructed|2, 0)
	w.explicitInt(1, msgtype.KRB_AP_REP)
	w.explicitInt(0, 5)
	w.wrap(tagSequence, 0)
	w.wrap(classApplication|0x20|asnAppTag.APREP, 0)
	return w.bytes()
}

// classApplication is the APPLICATION class bits of a one-byte tag
// (cryptobyte names the context-specific class only).
const classApplication = 0x40

// String names the login, never its session key: a Login printed with %v
// or %+v (a log line, a test failure) shows this.
func (l *Login) String() string {
	return fmt.Sprintf("kerberos.Login{%s@%s for %s, %s kvno %d, pac %v, mutual %v}", l.User, l.Realm, l.SPN, EncTypeName(l.EncType), l.KVNO, l.PAC != nil, l.Mutual)
}

// GoString is String, for %#v.
func (l *Login) GoString() string { return l.String() }
