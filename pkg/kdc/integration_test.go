package kdc_test

import (
	"bufio"
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/kdc"
	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos"
)

// The test stack's DC (make test sets GOAUTHENNTLM_TEST_DC to its SMB
// address; its KDC is on port 88 of the same host) and its fixed users.
func stackKDC(t *testing.T) *kdc.Client {
	t.Helper()
	addr := os.Getenv("GOAUTHENNTLM_TEST_DC")
	if addr == "" || testing.Short() {
		t.Skip("GOAUTHENNTLM_TEST_DC not set (make test sets it): no DC to ask")
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return kdc.New(kdc.Config{Realm: "EXAMPLE.TEST", KDCs: []string{host}})
}

func TestStackLogin(t *testing.T) {
	c := stackKDC(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, u := range []kdc.User{{Name: "jdoe"}, {Name: "JDOE"}, {Name: "jdoe@example.test", Enterprise: true}} {
		tgt, err := c.Login(ctx, u, "Secr3t!Pass")
		if err != nil {
			t.Fatalf("Login(%+v): %v", u, err)
		}
		if got := tgt.ClientName(); got != "jdoe@EXAMPLE.TEST" {
			t.Errorf("Login(%+v): client %q, want the canonical jdoe@EXAMPLE.TEST", u, got)
		}
		st, err := c.ServiceTicket(ctx, tgt, "HTTP/www.example.test")
		if err != nil {
			t.Fatalf("ServiceTicket: %v", err)
		}
		if got := st.Ticket.SName.PrincipalNameString(); got != "HTTP/www.example.test" {
			t.Errorf("service ticket for %q", got)
		}
		acceptWithStackKeytab(t, st)
	}
	for _, tc := range []struct {
		user, pass string
		want       kdc.Cause
	}{
		{"jdoe", "wrong-password", kdc.CauseCredentials},
		{"nosuchuser", "Secr3t!Pass", kdc.CauseCredentials},
	} {
		_, err := c.Login(ctx, kdc.User{Name: tc.user}, tc.pass)
		if got := kdc.CauseOf(err); got != tc.want {
			t.Errorf("Login(%s): %v, want cause %s", tc.user, err, tc.want)
		}
	}
	tgt, err := c.Login(ctx, kdc.User{Name: "jdoe"}, "Secr3t!Pass")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ServiceTicket(ctx, tgt, "HTTP/nosuch.example.test"); kdc.CauseOf(err) != kdc.CauseService {
		t.Errorf("ticket for an unknown SPN: %v, want %s", err, kdc.CauseService)
	}
}

// acceptWithStackKeytab opens st with the stack's keytab (GOAUTHENNTLM_STACK's
// KEYTAB) through package kerberos's acceptor, as a Basic login does.
func acceptWithStackKeytab(t *testing.T, st *kdc.Credential) {
	t.Helper()
	f, err := os.Open(os.Getenv("GOAUTHENNTLM_STACK"))
	if err != nil {
		t.Logf("no stack.env (%v): the ticket is not opened", err)
		return
	}
	defer f.Close()
	var path string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if v, ok := strings.CutPrefix(sc.Text(), "KEYTAB="); ok {
			path = v
		}
	}
	kt, err := kerberos.LoadKeytab(path)
	if err != nil {
		t.Fatal(err)
	}
	a := kerberos.New(kerberos.Options{ClientRealms: []string{"example.test"},
		Services: []kerberos.Service{{Principals: []string{"HTTP/www.example.test"}, Keytab: kt}}})
	tok, err := kerberos.NewClientTicket(st.Ticket, st.Key, st.Client, st.ClientRealm).GSSToken()
	if err != nil {
		t.Fatal(err)
	}
	l, err := a.Accept(tok)
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	if l.PAC == nil || l.PAC.Account != "jdoe" || len(l.PAC.GroupSIDs) == 0 {
		t.Errorf("login %+v, PAC %+v", l, l.PAC)
	}
}
