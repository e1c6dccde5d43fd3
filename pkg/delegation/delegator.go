package delegation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/ccache"
	"github.com/goauthenntlm/goauthenntlm/pkg/kdc"
	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Realm is one domain's delegation: its KDC, the service account whose
// keys the keytab holds, and the services its users' tickets are got for.
type Realm struct {
	KDC *kdc.Client
	// Account is the service account's sAMAccountName (svc-http), the
	// client of its own AS-REQ: Samba's KDC refuses one naming an SPN.
	Account string
	// Service is the name S4U2Self asks a ticket to: one of the account's
	// SPNs (HTTP/www.example.test).
	Service string
	// Keytab holds the account's keys (under any of its principals).
	Keytab *keytab.Keytab
	// DelegateTo are the backends' SPNs (delegate_to).
	DelegateTo []string
}

// DelegatorOptions configure a Delegator.
type DelegatorOptions struct {
	// Realms by realm (the domain's DNS name, any case).
	Realms map[string]*Realm
	// Timeout bounds the KDC calls of one login; 0: 3s.
	Timeout time.Duration
	// MaxInFlight bounds the logins asking the KDC at once; past it a
	// login gets no credentials (Busy); 0: 16.
	MaxInFlight int
	Logger      *slog.Logger
	Now         func() time.Time
}

// Delegator gets tickets as users with the service's key: S4U2Proxy for
// Kerberos logins whose client delegated nothing, protocol transition
// (S4U2Self, then S4U2Proxy) for NTLM and Basic logins. A user's tickets
// are kept and given again to the user's next logins while they have more
// than reuseMargin left (at most reuseFor), so that a browser's six
// connections do not ask the KDC six times. Safe for concurrent use.
type Delegator struct {
	realms  map[string]*Realm
	timeout time.Duration
	sem     chan struct{}
	log     *slog.Logger
	now     func() time.Time

	mu       sync.Mutex
	tgts     map[string]*kdc.Credential // the service's own TGT, by realm
	held     map[string]heldCreds       // by user@REALM
	inFlight map[string]*call
}

type heldCreds struct {
	creds []ccache.Credential
	until time.Time
}

type call struct {
	done  chan struct{}
	creds []ccache.Credential
	err   error
}

const (
	reuseMargin = 5 * time.Minute
	reuseFor    = time.Hour
	maxHeld     = 10000
)

