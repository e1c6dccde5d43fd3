package kerberos

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos/krbtest"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
)

const spn = "HTTP/www.example.test"

func acceptor(kt *keytab.Keytab, now time.Time) *Acceptor {
	return New(Options{
		Services:     []Service{{Realm: "EXAMPLE.TEST", Principals: []string{spn}, Keytab: kt}},
		ClientRealms: []string{"example.test"},
		MaxSkew:      5 * time.Minute,
		Now:          func() time.Time { return now },
	})
}

func TestAccept(t *testing.T) {
	now := time.Now()
	kdc := krbtest.Keytab(spn, "EXAMPLE.TEST", 2) // the account's key now
	served := krbtest.Keytab(spn, "EXAMPLE.TEST", 2, etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.RC4_HMAC)
	other := keytab.New()
	other.AddEntry(spn, "EXAMPLE.TEST", "another password", time.Unix(1700000000, 0), 2, etypeID.AES256_CTS_HMAC_SHA1_96)
	kvno3 := krbtest.Keytab(spn, "EXAMPLE.TEST", 3)
	otherSPN := krbtest.Keytab("HTTP/other.example.test", "EXAMPLE.TEST", 2)
	aesOnly := krbtest.Keytab(spn, "EXAMPLE.TEST", 2)
	rc4 := krbtest.Keytab(spn, "EXAMPLE.TEST", 2, etypeID.RC4_HMAC)
	// AD salts keys with the account's name, not the SPN: the same key
	// under the SPN spelt in another case.
	otherCase := krbtest.Keytab(spn, "EXAMPLE.TEST", 2)
	otherCase.Entries[0].Principal.Components = []string{"http", "WWW.example.test"}

	for _, tc := range []struct {
		name   string
		served *keytab.Keytab
		tkt    krbtest.Ticket
		clock  time.Duration // the server's clock minus the client's
		cause  Cause         // "" = accepted
	}{
		{name: "aes256", served: served, tkt: krbtest.Ticket{Keytab: kdc}},
		{name: "microsoft OID", served: served, tkt: krbtest.Ticket{Keytab: kdc, OID: OIDKerberosMS}},
		{name: "rc4 accepted", served: served, tkt: krbtest.Ticket{Keytab: rc4, EncType: etypeID.RC4_HMAC}},
		{name: "SPN in other case", served: served, tkt: krbtest.Ticket{Keytab: otherCase, SPN: "http/WWW.example.test"}},
		{name: "other SPN", served: served, tkt: krbtest.Ticket{Keytab: otherSPN, SPN: "HTTP/other.example.test"}, cause: CauseNoKey},
		{name: "old kvno keytab", served: kvno3, tkt: krbtest.Ticket{Keytab: kdc}, cause: CauseKVNO},
		{name: "keytab of another password", served: other, tkt: krbtest.Ticket{Keytab: kdc}, cause: CauseDecrypt},
		{name: "rc4 ticket, aes keytab", served: aesOnly, tkt: krbtest.Ticket{Keytab: rc4, EncType: etypeID.RC4_HMAC}, cause: CauseEnctype},
		{name: "client clock 10m behind", served: served, tkt: krbtest.Ticket{Keytab: kdc}, clock: 10 * time.Minute, cause: CauseSkew},
		{name: "client clock 4m ahead", served: served, tkt: krbtest.Ticket{Keytab: kdc}, clock: -4 * time.Minute},
		{name: "expired ticket", served: served, tkt: krbtest.Ticket{Keytab: kdc}, clock: 11 * time.Hour, cause: CauseExpired},
		{name: "unserved client realm", served: served, tkt: krbtest.Ticket{Keytab: kdc, ClientRealm: "OTHER.TEST"}, cause: CauseRealm},
		{name: "service realm not configured", served: krbtest.Keytab(spn, "OTHER.TEST", 2), tkt: krbtest.Ticket{Keytab: krbtest.Keytab(spn, "OTHER.TEST", 2), Realm: "OTHER.TEST"}, cause: CauseNoKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.tkt.Now = now.Add(-tc.clock)
			tok, err := krbtest.Token(tc.tkt)
			if err != nil {
				t.Fatal(err)
			}
			l, err := acceptor(tc.served, now).Accept(tok)
			if tc.cause == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if l.User != "jdoe" || l.Realm != "EXAMPLE.TEST" || l.PAC != nil {
					t.Errorf("login %+v", l)
				}
				if len(l.Bindings) != 16 || l.GSSFlags != 0x22 {
					t.Errorf("bindings %x flags %x", l.Bindings, l.GSSFlags)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Cause != tc.cause {
				t.Fatalf("got %v, %v; want cause %s", l, err, tc.cause)
			}
			if bytes.Contains([]byte(err.Error()), []byte(krbtest.Password)) {
				t.Error("the error shows the password")
			}
		})
	}
}

