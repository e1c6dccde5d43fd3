package dc

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStatusKinds pins what each status the relay can meet means for the
// browser: asking again (Refused), an administrator's business
// (NotAllowed), or the DC's failure (DCFailure, also for unknown codes).
func TestStatusKinds(t *testing.T) {
	want := map[Kind][]NTStatus{
		Refused: {StatusLogonFailure, StatusWrongPassword, StatusNoSuchUser, StatusAccountLockedOut,
			StatusPasswordExpired, StatusAccountDisabled, StatusAccountExpired, StatusPasswordMustChange,
			StatusPasswordRestriction, StatusNoSuchDomain, StatusInvalidParameter, StatusAccessDenied,
			StatusMoreProcessingRequired, statusNotFound},
		NotAllowed: {StatusNTLMBlocked, StatusLogonTypeNotGranted, StatusInvalidWorkstation,
			StatusInvalidLogonHours, StatusAccountRestriction, StatusSmartcardLogonRequired,
			StatusAuthenticationFirewallFailed},
		DCFailure: {StatusInternalError, StatusNoLogonServers, StatusInsufficientResources,
			StatusTrustedDomainFailure, StatusTrustedRelationshipFailure, StatusDomainControllerNotFound,
			StatusRequestNotAccepted, statusNetlogonNotStarted, statusNoTrustSAMAccount,
			statusNoTrustLSASecret, statusNoMemory, statusIOTimeout, statusInvalidServerState,
			StatusNotSupported, StatusTimeDifferenceAtDC, StatusNoSuchLogonSession,
			StatusUserSessionDeleted, StatusNetworkSessionExpired, StatusDowngradeDetected,
			// not in the table
			0xC00000AB, 0xC0001234, 0x80000005, 0xFFFFFFFF},
	}
	seen := map[NTStatus]bool{}
	for kind, list := range want {
		for _, s := range list {
			seen[s] = true
			if got := s.Kind(); got != kind {
				t.Errorf("%s: %s, want %s", s, got, kind)
			}
			if hint := s.Hint(); (kind == NotAllowed) != (hint != "") {
				t.Errorf("%s (%s): hint %q; only NotAllowed statuses have one, and all of them", s, kind, hint)
			}
		}
	}
	// Every status in the table is sorted on purpose: listed above.
	names := map[string]bool{}
	for s, info := range statuses {
		if !seen[s] && s != StatusSuccess && s != StatusPending {
			t.Errorf("%s is in the table but not in this test", s)
		}
		if !strings.HasPrefix(info.name, "STATUS_") || names[info.name] {
			t.Errorf("%#x: name %q not STATUS_... or twice", uint32(s), info.name)
		}
		names[info.name] = true
	}
}

func TestStatusErrorIsUnavailable(t *testing.T) {
	for _, tt := range []struct {
		s           NTStatus
		unavailable bool
		text        string
	}{
		{StatusInternalError, true, "dc dc1:445: failed: STATUS_INTERNAL_ERROR (0xC00000E5)"},
		{0xC0001234, true, "dc dc1:445: failed: 0xC0001234 (0xC0001234)"},
		{StatusLogonFailure, false, "dc dc1:445: refused: STATUS_LOGON_FAILURE (0xC000006D)"},
		{StatusNTLMBlocked, false, "dc dc1:445: not allowed: STATUS_NTLM_BLOCKED (0xC0000418)"},
	} {
		var err error = &StatusError{DC: "dc1:445", Status: tt.s}
		if got := errors.Is(err, ErrUnavailable); got != tt.unavailable {
			t.Errorf("%s: errors.Is(ErrUnavailable) = %v", tt.s, got)
		}
		if err.Error() != tt.text {
			t.Errorf("%s: %q, want %q", tt.s, err.Error(), tt.text)
		}
	}
}

// statusDC is a fake DC that answers every Type3 (or, with type1 set,
// every Type1) with status.
func statusDC(t *testing.T, status NTStatus, type1 bool) *fakeDC {
	f := newFakeDC(t)
	f.setup = func(c *fakeConn, h header, token []byte) {
		switch {
		case type1 && h.SessionID == 0:
			f.type1s.Add(1)
			c.send(c.reply(h, synthSessionSetupResponse(status, 0, 0, nil), 0))
		case h.SessionID == 0:
			f.type1s.Add(1)
			c.challenge(h)
		default:
			c.send(c.reply(h, synthSessionSetupResponse(status, h.SessionID, 0, nil), 0))
		}
	}
	return f
}

