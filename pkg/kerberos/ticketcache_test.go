package kerberos

import (
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/spnego"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// sambaTokens returns n fresh tokens for the testdata's Samba ticket (a
// real PAC), each with an authenticator of its own time, and an Acceptor
// whose clock is theirs.
func sambaTokens(tb testing.TB, n int) ([][]byte, *Acceptor) {
	tb.Helper()
	tok, a := sambaToken(tb)
	raw, err := apReqOf(tok)
	if err != nil {
		tb.Fatal(err)
	}
	var req messages.APReq
	if err := req.Unmarshal(raw); err != nil {
		tb.Fatal(err)
	}
	key, _, rerr := a.key(&a.services[0], "HTTP/www.example.test", req.Ticket.Realm, req.Ticket.EncPart.KVNO, req.Ticket.EncPart.EType)
	if rerr != nil {
		tb.Fatal(rerr)
	}
	tkt := req.Ticket
	if err := tkt.Decrypt(key); err != nil {
		tb.Fatal(err)
	}
	enc := tkt.DecryptedEncPart
	ct := &ClientTicket{tkt: req.Ticket, key: enc.Key, cname: enc.CName, realm: enc.CRealm, base: a.now().Add(-time.Second)}
	toks := make([][]byte, n)
	for i := range toks {
		w, err := ct.Token()
		if err != nil {
			tb.Fatal(err)
		}
		st, err := spnego.Decode(w)
		if err != nil || st.Init == nil {
			tb.Fatalf("not a NegTokenInit: %v", err)
		}
		toks[i] = st.Init.MechToken
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