func TestReplay(t *testing.T) {
	kt := krbtest.Keytab(spn, "EXAMPLE.TEST", 2)
	a := acceptor(kt, time.Now())
	tok, err := krbtest.Token(krbtest.Ticket{Keytab: kt})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Accept(tok); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Accept(tok); CauseOf(err) != CauseReplay {
		t.Fatalf("replayed token: %v", err)
	}
	// Another process's cache (a restart) is another matter; the skew
	// check bounds that window.
}

func TestReplayCacheFull(t *testing.T) {
	kt := krbtest.Keytab(spn, "EXAMPLE.TEST", 2)
	a := acceptor(kt, time.Now())
	a.replay.max = 1
	for i, want := range []Cause{"", CauseBusy} {
		tok, _ := krbtest.Token(krbtest.Ticket{Keytab: kt, Now: time.Now().Add(time.Duration(i) * time.Second)})
		_, err := a.Accept(tok)
		if (want == "" && err != nil) || (want != "" && CauseOf(err) != want) {
			t.Fatalf("login %d: %v, want %q", i, err, want)
		}
	}
}

// One account that fills its share of the replay cache (one valid ticket,
// fresh authenticators in bulk) is refused; another still logs in, and the
// first cannot get a second share by spelling its name in another case.
func TestReplayPerPrincipal(t *testing.T) {
	kt := krbtest.Keytab(spn, "EXAMPLE.TEST", 2)
	now := time.Now()
	a := New(Options{
		Services:     []Service{{Realm: "EXAMPLE.TEST", Principals: []string{spn}, Keytab: kt}},
		ClientRealms: []string{"example.test"}, Now: func() time.Time { return now },
		ReplayMax: 20, ReplayPerPrincipal: 3,
	})
	login := func(client string, i int) error {
		tok, err := krbtest.Token(krbtest.Ticket{Keytab: kt, Client: client, Now: now.Add(time.Duration(i) * time.Millisecond)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Accept(tok)
		return err
	}
	for i := range 3 {
		if err := login("jdoe", i); err != nil {
			t.Fatalf("jdoe's login %d within its share: %v", i, err)
		}
	}
	for i, c := range []string{"jdoe", "JDoe"} {
		if err := login(c, 10+i); CauseOf(err) != CausePrincipalBusy {
			t.Fatalf("%s past its share: %v, want %s", c, err, CausePrincipalBusy)
		}
	}
	if err := login("alice", 0); err != nil {
		t.Fatalf("alice, while jdoe holds its share: %v", err)
	}
	var e *Error
	if err := login("jdoe", 20); !errors.As(err, &e) || e.Client != "jdoe@EXAMPLE.TEST" {
		t.Fatalf("the refusal names %+v, want jdoe@EXAMPLE.TEST", e)
	}
	// The global cap still holds when many accounts each take their share.
	for i := range 40 {
		if err := login(fmt.Sprintf("user%d", i), 0); err != nil {
			if CauseOf(err) != CauseBusy || i != 16 { // 20 - jdoe's 3 - alice's 1
				t.Fatalf("user%d: %v", i, err)
			}
			return
		}
	}
	t.Fatal("20 entries did not fill the cache")
}

// A client clock far ahead is refused by the skew check (or, with a ticket
// from that clock too, the ticket's time check), before the replay cache:
// no entry can be kept longer than twice max_clock_skew.
func TestReplayFutureAuthenticator(t *testing.T) {
	kt := krbtest.Keytab(spn, "EXAMPLE.TEST", 2)
	now := time.Now()
	a := acceptor(kt, now)
	for _, ahead := range []time.Duration{6 * time.Minute, 24 * time.Hour, 100 * 365 * 24 * time.Hour} {
		tok, _ := krbtest.Token(krbtest.Ticket{Keytab: kt, Now: now.Add(ahead)})
		if _, err := a.Accept(tok); CauseOf(err) != CauseSkew && CauseOf(err) != CauseExpired {
			t.Errorf("client clock %s ahead: %v, want %s or %s", ahead, err, CauseSkew, CauseExpired)
		}
	}
	tok, _ := krbtest.Token(krbtest.Ticket{Keytab: kt, Now: now.Add(4 * time.Minute)})
	if _, err := a.Accept(tok); err != nil {
		t.Fatal(err)
	}
	if len(a.replay.seen) != 1 {
		t.Fatalf("%d entries, want 1", len(a.replay.seen))
	}
	for _, e := range a.replay.seen {
		if limit := now.Add(2 * a.skew).UnixNano(); e.until > limit {
			t.Errorf("entry kept until %s, past now+2*skew", time.Unix(0, e.until))
		}
	}
}

// The per-principal accounting is bounded by the entries: random adds at
// random times keep every count equal to its live entries, no count at
// zero, no share or the cache over its bound, and all gone once expired.
func TestReplayCacheAccounting(t *testing.T) {
	for _, tc := range []struct {
		name        string
		max, per    int
		keys        uint64
		lifeSeconds uint64
	}{
		{"full, shares full", 50, 7, 3000, 600},
		// Seldom swept: expired keys come again before a sweep forgets them.
		{"roomy, keys reused", 10000, 10000, 200, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewReplayCache(tc.max, tc.per)
			t0 := time.Unix(1_800_000_000, 0)
			rnd := uint64(1)
			next := func(n uint64) uint64 { rnd = rnd*6364136223846793005 + 1442695040888963407; return (rnd >> 33) % n }
			for i := range 20000 {
				now := t0.Add(time.Duration(i) * 50 * time.Millisecond)
				who := fmt.Sprintf("u%d", next(12))
				key := fmt.Sprintf("k%d", next(tc.keys))
				c.add(key, who, now.Add(time.Duration(next(tc.lifeSeconds))*time.Second), now)
				if len(c.seen) > c.max {
					t.Fatalf("step %d: %d entries", i, len(c.seen))
				}
				count := map[*principalCount]int{}
				for _, e := range c.seen {
					count[e.who]++
				}
				if len(count) != len(c.principals) {
					t.Fatalf("step %d: %d counters for %d principals with entries", i, len(c.principals), len(count))
				}
				for name, p := range c.principals {
					if p.n != count[p] || p.n <= 0 || p.n > c.per || p.name != name {
						t.Fatalf("step %d: %s counts %d, holds %d", i, name, p.n, count[p])
					}
				}
			}
			c.add("last", "u0", t0, t0.Add(24*time.Hour))
			if len(c.seen) != 1 || len(c.principals) != 1 {
				t.Fatalf("after expiry: %d entries, %d counters", len(c.seen), len(c.principals))
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	kt := krbtest.Keytab(spn, "EXAMPLE.TEST", 2)
	a := acceptor(kt, time.Now())
	tok, _ := krbtest.Token(krbtest.Ticket{Keytab: kt})
	for name, b := range map[string][]byte{
		"empty":     nil,
		"ntlm":      []byte("NTLMSSP\x00\x01\x00\x00\x00"),
		"truncated": tok[:len(tok)/2],
		"trailing":  append(append([]byte{}, tok...), 0),
		"bit flip":  func() []byte { b := append([]byte{}, tok...); b[len(b)-20] ^= 1; return b }(),
	} {
		if l, err := a.Accept(b); err == nil || l != nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestAPRep(t *testing.T) {
	kt := krbtest.Keytab(spn, "EXAMPLE.TEST", 2)
	tok, _ := krbtest.Token(krbtest.Ticket{Keytab: kt, Mutual: true, OID: OIDKerberosMS})
	l, err := acceptor(kt, time.Now()).Accept(tok)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Mutual {
		t.Fatal("mutual-required not seen")
	}
	b, err := l.APRep()
	if err != nil {
		t.Fatal(err)
	}
	oid, inner, err := splitGSS(b)
	if err != nil || !oid.Equal(OIDKerberosMS) || !bytes.Equal(inner[:2], tokAPRep) {
		t.Fatalf("framing: %v %v %x", oid, err, inner[:2])
	}
	var rep messages.APRep
	if err := rep.Unmarshal(inner[2:]); err != nil {
		t.Fatal(err)
	}
	plain, err := crypto.DecryptEncPart(rep.EncPart, l.sessionKey, keyusage.AP_REP_ENCPART)
	if err != nil {
		t.Fatal(err)
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(plain); err != nil {
		t.Fatal(err)
	}
	if !part.CTime.Equal(l.ctime) || part.Cusec != l.cusec {
		t.Errorf("AP-REP time %v.%d, authenticator %v.%d", part.CTime, part.Cusec, l.ctime, l.cusec)
	}
}

func FuzzAccept(f *testing.F) {
	kt := krbtest.Keytab(spn, "EXAMPLE.TEST", 2)
	tok, _ := krbtest.Token(krbtest.Ticket{Keytab: kt})
	f.Add(tok)
	f.Add([]byte{0x60, 0x03, 0x06, 0x01, 0x00})
	now := time.Now()
	f.Fuzz(func(t *testing.T, b []byte) {
		// A fresh acceptor each time, so the seed is not a replay; an
		// accepted token must be the seed itself (or a re-encoding that
		// still carries its sealed ticket and authenticator).
		l, err := acceptor(kt, now).Accept(b)
		if err == nil && (l == nil || l.User != "jdoe") {
			t.Fatalf("accepted %x as %+v", b, l)
		}
	})
}

// A reload builds a new Acceptor; with the old one's replay cache a token
// used before the reload is still refused after it.
func TestReplayAcrossReload(t *testing.T) {
	kt := krbtest.Keytab(spn, "EXAMPLE.TEST", 2)
	old := acceptor(kt, time.Now())
	tok, _ := krbtest.Token(krbtest.Ticket{Keytab: kt})
	if _, err := old.Accept(tok); err != nil {
		t.Fatal(err)
	}
	next := New(Options{Services: old.services, ClientRealms: []string{"EXAMPLE.TEST"}, Replay: old.Replay()})
	if _, err := next.Accept(tok); CauseOf(err) != CauseReplay {
		t.Fatalf("after the reload: %v", err)
	}
}

func TestLoginPrintsNoKey(t *testing.T) {
	kt := krbtest.Keytab(spn, "EXAMPLE.TEST", 2)
	tok, _ := krbtest.Token(krbtest.Ticket{Keytab: kt})
	l, err := acceptor(kt, time.Now()).Accept(tok)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(f, l); strings.Contains(s, fmt.Sprint(l.sessionKey.KeyValue)) || strings.Contains(s, "KeyValue") || !strings.Contains(s, "jdoe@EXAMPLE.TEST") {
			t.Errorf("%s: %s", f, s)
		}
	}
}
