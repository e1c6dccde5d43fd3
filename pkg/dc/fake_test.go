package dc

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
)

// fakeDC is a scripted SMB2 server on 127.0.0.1 for the cases a real Samba
// DC does not produce on demand (STATUS_PENDING, guest sessions, Windows
// statuses, stingy credits, misbehaviour). It enforces the credit window.
type fakeDC struct {
	t     *testing.T
	ln    net.Listener
	addr  string
	grant uint16 // credits granted per response
	type2 []byte
	// setup answers a SESSION_SETUP; nil means the default (challenge, then
	// success).
	setup func(w *fakeConn, h header, token []byte)

	nextSID    atomic.Uint64
	type1s     atomic.Int32 // initial SESSION_SETUPs received (by setup funcs that count them)
	type3s     atomic.Int32 // non-initial SESSION_SETUPs received
	violations atomic.Int32 // requests outside the credit window
	mu         sync.Mutex
	conns      []*fakeConn
}

type fakeConn struct {
	dc      *fakeDC
	nc      net.Conn
	mu      sync.Mutex
	granted uint64 // total credits granted: MessageIds below it are allowed
}

func newFakeDC(t *testing.T) *fakeDC {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	type2 := make([]byte, 56)
	copy(type2, "NTLMSSP\x00\x02\x00\x00\x00")
	binary.LittleEndian.PutUint32(type2[20:], 0x62898215)
	f := &fakeDC{t: t, ln: ln, addr: ln.Addr().String(), grant: 8, type2: type2}
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.nc.Close()
		}
		f.mu.Unlock()
	})
	go f.serve()
	return f
}

func (f *fakeDC) serve() {
	for {
		nc, err := f.ln.Accept()
		if err != nil {
			return
		}
		c := &fakeConn{dc: f, nc: nc, granted: 1}
		f.mu.Lock()
		f.conns = append(f.conns, c)
		f.mu.Unlock()
		go c.loop()
	}
}

func (c *fakeConn) loop() {
	defer c.nc.Close()
	for {
		msg, err := readFrame(c.nc)
		if err != nil {
			return
		}
		h, err := decodeHeader(msg)
		if err != nil {
			return
		}
		c.mu.Lock()
		if h.MessageID >= c.granted {
			c.dc.violations.Add(1)
		}
		c.mu.Unlock()
		switch h.Command {
		case cmdNegotiate:
			c.send(c.reply(h, synthNegotiateResponse(dialect311, nil, nil), 0))
		case cmdSessionSetup:
			off, n := le16(msg, 64+12), le16(msg, 64+14)
			token := msg[off : int(off)+int(n)]
			if h.SessionID != 0 {
				c.dc.type3s.Add(1)
			}
			if c.dc.setup != nil {
				c.dc.setup(c, h, token)
			} else {
				c.defaultSetup(h, token)
			}
		}
	}
}

func (c *fakeConn) defaultSetup(h header, _ []byte) {
	if h.SessionID == 0 {
		c.challenge(h)
		return
	}
	c.send(c.reply(h, synthSessionSetupResponse(StatusSuccess, h.SessionID, 0, nil), 0))
}

func (c *fakeConn) challenge(h header) {
	sid := c.dc.nextSID.Add(1)
	c.send(c.reply(h, synthSessionSetupResponse(StatusMoreProcessingRequired, sid, 0, c.dc.type2), 0))
}

// reply stamps a response template with the request's MessageId, the grant
// and extra flags.
func (c *fakeConn) reply(req header, msg []byte, flags uint32) []byte {
	h, _ := decodeHeader(msg)
	h.MessageID = req.MessageID
	h.Credits = c.dc.grant
	h.Flags |= flags | flagServerToRedir
	if flags&flagAsyncCommand != 0 {
		h.AsyncID = 42
	}
	return append(h.encode(nil), msg[headerSize:]...)
}

func (c *fakeConn) send(msg []byte) {
	h, _ := decodeHeader(msg)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.granted += uint64(h.Credits)
	frame := append(make([]byte, 4), msg...)
	putFrameHeader(frame)
	c.nc.Write(frame)
}

func fakeType3() []byte {
	return (&ntlmmsg.Authenticate{Flags: ntlmmsg.NegotiateUnicode | ntlmmsg.NegotiateNTLM, User: "jdoe", Domain: "EXAMPLE",
		LmChallengeResponse: make([]byte, 24), NtChallengeResponse: make([]byte, 48)}).Marshal()
}

