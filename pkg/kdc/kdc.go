// Package kdc owns talking to a domain's KDC on the request path: the AS
// exchange with a user's password (pre-authenticated, AES only) or with a
// service's keytab, and the TGS exchange for a service ticket, each bound
// by a context.Context, over TCP to the domain's DCs on port 88, with the
// KDC's refusals turned into typed causes (wrong credentials, account
// disabled/locked/expired, password expired, clock skew, KDC unreachable)
// that the caller maps to an HTTP status and a remedy.
//
// The message codecs and the cryptography are github.com/jcmturner/gokrb5's;
// its client is not used here because it takes no context, enumerates the
// host's addresses for every request, tries weak enctypes from its
// configuration and reports every refusal as one error string. Checking a
// ticket obtained here is package kerberos's job (Acceptor.Accept): a TGT
// alone proves nothing, since anyone answering on port 88 can forge one.
package kdc

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"strings"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Port is the KDC's port (RFC 4120 section 7.2.3).
const Port = "88"

// maxReply bounds a KDC reply read: a service ticket for a user in 1,000
// groups is about 30 KiB, AD's MaxTokenSize 48,000 bytes.
const maxReply = 1 << 20

// Config is where a realm's KDCs are and how long to wait for them.
type Config struct {
	// Realm is the Kerberos realm, the domain's DNS name in upper case.
	Realm string
	// KDCs are the domain's DCs, host or host:port; port 88 when none is
	// given (a DC's SMB or LDAP port given in dcs is not the KDC's).
	KDCs []string
	// Timeout bounds one exchange with one KDC (connect, send, reply);
	// 0: 5s. The context's deadline bounds the whole call.
	Timeout time.Duration
	// MaxSkew is the accepted difference between our clock and the KDC's
	// in a reply; 0: 5m.
	MaxSkew time.Duration
	// Dial replaces net.Dialer.DialContext in tests.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now replaces time.Now in tests.
	Now func() time.Time
}

// Client talks to one realm's KDCs. It holds no state between calls and
// is safe for concurrent use.
type Client struct {
	realm   string
	kdcs    []string
	timeout time.Duration
	skew    time.Duration
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	now     func() time.Time
}

// New returns the Client of c.
func New(c Config) *Client {
	cl := &Client{realm: strings.ToUpper(c.Realm), timeout: c.Timeout, skew: c.MaxSkew, dial: c.Dial, now: c.Now}
	for _, k := range c.KDCs {
		cl.kdcs = append(cl.kdcs, Addr(k))
	}
	if cl.timeout <= 0 {
		cl.timeout = 5 * time.Second
	}
	if cl.skew <= 0 {
		cl.skew = 5 * time.Minute
	}
	if cl.dial == nil {
		cl.dial = (&net.Dialer{}).DialContext
	}
	if cl.now == nil {
		cl.now = time.Now
	}
	return cl
}

// Realm is the realm c talks to.
func (c *Client) Realm() string { return c.realm }

// Addr is the KDC address of a configured DC: its host on port 88.
func Addr(dc string) string {
	host := dc
	if h, _, err := net.SplitHostPort(dc); err == nil {
		host = h
	}
	return net.JoinHostPort(host, Port)
}

// Credential is a ticket and the session key that goes with it, as the KDC
// issued it to the client: a TGT from Login, a service ticket from TGS.
type Credential struct {
	Ticket messages.Ticket
	// Key is the session key (never logged).
	Key types.EncryptionKey
	// Client is the client principal as the KDC wrote it in the reply
	// (canonical when the request asked for canonicalization) and
	// ClientRealm its realm.
	Client      types.PrincipalName
	ClientRealm string
	AuthTime    time.Time
	EndTime     time.Time
	Flags       asn1.BitString
}

// ClientName is the client principal as name@REALM.
func (c *Credential) ClientName() string {
	return c.Client.PrincipalNameString() + "@" + c.ClientRealm
}

// exchange sends req to the realm's KDCs in turn until one answers and
// returns its reply (a KRB-ERROR is a reply: returned as *Error). Only
// TCP: a ticket with a big PAC does not fit in a datagram, and Windows
// KDCs answer KRB_ERR_RESPONSE_TOO_BIG over UDP anyway.
func (c *Client) exchange(ctx context.Context, req []byte) (reply []byte, kdc string, err error) {
	if len(c.kdcs) == 0 {
		return nil, "", &Error{Cause: CauseUnreachable, Detail: "no KDC configured for " + c.realm}
	}
	var errs []error
	for _, addr := range c.kdcs {
		if ctx.Err() != nil {
			break
		}
		b, err := c.roundTrip(ctx, addr, req)
		if err == nil {
			kerr, isErr := krbError(b)
			if isErr && kerr.ErrorCode == codeSvcUnavailable {
				// This KDC cannot serve now (a DC restarting): the next may.
				errs = append(errs, fmt.Errorf("%s: %v", addr, kerr))
				continue
			}
			if isErr {
				return nil, addr, fromKRBError(kerr, addr)
			}
			return b, addr, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	return nil, "", &Error{Cause: CauseUnreachable, Detail: "no KDC of " + c.realm + " answered", Err: errors.Join(errs...)}
}

// roundTrip is one request over one TCP connection (RFC 4120 section
// 7.2.2: a 4-byte big-endian length, then the message).
func (c *Client) roundTrip(ctx context.Context, addr string, req []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	conn, err := c.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// Closing the connection unblocks a read when ctx ends before the
	// deadline (a canceled request).
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	msg := make([]byte, 4+len(req))
	binary.BigEndian.PutUint32(msg, uint32(len(req)))
	copy(msg[4:], req)
	if _, err := conn.Write(msg); err != nil {
		return nil, fmt.Errorf("sending: %w", err)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return nil, fmt.Errorf("reading the reply: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > maxReply {
		return nil, fmt.Errorf("reply length %d out of bounds", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(conn, b); err != nil {
		return nil, fmt.Errorf("reading the reply: %w", err)
	}
	return b, nil
}

// krbError decodes b as a KRB-ERROR if it is one (application tag 30).
func krbError(b []byte) (messages.KRBError, bool) {
	var e messages.KRBError
	if len(b) == 0 || b[0] != 0x7e {
		return e, false
	}
	if err := e.Unmarshal(b); err != nil {
		return e, false
	}
	return e, true
}

func nonce() int {
	n, err := rand.Int(rand.Reader, big.NewInt(math.MaxInt32))
	if err != nil {
		panic("kdc: no randomness: " + err.Error())
	}
	return int(n.Int64())
}
