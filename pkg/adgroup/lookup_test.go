package adgroup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fakeDir scripts directory answers and counts calls.
type fakeDir struct {
	calls  int
	groups []Group
	err    error
}

func (f *fakeDir) Groups(_ context.Context, user string) ([]Group, error) {
	f.calls++
	return f.groups, f.err
}

var errDown = errors.New("ldap ldaps://127.0.0.12:1: connect: connection refused")

func TestLookupPolicy(t *testing.T) {
	const grace = time.Hour
	tests := []struct {
		name      string
		cached    *Entry        // written before the lookup (Fetched relative to t0)
		corrupt   bool          // a garbage file instead
		age       time.Duration // clock advance after the cache write
		dirErr    error
		dirGroups []Group
		grace     time.Duration

		wantCalls   int
		wantErr     bool
		wantStale   bool
		wantUnknown bool
		wantGroups  int
		wantWritten bool // the cache now holds an entry fetched at the lookup time
		wantGone    bool // the cache holds no file for the user
	}{
		{name: "fresh hit, no LDAP", cached: &Entry{Groups: jdoeGroup}, age: time.Hour,
			dirErr: errDown, grace: grace, wantGroups: 3},
		{name: "cold miss asks LDAP and writes", dirGroups: jdoeGroup, grace: grace,
			wantCalls: 1, wantGroups: 3, wantWritten: true},
		{name: "stale refreshed", cached: &Entry{Groups: jdoeGroup[:1]}, age: DefaultTTL + time.Minute,
			dirGroups: jdoeGroup, grace: grace, wantCalls: 1, wantGroups: 3, wantWritten: true},
		{name: "unknown user answered negative, not written", dirErr: ErrNoSuchUser, grace: grace,
			wantCalls: 1, wantUnknown: true, wantGone: true},
		{name: "user gone: the stale entry is removed", cached: &Entry{Groups: jdoeGroup}, age: DefaultTTL + time.Minute,
			dirErr: ErrNoSuchUser, grace: grace, wantCalls: 1, wantUnknown: true, wantGone: true},
		{name: "fresh negative hit", cached: &Entry{Unknown: true}, age: 30 * time.Second,
			dirGroups: jdoeGroup, grace: grace, wantUnknown: true},
		{name: "expired negative asks again", cached: &Entry{Unknown: true}, age: 2 * time.Minute,
			dirGroups: jdoeGroup, grace: grace, wantCalls: 1, wantGroups: 3, wantWritten: true},
		{name: "stale within grace when LDAP down", cached: &Entry{Groups: jdoeGroup}, age: DefaultTTL + 59*time.Minute,
			dirErr: errDown, grace: grace, wantCalls: 1, wantErr: true, wantStale: true, wantGroups: 3},
		{name: "too stale when LDAP down", cached: &Entry{Groups: jdoeGroup}, age: DefaultTTL + grace,
			dirErr: errDown, grace: grace, wantCalls: 1, wantErr: true},
		{name: "no grace, no stale", cached: &Entry{Groups: jdoeGroup}, age: DefaultTTL,
			dirErr: errDown, grace: 0, wantCalls: 1, wantErr: true},
		{name: "cold and LDAP down", dirErr: errDown, grace: grace, wantCalls: 1, wantErr: true},
		{name: "corrupt file is a miss and is rewritten", corrupt: true, dirGroups: jdoeGroup, grace: grace,
			wantCalls: 1, wantGroups: 3, wantWritten: true},
		{name: "corrupt file and LDAP down", corrupt: true, dirErr: errDown, grace: grace,
			wantCalls: 1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newCache(t)
			if tt.cached != nil {
				e := *tt.cached
				e.User, e.Domain, e.Fetched = "jdoe", "EXAMPLE", t0
				if _, err := c.Put("jdoe", &e); err != nil {
					t.Fatal(err)
				}
			}
			if tt.corrupt {
				os.MkdirAll(c.Dir, 0o755)
				os.WriteFile(c.Path("jdoe"), []byte("{garbage"), 0o644)
			}
			now := t0.Add(tt.age)
			*clk = now
			dir := &fakeDir{groups: tt.dirGroups, err: tt.dirErr}
			e, err := lookup(context.Background(), c, dir.Groups, testLogger(t), "jdoe", "jdoe", "EXAMPLE", tt.grace)
			if dir.calls != tt.wantCalls {
				t.Errorf("LDAP calls = %d, want %d", dir.calls, tt.wantCalls)
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			var stale *StaleError
			if errors.As(err, &stale) != tt.wantStale {
				t.Errorf("stale = %v, want %v (err %v)", !tt.wantStale, tt.wantStale, err)
			}
			if tt.wantStale && !errors.Is(err, errDown) {
				t.Errorf("StaleError does not wrap the cause: %v", err)
			}
			if tt.wantErr && !tt.wantStale {
				if e != nil {
					t.Errorf("entry %+v with a hard error", e)
				}
				return
			}
			if e == nil {
				t.Fatal("nil entry")
			}
			if e.Unknown != tt.wantUnknown || len(e.Groups) != tt.wantGroups {
				t.Errorf("entry = %+v", e)
			}
			if _, err := os.Lstat(c.Path("jdoe")); tt.wantGone && err == nil {
				t.Error("a file is left for a user the directory does not know")
			}
			got, fresh, err := c.Get("jdoe")
			if err != nil {
				t.Fatal(err)
			}
			if written := got != nil && got.Fetched.Equal(now) && fresh; written != tt.wantWritten {
				t.Errorf("cache written = %v, want %v (%+v)", written, tt.wantWritten, got)
			}
		})
	}
}

