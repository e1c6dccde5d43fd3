package kdc

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto/rfc4757"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/iana/patype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Constrained delegation and protocol transition, [MS-SFU]: a service
// gets tickets as a user, with its own TGT. S4U2Self (3.2.5.1.1) asks for
// a ticket to the service itself on behalf of a user who logged in some
// other way (NTLM, a password); S4U2Proxy (3.2.5.2) trades such a ticket,
// or the one the user presented, for one to another service.

// cnameInAddlTkt is the KDC option of S4U2Proxy ([MS-SFU] 2.2.5,
// "cname-in-addl-tkt"), not among gokrb5's flags.
const cnameInAddlTkt = 14

// paPACOptions is PA-PAC-OPTIONS ([MS-KILE] 2.2.10), and its
// resource-based-constrained-delegation bit: the KDC may then also allow
// the delegation by the backend's msDS-AllowedToActOnBehalfOfOtherIdentity.
const (
	paPACOptions  = 167
	pacOptionRBCD = 3
)

// authPackage is PA-FOR-USER's auth-package: always "Kerberos".
const authPackage = "Kerberos"

// checksumHMACMD5 is KERB_CHECKSUM_HMAC_MD5 (RFC 4757), PA-FOR-USER's
// checksum type whatever the session key's enctype.
const checksumHMACMD5 = -138

// paForUser is PA-FOR-USER ([MS-SFU] 2.2.1).
type paForUser struct {
	UserName    types.PrincipalName `asn1:"explicit,tag:0"`
	UserRealm   string              `asn1:"generalstring,explicit,tag:1"`
	Cksum       types.Checksum      `asn1:"explicit,tag:2"`
	AuthPackage string              `asn1:"generalstring,explicit,tag:3"`
}

// PAForUser is the PA-DATA of an S4U2Self request for user (one name
// component, e.g. "jdoe") of realm, with tgtKey, the session key of the
// service's TGT. Its checksum ([MS-SFU] 2.2.1) is KERB_CHECKSUM_HMAC_MD5
// with that key over the name type (4 bytes, little endian), the name's
// components, the realm and the auth-package, with key usage 17
// (KERB_NON_KERB_CKSUM_SALT).
func PAForUser(user, realm string, tgtKey types.EncryptionKey) (types.PAData, error) {
	name := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, user)
	var s []byte
	s = binary.LittleEndian.AppendUint32(s, uint32(name.NameType))
	for _, c := range name.NameString {
		s = append(s, c...)
	}
	s = append(s, realm...)
	s = append(s, authPackage...)
	sum, err := rfc4757.Checksum(tgtKey.KeyValue, keyusage.KERB_NON_KERB_CKSUM_SALT, s)
	if err != nil {
		return types.PAData{}, err
	}
	b, err := asn1.Marshal(paForUser{UserName: name, UserRealm: realm,
		Cksum: types.Checksum{CksumType: checksumHMACMD5, Checksum: sum}, AuthPackage: authPackage})
	if err != nil {
		return types.PAData{}, err
	}
	return types.PAData{PADataType: patype.PA_FOR_USER, PADataValue: b}, nil
}

// PAPACOptionsRBCD is PA-PAC-OPTIONS with the
// resource-based-constrained-delegation bit, as Windows sends it with
// S4U2Proxy.
func PAPACOptionsRBCD() (types.PAData, error) {
	f := types.NewKrbFlags()
	types.SetFlag(&f, pacOptionRBCD)
	b, err := asn1.Marshal(struct {
		Flags asn1.BitString `asn1:"explicit,tag:0"`
	}{f})
	if err != nil {
		return types.PAData{}, err
	}
	return types.PAData{PADataType: paPACOptions, PADataValue: b}, nil
}

// S4U2Self gets a ticket to the service whose TGT tgt is (service, its
// own name: an SPN or the account name) for user of c's realm, who logged
// in without Kerberos. The ticket is forwardable, and so good for
// S4U2Proxy, only when the account may do protocol transition ("trusted
// to authenticate for delegation").
func (c *Client) S4U2Self(ctx context.Context, tgt *Credential, service types.PrincipalName, user string) (*Credential, error) {
	pa, err := PAForUser(user, c.realm, tgt.Key)
	if err != nil {
		return nil, &Error{Cause: CauseProtocol, Detail: "making PA-FOR-USER", Err: err}
	}
	cr, err := c.TGS(ctx, tgt, TGSRequest{Service: service, PAData: types.PADataSequence{pa}})
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(cr.Client.PrincipalNameString(), user) || !strings.EqualFold(cr.ClientRealm, c.realm) {
		return nil, &Error{Cause: CauseProtocol, Detail: fmt.Sprintf("the S4U2Self ticket is for %s, not %s@%s", cr.ClientName(), user, c.realm)}
	}
	return cr, nil
}

// S4U2Proxy gets a ticket to spn (without realm, e.g. "ldap/dc1.example.test")
// as the client of evidence, a forwardable ticket to the service whose TGT
// tgt is: the one the user presented, or one from S4U2Self.
func (c *Client) S4U2Proxy(ctx context.Context, tgt *Credential, evidence messages.Ticket, spn string) (*Credential, error) {
	pac, err := PAPACOptionsRBCD()
	if err != nil {
		return nil, &Error{Cause: CauseProtocol, Detail: "making PA-PAC-OPTIONS", Err: err}
	}
	return c.TGS(ctx, tgt, TGSRequest{
		Service:           types.NewPrincipalName(nametype.KRB_NT_SRV_INST, spn),
		Options:           []int{cnameInAddlTkt},
		PAData:            types.PADataSequence{pac},
		AdditionalTickets: []messages.Ticket{evidence},
	})
}
