package authorizer

import (
	"context"
	"errors"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/conntable"
	"github.com/goauthenntlm/goauthenntlm/pkg/delegation"
	"github.com/goauthenntlm/goauthenntlm/pkg/identity"
	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos"
)

// DelegationObserver, when the Observer is one too, is told how each
// delegation ended.
type DelegationObserver interface {
	Delegated(delegation.Outcome)
}

// delegateParam is the per-location switch: Apache's DELEGATE variable
// (SetEnvIf Request_URI "^" DELEGATE=on), which only Apache's
// configuration sets (a client's headers arrive as HTTP_*).
const delegateParam = "DELEGATE"

// ccacheVariable is what the application reads its credential cache from.
const ccacheVariable = "KRB5CCNAME"

// delegates reports whether the request's location hands the application
// the user's credentials. A value other than on or off is a
// configuration mistake, read as off: credentials go nowhere unasked.
func (a *Authorizer) delegates(p map[string]string) bool {
	if a.ccaches == nil {
		return false
	}
	switch v := p[delegateParam]; v {
	case "on":
		return true
	case "", "off":
	default:
		a.log.Error("bad DELEGATE from Apache's config (on or off); read as off", "uri", identity.Short(p["REQUEST_URI"]))
	}
	return false
}

// handCCache puts l's credential cache in the answer's variables when the
// location delegates and the file is still there.
func (a *Authorizer) handCCache(vars map[string]string, l conntable.Login, p map[string]string) {
	if l.CCache != "" && a.delegates(p) && a.ccaches.Use(l.CCache, time.Now()) {
		vars[ccacheVariable] = "FILE:" + l.CCache
	}
}

func (a *Authorizer) delegated(o delegation.Outcome) {
	if do, ok := a.obs.(DelegationObserver); ok {
		do.Delegated(o)
	}
}

// forwardedCCache writes the TGT a Kerberos client delegated into a new
// credential cache, for a login at a delegating location, and returns its
// path ("" for none). Whatever goes wrong is logged and counted; the login
// itself stands.
func (a *Authorizer) forwardedCCache(ctx context.Context, r *request, l *kerberos.Login, user string) string {
	if l.PAC != nil && l.PAC.NotDelegable() {
		a.delegated(delegation.NotDelegable)
		r.log.Warn("delegation: the account is marked \"sensitive and cannot be delegated\" (or is in Protected Users): the application gets no credentials for it; the login stands",
			"user", user, "remedy", "clear \"Account is sensitive and cannot be delegated\" (samba-tool user sensitive USER off) and take the account out of Protected Users, if it is meant to be delegated")
		return ""
	}
	if !l.HasForwarded() {
		a.delegated(delegation.NoneSent)
		r.log.Info("delegation: the client delegated no ticket (curl --delegation always; a browser allowed to delegate to this site)", "user", user)
		return ""
	}
	now := time.Now()
	creds, err := l.Forwarded(now)
	if err != nil {
		a.delegated(delegation.BadKRBCred)
		r.log.Warn("delegation: the client's forwarded ticket is not taken", "user", user, "err", err)
		return ""
	}
	path, err := a.ccaches.Write(creds[0].Client, creds, now)
	if err != nil {
		if errors.Is(err, delegation.ErrFull) {
			a.delegated(delegation.Full)
		} else {
			a.delegated(delegation.WriteFailed)
		}
		r.log.Warn("delegation: no credential cache for this login", "user", user, "err", err)
		return ""
	}
	a.delegated(delegation.Forwarded)
	r.log.Info("delegation: forwarded ticket stored", "user", user, "ccache", path, "until", creds[0].EndTime.UTC().Format(time.RFC3339))
	return path
}
