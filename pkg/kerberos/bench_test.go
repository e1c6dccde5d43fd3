package kerberos

import (
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/spnego"
	"github.com/jcmturner/gokrb5/v8/messages"
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
