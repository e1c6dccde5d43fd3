// Package dctest fakes a domain's controllers behind dc.Relay, for unit
// tests of the code that relays NTLM logins, as net/http/httptest does for
// HTTP handlers.
//
// A DC checks NTLMv2 responses for real against the passwords it was given,
// so test clients compute them as a browser (or the Basic path) does. It
// answers as Samba does where that matters to a caller: a wrong password is
// a *dc.StatusError with STATUS_LOGON_FAILURE, an anonymous Type3 is
// dc.ErrGuestSession, and a domain name it does not know is ignored (the
// user is checked in its own domain). It records every login it accepted,
// so that a test can check that each login it saw answered was earned.
//
// The SMB2 transport is not faked here: package dc's own tests run the pool
// against a scripted SMB2 server and a real Samba DC.
package dctest

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf16"

	"github.com/goauthenntlm/goauthenntlm/pkg/dc"
	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
)

// Step is a relay step a Fault can break.
type Step int

const (
	StepNegotiate    Step = iota + 1 // the Type1, answered with the Type2
	StepAuthenticate                 // the Type3, answered with the verdict
)

// Login is a login the DC accepted, with the user and domain as the Type3
// named them.
type Login struct {
	User, Domain string
	// Null marks a Type3 without credentials accepted under
	// NullSessions: no password was checked.
	Null bool
}

// DC is a fake of one domain's DCs. Set its fields before first use; its
// methods are safe for concurrent use.
type DC struct {
	// Name is what the handshakes' DC method reports.
	Name string
	// Domain is the NetBIOS domain name the challenge announces, and
	// DNSDomain its DNS name.
	Domain, DNSDomain string
	// Fault, when set, is asked before each step. A non-nil error is the
	// step's answer, the message unseen: dc.ErrUnavailable or dc.ErrBusy
	// (wrapped as the pool wraps them), a *dc.StatusError, or
	// dc.ErrGuestSession.
	Fault func(Step) error
	// NullSessions makes the DC accept a Type3 without credentials, as
	// Samba does (a null session) when nothing in front of it refuses
	// one: for tests of the callers' own refusal. Such logins are
	// recorded with the names the Type3 gave.
	NullSessions bool

	mu        sync.Mutex
	passwords map[string]string // by lower-case user name
	logins    []Login
	open      atomic.Int64
	failures  atomic.Int64
	closed    atomic.Bool
}

// New returns a DC for the domain with the given NetBIOS name, that knows
// no user yet.
func New(domain string) *DC {
	return &DC{
		Name:      "dctest-" + strings.ToLower(domain),
		Domain:    strings.ToUpper(domain),
		DNSDomain: strings.ToLower(domain) + ".test",
		passwords: map[string]string{},
	}
}

// SetPassword creates user, or changes their password. User names are
// matched case-insensitively, as AD does.
func (d *DC) SetPassword(user, password string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.passwords[strings.ToLower(user)] = password
}

// Logins returns the logins accepted so far, oldest first.
func (d *DC) Logins() []Login {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Login(nil), d.logins...)
}

// Accepted reports whether the DC ever checked and accepted a login for user in
// domain, both case-insensitively.
func (d *DC) Accepted(user, domain string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range d.logins {
		if !l.Null && strings.EqualFold(l.User, user) && strings.EqualFold(l.Domain, domain) {
			return true
		}
	}
	return false
}

// Failures is the number of DCFailure answers to Type3s that a pool would
// have counted towards marking the DC down: those of Authenticate calls
// without dc.ForeignName.
func (d *DC) Failures() int { return int(d.failures.Load()) }

// Open is the number of handshakes neither authenticated nor closed: a
// caller that forgets to close them leaks DC sessions.
func (d *DC) Open() int { return int(d.open.Load()) }

// Close makes later handshakes fail with dc.ErrClosed.
func (d *DC) Close() error {
	d.closed.Store(true)
	return nil
}

// Negotiate answers a Type1 with a fresh challenge.
func (d *DC) Negotiate(ctx context.Context, type1 []byte) (dc.Handshake, []byte, error) {
	if d.closed.Load() {
		return nil, nil, fmt.Errorf("dctest: negotiate: %w", dc.ErrClosed)
	}
	if t, err := ntlmmsg.Type(type1); err != nil || t != ntlmmsg.TypeNegotiate {
		return nil, nil, errors.New("dctest: negotiate: not an NTLM NEGOTIATE message; not relayed")
	}
	if err := d.fault(ctx, StepNegotiate); err != nil {
		return nil, nil, err
	}
	// As Samba: UNICODE when the client offers it, else OEM; the names of
	// the Type3 are then read in that set (see Authenticate).
	unicode := len(type1) >= 16 && binary.LittleEndian.Uint32(type1[12:])&uint32(ntlmmsg.NegotiateUnicode) != 0
	cs := ntlmmsg.NegotiateOEM
	if unicode {
		cs = ntlmmsg.NegotiateUnicode
	}
	ch := &ntlmmsg.Challenge{
		Flags: cs | ntlmmsg.RequestTarget | ntlmmsg.NegotiateNTLM | ntlmmsg.AlwaysSign |
			ntlmmsg.TargetTypeDomain | ntlmmsg.ExtendedSessionSecurity | ntlmmsg.TargetInfo | ntlmmsg.Negotiate128,
		TargetName: d.Domain,
		TargetInfo: ntlmmsg.AVPairs{
			{ID: ntlmmsg.MsvAvNbDomainName, Value: utf16le(d.Domain)},
			{ID: ntlmmsg.MsvAvNbComputerName, Value: utf16le("DC1")},
			{ID: ntlmmsg.MsvAvDnsDomainName, Value: utf16le(d.DNSDomain)},
			{ID: ntlmmsg.MsvAvDnsComputerName, Value: utf16le("dc1." + d.DNSDomain)},
			{ID: ntlmmsg.MsvAvTimestamp, Value: filetime(time.Now())},
		}.Marshal(),
	}
	rand.Read(ch.ServerChallenge[:])
	d.open.Add(1)
	return &handshake{d: d, challenge: ch.ServerChallenge, unicode: unicode}, ch.Marshal(), nil
}

