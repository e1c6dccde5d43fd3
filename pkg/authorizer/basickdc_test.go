package authorizer

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/conntable"
	"github.com/goauthenntlm/goauthenntlm/pkg/kdc"
	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos"
	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos/krbtest"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

func TestBasicCache(t *testing.T) {
	now := time.Now()
	c := newBasicCache(time.Minute, 3)
	jdoe := conntable.Login{User: "jdoe", Domain: "EXAMPLE"}
	k := c.key("EXAMPLE", "jdoe", "right")
	c.put(k, jdoe, now)
	if l, ok := c.get(k, now.Add(59*time.Second)); !ok || l.User != "jdoe" {
		t.Errorf("hit within the TTL: %+v %v", l, ok)
	}
	if _, ok := c.get(k, now.Add(time.Minute)); ok {
		t.Error("hit after the TTL")
	}
	// Another password, another user, another domain: other keys.
	for _, o := range [][3]string{{"EXAMPLE", "jdoe", "wrong"}, {"EXAMPLE", "alice", "right"}, {"OTHER", "jdoe", "right"}, {"EXAMPLE", "jdoe\x00", "right"}} {
		if _, ok := c.get(c.key(o[0], o[1], o[2]), now); ok {
			t.Errorf("%q hits jdoe's entry", o)
		}
	}
	// Another process (another HMAC key) does not share keys.
	if newBasicCache(time.Minute, 3).key("EXAMPLE", "jdoe", "right") == k {
		t.Error("two caches make the same key")
	}
	// Bounded: never more than max entries.
	for i := 0; i < 10; i++ {
		c.put(c.key("EXAMPLE", "u", string(rune('a'+i))), jdoe, now)
		if c.len() > 3 {
			t.Fatalf("%d entries, max 3", c.len())
		}
	}
	// Off: nothing held.
	off := newBasicCache(0, 3)
	off.put(k, jdoe, now)
	if _, ok := off.get(k, now); ok {
		t.Error("a cache with TTL 0 answered")
	}
}

// fakeKDC takes password for any user and issues service tickets under
// kt, as the KDC of EXAMPLE.TEST would; err, when set, is its answer to
// every login.
type fakeKDC struct {
	password string
	kt       *keytab.Keytab
	err      error
	logins   int
}

func (f *fakeKDC) Login(_ context.Context, u kdc.User, password string) (*kdc.Credential, error) {
	f.logins++
	if f.err != nil {
		return nil, f.err
	}
	if password != f.password {
		return nil, &kdc.Error{Cause: kdc.CauseCredentials}
	}
	name := u.Name
	if u.Enterprise {
		name, _, _ = strings.Cut(name, "@")
	}
	return &kdc.Credential{Client: types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, name), ClientRealm: "EXAMPLE.TEST"}, nil
}

func (f *fakeKDC) ServiceTicket(_ context.Context, tgt *kdc.Credential, spn string) (*kdc.Credential, error) {
	now := time.Now()
	tkt, key, err := messages.NewTicket(tgt.Client, tgt.ClientRealm, types.NewPrincipalName(nametype.KRB_NT_SRV_INST, spn), "EXAMPLE.TEST",
		types.NewKrbFlags(), f.kt, etypeID.AES256_CTS_HMAC_SHA1_96, 2, now, now, now.Add(time.Hour), now.Add(time.Hour))
	if err != nil {
		return nil, err
	}
	return &kdc.Credential{Ticket: tkt, Key: key, Client: tgt.Client, ClientRealm: tgt.ClientRealm}, nil
}

