package authorizer

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/delegation"
	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos/krbtest"
	krbcred "github.com/jcmturner/gokrb5/v8/credentials"
)

// delegationObs counts delegation outcomes.
type delegationObs struct {
	nopObserver
	mu  sync.Mutex
	got map[delegation.Outcome]int
}

func (o *delegationObs) Delegated(x delegation.Outcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got[x]++
}

func ccacheStore(t *testing.T) (*delegation.Store, string) {
	d := filepath.Join(t.TempDir(), "cc")
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o710|fs.ModeSetgid)
	s, err := delegation.Open(delegation.Options{Dir: d, Group: strconv.Itoa(os.Getegid())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, d
}

// A Kerberos login that forwards its TGT, at a location with DELEGATE=on,
// gets a cache holding it as KRB5CCNAME, on the login and on the next
// requests of the connection; a location without it gets none, whether
// the login was there or the connection moves there.
func TestDelegationForwarded(t *testing.T) {
	store, dir := ccacheStore(t)
	obs := &delegationObs{got: map[delegation.Outcome]int{}}
	s, tk := krbSite(t, Options{CCaches: store, Observer: obs})
	kdc := krbtest.Keytab("krbtgt/EXAMPLE.TEST", "EXAMPLE.TEST", 2)
	fwd := *tk
	fwd.Forward = &krbtest.Forward{KDCKeytab: kdc}

	c := newClient(42000)
	c.env = map[string]string{"DELEGATE": "on"}
	r := c.do(s.Authorizer, krbToken(t, fwd, true))
	cc := r.Variables["KRB5CCNAME"]
	if r.Status != 200 || !strings.HasPrefix(cc, "FILE:"+dir+"/") {
		t.Fatalf("login: %d %v", r.Status, r.Variables)
	}
	got, err := krbcred.LoadCCache(strings.TrimPrefix(cc, "FILE:"))
	if err != nil || got.GetClientPrincipalName().PrincipalNameString() != "jdoe" || len(got.GetEntries()) != 1 {
		t.Fatalf("the cache: %v", err)
	}
	if r := c.do(s.Authorizer, ""); r.Status != 200 || r.Variables["KRB5CCNAME"] != cc {
		t.Errorf("next request: %d %v", r.Status, r.Variables)
	}
	c.env = nil
	if r := c.do(s.Authorizer, ""); r.Status != 200 || r.Variables["KRB5CCNAME"] != "" {
		t.Errorf("the same connection at a location without DELEGATE: %v", r.Variables)
	}
	// Another login forwarding at a location without DELEGATE: no file.
	c2 := newClient(42001)
	fwd.Now = time.Now().Add(time.Millisecond)
	if r := c2.do(s.Authorizer, krbToken(t, fwd, true)); r.Status != 200 || r.Variables["KRB5CCNAME"] != "" || store.Len() != 1 {
		t.Errorf("login at a location without delegation: %v, %d files", r.Variables, store.Len())
	}
	// A client that delegates nothing at a delegating location: logged
	// in, no file.
	c3 := newClient(42002)
	c3.env = map[string]string{"DELEGATE": "on"}
	if r := c3.do(s.Authorizer, krbToken(t, *tk, true)); r.Status != 200 || r.Variables["KRB5CCNAME"] != "" {
		t.Errorf("no delegation: %d %v", r.Status, r.Variables)
	}
	// A forged KRB-CRED naming another client: logged in as jdoe, no file.
	c4 := newClient(42003)
	c4.env = map[string]string{"DELEGATE": "on"}
	bad := *tk
	bad.Now = time.Now().Add(2 * time.Millisecond)
	bad.Forward = &krbtest.Forward{KDCKeytab: kdc, Client: "Administrator"}
	if r := c4.do(s.Authorizer, krbToken(t, bad, true)); r.Status != 200 || r.Variables["REMOTE_USER"] != "jdoe" || r.Variables["KRB5CCNAME"] != "" {
		t.Errorf("KRB-CRED for another client: %d %v", r.Status, r.Variables)
	}
	// A mistyped DELEGATE is off.
	c5 := newClient(42004)
	c5.env = map[string]string{"DELEGATE": "yes"}
	fwd.Now = time.Now().Add(3 * time.Millisecond)
	if r := c5.do(s.Authorizer, krbToken(t, fwd, true)); r.Status != 200 || r.Variables["KRB5CCNAME"] != "" {
		t.Errorf("DELEGATE=yes: %v", r.Variables)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.got[delegation.Forwarded] != 1 || obs.got[delegation.NoneSent] != 1 || obs.got[delegation.BadKRBCred] != 1 {
		t.Errorf("outcomes %v", obs.got)
	}
}

// NTLM logins at a delegating location get no cache (protocol transition
// is not configured), and the hot path hands none.
func TestDelegationNTLMNone(t *testing.T) {
	store, _ := ccacheStore(t)
	s, _ := krbSite(t, Options{CCaches: store})
	c := newClient(42010)
	c.env = map[string]string{"DELEGATE": "on"}
	if r := c.ntlmLogin(t, s.Authorizer, "jdoe", "EXAMPLE", "pw-EXAMPLE"); r.Status != 200 || r.Variables["KRB5CCNAME"] != "" {
		t.Fatalf("NTLM: %d %v", r.Status, r.Variables)
	}
	if store.Len() != 0 {
		t.Errorf("%d files", store.Len())
	}
}

// A connection that logged in at a location without delegation is asked
// for a cache once at its first request at a delegating one, not at each.
func TestDelegationLateOnce(t *testing.T) {
	store, _ := ccacheStore(t)
	s, _ := krbSite(t, Options{CCaches: store})
	c := newClient(42020)
	if r := c.ntlmLogin(t, s.Authorizer, "jdoe", "EXAMPLE", "pw-EXAMPLE"); r.Status != 200 {
		t.Fatalf("login: %d", r.Status)
	}
	key, _ := connKey(c.params(""))
	if l, _ := s.table.Authenticated(key); l.CCacheTried {
		t.Fatal("tried at a location without delegation")
	}
	c.env = map[string]string{"DELEGATE": "on"}
	if r := c.do(s.Authorizer, ""); r.Status != 200 || r.Variables["KRB5CCNAME"] != "" {
		t.Fatalf("at the delegating location: %d %v", r.Status, r.Variables)
	}
	if l, _ := s.table.Authenticated(key); !l.CCacheTried || l.User != "jdoe" {
		t.Errorf("not marked tried: %+v", l)
	}
}
