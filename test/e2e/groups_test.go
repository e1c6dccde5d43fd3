//go:build linux

package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/memberships"
)

// The three group routes, on the same matrix (test site: apache/test-site.conf.in):
//
//	/webusers/       Require external-group (ntlm-group-check)
//	/expr/webusers/  Require expr on the AD_GROUPS variable the authorizer exports
//	/authz/webusers/ the authorizer's own authz provider
var groupRoutes = []string{"", "/expr", "/authz"}

// membership is the fixed data set: PowerUsers contains the group
// WebUsers, so jdoe is a PowerUser by nesting.
var membership = map[string]map[string]bool{
	"jdoe":  {"webusers": true, "powerusers": true, "outsiders": false},
	"alice": {"webusers": false, "powerusers": false, "outsiders": false},
	"bob":   {"webusers": false, "powerusers": false, "outsiders": true},
}

// nonMember is what a signed-in user who is not in the group gets on each
// route (issue 34): 403 where the site sets AuthzSendForbiddenOnFailure;
// Require expr naming REMOTE_USER reports "no authenticated user" to
// mod_authz_core, which always answers that with 401.
var nonMember = map[string]int{"": 403, "/expr": 401, "/authz": 403}

func TestGroupMatrix(t *testing.T) {
	s := loadStack(t)
	for _, route := range groupRoutes {
		for user, groups := range membership {
			cl := ntlmClient(nil)
			for group, member := range groups {
				name := strings.TrimPrefix(route+"/", "/") + group + "/" + user
				t.Run(name, func(t *testing.T) {
					code, body := get(t, cl, s.url(route+"/"+group+"/whoami"), `EXAMPLE\`+user, users[user])
					switch {
					case member && (code != 200 || body != user):
						t.Errorf("member: %d %q, want 200 %q", code, body, user)
					case !member && code != nonMember[route]:
						t.Errorf("not a member: %d %q, want %d", code, body, nonMember[route])
					}
				})
			}
		}
	}
}

// TestNonMemberForbidden: the 403 comes only after a login the DC accepted;
// a wrong password on a group route is still a 401 with the challenges,
// so a client can try again (and a guesser learns nothing there).
func TestNonMemberForbidden(t *testing.T) {
	s := loadStack(t)
	for _, route := range groupRoutes {
		out := curl(t, "-o", "/dev/null", "-D", "-", "--ntlm", "-u", `EXAMPLE\alice:wrong-`+users["alice"], s.url(route+"/webusers/whoami"))
		if !strings.HasPrefix(out, "HTTP/1.1 401") || strings.Count(strings.ToLower(out), "www-authenticate: ") < 2 {
			t.Errorf("%s/webusers/ with a wrong password: want 401 with a challenge each time, got\n%s", route, out)
		}
	}
}

// The authorizer exports the groups in a form Require expr can match
// exactly: nested and primary groups included, whole names only.
func TestExportedGroups(t *testing.T) {
	s := loadStack(t)
	code, body := get(t, ntlmClient(nil), s.url("/private/env"), `EXAMPLE\jdoe`, users["jdoe"])
	if code != 200 {
		t.Fatalf("/private/env: %d", code)
	}
	var groups string
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, "AD_GROUPS="); ok {
			groups = v
		}
	}
	for _, g := range []string{"|WebUsers|", "|PowerUsers|", "|Domain Users|"} {
		if !strings.Contains(groups, g) {
			t.Errorf("AD_GROUPS=%q lacks %s", groups, g)
		}
	}
	if strings.Contains(groups, "Outsiders") {
		t.Errorf("AD_GROUPS=%q names Outsiders", groups)
	}
}

// Removing a user from a group at the DC takes effect when the cache
// entry expires, not before (the stack runs with a short cache_ttl).
func TestGroupRemovalHonoursTTL(t *testing.T) {
	s := loadStack(t)
	if testing.Short() {
		t.Skip("waits for the cache TTL: not in -short")
	}
	ttl, err := time.ParseDuration(s.env["GROUPS_TTL"])
	if err != nil || ttl > 2*time.Minute {
		t.Skipf("stack.env GROUPS_TTL=%q: this test needs a short cache TTL (make test sets one)", s.env["GROUPS_TTL"])
	}
	cl := ntlmClient(nil)
	if code, _ := get(t, cl, s.url("/webusers/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 200 {
		t.Fatalf("jdoe on /webusers before removal: %d", code)
	}
	samba(t, s, "group", "removemembers", "WebUsers", "jdoe")
	defer func() {
		// Put jdoe back, and wait until every cache (the files, the
		// authorizer's memory) has let go of the removal, so that the
		// tests after this one see the fixed data set again.
		samba(t, s, "group", "addmembers", "WebUsers", "jdoe")
		os.Remove((&memberships.Cache{Dir: s.env["GROUPS_CACHE"]}).Path("jdoe"))
		deadline := time.Now().Add(ttl + 30*time.Second)
		for {
			if code, _ := get(t, ntlmClient(nil), s.url("/expr/webusers/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code == 200 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("jdoe back in WebUsers, still refused on /expr/webusers after %v", ttl+30*time.Second)
			}
			time.Sleep(2 * time.Second)
		}
	}()

	// Still cached: still allowed.
	if code, _ := get(t, cl, s.url("/webusers/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 200 {
		t.Errorf("right after removal, within the TTL: %d, want 200 from the cache", code)
	}
	deadline := time.Now().Add(ttl + 30*time.Second)
	for {
		time.Sleep(2 * time.Second)
		code, _ := get(t, ntlmClient(nil), s.url("/webusers/whoami"), `EXAMPLE\jdoe`, users["jdoe"])
		if code == 401 || code == 403 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("TTL %v passed 30 s ago, jdoe still gets %d on /webusers", ttl, code)
		}
	}
}

// With the directory down, a warm cache still answers; a cold one
// refuses, and says why in Apache's error log.
func TestGroupsWithLDAPDown(t *testing.T) {
	s := loadStack(t)
	if testing.Short() {
		t.Skip("stops and starts the DC: not in -short")
	}
	jd, al := ntlmClient(nil), ntlmClient(nil)
	// Log in (and so warm the cache) while the DC is up.
	if code, _ := get(t, jd, s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 200 {
		t.Fatalf("jdoe login: %d", code)
	}
	if code, _ := get(t, al, s.url("/private/whoami"), `EXAMPLE\alice`, users["alice"]); code != 200 {
		t.Fatalf("alice login: %d", code)
	}
	waitCached(t, s, "jdoe")
	waitCached(t, s, "alice")

	s.ctl(t, "dc-stop")
	defer s.ctl(t, "dc-start")
	// alice's entry goes, and a reload empties the authorizer's memory:
	// her next check finds a cold cache everywhere.
	cache := &memberships.Cache{Dir: s.env["GROUPS_CACHE"]}
	if err := os.Remove(cache.Path("alice")); err != nil {
		t.Fatal(err)
	}
	s.reload(t)
	errOff := fileSize(t, s.env["APACHE_ERROR_LOG"])

	// Same keep-alive connections: no new login is needed.
	if code, body := get(t, jd, s.url("/webusers/whoami"), "", ""); code != 200 || body != "jdoe" {
		t.Errorf("warm cache, LDAP down: %d %q, want 200 jdoe", code, body)
	}
	if code, _ := get(t, al, s.url("/outsiders/whoami"), "", ""); code == 200 {
		t.Errorf("cold cache, LDAP down: %d, want a refusal", code)
	}
	logged := readFrom(t, s.env["APACHE_ERROR_LOG"], errOff)
	if !strings.Contains(logged, `ntlm-group-check: groups of alice`) {
		t.Errorf("Apache's error log lacks the helper's reason; it has:\n%s", logged)
	}
}

func waitCached(t *testing.T, s *stack, user string) {
	t.Helper()
	cache := &memberships.Cache{Dir: s.env["GROUPS_CACHE"]}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if e, fresh, _ := cache.Get(user); e != nil && fresh {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no cache entry for %s 20 s after login", user)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func samba(t *testing.T, s *stack, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args = append(args, "-s", s.env["DC_DIR"]+"/etc/smb.conf")
	if out, err := exec.CommandContext(ctx, "samba-tool", args...).CombinedOutput(); err != nil {
		t.Fatalf("samba-tool %v: %v\n%s", args, err, out)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func readFrom(t *testing.T, path string, off int64) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if off > int64(len(b)) {
		off = 0
	}
	return string(b[off:])
}
