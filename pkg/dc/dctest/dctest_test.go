package dctest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/dc"
	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
)

func type1() []byte {
	return (&ntlmmsg.Negotiate{Flags: ntlmmsg.NegotiateUnicode | ntlmmsg.NegotiateNTLM | ntlmmsg.RequestTarget}).Marshal()
}

// login runs a handshake as a client knowing password would.
func login(t *testing.T, d *DC, user, domain, password string) error {
	t.Helper()
	ctx := context.Background()
	h, type2, err := d.Negotiate(ctx, type1())
	if err != nil {
		return err
	}
	ch, err := ntlmmsg.ParseChallenge(type2)
	if err != nil {
		t.Fatal(err)
	}
	auth, _, err := ntlmmsg.NewAuthenticateV2(ch, user, domain, password, "WS", [8]byte{1, 2, 3}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return h.Authenticate(ctx, auth.Marshal())
}

func TestLogin(t *testing.T) {
	d := New("example")
	d.SetPassword("jdoe", "s3cret")
	var se *dc.StatusError
	for _, tt := range []struct {
		user, domain, password string
		ok                     bool
	}{
		{"jdoe", "EXAMPLE", "s3cret", true},
		{"JDoe", "example", "s3cret", true},
		{"jdoe", "OTHER", "s3cret", true}, // Samba checks an unknown domain's user in its own
		{"jdoe", "EXAMPLE", "wrong", false},
		{"nobody", "EXAMPLE", "s3cret", false},
	} {
		err := login(t, d, tt.user, tt.domain, tt.password)
		if tt.ok && err != nil {
			t.Errorf("%s\\%s: %v", tt.domain, tt.user, err)
		}
		if !tt.ok && (!errors.As(err, &se) || se.Status != dc.StatusLogonFailure) {
			t.Errorf("%s\\%s with %q: %v, want STATUS_LOGON_FAILURE", tt.domain, tt.user, tt.password, err)
		}
		if tt.ok && !d.Accepted(tt.user, tt.domain) {
			t.Errorf("%s\\%s: not recorded", tt.domain, tt.user)
		}
	}
	if d.Accepted("nobody", "EXAMPLE") {
		t.Error("a refused login recorded")
	}
	if n := len(d.Logins()); n != 3 {
		t.Errorf("%d logins recorded, want 3", n)
	}
	if d.Open() != 0 {
		t.Errorf("%d handshakes open", d.Open())
	}
}

func TestNotRelayed(t *testing.T) {
	d := New("example")
	ctx := context.Background()
	if _, _, err := d.Negotiate(ctx, []byte("garbage")); err == nil {
		t.Error("garbage Type1 answered")
	}
	h, _, err := d.Negotiate(ctx, type1())
	if err != nil {
		t.Fatal(err)
	}
	anon := (&ntlmmsg.Authenticate{Flags: ntlmmsg.NegotiateUnicode, LmChallengeResponse: []byte{0}}).Marshal()
	if err := h.Authenticate(ctx, anon); !errors.Is(err, dc.ErrGuestSession) {
		t.Errorf("anonymous: %v", err)
	}
	if err := h.Authenticate(ctx, anon); !errors.Is(err, dc.ErrClosed) {
		t.Errorf("second Authenticate: %v", err)
	}
	h, _, _ = d.Negotiate(ctx, type1())
	h.Close()
	h.Close()
	if d.Open() != 0 {
		t.Errorf("%d handshakes open", d.Open())
	}
}

func TestFault(t *testing.T) {
	d := New("example")
	d.SetPassword("jdoe", "pw")
	d.Fault = func(s Step) error {
		if s == StepAuthenticate {
			return Unavailable()
		}
		return nil
	}
	if err := login(t, d, "jdoe", "EXAMPLE", "pw"); !errors.Is(err, dc.ErrUnavailable) {
		t.Errorf("err = %v", err)
	}
	if len(d.Logins()) != 0 {
		t.Error("login recorded despite the fault")
	}
	d.Close()
	if _, _, err := d.Negotiate(context.Background(), type1()); !errors.Is(err, dc.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}
