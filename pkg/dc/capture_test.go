package dc

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCaptureTestdata records real DC responses into testdata/*.bin for the
// unit tests. Run it by hand against the dev DC:
//
//	GOAUTHENNTLM_TEST_DC=127.0.0.12:445 GOAUTHENNTLM_CAPTURE=1 go test -run CaptureTestdata ./pkg/dc
func TestCaptureTestdata(t *testing.T) {
	addr := testDC(t)
	if os.Getenv("GOAUTHENNTLM_CAPTURE") == "" {
		t.Skip("GOAUTHENNTLM_CAPTURE not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var captured []byte
	save := func(name string, msg []byte) {
		if err := os.WriteFile(filepath.Join("testdata", name), msg, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := newConn(addr, nc, nil)
	defer c.fail(errConnClosed)
	msg, err := c.negotiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	save("negotiate_response.bin", msg)

	setup := func(sid uint64, token []byte) (header, []byte) {
		req := sessionSetupRequest{SecurityMode: 1, SecurityBuffer: token}
		hdr, msg, err := c.roundTrip(ctx, cmdSessionSetup, sid, req.encode)
		if err != nil {
			t.Fatal(err)
		}
		return hdr, msg
	}
	challenge := func() (uint64, []byte) {
		hdr, msg := setup(0, type1(t))
		captured = msg
		r, err := decodeSessionSetupResponse(msg)
		if err != nil {
			t.Fatal(err)
		}
		return hdr.SessionID, r.SecurityBuffer
	}
	sid, type2 := challenge()
	save("session_setup_challenge.bin", captured)
	_, msg = setup(sid, type3(t, type2, "jdoe", "Secr3t!Pass"))
	save("session_setup_success.bin", msg)
	sid, type2 = challenge()
	_, msg = setup(sid, type3(t, type2, "jdoe", "wrong"))
	save("session_setup_logon_failure.bin", msg)
	sid, type2 = challenge()
	_, msg = setup(sid, anonymousAuthenticate(type2))
	save("session_setup_anonymous.bin", msg)
}