// A DC that fails Type3s answers ErrUnavailable, never a refusal; after
// downAfterFailures in a row it is marked down and new handshakes go to
// the next DC. Not so for logins whose name points to another domain
// (ForeignName): whoever types a trusted domain whose DCs are offline needs
// no password, and must not take the DC out of rotation for everyone.
func TestFakeDCFailureFailsOver(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   NTStatus
		opts     []AuthOption
		wantDown bool
	}{
		{"internal error", StatusInternalError, nil, true},
		{"trust failure, served domain", StatusTrustedDomainFailure, nil, true},
		{"trust failure, foreign name", StatusTrustedDomainFailure, []AuthOption{ForeignName}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad, good := statusDC(t, tc.status, false), newFakeDC(t)
			logs := &logBuffer{}
			p := newTestPool(t, Config{Addrs: []string{bad.addr, good.addr}, Logger: logs.logger()})
			ctx := ctxT(t, 10*time.Second)
			for i := 1; i <= downAfterFailures; i++ {
				h, _, err := p.Negotiate(ctx, fakeType1())
				if err != nil {
					t.Fatal(err)
				}
				if h.DC() != bad.addr {
					t.Fatalf("handshake %d went to %s before the first DC was marked down", i, h.DC())
				}
				err = h.Authenticate(ctx, fakeType3(), tc.opts...)
				var se *StatusError
				if !errors.As(err, &se) || se.Status.Kind() != DCFailure || !errors.Is(err, ErrUnavailable) {
					t.Fatalf("login %d: %v, want a DCFailure StatusError matching ErrUnavailable", i, err)
				}
				if down := p.isDown(bad.addr); down != (tc.wantDown && i == downAfterFailures) {
					t.Errorf("after %d failures: marked down %v", i, down)
				}
			}
			h, _, err := p.Negotiate(ctx, fakeType1())
			if err != nil {
				t.Fatal(err)
			}
			if !tc.wantDown {
				h.Close()
				if h.DC() != bad.addr {
					t.Errorf("the first DC not marked down, but the handshake went to %s", h.DC())
				}
			} else {
				if h.DC() != good.addr {
					t.Errorf("after the first DC was marked down, the handshake went to %s", h.DC())
				}
				if err := h.Authenticate(ctx, fakeType3()); err != nil {
					t.Errorf("login on the second DC: %v", err)
				}
			}
			out := logs.String()
			if n := strings.Count(out, "level=WARN msg=\"dc: the domain controller failed to check a login\" dc="+bad.addr+" step=authenticate status="+tc.status.String()); n != downAfterFailures {
				t.Errorf("%d WARN lines for the failures, want %d:\n%s", n, downAfterFailures, out)
			}
			if marked := strings.Contains(out, "level=WARN msg=\"dc: marked down\" dc="+bad.addr); marked != tc.wantDown {
				t.Errorf("WARN for marking the DC down: %v, want %v:\n%s", marked, tc.wantDown, out)
			}
		})
	}
}

// A success or a refusal in between shows the DC working: the count of
// failures in a row starts again.
func TestFakeDCFailureCountResets(t *testing.T) {
	var answer sync.Map // session id -> status to answer its Type3 with
	f := newFakeDC(t)
	f.setup = func(c *fakeConn, h header, token []byte) {
		if h.SessionID == 0 {
			c.challenge(h)
			return
		}
		st, _ := answer.Load(h.SessionID)
		c.send(c.reply(h, synthSessionSetupResponse(st.(NTStatus), h.SessionID, 0, nil), 0))
	}
	p := newTestPool(t, Config{Addrs: []string{f.addr}})
	ctx := ctxT(t, 10*time.Second)
	login := func(st NTStatus) {
		h, _, err := p.Negotiate(ctx, fakeType1())
		if err != nil {
			t.Fatal(err)
		}
		answer.Store(h.(*handshake).sid, st)
		h.Authenticate(ctx, fakeType3())
	}
	for _, st := range []NTStatus{StatusInternalError, StatusInternalError, StatusSuccess,
		StatusInternalError, StatusInternalError, StatusLogonFailure, StatusInternalError, StatusInternalError} {
		login(st)
		if p.isDown(f.addr) {
			t.Fatalf("marked down after %s, with fewer than %d failures in a row", st, downAfterFailures)
		}
	}
	login(StatusInternalError)
	if !p.isDown(f.addr) {
		t.Errorf("not marked down after %d failures in a row", downAfterFailures)
	}
}

// A DCFailure answer to a Type1 sends the handshake to the next DC at once;
// with every DC failing, the error is ErrUnavailable.
func TestFakeDCFailureOnNegotiate(t *testing.T) {
	bad, good := statusDC(t, StatusNoLogonServers, true), newFakeDC(t)
	p := newTestPool(t, Config{Addrs: []string{bad.addr, good.addr}})
	ctx := ctxT(t, 10*time.Second)
	h, _, err := p.Negotiate(ctx, fakeType1())
	if err != nil {
		t.Fatal(err)
	}
	if h.DC() != good.addr {
		t.Errorf("handshake on %s, want the second DC", h.DC())
	}
	h.Close()

	bad2 := statusDC(t, 0xC0001234, true)
	p = newTestPool(t, Config{Addrs: []string{bad.addr, bad2.addr}})
	_, _, err = p.Negotiate(ctx, fakeType1())
	var se *StatusError
	if !errors.Is(err, ErrUnavailable) || !errors.As(err, &se) {
		t.Errorf("every DC failing: %v, want ErrUnavailable with the statuses", err)
	}
	for _, s := range []string{"STATUS_NO_LOGON_SERVERS", "0xC0001234"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %s: %v", s, err)
		}
	}
}

// A NotAllowed answer is the DC's decision: no failover, no down mark, and
// one WARN line with the hint per status and DC, however many requests.
func TestFakeNotAllowed(t *testing.T) {
	f, other := statusDC(t, StatusNTLMBlocked, false), newFakeDC(t)
	logs := &logBuffer{}
	p := newTestPool(t, Config{Addrs: []string{f.addr, other.addr}, Logger: logs.logger()})
	ctx := ctxT(t, 10*time.Second)
	for i := 0; i < 5; i++ {
		err := fakeLogin(ctx, p)
		var se *StatusError
		if !errors.As(err, &se) || se.Status != StatusNTLMBlocked || errors.Is(err, ErrUnavailable) {
			t.Fatalf("login %d: %v, want STATUS_NTLM_BLOCKED", i, err)
		}
	}
	if p.isDown(f.addr) || other.type1s.Load() != 0 {
		t.Error("a policy refusal marked the DC down or failed over")
	}
	out := logs.String()
	if n := strings.Count(out, "the domain's policy does not allow the login"); n != 1 {
		t.Errorf("%d WARN lines for 5 policy refusals, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "status=STATUS_NTLM_BLOCKED") || !strings.Contains(out, "ntlm auth") {
		t.Errorf("WARN line lacks the status or the hint:\n%s", out)
	}
}

// logBuffer collects a pool's log lines in slog's text format.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}
