package dc

import (
	"context"
	"testing"
	"time"
)

func TestZZTiming(t *testing.T) {
	addr := testDC(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		t0 := time.Now()
		c, err := dialConn(ctx, addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		hdr, resp, err := c.sessionSetup(ctx, 0, type1(t))
		if err != nil {
			t.Fatal(err)
		}
		t2 := time.Now()
		t3m := type3(t, resp.SecurityBuffer, "jdoe", "Secr3t!Pass")
		t3 := time.Now()
		hdr2, _, err := c.sessionSetup(ctx, hdr.SessionID, t3m)
		t4 := time.Now()
		t.Logf("dial+neg %v type1 %v ntlmssp %v type3 %v status %s", t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t4.Sub(t3), hdr2.Status)
		c.fail(errConnClosed)
	}
}