func TestLookupUnwritableCacheStillAnswers(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	os.WriteFile(file, nil, 0o644)
	c := &Cache{Dir: filepath.Join(file, "cache")}
	dir := &fakeDir{groups: jdoeGroup}
	e, err := lookup(context.Background(), c, dir.Groups, testLogger(t), "jdoe", "jdoe", "EXAMPLE", time.Hour)
	if err != nil || len(e.Groups) != 3 {
		t.Fatalf("Lookup = %v, %v", e, err)
	}
}

// deadResolver points at a loopback port where nothing listens, so every
// LDAP attempt fails fast and is counted in dials.
func deadResolver(t *testing.T) *Resolver {
	r, err := NewResolver(LDAPConfig{
		URLs:         []string{"ldaps://127.0.0.12:1"},
		BaseDN:       "DC=example,DC=test",
		BindUser:     "svc-ntlm@EXAMPLE.TEST",
		BindPassword: "unused",
		Timeout:      2 * time.Second,
	}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// Lookup through a real Resolver whose server is down: the cache alone
// answers while fresh, stale data is served within grace, and a cold
// cache is an error.
func TestLookupWithDeadResolver(t *testing.T) {
	c, clk := newCache(t)
	r := deadResolver(t)
	ctx := context.Background()
	if _, err := c.Put("jdoe", &Entry{User: "jdoe", Domain: "EXAMPLE", Fetched: t0, Groups: jdoeGroup}); err != nil {
		t.Fatal(err)
	}

	*clk = t0.Add(time.Hour)
	e, err := Lookup(ctx, c, r, "jdoe", "jdoe", "EXAMPLE", time.Hour)
	if err != nil || !e.MemberOfAny([]string{"PowerUsers"}) {
		t.Fatalf("fresh: %v, %v", e, err)
	}
	if n := r.dials.Load(); n != 0 {
		t.Fatalf("fresh entry caused %d LDAP connection attempts", n)
	}

	*clk = t0.Add(DefaultTTL + 30*time.Minute)
	e, err = Lookup(ctx, c, r, "jdoe", "jdoe", "EXAMPLE", time.Hour)
	var stale *StaleError
	if !errors.As(err, &stale) || e == nil || !e.MemberOfAny([]string{"WebUsers"}) || !stale.Fetched.Equal(t0) {
		t.Fatalf("stale within grace: %v, %v", e, err)
	}
	if r.dials.Load() == 0 {
		t.Error("stale entry served without trying LDAP")
	}

	*clk = t0.Add(DefaultTTL + 2*time.Hour)
	if e, err = Lookup(ctx, c, r, "jdoe", "jdoe", "EXAMPLE", time.Hour); err == nil || errors.As(err, &stale) || e != nil {
		t.Fatalf("beyond grace: %v, %v", e, err)
	}

	if e, err = Lookup(ctx, c, r, "alice", "alice", "EXAMPLE", time.Hour); err == nil || e != nil {
		t.Fatalf("cold: %v, %v", e, err)
	}
	t.Log(err)

	// A nil resolver is a cache-only lookup.
	*clk = t0
	if e, err = Lookup(ctx, c, nil, "jdoe", "jdoe", "EXAMPLE", 0); err != nil || e == nil {
		t.Fatalf("cache-only: %v, %v", e, err)
	}
}

// Lookup against the dev DC writes the cache, then answers from it.
func TestIntegrationLookup(t *testing.T) {
	r := newTestResolver(t, testConfig(t))
	c, clk := newCache(t)
	ctx := testCtx(t)
	e, err := Lookup(ctx, c, r, "jdoe", "jdoe", "EXAMPLE", time.Hour)
	if err != nil || !e.MemberOfAny([]string{"PowerUsers"}) || e.MemberOfAny([]string{"Outsiders"}) {
		t.Fatalf("Lookup = %+v, %v", e, err)
	}
	dials := r.dials.Load()
	*clk = t0.Add(time.Minute)
	if _, err := Lookup(ctx, c, r, "jdoe", "jdoe", "EXAMPLE", time.Hour); err != nil {
		t.Fatal(err)
	}
	if r.dials.Load() != dials {
		t.Error("fresh entry went to LDAP")
	}
	e, err = Lookup(ctx, c, r, "no-such-user-here", "no-such-user-here", "EXAMPLE", time.Hour)
	if err != nil || !e.Unknown {
		t.Fatalf("unknown user: %+v, %v", e, err)
	}
	// Negative answers stay in memory: anyone who may ask can invent
	// names without end.
	if _, err := os.Lstat(c.Path("no-such-user-here")); err == nil {
		t.Error("negative entry written to disk")
	}
}

var (
	t0        = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	jdoeGroup = []Group{
		{SAM: "Domain Users", CN: "Domain Users", DN: "CN=Domain Users,CN=Users,DC=example,DC=test"},
		{SAM: "PowerUsers", CN: "PowerUsers", DN: "CN=PowerUsers,CN=Users,DC=example,DC=test"},
		{SAM: "WebUsers", CN: "WebUsers", DN: "CN=WebUsers,CN=Users,DC=example,DC=test"},
	}
)

// newCache is a cache in a new directory, on a clock the test sets.
func newCache(t *testing.T) (*Cache, *time.Time) {
	now := t0
	return &Cache{Dir: filepath.Join(t.TempDir(), "cache"), Now: func() time.Time { return now }}, &now
}
