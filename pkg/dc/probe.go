package dc

import (
	"context"
	"fmt"
)

// Probe connects to the DC at addr ("host" or "host:port", port 445 by
// default) and runs the SMB2 NEGOTIATE a Pool runs before its first relay,
// then hangs up. It returns the dialect the DC chose. It logs nobody in:
// it tells an administrator (ntlm-fcgi-authorizer -check -probe) that the
// DC is reachable and speaks SMB2.
func Probe(ctx context.Context, addr string) (dialect uint16, err error) {
	a, err := normalizeAddr(addr)
	if err != nil {
		return 0, err
	}
	c, err := dialConn(ctx, a, nil)
	if err != nil {
		return 0, fmt.Errorf("dc %s: %w", a, err)
	}
	c.fail(ErrClosed)
	return c.dialect, nil
}
