package kerberos

import (
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// sambaTokens returns n fresh tokens for the testdata's Samba ticket (a
// real PAC), each with an authenticator of its own time, and an Acceptor
// whose clock is theirs.
func sambaTokens(tb testing.TB, n int) ([][]byte, *Acceptor) {
	tb.Helper()
	req, enc, _, a := sambaAPReq(tb)
	ct := NewClientTicket(req.Ticket, enc.Key, enc.CName, enc.CRealm)
	ct.now = func() time.Time { return a.now().Add(-time.Second) }
	toks := make([][]byte, n)
	for i := range toks {
		var err error
		if toks[i], err = ct.GSSToken(); err != nil {
			tb.Fatal(err)
		}
	}
	return toks, a
}

// BenchmarkAcceptSamba is one Kerberos login's acceptor work: a fresh
// AP-REQ for a Samba ticket with a real PAC (AES256), decrypted, checked,
// its PAC's signature verified and its groups read, the replay cache
// written.
func BenchmarkAcceptSamba(b *testing.B) {
	const n = 4096
	toks, a := sambaTokens(b, n)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == n {
			b.StopTimer()
			a = New(Options{Services: a.services, ClientRealms: []string{"example.test"}, Now: a.now})
			i = 0
			b.StartTimer()
		}
		if _, err := a.Accept(toks[i]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// A ticket served from the ticket cache is checked as a fresh one is: the
// clock (its end time), the authenticator's key and the replay cache all
// run again on every AP-REQ.
func TestTicketCacheChecksEveryUse(t *testing.T) {
	toks, a := sambaTokens(t, 3)
	if _, err := a.Accept(toks[0]); err != nil {
		t.Fatal(err)
	}
	if len(a.tickets.m) != 1 {
		t.Fatalf("%d tickets cached, want 1", len(a.tickets.m))
	}
	if _, err := a.Accept(toks[0]); CauseOf(err) != CauseReplay {
		t.Fatalf("replay of a cached ticket's token: %v, want cause replay", err)
	}
	// The authenticator sealed with another session key.
	raw, _ := apReqOf(toks[1])
	var req messages.APReq
	if err := req.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	req.EncryptedAuthenticator.Cipher[len(req.EncryptedAuthenticator.Cipher)-1] ^= 1
	b, _ := req.Marshal()
	forged, _ := wrapGSS(OIDKerberos, tokAPReq, b)
	if _, err := a.Accept(forged); CauseOf(err) != CauseMalformed {
		t.Fatalf("cached ticket, authenticator not the session key's: %v, want cause malformed", err)
	}
	// The same ticket after its end time.
	end := a.tickets.m[ticketID(&req.Ticket)].enc.EndTime
	now := a.now
	a.now = func() time.Time { return end.Add(a.skew + time.Minute) }
	if _, err := a.Accept(toks[2]); CauseOf(err) != CauseExpired {
		t.Fatalf("cached ticket past its end: %v, want cause expired", err)
	}
	a.now = now
	if _, err := a.Accept(toks[2]); err != nil {
		t.Fatalf("cached ticket in its time: %v", err)
	}
}

// A ticket cache entry serves only the service key that opened it.
func TestTicketCacheKeyBound(t *testing.T) {
	c := newTicketCache()
	k1 := sealKey(18, 1)
	c.put([32]byte{1}, &openTicket{key: k1, weight: 1})
	if c.get([32]byte{1}, k1) == nil {
		t.Fatal("miss with the same key")
	}
	if c.get([32]byte{1}, sealKey(18, 2)) != nil || c.get([32]byte{1}, types.EncryptionKey{KeyType: 17, KeyValue: k1.KeyValue}) != nil {
		t.Fatal("hit with another key")
	}
	c.maxSize = 3
	for i := byte(2); i < 10; i++ {
		c.put([32]byte{i}, &openTicket{key: k1, weight: 1})
	}
	if len(c.m) != 3 || c.weight != 3 {
		t.Fatalf("%d entries of weight %d, want 3 and 3", len(c.m), c.weight)
	}
	c.put([32]byte{20}, &openTicket{key: k1, weight: c.maxW + 1})
	if c.m[[32]byte{20}] != nil {
		t.Fatal("an entry over the whole bound was kept")
	}
}
