package kdc

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/iana/patype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// ETypes are the encryption types asked for, best first: AES only. RC4
// keys are the NT hash (an NTLM credential), which a domain with NTLM
// switched off does not want used; DES is broken.
var ETypes = []int32{etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA1_96}

// ticketLifetime is the lifetime asked for; the KDC's policy caps it.
const ticketLifetime = 10 * time.Hour

// User is the principal a user logs in as. An Enterprise name is a UPN
// (jdoe@example.test) sent as NT-ENTERPRISE for the KDC to resolve;
// otherwise Name is the account name (sAMAccountName) in the Client's realm.
type User struct {
	Name       string
	Enterprise bool
}

func (u User) principal() types.PrincipalName {
	if u.Enterprise {
		return types.PrincipalName{NameType: nametype.KRB_NT_ENTERPRISE, NameString: []string{u.Name}}
	}
	return types.PrincipalName{NameType: nametype.KRB_NT_PRINCIPAL, NameString: []string{u.Name}}
}

// keyFunc derives the client's long-term key for etype with the salt and
// string-to-key parameters the KDC announced.
type keyFunc func(etype int32, salt string, s2kparams []byte) (types.EncryptionKey, error)

// Login gets a TGT for u with password (an AS exchange with
// PA-ENC-TIMESTAMP, AES only). The password is used to derive the key and
// then forgotten; it is never sent or logged.
func (c *Client) Login(ctx context.Context, u User, password string) (*Credential, error) {
	if u.Name == "" || password == "" {
		return nil, &Error{Cause: CauseCredentials, Detail: "empty name or password"}
	}
	return c.asExchange(ctx, u.principal(), func(etype int32, salt string, s2k []byte) (types.EncryptionKey, error) {
		et, err := crypto.GetEtype(etype)
		if err != nil {
			return types.EncryptionKey{}, err
		}
		params := et.GetDefaultStringToKeyParams()
		if len(s2k) == 4 {
			params = fmt.Sprintf("%x", s2k)
		}
		k, err := et.StringToKey(password, salt, params)
		if err != nil {
			return types.EncryptionKey{}, err
		}
		return types.EncryptionKey{KeyType: etype, KeyValue: k}, nil
	})
}

// LoginKeytab gets a TGT for the service principal name (e.g.
// "HTTP/www.example.test", or an account name) with its key from kt: the
// service's own TGT, for the exchanges a service makes as itself (S4U).
func (c *Client) LoginKeytab(ctx context.Context, name string, kt *keytab.Keytab) (*Credential, error) {
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, name)
	return c.asExchange(ctx, cname, func(etype int32, _ string, _ []byte) (types.EncryptionKey, error) {
		k, _, err := kt.GetEncryptionKey(cname, c.realm, 0, etype)
		return k, err
	})
}