func (d *DC) fault(ctx context.Context, s Step) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: dctest: %w", dc.ErrUnavailable, err)
	}
	if d.Fault != nil {
		return d.Fault(s)
	}
	return nil
}

// handshake is a DC's challenge waiting for its Type3.
type handshake struct {
	d         *DC
	challenge [8]byte
	unicode   bool // agreed at NEGOTIATE
	done      atomic.Bool
}

func (h *handshake) DC() string { return h.d.Name }

func (h *handshake) Close() {
	if h.done.CompareAndSwap(false, true) {
		h.d.open.Add(-1)
	}
}

// Authenticate checks the Type3's NTLMv2 response against the user's
// password. NTLMv1 responses are refused: no client this project serves
// sends them, and a fake that accepted them would hide a downgrade. A
// DCFailure a Fault answers is counted (see Failures) unless opts has
// dc.ForeignName.
func (h *handshake) Authenticate(ctx context.Context, type3 []byte, opts ...dc.AuthOption) error {
	if !h.done.CompareAndSwap(false, true) {
		return fmt.Errorf("dctest: authenticate: handshake %w", dc.ErrClosed)
	}
	defer h.d.open.Add(-1)
	msg, err := readAsSamba(type3, h.unicode)
	if err != nil {
		return fmt.Errorf("dctest: authenticate: not an NTLM AUTHENTICATE message; not relayed: %w", err)
	}
	if err := h.d.fault(ctx, StepAuthenticate); err != nil {
		var se *dc.StatusError
		if errors.As(err, &se) && se.Status.Kind() == dc.DCFailure && !slices.Contains(opts, dc.ForeignName) {
			h.d.failures.Add(1)
		}
		return err
	}
	if msg.NoCredentials() {
		if h.d.NullSessions {
			h.d.mu.Lock()
			h.d.logins = append(h.d.logins, Login{User: msg.User, Domain: msg.Domain, Null: true})
			h.d.mu.Unlock()
			return nil
		}
		return fmt.Errorf("dctest: authenticate: %w (anonymous NTLM AUTHENTICATE)", dc.ErrGuestSession)
	}
	h.d.mu.Lock()
	pw, known := h.d.passwords[strings.ToLower(msg.User)]
	h.d.mu.Unlock()
	if !known || !msg.NTLMv2() || !validV2(msg, pw, h.challenge) {
		return &dc.StatusError{DC: h.d.Name, Status: dc.StatusLogonFailure}
	}
	h.d.mu.Lock()
	h.d.logins = append(h.d.logins, Login{User: msg.User, Domain: msg.Domain})
	h.d.mu.Unlock()
	return nil
}

// readAsSamba reads a Type3 as Samba's DC does: the names in the character
// set agreed at NEGOTIATE, whatever the Type3's own UNICODE flag says, and
// each up to its first NUL. A relay that reads them otherwise names another
// account than the one checked.
func readAsSamba(type3 []byte, unicode bool) (*ntlmmsg.Authenticate, error) {
	b := slices.Clone(type3)
	if len(b) >= 64 {
		f := binary.LittleEndian.Uint32(b[60:]) &^ uint32(ntlmmsg.NegotiateUnicode)
		if unicode {
			f |= uint32(ntlmmsg.NegotiateUnicode)
		}
		binary.LittleEndian.PutUint32(b[60:], f)
	}
	msg, err := ntlmmsg.ParseAuthenticate(b)
	if err != nil {
		return nil, err
	}
	msg.User, _, _ = strings.Cut(msg.User, "\x00")
	msg.Domain, _, _ = strings.Cut(msg.Domain, "\x00")
	return msg, nil
}

// validV2 checks an NTLMv2 NtChallengeResponse: NTProofStr =
// HMAC_MD5(NTOWFv2, ServerChallenge || temp) (MS-NLMP 3.3.2), with temp the
// rest of the response.
func validV2(msg *ntlmmsg.Authenticate, password string, challenge [8]byte) bool {
	nt := msg.NtChallengeResponse
	m := hmac.New(md5.New, ntlmmsg.NTOWFv2(password, msg.User, msg.Domain))
	m.Write(challenge[:])
	m.Write(nt[16:])
	return hmac.Equal(m.Sum(nil), nt[:16])
}

func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

// filetime is t in 100 ns units since 1601 (MS-DTYP 2.3.3).
func filetime(t time.Time) []byte {
	return binary.LittleEndian.AppendUint64(nil, uint64(t.UnixNano()/100+116444736000000000))
}

// Unavailable is the error a pool returns when no DC answered: a Fault
// returning it makes the authorizer see DCs that are down.
func Unavailable() error {
	return fmt.Errorf("%w: dctest: %w", dc.ErrUnavailable, context.DeadlineExceeded)
}

// Refused is the error of a DC that refused a step with status.
func (d *DC) Refused(status dc.NTStatus) error {
	return &dc.StatusError{DC: d.Name, Status: status}
}

var _ dc.Relay = (*DC)(nil)
