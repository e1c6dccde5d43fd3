package kerberos

import (
	"crypto/rand"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"time"

	fasn1 "github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

func oidDER(oid asn1.ObjectIdentifier) []byte {
	b, _ := asn1.Marshal(oid)
	return b
}

// MechOID is the Kerberos OID the client used, for the SPNEGO answer's
// supportedMech.
func (l *Login) MechOID() asn1.ObjectIdentifier {
	var oid asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(l.oid, &oid); err != nil {
		return OIDKerberos
	}
	return oid
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
	part := messages.EncAPRepPart{
		CTime:          l.ctime.UTC().Truncate(time.Second),
		Cusec:          l.cusec,
		SequenceNumber: int64(binary.BigEndian.Uint32(seq[:]) & 0x3fffffff),
	}
	plain, err := fasn1.Marshal(part)
	if err != nil {
		return nil, fmt.Errorf("AP-REP: encode: %w", err)
	}
	plain = asn1tools.AddASNAppTag(plain, asnAppTag.EncAPRepPart)
	var ed types.EncryptedData
	if l.repKeys != nil {
		ed.EType = l.sessionKey.KeyType
		ed.Cipher, err = l.repKeys.seal(plain)
	} else {
		ed, err = crypto.GetEncryptedData(plain, l.sessionKey, keyusage.AP_REP_ENCPART, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("AP-REP: encrypt: %w", err)
	}
	rep := messages.APRep{PVNO: 5, MsgType: msgtype.KRB_AP_REP, EncPart: ed}
	b, err := fasn1.Marshal(rep)
	if err != nil {
		return nil, fmt.Errorf("AP-REP: encode: %w", err)
	}
	b = asn1tools.AddASNAppTag(b, asnAppTag.APREP)
	return wrapGSS(l.MechOID(), tokAPRep, b)
}

// String names the login, never its session key: a Login printed with %v
// or %+v (a log line, a test failure) shows this.
func (l *Login) String() string {
	return fmt.Sprintf("kerberos.Login{%s@%s for %s, %s kvno %d, pac %v, mutual %v}", l.User, l.Realm, l.SPN, EncTypeName(l.EncType), l.KVNO, l.PAC != nil, l.Mutual)
}

// GoString is String, for %#v.
func (l *Login) GoString() string { return l.String() }