// asExchange is RFC 4120 section 3.1: a first AS-REQ without
// pre-authentication, whose KDC_ERR_PREAUTH_REQUIRED names the salt and
// enctype of the client's key (ETYPE-INFO2; AD's salt is not the name's
// default, and a UPN's account is unknown until the KDC resolves it), then
// one with the encrypted timestamp.
func (c *Client) asExchange(ctx context.Context, cname types.PrincipalName, key keyFunc) (*Credential, error) {
	req := c.asReq(cname)
	b, err := req.Marshal()
	if err != nil {
		return nil, &Error{Cause: CauseProtocol, Detail: "encoding the AS-REQ", Err: err}
	}
	reply, kdc, err := c.exchange(ctx, b)
	if err != nil {
		// Without pre-authentication required (DONT_REQ_PREAUTH) the reply
		// comes now, still readable only with the client's key.
		e, ok := err.(*Error)
		if !ok || e.Code != errorcode.KDC_ERR_PREAUTH_REQUIRED {
			return nil, err
		}
		info, perr := preauthInfo(e.edata)
		if perr != nil {
			return nil, &Error{Cause: CauseProtocol, Code: e.Code, KDC: e.KDC, Detail: "reading the KDC's pre-authentication hints", Err: perr}
		}
		k, kerr := c.clientKey(key, info)
		if kerr != nil {
			return nil, kerr
		}
		pa, perr := c.encTimestamp(k)
		if perr != nil {
			return nil, perr
		}
		req = c.asReq(cname)
		req.PAData = types.PADataSequence{pa}
		if b, err = req.Marshal(); err != nil {
			return nil, &Error{Cause: CauseProtocol, Detail: "encoding the AS-REQ", Err: err}
		}
		if reply, kdc, err = c.exchange(ctx, b); err != nil {
			return nil, err
		}
	}
	var rep messages.ASRep
	if err := rep.Unmarshal(reply); err != nil {
		return nil, &Error{Cause: CauseProtocol, KDC: kdc, Detail: "the AS-REP does not decode", Err: err}
	}
	info, _ := etypeInfo(rep.PAData)
	if len(info) == 0 || info[0].EType != rep.EncPart.EType {
		// The reply's PA-DATA need not repeat the salt: take the default
		// salt of the canonical name the KDC returned.
		info = []types.ETypeInfo2Entry{{EType: rep.EncPart.EType, Salt: rep.CName.GetSalt(rep.CRealm)}}
	}
	if !slices.Contains(ETypes, rep.EncPart.EType) {
		return nil, &Error{Cause: CauseEnctype, KDC: kdc, Detail: fmt.Sprintf("the AS-REP is encrypted with etype %d, not AES", rep.EncPart.EType)}
	}
	k, kerr := c.clientKey(key, info)
	if kerr != nil {
		return nil, kerr
	}
	plain, err := crypto.DecryptEncPart(rep.EncPart, k, keyusage.AS_REP_ENCPART)
	if err != nil {
		// The KDC took our timestamp, so it knows the key: a reply we
		// cannot open did not come from it.
		return nil, &Error{Cause: CauseProtocol, KDC: kdc, Detail: "the AS-REP does not decrypt with the client's key", Err: err}
	}
	if err := rep.DecryptedEncPart.Unmarshal(plain); err != nil {
		return nil, &Error{Cause: CauseProtocol, KDC: kdc, Detail: "the AS-REP's encrypted part does not decode", Err: err}
	}
	enc := &rep.DecryptedEncPart
	switch {
	case enc.Nonce != req.ReqBody.Nonce:
		return nil, &Error{Cause: CauseProtocol, KDC: kdc, Detail: "the AS-REP's nonce is not the request's"}
	case !strings.EqualFold(enc.SRealm, c.realm) || !enc.SName.Equal(req.ReqBody.SName) && !strings.EqualFold(enc.SName.PrincipalNameString(), req.ReqBody.SName.PrincipalNameString()):
		return nil, &Error{Cause: CauseProtocol, KDC: kdc, Detail: "the AS-REP is for " + enc.SName.PrincipalNameString() + "@" + enc.SRealm + ", not the TGS"}
	case !strings.EqualFold(rep.CRealm, c.realm):
		return nil, &Error{Cause: CauseWrongRealm, KDC: kdc, Detail: "the KDC answered for realm " + rep.CRealm}
	case cname.NameType != nametype.KRB_NT_ENTERPRISE && !strings.EqualFold(rep.CName.PrincipalNameString(), cname.PrincipalNameString()):
		return nil, &Error{Cause: CauseProtocol, KDC: kdc, Detail: "the AS-REP is for " + rep.CName.PrincipalNameString() + ", not the client asked for"}
	}
	if d := c.now().Sub(enc.AuthTime); d > c.skew || -d > c.skew {
		return nil, &Error{Cause: CauseSkew, KDC: kdc, Detail: fmt.Sprintf("the KDC's clock differs from ours by %s (allowed %s)", d.Round(time.Second), c.skew)}
	}
	return &Credential{Ticket: rep.Ticket, Key: enc.Key, Client: rep.CName, ClientRealm: strings.ToUpper(rep.CRealm),
		AuthTime: enc.AuthTime, EndTime: enc.EndTime, Flags: enc.Flags}, nil
}