func fakeType1() []byte { return []byte("NTLMSSP\x00\x01\x00\x00\x00\x07\x82\x08\xa2") }

func fakeLogin(ctx context.Context, p *Pool) error {
	h, _, err := p.Negotiate(ctx, fakeType1())
	if err != nil {
		return err
	}
	return h.Authenticate(ctx, fakeType3())
}

func TestFakeDefault(t *testing.T) {
	f := newFakeDC(t)
	p := newTestPool(t, Config{Addrs: []string{f.addr}})
	ctx := ctxT(t, 5*time.Second)
	h, type2, err := p.Negotiate(ctx, fakeType1())
	if err != nil {
		t.Fatal(err)
	}
	if string(type2) != string(f.type2) {
		t.Errorf("type2 changed: % x", type2)
	}
	if err := h.Authenticate(ctx, fakeType3()); err != nil {
		t.Fatal(err)
	}
}

func TestFakeNotRelayed(t *testing.T) {
	f := newFakeDC(t)
	p := newTestPool(t, Config{Addrs: []string{f.addr}})
	ctx := ctxT(t, 5*time.Second)
	if _, _, err := p.Negotiate(ctx, []byte("garbage")); err == nil {
		t.Error("garbage Type1 relayed")
	}
	h, type2, err := p.Negotiate(ctx, fakeType1())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Authenticate(ctx, anonymousAuthenticate(type2)); !errors.Is(err, ErrGuestSession) {
		t.Errorf("anonymous: %v, want ErrGuestSession", err)
	}
	h, _, err = p.Negotiate(ctx, fakeType1())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Authenticate(ctx, fakeType1()); err == nil || errors.Is(err, ErrGuestSession) {
		t.Errorf("Type1 as Type3: %v", err)
	}
	if n := f.type3s.Load(); n != 0 {
		t.Errorf("%d bad Type3s relayed", n)
	}
}

// Messages that carry no credentials are refused before the DC sees them:
// Samba would answer some with a null session.
func TestFakeNoCredentialsNotRelayed(t *testing.T) {
	f := newFakeDC(t)
	p := newTestPool(t, Config{Addrs: []string{f.addr}})
	ctx := ctxT(t, 5*time.Second)
	type2 := make([]byte, 32)
	copy(type2, "NTLMSSP\x00\x02")
	anon := anonymousAuthenticate(type2)
	lmOnlyZero := (&ntlmmsg.Authenticate{Flags: ntlmmsg.NegotiateUnicode, LmChallengeResponse: []byte{0}}).Marshal()
	named := (&ntlmmsg.Authenticate{User: "jdoe", Flags: ntlmmsg.NegotiateUnicode}).Marshal()
	anonFlag := (&ntlmmsg.Authenticate{User: "jdoe", Flags: ntlmmsg.NegotiateUnicode | ntlmmsg.Anonymous, NtChallengeResponse: make([]byte, 48)}).Marshal()
	for name, tc := range map[string]struct {
		msg   []byte
		guest bool // refused as ErrGuestSession; else as not an AUTHENTICATE
	}{
		"anonymous":          {anon, true},
		"LM one zero byte":   {lmOnlyZero, true},
		"user, no responses": {named, true},
		"anonymous flag":     {anonFlag, true},
		"short":              {anon[:51], false},
		"type 2":             {type2, false},
		"garbage":            {[]byte("hello"), false},
	} {
		h, _, err := p.Negotiate(ctx, fakeType1())
		if err != nil {
			t.Fatal(err)
		}
		err = h.Authenticate(ctx, tc.msg)
		if err == nil || errors.Is(err, ErrGuestSession) != tc.guest {
			t.Errorf("%s: %v", name, err)
		}
	}
	if n := f.type3s.Load(); n != 0 {
		t.Errorf("%d of them relayed", n)
	}
}

func TestFakeGuestAndNull(t *testing.T) {
	for _, flags := range []uint16{sessionFlagIsGuest, sessionFlagIsNull, sessionFlagIsGuest | sessionFlagEncrypted} {
		f := newFakeDC(t)
		f.setup = func(c *fakeConn, h header, token []byte) {
			if h.SessionID == 0 {
				c.challenge(h)
				return
			}
			c.send(c.reply(h, synthSessionSetupResponse(StatusSuccess, h.SessionID, flags, nil), 0))
		}
		p := newTestPool(t, Config{Addrs: []string{f.addr}})
		if err := fakeLogin(ctxT(t, 5*time.Second), p); !errors.Is(err, ErrGuestSession) {
			t.Errorf("flags %#x: %v, want ErrGuestSession", flags, err)
		}
	}
}

