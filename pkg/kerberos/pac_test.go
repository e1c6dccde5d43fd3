package kerberos

import (
	"bytes"
	"encoding/base64"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/spnego"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// The testdata are a throwaway test DC's (the stack's Samba 4.17, realm
// EXAMPLE.TEST): the SPNEGO token curl --negotiate sent for jdoe to
// HTTP/www.example.test, the service's keytab, and when it was sent. They
// are no one's secrets; they give a ticket with a real PAC.
func sambaToken(t testing.TB) (tok []byte, a *Acceptor) {
	t.Helper()
	b64, err := os.ReadFile("testdata/samba-jdoe.negotiate")
	if err != nil {
		t.Fatal(err)
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b64)))
	if err != nil {
		t.Fatal(err)
	}
	st, err := spnego.Decode(b)
	if err != nil || st.Init == nil {
		t.Fatalf("not a NegTokenInit: %v", err)
	}
	ts, err := os.ReadFile("testdata/samba-jdoe.time")
	if err != nil {
		t.Fatal(err)
	}
	at, err := time.Parse(time.RFC3339, strings.TrimSpace(string(ts)))
	if err != nil {
		t.Fatal(err)
	}
	kt, err := LoadKeytab("testdata/samba-http.keytab")
	if err != nil {
		t.Fatal(err)
	}
	return st.Init.MechToken, New(Options{
		Services:     []Service{{Principals: []string{"HTTP/www.example.test"}, Keytab: kt}},
		ClientRealms: []string{"example.test"},
		Now:          func() time.Time { return at.Add(time.Second) },
	})
}

// sambaAPReq is the testdata's AP-REQ decoded by gokrb5, its ticket's
// encrypted part decrypted with the service key (req itself is left as
// decoded), the key, and the Acceptor.
func sambaAPReq(tb testing.TB) (messages.APReq, messages.EncTicketPart, types.EncryptionKey, *Acceptor) {
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
	return req, tkt.DecryptedEncPart, key, a
}

func TestSambaPAC(t *testing.T) {
	tok, a := sambaToken(t)
	l, err := a.Accept(tok)
	if err != nil {
		t.Fatal(err)
	}
	if l.User != "jdoe" || l.Realm != "EXAMPLE.TEST" || l.KVNO != 3 || l.EncType != 18 || !l.Mutual {
		t.Errorf("login %+v", l)
	}
	p := l.PAC
	if p == nil || p.Account != "jdoe" || p.Domain != "EXAMPLE" || !strings.HasPrefix(p.UserSID, "S-1-5-21-") {
		t.Fatalf("PAC %+v", p)
	}
	// Domain Users (513, the primary group), WebUsers and PowerUsers
	// (nested: WebUsers is a member), all in the user's domain.
	dom := p.UserSID[:strings.LastIndex(p.UserSID, "-")]
	var primary, others int
	for _, s := range p.GroupSIDs {
		switch {
		case s == dom+"-513":
			primary++
		case strings.HasPrefix(s, dom+"-"):
			others++
		}
	}
	if primary != 1 || others < 2 {
		t.Errorf("group SIDs %v: want %s-513 and at least WebUsers and PowerUsers", p.GroupSIDs, dom)
	}
}

// A PAC changed by someone who can re-encrypt the ticket but cannot make
// the KDC's signatures anew (here: the account name in the validation
// info, jdoe -> jdox) fails the server signature: refused, cause pac.
func TestSambaPACTampered(t *testing.T) {
	req, _, key, a := sambaAPReq(t)
	plain, err := crypto.DecryptEncPart(req.Ticket.EncPart, key, keyusage.KDC_REP_TICKET)
	if err != nil {
		t.Fatal(err)
	}
	name := []byte("j\x00d\x00o\x00e\x00") // UTF-16LE: only the PAC spells it so
	i := bytes.Index(plain, name)
	if i < 0 {
		t.Fatal("no UTF-16 jdoe in the ticket's PAC")
	}
	plain[i+6] = 'x'
	ed, err := crypto.GetEncryptedData(plain, key, keyusage.KDC_REP_TICKET, req.Ticket.EncPart.KVNO)
	if err != nil {
		t.Fatal(err)
	}
	req.Ticket.EncPart = ed
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	forged, err := wrapGSS(OIDKerberos, tokAPReq, b)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := a.Accept(forged); CauseOf(err) != CausePAC {
		t.Fatalf("tampered PAC: %+v, %v; want cause pac", l, err)
	}
}

// With a PAC, the replay-cache share is the account's SID: the one name an
// account cannot spell another way (UPN, sAMAccountName, case) to get
// another share.
func TestReplayShareByPACSID(t *testing.T) {
	tok, a := sambaToken(t)
	l, err := a.Accept(tok)
	if err != nil {
		t.Fatal(err)
	}
	if p := a.replay.principals[l.PAC.UserSID]; p == nil || p.n != 1 || len(a.replay.principals) != 1 {
		t.Fatalf("shares %v, want one entry for %s", a.replay.principals, l.PAC.UserSID)
	}
}

func TestNotDelegable(t *testing.T) {
	dom := "S-1-5-21-1-2-3"
	for _, tc := range []struct {
		name string
		p    PAC
		want bool
	}{
		{"plain", PAC{UserAccountControl: 0x10, GroupSIDs: []string{dom + "-513"}}, false},
		{"sensitive", PAC{UserAccountControl: 0x10 | 0x4000}, true},
		{"protected users", PAC{GroupSIDs: []string{dom + "-513", dom + "-525"}}, true},
		{"RID 1525 is another group", PAC{GroupSIDs: []string{dom + "-1525"}}, false},
	} {
		if got := tc.p.NotDelegable(); got != tc.want {
			t.Errorf("%s: %v", tc.name, got)
		}
	}
}