func (c *Client) asReq(cname types.PrincipalName) messages.ASReq {
	now := c.now().UTC()
	opts := types.NewKrbFlags()
	types.SetFlag(&opts, flags.Forwardable)
	types.SetFlag(&opts, flags.Canonicalize)
	return messages.ASReq{KDCReqFields: messages.KDCReqFields{
		PVNO:    iana.PVNO,
		MsgType: msgtype.KRB_AS_REQ,
		PAData:  types.PADataSequence{},
		ReqBody: messages.KDCReqBody{
			KDCOptions: opts,
			Realm:      c.realm,
			CName:      cname,
			SName:      types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"krbtgt", c.realm}},
			Till:       now.Add(ticketLifetime),
			Nonce:      nonce(),
			EType:      ETypes,
		},
	}}
}

// clientKey derives the key of the first AES entry of info.
func (c *Client) clientKey(key keyFunc, info []types.ETypeInfo2Entry) (types.EncryptionKey, error) {
	for _, e := range info {
		if !slices.Contains(ETypes, e.EType) {
			continue
		}
		k, err := key(e.EType, e.Salt, e.S2KParams)
		if err != nil {
			return types.EncryptionKey{}, &Error{Cause: CauseEnctype, Detail: fmt.Sprintf("no key of etype %d", e.EType), Err: err}
		}
		return k, nil
	}
	return types.EncryptionKey{}, &Error{Cause: CauseEnctype, Detail: "the KDC offers no AES key for the account (RC4 or DES only)"}
}

// encTimestamp is PA-ENC-TIMESTAMP (RFC 4120 section 5.2.7.2) with k.
func (c *Client) encTimestamp(k types.EncryptionKey) (types.PAData, error) {
	t := c.now().UTC()
	ts, err := asn1.Marshal(types.PAEncTSEnc{PATimestamp: t.Truncate(time.Second), PAUSec: t.Nanosecond() / 1000})
	if err == nil {
		var ed types.EncryptedData
		if ed, err = crypto.GetEncryptedData(ts, k, keyusage.AS_REQ_PA_ENC_TIMESTAMP, 0); err == nil {
			var b []byte
			if b, err = ed.Marshal(); err == nil {
				return types.PAData{PADataType: patype.PA_ENC_TIMESTAMP, PADataValue: b}, nil
			}
		}
	}
	return types.PAData{}, &Error{Cause: CauseProtocol, Detail: "encrypting the pre-authentication timestamp", Err: err}
}

// preauthInfo is the ETYPE-INFO2 (or old ETYPE-INFO) of a
// KDC_ERR_PREAUTH_REQUIRED's e-data.
func preauthInfo(edata []byte) ([]types.ETypeInfo2Entry, error) {
	var pas types.PADataSequence
	if err := pas.Unmarshal(edata); err != nil {
		return nil, err
	}
	info, err := etypeInfo(pas)
	if err == nil && len(info) == 0 {
		err = fmt.Errorf("no ETYPE-INFO2 in the e-data")
	}
	return info, err
}

func etypeInfo(pas types.PADataSequence) ([]types.ETypeInfo2Entry, error) {
	for _, pa := range pas {
		if pa.PADataType == patype.PA_ETYPE_INFO2 {
			return pa.GetETypeInfo2()
		}
	}
	for _, pa := range pas {
		if pa.PADataType == patype.PA_ETYPE_INFO {
			old, err := pa.GetETypeInfo()
			out := make([]types.ETypeInfo2Entry, 0, len(old))
			for _, e := range old {
				out = append(out, types.ETypeInfo2Entry{EType: e.EType, Salt: string(e.Salt)})
			}
			return out, err
		}
	}
	return nil, nil
}