func TestFakeStatusVerbatim(t *testing.T) {
	for _, st := range []NTStatus{StatusNTLMBlocked, StatusTrustedRelationshipFailure, 0xC0001234, StatusMoreProcessingRequired} {
		f := newFakeDC(t)
		f.setup = func(c *fakeConn, h header, token []byte) {
			if h.SessionID == 0 {
				c.challenge(h)
				return
			}
			c.send(c.reply(h, synthSessionSetupResponse(st, h.SessionID, 0, nil), 0))
		}
		p := newTestPool(t, Config{Addrs: []string{f.addr}})
		err := fakeLogin(ctxT(t, 5*time.Second), p)
		var se *StatusError
		if !errors.As(err, &se) || se.Status != st || se.DC != f.addr {
			t.Errorf("%s: %v", st, err)
		}
	}
	// A refusal of the Type1 is a StatusError too, without failover.
	f := newFakeDC(t)
	f.setup = func(c *fakeConn, h header, token []byte) {
		c.send(c.reply(h, synthSessionSetupResponse(StatusInvalidParameter, 5, 0, nil), 0))
	}
	f2 := newFakeDC(t)
	p := newTestPool(t, Config{Addrs: []string{f.addr, f2.addr}})
	_, _, err := p.Negotiate(ctxT(t, 5*time.Second), fakeType1())
	var se *StatusError
	if !errors.As(err, &se) || se.Status != StatusInvalidParameter {
		t.Errorf("Type1 refused: %v", err)
	}
	if p.isDown(f.addr) {
		t.Error("DC marked down for a refusal")
	}
}

func TestFakePending(t *testing.T) {
	f := newFakeDC(t)
	f.setup = func(c *fakeConn, h header, token []byte) {
		if h.SessionID == 0 {
			c.challenge(h)
			return
		}
		c.send(c.reply(h, synthSessionSetupResponse(StatusPending, h.SessionID, 0, nil)[:headerSize+9], flagAsyncCommand))
		go func() {
			time.Sleep(50 * time.Millisecond)
			c.send(c.reply(h, synthSessionSetupResponse(StatusSuccess, h.SessionID, 0, nil), flagAsyncCommand))
		}()
	}
	p := newTestPool(t, Config{Addrs: []string{f.addr}})
	if err := fakeLogin(ctxT(t, 5*time.Second), p); err != nil {
		t.Fatal(err)
	}
}

// With one credit granted per response the client must serialize requests;
// with many it may pipeline. Either way it never exceeds the window.
func TestFakeCredits(t *testing.T) {
	for _, grant := range []uint16{1, 3, 64} {
		f := newFakeDC(t)
		f.grant = grant
		f.setup = func(c *fakeConn, h header, token []byte) {
			go func() { // answer out of order, after a while
				time.Sleep(time.Duration(h.MessageID%5) * time.Millisecond)
				c.defaultSetup(h, token)
			}()
		}
		p := newTestPool(t, Config{Addrs: []string{f.addr}, MaxConnsPerDC: 1})
		ctx := ctxT(t, 10*time.Second)
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				if err := fakeLogin(ctx, p); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if v := f.violations.Load(); v != 0 {
			t.Errorf("grant %d: %d requests outside the credit window", grant, v)
		}
	}
}

func TestFakeConnDropMidHandshake(t *testing.T) {
	f := newFakeDC(t)
	var drop atomic.Bool
	drop.Store(true)
	f.setup = func(c *fakeConn, h header, token []byte) {
		if h.SessionID != 0 && drop.Load() {
			c.nc.Close()
			return
		}
		c.defaultSetup(h, token)
	}
	p := newTestPool(t, Config{Addrs: []string{f.addr}})
	ctx := ctxT(t, 5*time.Second)
	err := fakeLogin(ctx, p)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	drop.Store(false)
	if err := fakeLogin(ctx, p); err != nil {
		t.Fatalf("after the drop: %v", err)
	}
	if n := p.dials.Load(); n != 2 {
		t.Errorf("dials = %d, want 2", n)
	}
}

