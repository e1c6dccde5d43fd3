package adgroup

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// jdoe's objectSid on the dev DC.
const jdoeSIDb64 = "AQUAAAAAAAUVAAAAH/L0RuDKyBHxOsLtTgQAAA=="

func TestSID(t *testing.T) {
	raw, _ := base64.StdEncoding.DecodeString(jdoeSIDb64)
	s, err := parseSID(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.String(); got != "S-1-5-21-1190457887-298371808-3988929265-1102" {
		t.Errorf("String = %s", got)
	}
	if rid, ok := s.rid(); !ok || rid != 1102 {
		t.Errorf("rid = %d %v", rid, ok)
	}
	dom, ok := s.domain()
	if !ok || dom.String() != "S-1-5-21-1190457887-298371808-3988929265" {
		t.Errorf("domain = %s", dom)
	}
	du, ok := dom.withRID(513)
	if !ok || du.String() != "S-1-5-21-1190457887-298371808-3988929265-513" {
		t.Errorf("Domain Users = %s", du)
	}
	if _, err := parseSID([]byte(du)); err != nil {
		t.Errorf("derived SID invalid: %v", err)
	}
	if raw[1] != 5 {
		t.Error("domain() modified the original")
	}
	if fv := du.filterValue(); !strings.HasPrefix(fv, `\01\05\00\00`) || len(fv) != 3*len(du) {
		t.Errorf("filterValue = %s", fv)
	}

	for name, b := range map[string][]byte{
		"nil":          nil,
		"short":        {1, 0, 0},
		"revision 2":   {2, 0, 0, 0, 0, 0, 0, 5},
		"count > 15":   append([]byte{1, 16, 0, 0, 0, 0, 0, 5}, make([]byte, 64)...),
		"too short":    {1, 2, 0, 0, 0, 0, 0, 5, 1, 0, 0, 0},
		"too long":     {1, 1, 0, 0, 0, 0, 0, 5, 1, 0, 0, 0, 9},
		"text instead": []byte("S-1-5-21-1-2-3"),
	} {
		if _, err := parseSID(b); !errors.Is(err, errBadSID) {
			t.Errorf("%s: parseSID accepted %x", name, b)
		}
	}
	// A SID with no sub-authorities is valid but has no RID or domain.
	empty, err := parseSID([]byte{1, 0, 0, 0, 0, 0, 0, 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := empty.rid(); ok {
		t.Error("rid of S-1-1")
	}
	if _, ok := empty.domain(); ok {
		t.Error("domain of S-1-1")
	}
	full, _ := parseSID(append([]byte{1, 15, 0, 0, 0, 0, 0, 5}, make([]byte, 60)...))
	if _, ok := full.withRID(1); ok {
		t.Error("withRID past 15 sub-authorities")
	}
}

func TestParseRID(t *testing.T) {
	for in, want := range map[string]int64{"513": 513, "0": 0, "4294967295": 4294967295,
		"": -1, "-1": -1, "4294967296": -1, "51x": -1, " 513": -1, "99999999999": -1} {
		got, ok := parseRID(in)
		if (want < 0) == ok || (ok && int64(got) != want) {
			t.Errorf("parseRID(%q) = %d, %v", in, got, ok)
		}
	}
}

// Directory entries with missing attributes are skipped, not fatal.
func TestToGroupsDefensive(t *testing.T) {
	r := &Resolver{log: testLogger(t)}
	gs := r.toGroups([]*ldap.Entry{
		ldap.NewEntry("CN=B,DC=x", map[string][]string{"sAMAccountName": {"b"}, "cn": {"B"}}),
		ldap.NewEntry("", map[string][]string{"sAMAccountName": {"nodn"}}),
		ldap.NewEntry("CN=NoSAM,DC=x", map[string][]string{"cn": {"NoSAM"}}),
		ldap.NewEntry("CN=No CN\\, really,DC=x", map[string][]string{"sAMAccountName": {"a"}}),
		ldap.NewEntry("cn=b,dc=x", map[string][]string{"sAMAccountName": {"b"}}), // duplicate DN
	})
	if len(gs) != 2 || gs[0].SAM != "a" || gs[0].CN != "No CN, really" || gs[1].SAM != "b" {
		t.Errorf("toGroups = %+v", gs)
	}
}

func TestNewResolverRejects(t *testing.T) {
	ok := LDAPConfig{URLs: []string{"ldaps://127.0.0.12"}, BaseDN: "DC=example,DC=test", BindUser: "u", BindPassword: "p"}
	if _, err := NewResolver(ok, nil); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*LDAPConfig){
		"no URLs":          func(c *LDAPConfig) { c.URLs = nil },
		"plain ldap":       func(c *LDAPConfig) { c.URLs = []string{"ldap://127.0.0.12"} },
		"other scheme":     func(c *LDAPConfig) { c.URLs = []string{"http://127.0.0.12"} },
		"ldapi":            func(c *LDAPConfig) { c.URLs = []string{"ldapi:///run/ldapi"} },
		"user in URL":      func(c *LDAPConfig) { c.URLs = []string{"ldaps://u:p@127.0.0.12"} },
		"no host":          func(c *LDAPConfig) { c.URLs = []string{"ldaps://"} },
		"no base":          func(c *LDAPConfig) { c.BaseDN = "" },
		"bad base":         func(c *LDAPConfig) { c.BaseDN = "not a dn" },
		"no bind user":     func(c *LDAPConfig) { c.BindUser = "" },
		"no bind password": func(c *LDAPConfig) { c.BindPassword = "" },
	} {
		c := ok
		mod(&c)
		if _, err := NewResolver(c, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	st := ok
	st.URLs, st.StartTLS = []string{"ldap://127.0.0.12"}, true
	if _, err := NewResolver(st, nil); err != nil {
		t.Errorf("ldap:// with StartTLS: %v", err)
	}
}

func TestConfigNeverShowsPassword(t *testing.T) {
	c := LDAPConfig{URLs: []string{"ldaps://127.0.0.12"}, BindUser: "u", BindPassword: "s3cret-Pa55"}
	var sb strings.Builder
	for _, s := range []string{c.String(), c.GoString(), c.LogValue().String()} {
		sb.WriteString(s)
	}
	if strings.Contains(sb.String(), "s3cret") {
		t.Errorf("password shown: %s", sb.String())
	}
}

// A server that accepts and then says nothing must not hang Groups: the
// per-operation Timeout and the caller's ctx both bound it.
func TestGroupsBoundedBySilentServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	cfg := LDAPConfig{
		URLs: []string{"ldaps://" + ln.Addr().String()}, BaseDN: "DC=example,DC=test",
		BindUser: "u", BindPassword: "p", Timeout: 300 * time.Millisecond,
	}
	r, err := NewResolver(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	start := time.Now()
	_, err = r.Groups(context.Background(), "jdoe")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
		t.Errorf("Timeout: err %v after %v", err, time.Since(start))
	}

	// r2's query outlives the call that gave up waiting (it is shared and
	// detached), so it must not log through t after the test ends.
	cfg.Timeout = time.Minute
	r2, _ := NewResolver(cfg, nil)
	defer r2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = r2.Groups(ctx, "jdoe")
	if err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("ctx: err %v after %v", err, time.Since(start))
	}

	// StartTLS against the same silent server.
	cfg.URLs, cfg.StartTLS, cfg.Timeout = []string{"ldap://" + ln.Addr().String()}, true, 300*time.Millisecond
	r3, _ := NewResolver(cfg, testLogger(t))
	defer r3.Close()
	start = time.Now()
	if _, err = r3.Groups(context.Background(), "jdoe"); err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("StartTLS: err %v after %v", err, time.Since(start))
	}
}

// rid is the last sub-authority (the relative identifier), ok=false if the
// SID has none.
func (s sid) rid() (uint32, bool) {
	n := s.subAuthorities()
	if n == 0 {
		return 0, false
	}
	return binary.LittleEndian.Uint32([]byte(s[8+4*(n-1):])), true
}

func TestParseSIDString(t *testing.T) {
	for _, s := range []string{"S-1-5-21-1004336348-1177238915-682003330-512", "S-1-18-1", "S-1-5-32-545", "S-1-0"} {
		b, err := parseSIDString(s)
		if err != nil || b.String() != s {
			t.Errorf("%s: %v %s", s, err, b.String())
		}
	}
	for _, s := range []string{"", "S-1", "S-2-5-21", "S-1-5-x", "S-1-5-4294967296", "S-1-281474976710656-1", "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16", "s-1-5-21"} {
		if _, err := parseSIDString(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
}
