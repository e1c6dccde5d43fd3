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
	req := apReq(tb, tok)
	key := ticketKey(tb, a, req)
	tkt := req.Ticket
	if err := tkt.Decrypt(key); err != nil {
		tb.Fatal(err)
	}
	return *req, tkt.DecryptedEncPart, key, a
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
	forged := frame(t, &req)
	if l, err := a.Accept(forged); CauseOf(err) != CausePAC {
		t.Fatalf("tampered PAC: %+v, %v; want cause pac", l, err)
	}
}

// With a PAC, the replay entry counts against the account's SID: the one
// name an account cannot spell another way (UPN, sAMAccountName, case) to
// count apart.
func TestReplayShareByPACSID(t *testing.T) {
	tok, a := sambaToken(t)
	rec := &recorder{}
	a.replay = rec
	l, err := a.Accept(tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.principals) != 1 || rec.principals[0] != l.PAC.UserSID {
		t.Fatalf("counted against %v, want %s", rec.principals, l.PAC.UserSID)
	}
}

// splice returns the captured token with the client name in its ticket
// and authenticator replaced by name (same length), re-encrypted with the
// service key and the session key: what someone holding the service key
// could make, a PAC of one user in a ticket of another. The PAC is left
// as the KDC signed it.
func splice(t *testing.T, tok []byte, a *Acceptor, name string) []byte {
	t.Helper()
	req := apReq(t, tok)
	key := ticketKey(t, a, req)
	if err := req.Ticket.Decrypt(key); err != nil {
		t.Fatal(err)
	}
	skey := req.Ticket.DecryptedEncPart.Key
	rename := func(ed types.EncryptedData, k types.EncryptionKey, usage uint32) types.EncryptedData {
		plain, err := crypto.DecryptEncPart(ed, k, usage)
		if err != nil {
			t.Fatal(err)
		}
		// The first ASCII jdoe is the client name (cname comes before the
		// authorization data; the PAC spells names in UTF-16).
		i := bytes.Index(plain, []byte("jdoe"))
		if i < 0 {
			t.Fatal("no jdoe")
		}
		copy(plain[i:], name)
		out, err := crypto.GetEncryptedData(plain, k, usage, ed.KVNO)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	req.Ticket.EncPart = rename(req.Ticket.EncPart, key, keyusage.KDC_REP_TICKET)
	req.EncryptedAuthenticator = rename(req.EncryptedAuthenticator, skey, keyusage.AP_REQ_AUTHENTICATOR)
	return frame(t, req)
}

// apReq decodes the AP-REQ in tok.
func apReq(tb testing.TB, tok []byte) *messages.APReq {
	tb.Helper()
	raw, err := apReqOf(tok)
	if err != nil {
		tb.Fatal(err)
	}
	var req messages.APReq
	if err := req.Unmarshal(raw); err != nil {
		tb.Fatal(err)
	}
	return &req
}

// frame is req as a Kerberos GSS-API token again.
func frame(t *testing.T, req *messages.APReq) []byte {
	t.Helper()
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := wrapGSS(OIDKerberos, tokAPReq, b)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// ticketKey is the key of a's first service that opens req's ticket.
func ticketKey(tb testing.TB, a *Acceptor, req *messages.APReq) types.EncryptionKey {
	tb.Helper()
	key, _, rerr := a.key(&a.services[0], "HTTP/www.example.test", req.Ticket.Realm, req.Ticket.EncPart.KVNO, req.Ticket.EncPart.EType)
	if rerr != nil {
		tb.Fatal(rerr)
	}
	return key
}

// The PAC's client info must name the ticket's client (in any case, as AD
// compares names): jdoe's PAC in a ticket of jdox is refused, cause
// pac_client, where it was accepted with jdoe's account and groups.
func TestSambaPACClient(t *testing.T) {
	tok, a := sambaToken(t)
	if l, err := a.Accept(splice(t, tok, a, "jdox")); CauseOf(err) != CausePACClient {
		t.Fatalf("jdoe's PAC in jdox's ticket: %+v, %v; want cause %s", l, err, CausePACClient)
	}
	_, a = sambaToken(t)
	l, err := a.Accept(splice(t, tok, a, "JDOE"))
	if err != nil || l.PAC == nil || l.PAC.Account != "jdoe" {
		t.Fatalf("the same name in another case: %+v, %v", l, err)
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
