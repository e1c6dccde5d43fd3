package authorizer

import (
	"context"
	"time"
)

// Login timing (auth.refusal_floor). A DC refuses an unknown account
// sooner than a wrong password for an existing one (it has no hash to
// compute with): on Samba about 2.5 against 4 ms for Basic, 0.8 against
// 2.2 ms for an NTLM Type3, enough to tell from one request, nearly
// always, whether a name exists. So every refused login is answered no
// sooner than the floor after the request arrived, which hides the DC's
// difference as long as the DC answers within the floor.
//
// The wait is a timer in the request's own goroutine: no goroutine, no
// memory beyond the timer, nothing per refusal that outlives its request.
// A stranger sending refused logins holds one FastCGI connection per
// refusal for the floor, which the FastCGI server's connection cap and
// Apache's workers bound, as they bound a slow DC; the wait ends early
// when the request's context does (shutdown). Accepted logins never wait.

// refusalFloor waits until auth.refusal_floor has passed since r arrived,
// or ctx ends.
func (a *Authorizer) refusalFloor(ctx context.Context, r *request) {
	d := a.cfg.Auth.RefusalFloor.D() - time.Since(r.start)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
