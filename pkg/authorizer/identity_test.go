package authorizer

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/goauthenntlm/goauthenntlm/pkg/adgroup"
	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
)

// Issue 12: the identity Apache gets is the account the DC checked. The
// fake DC reads Type3 names as Samba does (dctest.readAsSamba).

func utf16Bytes(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

// rawType3 is a Type3 with raw user bytes and flags of the attacker's,
// whose NTLMv2 response is right for dcUser (what the DC reads) with
// password and no domain.
func rawType3(t *testing.T, ch *ntlmmsg.Challenge, flags ntlmmsg.NegotiateFlags, user []byte, dcUser, password string) []byte {
	t.Helper()
	au, _, err := ntlmmsg.NewAuthenticateV2(ch, dcUser, "", password, "", [8]byte{1}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	au.User, au.Domain, au.Workstation = "", "", ""
	b := au.Marshal()
	binary.LittleEndian.PutUint32(b[60:], uint32(flags|ntlmmsg.NegotiateNTLM|ntlmmsg.ExtendedSessionSecurity))
	// Point the user field at user, appended.
	binary.LittleEndian.PutUint16(b[36:], uint16(len(user)))
	binary.LittleEndian.PutUint16(b[38:], uint16(len(user)))
	binary.LittleEndian.PutUint32(b[40:], uint32(len(b)))
	return append(b, user...)
}

func TestCharsetDesyncRefused(t *testing.T) {
	s := newFakeSite(t, "")
	dc := s.dcs["EXAMPLE"]
	dc.SetPassword("j", "pw-j")
	dc.SetPassword("alice", "pw-alice")
	const uni, oem = ntlmmsg.NegotiateUnicode, ntlmmsg.NegotiateOEM
	for _, tt := range []struct {
		name             string
		type1, type3     ntlmmsg.NegotiateFlags
		user             []byte
		dcUser, password string
		honest           bool
	}{
		{"honest OEM", oem, oem, []byte("jdoe"), "jdoe", "pw-EXAMPLE", true},
		{"honest UNICODE", uni, uni, utf16Bytes("jdoe"), "jdoe", "pw-EXAMPLE", true},
		{"OEM agreed, UNICODE claimed", oem, uni, []byte("jdoe"), "jdoe", "pw-EXAMPLE", false},
		{"UNICODE agreed, OEM claimed", uni, oem, utf16Bytes("jdoe"), "jdoe", "pw-EXAMPLE", false},
		{"j's password, jdoe's bytes", oem, uni, utf16Bytes("jdoe"), "j", "pw-j", false},
		{"NUL in the user", uni, uni, utf16Bytes("alice\x00jdoe"), "alice", "pw-alice", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(41000)
			neg := browserType1("")
			neg.Flags = neg.Flags&^(uni|oem) | tt.type1
			ch := type2Of(t, c.do(s.Authorizer, ntlmHeader(neg)))
			before := len(dc.Logins())
			r := c.do(s.Authorizer, "NTLM "+base64.StdEncoding.EncodeToString(rawType3(t, ch, tt.type3, tt.user, tt.dcUser, tt.password)))
			if tt.honest {
				if r.Status != http.StatusOK || r.Variables["REMOTE_USER"] != tt.dcUser {
					t.Fatalf("honest login: %d %v", r.Status, r.Variables)
				}
				return
			}
			if r.Status == http.StatusOK && r.Variables["REMOTE_USER"] != tt.dcUser {
				t.Fatalf("200 as %q; the DC checked %q", r.Variables["REMOTE_USER"], tt.dcUser)
			}
			if r.Status != http.StatusBadRequest {
				t.Errorf("%d, want 400", r.Status)
			}
			if len(dc.Logins()) != before || dc.Open() != 0 {
				t.Errorf("relayed anyway: DC logins %v, %d open", dc.Logins()[before:], dc.Open())
			}
		})
	}
}

func TestCanonicalAccount(t *testing.T) {
	s := newFakeSite(t, "[auth]\nname_format = \"logon\"\nbind_connections = false")
	dir := &fakeDir{accounts: map[string]string{"jdoe": "jdoe"}}
	s.accounts = &accounts{dir: dir, m: map[string]account{}}
	login := func(user, domain string) (int, string, string) {
		r := newClient(42000).ntlmLogin(t, s.Authorizer, user, domain, "pw-EXAMPLE")
		return r.Status, r.Variables["REMOTE_USER"], r.Variables["AUTH_DOMAIN"]
	}
	for _, typed := range [][2]string{{"JDOE", "EXAMPLE"}, {"jDoE", "example"}, {"jdoe", "example.test"}} {
		if code, user, dom := login(typed[0], typed[1]); code != 200 || user != `EXAMPLE\jdoe` || dom != "EXAMPLE" {
			t.Errorf("%s\\%s: %d %q %q, want 200 EXAMPLE\\jdoe", typed[1], typed[0], code, user, dom)
		}
	}
	if n := dir.calls(&dir.accountCalls); n != 1 {
		t.Errorf("%d directory lookups for three logins of one account, want 1 (kept)", n)
	}

	// The DC accepted it, but the directory cannot say whose it is.
	s.accounts.m = map[string]account{}
	dir.setErr(errors.New("ldap: connection refused"))
	if code, user, _ := login("jdoe", "EXAMPLE"); code != http.StatusServiceUnavailable {
		t.Errorf("directory down: %d %q, want 503", code, user)
	}
	dir.setErr(adgroup.ErrAmbiguous)
	if code, user, _ := login("jdoe", "EXAMPLE"); code != http.StatusForbidden {
		t.Errorf("ambiguous name: %d %q, want 403", code, user)
	}
	dir.setErr(nil)
	dir.accounts = map[string]string{}
	if code, user, _ := login("jdoe", "EXAMPLE"); code != http.StatusForbidden {
		t.Errorf("no such account in the directory: %d %q, want 403", code, user)
	}
}

func TestServedDomainLabels(t *testing.T) {
	dir := newFakeDir()
	s := newFakeSiteWith(t, "[auth]\nfallback_domain = \"EXAMPLE\"\nbind_connections = false", Options{Groups: dir})
	login := func(domain string) (int, string) {
		r := newClient(43000).ntlmLogin(t, s.Authorizer, "jdoe", domain, "pw-EXAMPLE")
		return r.Status, r.Variables["AUTH_DOMAIN"]
	}
	// No trust: the DC checked its own account, fallback_domain's.
	for _, domain := range []string{"TRUSTEDCORP", "ADMINS", "", "example.test"} {
		if code, dom := login(domain); code != 200 || dom != "EXAMPLE" {
			t.Errorf("domain %q: %d AUTH_DOMAIN %q, want EXAMPLE", domain, code, dom)
		}
	}

	// A trusted domain's name: the DC passed it on, the account is not
	// EXAMPLE's. The fake DC checks it as its own, as a DC passing it
	// on to a trusted domain that has a jdoe would accept it.
	s.trusts.m = map[string]trustList{}
	dir.trusts = []adgroup.Trust{{FlatName: "TRUSTEDCORP", Partner: "trustedcorp.example", Attributes: 0x4}}
	for _, domain := range []string{"TRUSTEDCORP", "trustedcorp", "TrustedCorp.Example"} {
		if code, dom := login(domain); code != http.StatusForbidden {
			t.Errorf("trusted domain %q: %d %q, want 403", domain, code, dom)
		}
	}
	if code, dom := login("ADMINS"); code != 200 || dom != "EXAMPLE" {
		t.Errorf("untrusted name with an external trust: %d %q, want 200 EXAMPLE", code, dom)
	}
	// Served names never ask.
	// (Counted apart from group lookups, which a login may start in the
	// background and so land at any time.)
	before := dir.calls(&dir.trustCalls)
	if code, _ := login("EXAMPLE"); code != 200 || dir.calls(&dir.trustCalls) != before {
		t.Errorf("served domain: %d, %d trust list reads", code, dir.calls(&dir.trustCalls)-before)
	}

	// A forest trust routes names it does not list.
	s.trusts.m = map[string]trustList{}
	dir.trusts = []adgroup.Trust{{FlatName: "FOREST", Partner: "forest.example", Attributes: 0x8}}
	if code, _ := login("CHILD"); code != http.StatusForbidden {
		t.Errorf("unknown name with a forest trust: %d, want 403", code)
	}

	// The list is kept: a directory outage after it was read changes
	// nothing; without it, 503.
	dir.setErr(errors.New("ldap: connection refused"))
	if code, _ := login("CHILD"); code != http.StatusForbidden {
		t.Errorf("kept list, directory down: %d, want 403", code)
	}
	s.trusts.m = map[string]trustList{}
	if code, _ := login("ADMINS"); code != http.StatusServiceUnavailable {
		t.Errorf("directory down: %d, want 503", code)
	}
}
