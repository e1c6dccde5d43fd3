package kerberos

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/ccache"
	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos/krbtest"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

func TestForwarded(t *testing.T) {
	kt := krbtest.Keytab(spn, "EXAMPLE.TEST", 2)
	kdc := krbtest.Keytab("krbtgt/EXAMPLE.TEST", "EXAMPLE.TEST", 2)
	now := time.Now()
	for _, tc := range []struct {
		name    string
		fwd     *krbtest.Forward
		want    int    // credentials taken
		wantErr string // part of the error
	}{
		{"none", nil, 0, ""},
		{"session key", &krbtest.Forward{KDCKeytab: kdc}, 1, ""},
		{"cleartext", &krbtest.Forward{KDCKeytab: kdc, Cleartext: true}, 1, ""},
		{"same client other case", &krbtest.Forward{KDCKeytab: kdc, Client: "JDoe"}, 1, ""},
		// The KRB-CRED names another client: the application would act
		// as Administrator under REMOTE_USER=jdoe.
		{"other client", &krbtest.Forward{KDCKeytab: kdc, Client: "Administrator"}, 0, "not the login's"},
		{"expired", &krbtest.Forward{KDCKeytab: kdc, Expired: true}, 0, "expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := krbtest.Token(krbtest.Ticket{Keytab: kt, Now: now, Forward: tc.fwd})
			if err != nil {
				t.Fatal(err)
			}
			l, err := acceptor(kt, now).Accept(tok)
			if err != nil {
				t.Fatal(err)
			}
			if l.HasForwarded() != (tc.fwd != nil) || (tc.fwd != nil) != (l.GSSFlags&GSSDelegFlag != 0) {
				t.Fatalf("HasForwarded %v, flags %#x", l.HasForwarded(), l.GSSFlags)
			}
			creds, err := l.Forwarded(now)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(creds) != tc.want {
				t.Fatalf("%d creds, %v", len(creds), err)
			}
			for _, c := range creds {
				if c.Client.String() != "jdoe@EXAMPLE.TEST" || c.Server.String() != "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST" {
					t.Errorf("credential %v", c)
				}
				// The ticket is the KDC's, byte for byte: it opens with
				// the krbtgt key and names the login's client.
				var tkt messages.Ticket
				if err := tkt.Unmarshal(c.Ticket); err != nil {
					t.Fatal(err)
				}
				if err := tkt.DecryptEncPart(kdc, nil); err != nil || tkt.DecryptedEncPart.CName.PrincipalNameString() != "jdoe" {
					t.Fatalf("ticket: %v %v", err, tkt.DecryptedEncPart.CName)
				}
				if !bytes.Equal(tkt.DecryptedEncPart.Key.KeyValue, c.Key.KeyValue) {
					t.Error("the credential's key is not the ticket's session key")
				}
				if c.Flags&(1<<(31-flags.Forwarded)) == 0 {
					t.Errorf("flags %#x: not forwarded", c.Flags)
				}
			}
		})
	}
}

// forwardingLogin is an accepted login whose client forwarded its TGT.
func forwardingLogin(t *testing.T, now time.Time) *Login {
	t.Helper()
	kt := krbtest.Keytab(spn, "EXAMPLE.TEST", 2)
	kdc := krbtest.Keytab("krbtgt/EXAMPLE.TEST", "EXAMPLE.TEST", 2)
	tok, err := krbtest.Token(krbtest.Ticket{Keytab: kt, Now: now, Forward: &krbtest.Forward{KDCKeytab: kdc}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := acceptor(kt, now).Accept(tok)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// A KRB-CRED sealed with another key than the session's is refused, not
// taken as cleartext.
func TestForwardedWrongKey(t *testing.T) {
	now := time.Now()
	l := forwardingLogin(t, now)
	l.sessionKey = types.EncryptionKey{KeyType: l.sessionKey.KeyType, KeyValue: make([]byte, len(l.sessionKey.KeyValue))}
	if _, err := l.Forwarded(now); err == nil || !strings.Contains(err.Error(), "does not decrypt") {
		t.Fatalf("err %v", err)
	}
}

// The cache written from a forwarded TGT reads back with gokrb5's reader
// and with MIT's klist, the reader applications use.
func TestForwardedCCache(t *testing.T) {
	now := time.Now()
	l := forwardingLogin(t, now)
	creds, err := l.Forwarded(now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ccache.Marshal(creds[0].Client, creds)
	if err != nil {
		t.Fatal(err)
	}
	var cc credentials.CCache
	if err := cc.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	e := cc.GetEntries()
	if len(e) != 1 || cc.GetClientPrincipalName().PrincipalNameString() != "jdoe" || cc.GetClientRealm() != "EXAMPLE.TEST" ||
		e[0].Server.PrincipalName.PrincipalNameString() != "krbtgt/EXAMPLE.TEST" || !bytes.Equal(e[0].Key.KeyValue, creds[0].Key.KeyValue) ||
		e[0].EndTime.Unix() != creds[0].EndTime.Unix() || string(e[0].Ticket) != string(creds[0].Ticket) {
		t.Fatalf("read back: %+v", e)
	}
	klist, err := exec.LookPath("klist")
	if err != nil {
		t.Skip("MIT klist (Debian krb5-user, which scripts/deps.sh installs) not found: the cache is not checked against MIT's reader")
	}
	p := filepath.Join(t.TempDir(), "cc")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(klist, "-f", "-c", "FILE:"+p).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Default principal: jdoe@EXAMPLE.TEST") || !strings.Contains(string(out), "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST") {
		t.Fatalf("klist: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Flags: Ff") {
		t.Errorf("klist shows other flags than forwardable+forwarded:\n%s", out)
	}
}

func FuzzKRBCred(f *testing.F) {
	kt := krbtest.Keytab(spn, "EXAMPLE.TEST", 2)
	kdc := krbtest.Keytab("krbtgt/EXAMPLE.TEST", "EXAMPLE.TEST", 2)
	now := time.Now()
	client := ccache.Principal{Realm: "EXAMPLE.TEST", Name: types.NewPrincipalName(1, "jdoe")}
	var key types.EncryptionKey
	for _, clear := range []bool{false, true} {
		tok, _ := krbtest.Token(krbtest.Ticket{Keytab: kt, Now: now, Forward: &krbtest.Forward{KDCKeytab: kdc, Cleartext: clear}})
		l, err := acceptor(kt, now).Accept(tok)
		if err != nil {
			f.Fatal(err)
		}
		key = l.sessionKey
		f.Add(l.deleg)
	}
	f.Add([]byte{0x76, 0x03, 0x30, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		l := &Login{deleg: b, sessionKey: key, client: client}
		creds, err := l.Forwarded(now)
		if err == nil && len(creds) > 0 {
			for _, c := range creds {
				if c.Client.String() != client.String() {
					t.Fatalf("took a credential for %v", c.Client)
				}
			}
		}
	})
}