// NewDelegator returns the Delegator of o; nil when no realm delegates.
func NewDelegator(o DelegatorOptions) *Delegator {
	if len(o.Realms) == 0 {
		return nil
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 16
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	d := &Delegator{realms: map[string]*Realm{}, timeout: o.Timeout, sem: make(chan struct{}, o.MaxInFlight), log: o.Logger, now: o.Now,
		tgts: map[string]*kdc.Credential{}, held: map[string]heldCreds{}, inFlight: map[string]*call{}}
	for r, v := range o.Realms {
		d.realms[strings.ToUpper(r)] = v
	}
	return d
}

// Delegates reports whether realm's users get tickets from the KDC.
func (d *Delegator) Delegates(realm string) bool {
	return d != nil && d.realms[strings.ToUpper(realm)] != nil
}

// Error is why no tickets were got: an Outcome and what to do about it.
type Error struct {
	Outcome Outcome
	Detail  string
	Remedy  string
	Err     error
}

func (e *Error) Error() string {
	s := "delegation: " + e.Detail
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// ErrNotDelegable is an account "sensitive and cannot be delegated", or
// in Protected Users, as the KDC's PAC says.
var ErrNotDelegable = &Error{Outcome: NotDelegable,
	Detail: "the account is marked \"sensitive and cannot be delegated\" (or is in Protected Users): the application gets no credentials for it",
	Remedy: "clear \"Account is sensitive and cannot be delegated\" (samba-tool user sensitive USER off) and take the account out of Protected Users, if it is meant to be delegated"}

// Proxy gets the user's tickets to the realm's backends with evidence, the
// forwardable ticket to this service the user logged in with (S4U2Proxy).
func (d *Delegator) Proxy(ctx context.Context, realm, user string, evidence messages.Ticket) ([]ccache.Credential, error) {
	return d.get(ctx, realm, user, func(ctx context.Context, r *Realm) ([]ccache.Credential, error) {
		tgt, err := d.tgt(ctx, r, realm)
		if err != nil {
			return nil, err
		}
		return d.proxy(ctx, r, tgt, evidence)
	})
}

// Transition gets the user's tickets to the realm's backends for a user
// the KDC did not see log in (NTLM, Basic): S4U2Self, then S4U2Proxy.
func (d *Delegator) Transition(ctx context.Context, realm, user string) ([]ccache.Credential, error) {
	return d.get(ctx, realm, user, func(ctx context.Context, r *Realm) ([]ccache.Credential, error) {
		tgt, err := d.tgt(ctx, r, realm)
		if err != nil {
			return nil, err
		}
		self, err := r.KDC.S4U2Self(ctx, tgt, types.NewPrincipalName(nametype.KRB_NT_SRV_INST, r.Service), user)
		if err != nil {
			return nil, kdcError("S4U2Self for "+user, err)
		}
		if !types.IsFlagSet(&self.Flags, flags.Forwardable) {
			// The KDC says why in the ticket's PAC, which our key opens:
			// the user's account flags, or else our account's.
			if p, err := kerberos.TicketPAC(self.Ticket, r.Keytab); err == nil && p != nil && p.NotDelegable() {
				return nil, ErrNotDelegable
			}
			return nil, &Error{Outcome: KDCRefused, Detail: fmt.Sprintf("the KDC's S4U2Self ticket for %s is not forwardable: %s may not do protocol transition", user, r.Account),
				Remedy: "samba-tool delegation for-any-protocol " + r.Account + " on; AD: the account's Delegation tab, \"Trust this user for delegation to specified services only\" with \"Use any authentication protocol\""}
		}
		return d.proxy(ctx, r, tgt, self.Ticket)
	})
}

// get runs fetch once per user at a time, bounded, and keeps what it got.
func (d *Delegator) get(ctx context.Context, realm, user string, fetch func(context.Context, *Realm) ([]ccache.Credential, error)) ([]ccache.Credential, error) {
	r := d.realms[strings.ToUpper(realm)]
	if r == nil {
		return nil, &Error{Outcome: NoneSent, Detail: "realm " + realm + " delegates to no service (delegate_to)"}
	}
	key := strings.ToLower(user) + "@" + strings.ToUpper(realm)
	now := d.now()
	d.mu.Lock()
	if h, ok := d.held[key]; ok && now.Before(h.until) {
		d.mu.Unlock()
		return h.creds, nil
	}
	if c, ok := d.inFlight[key]; ok {
		d.mu.Unlock()
		select {
		case <-c.done:
			return c.creds, c.err
		case <-ctx.Done():
			return nil, &Error{Outcome: KDCUnreachable, Detail: "waiting for the KDC", Err: ctx.Err()}
		}
	}
	c := &call{done: make(chan struct{})}
	d.inFlight[key] = c
	d.mu.Unlock()

	c.creds, c.err = d.bounded(ctx, r, fetch)
	d.mu.Lock()
	delete(d.inFlight, key)
	if c.err == nil {
		until := now.Add(reuseFor)
		for _, cr := range c.creds {
			if e := cr.EndTime.Add(-reuseMargin); e.Before(until) {
				until = e
			}
		}
		if len(d.held) >= maxHeld {
			d.held = map[string]heldCreds{}
		}
		d.held[key] = heldCreds{creds: c.creds, until: until}
	}
	d.mu.Unlock()
	close(c.done)
	return c.creds, c.err
}

// bounded runs fetch within the timeout, if fewer than MaxInFlight run.
func (d *Delegator) bounded(ctx context.Context, r *Realm, fetch func(context.Context, *Realm) ([]ccache.Credential, error)) ([]ccache.Credential, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	select {
	case d.sem <- struct{}{}:
		defer func() { <-d.sem }()
	default:
		return nil, &Error{Outcome: Busy, Detail: fmt.Sprintf("%d logins are asking the KDC already (delegation.max_in_flight)", cap(d.sem)),
			Remedy: "raise delegation.max_in_flight if the KDC keeps up; the user's next login tries again"}
	}
	return fetch(ctx, r)
}

// tgt is the service account's TGT, got with its key and kept until
// reuseMargin before it ends.
func (d *Delegator) tgt(ctx context.Context, r *Realm, realm string) (*kdc.Credential, error) {
	realm = strings.ToUpper(realm)
	d.mu.Lock()
	t := d.tgts[realm]
	d.mu.Unlock()
	if t != nil && d.now().Before(t.EndTime.Add(-reuseMargin)) {
		return t, nil
	}
	t, err := r.KDC.LoginKeytab(ctx, r.Account, accountKeytab(r.Keytab, r.Account))
	if err != nil {
		return nil, kdcError("AS-REQ as "+r.Account+" with the keytab's key", err)
	}
	d.mu.Lock()
	d.tgts[realm] = t
	d.mu.Unlock()
	return t, nil
}

// accountKeytab is kt with every key under the account's name too: a
// keytab exported by SPN names the SPN, and the keys are the account's.
func accountKeytab(kt *keytab.Keytab, account string) *keytab.Keytab {
	out := keytab.New()
	for _, e := range kt.Entries {
		out.Entries = append(out.Entries, e)
		e.Principal.Components = []string{account}
		e.Principal.NumComponents = 1
		out.Entries = append(out.Entries, e)
	}
	return out
}

// proxy is S4U2Proxy to each backend with evidence.
func (d *Delegator) proxy(ctx context.Context, r *Realm, tgt *kdc.Credential, evidence messages.Ticket) ([]ccache.Credential, error) {
	var out []ccache.Credential
	for _, spn := range r.DelegateTo {
		cr, err := r.KDC.S4U2Proxy(ctx, tgt, evidence, spn)
		if err != nil {
			return nil, kdcError("S4U2Proxy to "+spn, err)
		}
		raw, err := cr.Ticket.Marshal()
		if err != nil {
			return nil, &Error{Outcome: KDCRefused, Detail: "encoding the ticket to " + spn, Err: err}
		}
		out = append(out, ccache.Credential{
			Client: ccache.Principal{Realm: cr.ClientRealm, Name: cr.Client},
			Server: ccache.Principal{Realm: cr.Ticket.Realm, Name: cr.Ticket.SName},
			Key:    cr.Key, AuthTime: cr.AuthTime, StartTime: cr.AuthTime, EndTime: cr.EndTime,
			Flags: ccache.FlagsOf(cr.Flags.Bytes), Ticket: raw,
		})
	}
	return out, nil
}

// badOption is KDC_ERR_BADOPTION, the KDC's answer to a delegation its
// settings do not allow.
const badOption = 13

// kdcError is a KDC failure as an Error with its remedy.
func kdcError(what string, err error) *Error {
	var ke *kdc.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.As(err, &ke) && ke.Cause == kdc.CauseUnreachable:
		return &Error{Outcome: KDCUnreachable, Detail: what, Err: err, Remedy: kdc.CauseUnreachable.Remedy() + "; delegation.kdc_timeout bounds the wait"}
	case ke == nil:
		return &Error{Outcome: KDCRefused, Detail: what, Err: err}
	case ke.Code == badOption:
		return &Error{Outcome: KDCRefused, Detail: what, Err: err,
			Remedy: "the KDC does not allow this delegation: add the backend's SPN to the service account's msDS-AllowedToDelegateTo (samba-tool delegation add-service ACCOUNT SPN; AD: Delegation tab), or the backend's msDS-AllowedToActOnBehalfOfOtherIdentity (samba-tool delegation add-principal); for Kerberos logins the user's ticket must be forwardable (a forwardable TGT: kinit -f), and the user must not be \"sensitive and cannot be delegated\" or in Protected Users"}
	}
	return &Error{Outcome: KDCRefused, Detail: what, Err: err, Remedy: ke.Cause.Remedy()}
}