func TestBasicByKDC(t *testing.T) {
	basic := func(user, password string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	}
	site := func(t *testing.T, f *fakeKDC, extra string, opts ...Options) *fakeSite {
		kt := krbtest.Keytab("HTTP/www.example.test", "EXAMPLE.TEST", 2)
		f.kt = kt
		acc := kerberos.New(kerberos.Options{
			Services:     []kerberos.Service{{Realm: "EXAMPLE.TEST", Principals: []string{"HTTP/www.example.test"}, Keytab: kt}},
			ClientRealms: []string{"example.test"},
		})
		conf := "[auth]\nschemes = [\"negotiate\", \"basic\"]\nallow_basic_over_http = true\nserver_names = [\"www.example.test\"]\n" + extra
		opt := Options{}
		if len(opts) > 0 {
			opt = opts[0]
		}
		opt.Kerberos, opt.NewKDC = acc, func(*config.Domain) KDC { return f }
		return newFakeSiteDomains(t, conf, "keytab_file = \"/unused\"\nbasic = \"kerberos\"\n", opt)
	}
	t.Run("logins and the cache", func(t *testing.T) {
		f := &fakeKDC{password: "right"}
		s := site(t, f, "")
		for _, u := range []string{"jdoe", `EXAMPLE\jdoe`, "jdoe@example.test"} {
			r := newClient(42000).do(s.Authorizer, basic(u, "right"))
			if r.Status != 200 || r.Variables["REMOTE_USER"] != "jdoe" {
				t.Errorf("Basic %s: %d %v", u, r.Status, r.Variables)
			}
		}
		if n := len(s.dcs["EXAMPLE"].Logins()); n != 0 {
			t.Errorf("%d NTLM logins at the DC for Basic checked by the KDC", n)
		}
		before := f.logins
		c := newClient(42001)
		for i := 0; i < 5; i++ {
			if r := c.do(s.Authorizer, basic("jdoe", "right")); r.Status != 200 {
				t.Errorf("repeated request %d: %d", i, r.Status)
			}
		}
		if f.logins != before {
			t.Errorf("%d KDC logins for 5 repeated requests with a cached password, want 0", f.logins-before)
		}
		// A right password, then a wrong one on the same connection: the
		// wrong one goes to the KDC and is refused, and never to NTLM.
		start := time.Now()
		if r := c.do(s.Authorizer, basic("jdoe", "wrong")); r.Status != 401 {
			t.Errorf("wrong password after a right one: %d, want 401", r.Status)
		}
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Errorf("refused after %s, before the refusal floor", d)
		}
		if n := len(s.dcs["EXAMPLE"].Logins()); n != 0 {
			t.Errorf("a refused Basic password went on to NTLM (%d DC logins)", n)
		}
	})
	for _, tc := range []struct {
		cause  kdc.Cause
		status int
	}{
		{kdc.CauseCredentials, 401}, {kdc.CauseDisabled, 401}, {kdc.CauseLocked, 401}, {kdc.CauseMustChange, 401},
		{kdc.CauseUnreachable, 503}, {kdc.CauseSkew, 503}, {kdc.CauseService, 503}, {kdc.CauseProtocol, 503},
	} {
		t.Run(string(tc.cause), func(t *testing.T) {
			s := site(t, &fakeKDC{err: &kdc.Error{Cause: tc.cause}}, "refusal_floor = \"0s\"\n")
			r := newClient(42002).do(s.Authorizer, basic("jdoe", "right"))
			if r.Status != tc.status {
				t.Errorf("%s: %d, want %d", tc.cause, r.Status, tc.status)
			}
			if tc.status == 503 && r.Header.Get("Retry-After") == "" {
				t.Errorf("%s: 503 without Retry-After", tc.cause)
			}
		})
	}
	t.Run("ticket our keytab does not open", func(t *testing.T) {
		f := &fakeKDC{password: "right"}
		s := site(t, f, "")
		f.kt = krbtest.Keytab("HTTP/www.example.test", "EXAMPLE.TEST", 3) // another key: not the real KDC
		if r := newClient(42003).do(s.Authorizer, basic("jdoe", "right")); r.Status != 503 {
			t.Errorf("a service ticket the keytab does not open: %d, want 503", r.Status)
		}
	})
	t.Run("typed domain not served", func(t *testing.T) {
		f := &fakeKDC{password: "right"}
		s := site(t, f, "fallback_domain = \"EXAMPLE\"\n", Options{Groups: newFakeDir()})
		if r := newClient(42004).do(s.Authorizer, basic(`OTHER\jdoe`, "right")); r.Status != 401 || f.logins != 0 {
			t.Errorf("OTHER\\jdoe under fallback_domain: %d after %d KDC logins, want 401 and none", r.Status, f.logins)
		}
	})
}
