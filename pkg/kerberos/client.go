package kerberos

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/kdc"
	"github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// The client side for the command line (-check -probe and -test-login
// -kerberos) and the bench: gokrb5's client, which reads a ticket cache
// and talks to the KDC without a context. The request path talks to the
// KDC through package kdc; ClientTicket makes AP-REQs of either's tickets.

// ClientConfig is a krb5.conf for realm whose KDCs are kdcs (the domain's
// DCs, host or host:port; port 88 when none), so that the tools need no
// krb5.conf of their own.
func ClientConfig(realm string, kdcs []string) (*krbconfig.Config, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "[libdefaults]\n default_realm = %s\n dns_lookup_kdc = false\n dns_lookup_realm = false\n udp_preference_limit = 1\n", realm)
	fmt.Fprintf(&b, "[realms]\n %s = {\n", realm)
	for _, k := range kdcs {
		host := k
		if h, _, err := net.SplitHostPort(k); err == nil {
			host = h
		}
		fmt.Fprintf(&b, "  kdc = %s\n", net.JoinHostPort(host, "88"))
	}
	b.WriteString(" }\n")
	return krbconfig.NewFromString(b.String())
}

// ProbeSPN asks the KDC for a ticket for spn (name without realm) as the
// service itself: an AS-REQ for spn with the keytab's key (which proves
// the KDC knows that key), then a TGS-REQ for spn, and returns that
// ticket as a token for Accept: the whole path a browser's ticket takes.
func ProbeSPN(cfg *krbconfig.Config, realm, spn string, kt *keytab.Keytab) ([]byte, error) {
	cl := client.NewWithKeytab(spn, realm, kt, cfg, client.DisablePAFXFAST(true))
	defer cl.Destroy()
	if err := cl.Login(); err != nil {
		return nil, fmt.Errorf("AS-REQ as %s@%s with the keytab's key: %w", spn, realm, err)
	}
	return serviceToken(cl, spn)
}

// TokenFromCCache gets a ticket for spn with the TGT in the ticket cache
// at path (KRB5CCNAME without "FILE:"), as a browser does, and returns it
// as a token for Accept.
func TokenFromCCache(cfg *krbconfig.Config, path, spn string) (user string, tok []byte, err error) {
	cc, err := credentials.LoadCCache(strings.TrimPrefix(path, "FILE:"))
	if err != nil {
		return "", nil, fmt.Errorf("ticket cache %s: %w", path, err)
	}
	cl, err := client.NewFromCCache(cc, cfg, client.DisablePAFXFAST(true))
	if err != nil {
		return "", nil, fmt.Errorf("ticket cache %s: %w", path, err)
	}
	defer cl.Destroy()
	tok, err = serviceToken(cl, spn)
	return cl.Credentials.CName().PrincipalNameString() + "@" + cl.Credentials.Realm(), tok, err
}

func serviceToken(cl *client.Client, spn string) ([]byte, error) {
	tkt, key, err := cl.GetServiceTicket(spn)
	if err != nil {
		return nil, fmt.Errorf("TGS-REQ for %s: %w", spn, err)
	}
	tok, err := spnego.NewKRB5TokenAPREQ(cl, tkt, key, []int{2, 32}, []int{flags.APOptionMutualRequired})
	if err != nil {
		return nil, fmt.Errorf("AP-REQ for %s: %w", spn, err)
	}
	return tok.Marshal()
}

// ClientTicket is a service ticket as a client holds it, to make AP-REQ
// tokens from, each with an authenticator of the time it is made (one
// microsecond later than the last at least, as a client's clock would
// give; the bench makes thousands a second, a soak runs for minutes).
type ClientTicket struct {
	tkt   messages.Ticket
	key   types.EncryptionKey
	cname types.PrincipalName
	realm string
	last  atomic.Int64     // Unix µs of the last authenticator
	now   func() time.Time // nil: time.Now; tests set the client's clock
}

// NewClientTicket is the ClientTicket of a service ticket tkt with its
// session key, issued to cname@realm (a kdc.Credential's pieces).
func NewClientTicket(tkt messages.Ticket, key types.EncryptionKey, cname types.PrincipalName, realm string) *ClientTicket {
	return &ClientTicket{tkt: tkt, key: key, cname: cname, realm: realm}
}

// TicketWithPassword logs user in to realm with password and gets a
// ticket for spn, through package kdc, at cfg's KDCs for realm.
func TicketWithPassword(cfg *krbconfig.Config, user, realm, password, spn string) (*ClientTicket, error) {
	var kdcs []string
	for _, r := range cfg.Realms {
		if strings.EqualFold(r.Realm, realm) {
			kdcs = append(kdcs, r.KDC...)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := kdc.New(kdc.Config{Realm: realm, KDCs: kdcs})
	tgt, err := c.Login(ctx, kdc.User{Name: user}, password)
	if err != nil {
		return nil, err
	}
	st, err := c.ServiceTicket(ctx, tgt, spn)
	if err != nil {
		return nil, err
	}
	return NewClientTicket(st.Ticket, st.Key, st.Client, st.ClientRealm), nil
}

// Token is a new SPNEGO token (Kerberos first) for the ticket.
func (c *ClientTicket) Token() ([]byte, error) {
	tok, err := c.GSSToken()
	if err != nil {
		return nil, err
	}
	return WrapSPNEGO(tok)
}

// GSSToken is a new raw GSS-API Kerberos token (an AP-REQ, what Accept
// takes) for the ticket, asking for mutual authentication as browsers and
// curl do (so an acceptor answers with an AP-REP).
func (c *ClientTicket) GSSToken() ([]byte, error) {
	auth, err := types.NewAuthenticator(c.realm, c.cname)
	if err != nil {
		return nil, err
	}
	var us int64
	for {
		last := c.last.Load()
		now := time.Now
		if c.now != nil {
			now = c.now
		}
		us = max(now().UnixMicro(), last+1)
		if c.last.CompareAndSwap(last, us) {
			break
		}
	}
	t := time.UnixMicro(us).UTC()
	auth.CTime, auth.Cusec = t.Truncate(time.Second), t.Nanosecond()/1000
	auth.Cksum = types.Checksum{CksumType: gssChecksumType, Checksum: append(make([]byte, 20, 24), 0x32, 0, 0, 0)}
	binary.LittleEndian.PutUint32(auth.Cksum.Checksum, 16)
	req, err := messages.NewAPReq(c.tkt, c.key, auth)
	if err != nil {
		return nil, err
	}
	types.SetFlag(&req.APOptions, flags.APOptionMutualRequired)
	b, err := req.Marshal()
	if err != nil {
		return nil, err
	}
	return wrapGSS(OIDKerberos, tokAPReq, b)
}
