package kdc

import (
	"context"
	"fmt"
	"strings"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/iana/patype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// TGSRequest is a TGS-REQ beyond the plain "a ticket for this service":
// the pieces S4U2Self (PA-FOR-USER in PAData), S4U2Proxy (the evidence
// ticket in AdditionalTickets, flags.CNameInAddlTkt in Options) and
// resource-based delegation (PA-PAC-OPTIONS) add.
type TGSRequest struct {
	// Service is the service principal asked for, e.g.
	// NewPrincipalName(KRB_NT_SRV_INST, "HTTP/www.example.test").
	Service types.PrincipalName
	// Options are KDC option bits to set (iana/flags), beyond Forwardable
	// and Canonicalize, which are always set.
	Options []int
	// PAData are added after PA-TGS-REQ, in order.
	PAData types.PADataSequence
	// AdditionalTickets go in the request body's additional-tickets.
	AdditionalTickets []messages.Ticket
}

// ServiceTicket gets a ticket for spn (without realm, e.g.
// "HTTP/www.example.test") with tgt.
func (c *Client) ServiceTicket(ctx context.Context, tgt *Credential, spn string) (*Credential, error) {
	return c.TGS(ctx, tgt, TGSRequest{Service: types.NewPrincipalName(nametype.KRB_NT_SRV_INST, spn)})
}

// TGS is a TGS exchange (RFC 4120 section 3.3) with tgt, a TGT of c's
// realm. Cross-realm referrals are not followed: the service must be in
// the TGT's realm.
func (c *Client) TGS(ctx context.Context, tgt *Credential, r TGSRequest) (*Credential, error) {
	req, err := c.tgsReq(tgt, r)
	if err != nil {
		return nil, err
	}
	b, err := req.Marshal()
	if err != nil {
		return nil, &Error{Cause: CauseProtocol, Detail: "encoding the TGS-REQ", Err: err}
	}
	reply, kdc, err := c.exchange(ctx, b)
	if err != nil {
		return nil, err
	}
	var rep messages.TGSRep
	if err := rep.Unmarshal(reply); err != nil {
		return nil, &Error{Cause: CauseProtocol, KDC: kdc, Detail: "the TGS-REP does not decode", Err: err}
	}
	if err := rep.DecryptEncPart(tgt.Key); err != nil {
		return nil, &Error{Cause: CauseProtocol, KDC: kdc, Detail: "the TGS-REP does not decrypt with the TGT's session key", Err: err}
	}
	enc := &rep.DecryptedEncPart
	switch {
	case enc.Nonce != req.ReqBody.Nonce:
		return nil, &Error{Cause: CauseProtocol, KDC: kdc, Detail: "the TGS-REP's nonce is not the request's"}
	case len(rep.Ticket.SName.NameString) > 0 && rep.Ticket.SName.NameString[0] == "krbtgt" && !rep.Ticket.SName.Equal(r.Service):
		return nil, &Error{Cause: CauseWrongRealm, KDC: kdc, Detail: "the KDC referred the request for " + r.Service.PrincipalNameString() + " to " + rep.Ticket.SName.PrincipalNameString() + " (cross-realm referrals are not followed)"}
	case !strings.EqualFold(enc.SRealm, c.realm):
		return nil, &Error{Cause: CauseProtocol, KDC: kdc, Detail: "the TGS-REP is for realm " + enc.SRealm}
	case !strings.EqualFold(enc.SName.PrincipalNameString(), r.Service.PrincipalNameString()):
		return nil, &Error{Cause: CauseProtocol, KDC: kdc, Detail: fmt.Sprintf("the TGS-REP is for %s, not %s", enc.SName.PrincipalNameString(), r.Service.PrincipalNameString())}
	}
	return &Credential{Ticket: rep.Ticket, Key: enc.Key, Client: rep.CName, ClientRealm: strings.ToUpper(rep.CRealm),
		AuthTime: enc.AuthTime, EndTime: enc.EndTime, Flags: enc.Flags}, nil
}

// tgsReq builds the TGS-REQ of r, its PA-TGS-REQ an AP-REQ with tgt whose
// authenticator checksums the request body.
func (c *Client) tgsReq(tgt *Credential, r TGSRequest) (messages.TGSReq, error) {
	opts := types.NewKrbFlags()
	types.SetFlag(&opts, flags.Forwardable)
	types.SetFlag(&opts, flags.Canonicalize)
	for _, o := range r.Options {
		types.SetFlag(&opts, o)
	}
	req := messages.TGSReq{KDCReqFields: messages.KDCReqFields{
		PVNO:    iana.PVNO,
		MsgType: msgtype.KRB_TGS_REQ,
		ReqBody: messages.KDCReqBody{
			KDCOptions:        opts,
			Realm:             c.realm,
			CName:             tgt.Client,
			SName:             r.Service,
			Till:              c.now().UTC().Add(ticketLifetime),
			Nonce:             nonce(),
			EType:             ETypes,
			AdditionalTickets: r.AdditionalTickets,
		},
	}}
	fail := func(what string, err error) (messages.TGSReq, error) {
		return req, &Error{Cause: CauseProtocol, Detail: what, Err: err}
	}
	body, err := req.ReqBody.Marshal()
	if err != nil {
		return fail("encoding the TGS-REQ body", err)
	}
	et, err := crypto.GetEtype(tgt.Key.KeyType)
	if err != nil {
		return fail("the TGT's session key", err)
	}
	sum, err := et.GetChecksumHash(tgt.Key.KeyValue, body, keyusage.TGS_REQ_PA_TGS_REQ_AP_REQ_AUTHENTICATOR_CHKSUM)
	if err != nil {
		return fail("checksumming the TGS-REQ body", err)
	}
	auth, err := types.NewAuthenticator(tgt.ClientRealm, tgt.Client)
	if err != nil {
		return fail("making the authenticator", err)
	}
	t := c.now().UTC()
	auth.CTime, auth.Cusec = t.Truncate(1e9), t.Nanosecond()/1000
	auth.Cksum = types.Checksum{CksumType: et.GetHashID(), Checksum: sum}
	ap, err := messages.NewAPReq(tgt.Ticket, tgt.Key, auth)
	if err != nil {
		return fail("making the PA-TGS-REQ", err)
	}
	apb, err := ap.Marshal()
	if err != nil {
		return fail("encoding the PA-TGS-REQ", err)
	}
	req.PAData = append(types.PADataSequence{{PADataType: patype.PA_TGS_REQ, PADataValue: apb}}, r.PAData...)
	return req, nil
}
