package authorizer

import (
	"errors"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/conntable"
	"github.com/goauthenntlm/goauthenntlm/pkg/dc"
)

// Observer is told what the Authorizer decided, for metrics and for the
// login tester. Its methods run on the request path: they must be cheap
// (no allocation, no lock held for long) and must not block.
type Observer interface {
	// Login: a login attempt at a DC ended (NTLM, Negotiate or Basic).
	Login(Outcome)
	// Answered: every answer to Apache, by HTTP status.
	Answered(status int)
	// Reused: a request let through without a handshake, on the memory
	// of its connection or on the login cookie.
	Reused(Via)
	// GroupsCached: a user's memberships wanted, and found fresh in
	// memory (hit) or not (a lookup follows, or is joined).
	GroupsCached(hit bool)
	// GroupLookup: a memberships lookup (shared disk cache, then LDAP)
	// ended.
	GroupLookup(LookupResult)
}

// LookupResult is how a memberships lookup ended.
type LookupResult uint8

const (
	LookupOK     LookupResult = iota // from the disk cache or LDAP
	LookupStale                      // LDAP unreachable; an expired entry served within stale_grace
	LookupFailed                     // no answer
)

// Via is what let a request through without a handshake.
type Via uint8

const (
	ViaConnection Via = iota // the connection table: an authenticated keep-alive connection
	ViaCookie                // the login cookie, on a new connection
)

// Result classifies a login attempt.
type Result uint8

const (
	ResultOK         Result = iota // the DC accepted it
	ResultRefused                  // the DC refused the credentials or the account: 401
	ResultNotAllowed               // the domain's policy forbids it (dc.NotAllowed): 403
	ResultDCFailure                // no DC could decide (down, busy, or failed itself): 503
)

func (r Result) String() string {
	switch r {
	case ResultOK:
		return "ok"
	case ResultRefused:
		return "refused"
	case ResultNotAllowed:
		return "not_allowed"
	}
	return "dc_failure"
}

// Outcome is how one login attempt ended.
type Outcome struct {
	Scheme conntable.Scheme
	Result Result
	// Status is the DC's NTSTATUS: STATUS_SUCCESS for ok, its refusal,
	// or 0 with no answer (and for a guest-only session).
	Status dc.NTStatus
	DC     string // the DC that answered; "" when none did
	// User and Domain are the login's, as the connection table holds
	// them (ok only).
	User, Domain string
	// Took is the time from the client's first message of the login (the
	// Type1, or the Basic request) to this answer.
	Took time.Duration
}

// failedOutcome classifies err, a login step's failure.
func failedOutcome(scheme conntable.Scheme, dcAddr string, start time.Time, err error) Outcome {
	o := Outcome{Scheme: scheme, Result: ResultDCFailure, DC: dcAddr, Took: time.Since(start)}
	var se *dc.StatusError
	switch {
	case errors.As(err, &se):
		o.Status, o.DC = se.Status, se.DC
		switch se.Status.Kind() {
		case dc.Refused:
			o.Result = ResultRefused
		case dc.NotAllowed:
			o.Result = ResultNotAllowed
		}
	case errors.Is(err, dc.ErrGuestSession):
		o.Result = ResultRefused
	}
	return o
}

// nopObserver is the Observer when none is given.
type nopObserver struct{}

func (nopObserver) Login(Outcome)            {}
func (nopObserver) Answered(int)             {}
func (nopObserver) Reused(Via)               {}
func (nopObserver) GroupsCached(bool)        {}
func (nopObserver) GroupLookup(LookupResult) {}

// DomainStats is one configured domain and the state of its DCs.
type DomainStats struct {
	Domain string
	DCs    []dc.DCStats
}

// DCStats reports the DCs of each configured domain, in configuration
// order (for metrics and /healthz; domains sharing DCs each list them).
func (a *Authorizer) DCStats() []DomainStats {
	out := make([]DomainStats, 0, len(a.domains))
	for _, rt := range a.domains {
		ds := DomainStats{Domain: rt.dom.Name}
		if s, ok := rt.pool.(dc.StatsReporter); ok {
			ds.DCs = s.Stats()
		}
		out = append(out, ds)
	}
	return out
}