func TestFakeRequestTimeout(t *testing.T) {
	// A Type3 naming another domain (ForeignName) that the DC does not
	// answer in time is as likely that domain's DCs being away as this DC
	// being hung (it waits for them): the conn is dropped, but the DC is
	// not marked down, else anyone could take it out of rotation by typing
	// a trusted domain whose DCs are offline (found by the second red
	// team: only DCFailure answers honoured ForeignName).
	for _, tc := range []struct {
		name     string
		opts     []AuthOption
		wantDown bool
	}{{"own name", nil, true}, {"foreign name", []AuthOption{ForeignName}, false}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDC(t)
			f.setup = func(c *fakeConn, h header, token []byte) {
				if h.SessionID == 0 {
					c.challenge(h)
				} // the Type3 is never answered
			}
			p := newTestPool(t, Config{Addrs: []string{f.addr}, RequestTimeout: 200 * time.Millisecond})
			// The caller's context is far longer than RequestTimeout, so
			// that only RequestTimeout can end the wait this soon.
			ctx := ctxT(t, time.Minute)
			h, _, err := p.Negotiate(ctx, fakeType1())
			if err != nil {
				t.Fatal(err)
			}
			h2, _, err := p.Negotiate(ctx, fakeType1()) // shares the conn
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = h.Authenticate(ctx, fakeType3(), tc.opts...)
			if el := time.Since(start); el > 30*time.Second {
				t.Errorf("took %v: RequestTimeout did not end the wait", el)
			}
			if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v", err)
			}
			if p.isDown(f.addr) != tc.wantDown {
				t.Errorf("marked down: %v, want %v", p.isDown(f.addr), tc.wantDown)
			}
			if !h.(*handshake).c.isDead() {
				t.Error("conn of an unresponsive DC kept")
			}
			if err := h2.Authenticate(ctx, fakeType3()); !errors.Is(err, ErrUnavailable) {
				t.Errorf("other handshake on the dead conn: %v", err)
			}
		})
	}
}

func TestFakeNotNTLMChallenge(t *testing.T) {
	f := newFakeDC(t)
	f.type2 = []byte{0xa1, 0x81, 0x30, 0x30} // a SPNEGO NegTokenResp
	p := newTestPool(t, Config{Addrs: []string{f.addr}})
	_, _, err := p.Negotiate(ctxT(t, 5*time.Second), fakeType1())
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("err = %v", err)
	}
	if !p.isDown(f.addr) {
		t.Error("not marked down")
	}
}

func TestFakeOversizeFrame(t *testing.T) {
	f := newFakeDC(t)
	f.setup = func(c *fakeConn, h header, token []byte) {
		c.nc.Write([]byte{0, 0x20, 0, 0}) // 2 MiB
		c.nc.Write(make([]byte, 1024))
	}
	p := newTestPool(t, Config{Addrs: []string{f.addr}})
	_, _, err := p.Negotiate(ctxT(t, 5*time.Second), fakeType1())
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, errMalformed) {
		t.Errorf("err = %v", err)
	}
}

func TestFakeClose(t *testing.T) {
	f := newFakeDC(t)
	f.setup = func(c *fakeConn, h header, token []byte) {
		if h.SessionID == 0 {
			c.challenge(h)
		}
	}
	p := newTestPool(t, Config{Addrs: []string{f.addr}})
	ctx := ctxT(t, 5*time.Second)
	h, _, err := p.Negotiate(ctx, fakeType1())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- h.Authenticate(ctx, fakeType3()) }()
	time.Sleep(20 * time.Millisecond)
	p.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Authenticate succeeded on a closed pool")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Authenticate hung after Close")
	}
	if _, _, err := p.Negotiate(ctx, fakeType1()); !errors.Is(err, ErrClosed) {
		t.Errorf("Negotiate after Close: %v", err)
	}
}

// A caller cancelling its ctx abandons the wait without killing the conn or
// marking the DC down.
func TestFakeCallerCancel(t *testing.T) {
	f := newFakeDC(t)
	f.setup = func(c *fakeConn, h header, token []byte) {
		if h.SessionID == 0 {
			c.challenge(h)
			return
		}
		go func() {
			time.Sleep(100 * time.Millisecond)
			c.defaultSetup(h, token)
		}()
	}
	p := newTestPool(t, Config{Addrs: []string{f.addr}})
	ctx := ctxT(t, 5*time.Second)
	h, _, err := p.Negotiate(ctx, fakeType1())
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(10*time.Millisecond, cancel)
	if err := h.Authenticate(cctx, fakeType3()); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
	if p.isDown(f.addr) || h.(*handshake).c.isDead() {
		t.Error("caller cancel punished the DC")
	}
	if err := fakeLogin(ctx, p); err != nil {
		t.Fatal(err)
	}
}
