package adgroup

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestAccountSearch(t *testing.T) {
	for _, tt := range []struct {
		name string
		upn  bool
		dns  []string
		want string
	}{
		{"jdoe", false, []string{"example.test"}, "(&(objectClass=user)(sAMAccountName=jdoe))"},
		{"jdoe@example.test", true, nil, "(&(objectClass=user)(|(sAMAccountName=jdoe@example.test)(userPrincipalName=jdoe@example.test)))"},
		{"jdoe@EXAMPLE.test", true, []string{"example.test", "EXAMPLE"}, "(&(objectClass=user)(|(sAMAccountName=jdoe@EXAMPLE.test)(userPrincipalName=jdoe@EXAMPLE.test)(sAMAccountName=jdoe)))"},
		{"jdoe@other.test", true, []string{"example.test", "EXAMPLE"}, "(&(objectClass=user)(|(sAMAccountName=jdoe@other.test)(userPrincipalName=jdoe@other.test)))"},
		{"jdoe@example", true, []string{"example.test", "EXAMPLE"}, "(&(objectClass=user)(|(sAMAccountName=jdoe@example)(userPrincipalName=jdoe@example)(sAMAccountName=jdoe)))"},
		{"jdoe@example", true, []string{"example.test", ""}, "(&(objectClass=user)(|(sAMAccountName=jdoe@example)(userPrincipalName=jdoe@example)))"},
		{"*)(x@example.test", true, []string{"example.test"}, `(&(objectClass=user)(|(sAMAccountName=\2a\29\28x@example.test)(userPrincipalName=\2a\29\28x@example.test)(sAMAccountName=\2a\29\28x)))`},
	} {
		if got := accountSearch("DC=x", tt.name, tt.upn, tt.dns...).Filter; got != tt.want {
			t.Errorf("accountSearch(%q, %v, %q) = %s, want %s", tt.name, tt.upn, tt.dns, got, tt.want)
		}
	}
}

func TestIntegrationAccount(t *testing.T) {
	r := newTestResolver(t, testConfig(t))
	ctx := testCtx(t)
	for _, tt := range []struct {
		name string
		upn  bool
		want string
	}{
		{"jdoe", false, "jdoe"},
		{"JDOE", false, "jdoe"},
		{"jDoE", false, "jdoe"},
		{"jdoe@example.test", true, "jdoe"},
		{"JDOE@EXAMPLE.TEST", true, "jdoe"},
		{"jdoe@EXAMPLE", true, "jdoe"}, // Samba takes the NetBIOS name as an implicit UPN suffix
	} {
		got, err := r.Account(ctx, tt.name, tt.upn, "example.test", "EXAMPLE")
		if err != nil || got != tt.want {
			t.Errorf("Account(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	for _, name := range []string{"nosuchuser-xyz", "nosuch@example.test", "jdoe@other.test", "*", "j*", "jdoe\x00", "", "*)(sAMAccountName=jdoe"} {
		if got, err := r.Account(ctx, name, true, "example.test"); !errors.Is(err, ErrNoSuchUser) {
			t.Errorf("Account(%q) = %q, %v; want ErrNoSuchUser", name, got, err)
		}
	}
}

func TestSPNSearch(t *testing.T) {
	if got, want := spnSearch("DC=x", "HTTP/www.example.test").Filter, "(servicePrincipalName=HTTP/www.example.test)"; got != want {
		t.Errorf("filter %s, want %s", got, want)
	}
	if got, want := spnSearch("DC=x", "*)(x").Filter, `(servicePrincipalName=\2a\29\28x)`; got != want {
		t.Errorf("filter %s, want %s", got, want)
	}
}

// The test DC's svc-http holds HTTP/www.example.test (scripts/dc.sh).
func TestIntegrationSPNs(t *testing.T) {
	r := newTestResolver(t, testConfig(t))
	ctx := testCtx(t)
	acct, spns, err := r.SPNs(ctx, "http/WWW.example.test")
	if err != nil || acct != "svc-http" || !slices.ContainsFunc(spns, func(s string) bool { return strings.EqualFold(s, "HTTP/www.example.test") }) {
		t.Errorf("SPNs(http/WWW.example.test) = %q, %q, %v; want svc-http holding HTTP/www.example.test", acct, spns, err)
	}
	if _, _, err := r.SPNs(ctx, "HTTP/nosuch.example.test"); !errors.Is(err, ErrNoSPN) {
		t.Errorf("SPNs of an SPN nobody holds: %v, want ErrNoSPN", err)
	}
}
