package memberships

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	t0        = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	jdoeGroup = []Group{
		{SAM: "Domain Users", CN: "Domain Users", DN: "CN=Domain Users,CN=Users,DC=example,DC=test"},
		{SAM: "WebUsers", CN: "WebUsers", DN: "CN=WebUsers,CN=Users,DC=example,DC=test"},
	}
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func newCache(t *testing.T) (*Cache, *clock) {
	clk := &clock{t: t0}
	return &Cache{Dir: filepath.Join(t.TempDir(), "cache"), Now: clk.Now, Grace: time.Hour}, clk
}

func TestCacheRoundTripFreshness(t *testing.T) {
	c, clk := newCache(t)
	w, err := c.Put(`EXAMPLE\jdoe`, &Entry{User: "jdoe", Domain: "EXAMPLE", Groups: jdoeGroup})
	if err != nil {
		t.Fatal(err)
	}
	if !w.Fetched.Equal(t0) || !w.Expires.Equal(t0.Add(DefaultTTL)) || !w.ServeUntil.Equal(t0.Add(DefaultTTL+time.Hour)) {
		t.Errorf("stamped %+v", w)
	}
	for _, tt := range []struct {
		age          time.Duration
		fresh, serve bool
	}{
		{0, true, true},
		{DefaultTTL - time.Second, true, true},
		{DefaultTTL, false, true},
		{DefaultTTL + time.Hour, false, false},
		{-2 * time.Hour, false, false}, // fetched in the future: a clock step or a copied file
	} {
		clk.Set(t0.Add(tt.age))
		e, fresh, err := c.Get(`example\JDOE`)
		if err != nil || e == nil {
			t.Fatalf("age %v: %v %v", tt.age, e, err)
		}
		if fresh != tt.fresh || c.Servable(e) != tt.serve {
			t.Errorf("age %v: fresh %v servable %v, want %v %v", tt.age, fresh, c.Servable(e), tt.fresh, tt.serve)
		}
		if len(e.Groups) != 2 || e.Groups[1] != jdoeGroup[1] || e.User != "jdoe" || e.Name != `EXAMPLE\jdoe` {
			t.Errorf("read back %+v", e)
		}
	}
	if e, _, err := c.Get("jdoe"); e != nil || err != nil {
		t.Errorf("another name found %v, %v", e, err)
	}
	c.NegativeTTL = time.Minute
	clk.Set(t0)
	c.Put("ghost", &Entry{User: "ghost", Unknown: true})
	clk.Set(t0.Add(time.Minute))
	if _, fresh, _ := c.Get("ghost"); fresh {
		t.Error("negative entry fresh past NegativeTTL")
	}
}

func TestCacheFileNames(t *testing.T) {
	if fileName("JDoe") != fileName("jdoe") {
		t.Error("file name depends on case")
	}
	for _, n := range []string{"../../etc/passwd", "/abs", "a/b", `a\b`, "..", ""} {
		if f := fileName(n); strings.ContainsAny(f, `/\.`) || len(f) != 32 {
			t.Errorf("fileName(%q) = %q", n, f)
		}
	}
}

// TestCacheUntrusted: an entry anyone but the directory's owner could
// have written is refused, whatever it says.
func TestCacheUntrusted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files other owners")
	}
	for _, tt := range []struct {
		name  string
		setup func(c *Cache)
	}{
		{"group-writable directory", func(c *Cache) { os.Chmod(c.Dir, 0o775) }},
		{"world-writable file", func(c *Cache) { os.Chmod(c.Path("bob"), 0o666) }},
		{"file of another owner", func(c *Cache) { os.Chown(c.Path("bob"), 33, 33) }},
		{"symbolic link", func(c *Cache) {
			os.WriteFile(filepath.Join(c.Dir, "elsewhere"), []byte("{}"), 0o644)
			os.Remove(c.Path("bob"))
			os.Symlink("elsewhere", c.Path("bob"))
		}},
		{"a FIFO", func(c *Cache) {
			os.Remove(c.Path("bob"))
			if err := mkfifo(c.Path("bob")); err != nil {
				t.Skip(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newCache(t)
			if _, err := c.Put("bob", &Entry{User: "bob", Groups: jdoeGroup}); err != nil {
				t.Fatal(err)
			}
			tt.setup(c)
			e, _, err := c.Get("bob")
			if e != nil || !errors.Is(err, ErrUntrusted) {
				t.Errorf("Get = %v, %v; want ErrUntrusted", e, err)
			}
		})
	}
	// The reader that must not trust its own user's cache: a cache owned by
	// the helper's user (www-data, uid 33 on Debian) is refused by it.
	c, _ := newCache(t)
	c.Put("bob", &Entry{User: "bob", Groups: jdoeGroup})
	os.Chown(c.Dir, 33, 33)
	os.Chown(c.Path("bob"), 33, 33)
	if e, _, err := c.Get("bob"); e == nil || err != nil {
		t.Fatalf("a cache of one owner: %v %v", e, err)
	}
	ro := &Cache{Dir: c.Dir, ReadOnly: true}
	fm, err := statMeta(c.Path("bob"))
	if err != nil {
		t.Fatal(err)
	}
	if ro.trusted(fm) != nil {
		t.Error("ReadOnly reader (root) refused a cache owned by another user")
	}
}

func TestCacheCorrupt(t *testing.T) {
	const ok = "goauthenntlm-memberships 3\nname\tbob\nuser\tbob\ndomain\tEXAMPLE\nfetched\t1777636800000000000\nexpires\t2093169600000000000\nserve_until\t2093169600000000000\nunknown\t0\n"
	if e, err := decodeEntry([]byte(ok+"group\tWebUsers\tWebUsers\tCN=WebUsers\n"), "BOB"); err != nil || len(e.Groups) != 1 {
		t.Fatalf("the valid sample: %v %v", e, err)
	}
	for name, data := range map[string]string{
		"garbage":              "{garbage",
		"empty":                "",
		"version 2 (JSON)":     `{"v":2,"name":"bob","user":"bob","fetched":"2026-05-01T12:00:00Z","expires":"2036-05-01T12:00:00Z","groups":[{"sam":"WebUsers"}]}`,
		"other user":           strings.Replace(ok, "name\tbob", "name\talice", 1),
		"no expiry":            strings.Replace(ok, "expires\t2093169600000000000\n", "", 1),
		"repeated key":         ok + "user\tjdoe\n",
		"unknown key":          ok + "admin\t1\n",
		"bad time":             strings.Replace(ok, "fetched\t1777636800000000000", "fetched\tyesterday", 1),
		"bad unknown":          strings.Replace(ok, "unknown\t0", "unknown\tyes", 1),
		"group of two fields":  ok + "group\tWebUsers\tWebUsers\n",
		"group without name":   ok + "group\t\tcn\t\n",
		"line without tab":     ok + "group\n",
		"negative with groups": strings.Replace(ok, "unknown\t0", "unknown\t1", 1) + "group\tWebUsers\t\t\n",
	} {
		t.Run(name, func(t *testing.T) {
			c, _ := newCache(t)
			os.MkdirAll(c.Dir, 0o755)
			os.WriteFile(c.Path("bob"), []byte(data), 0o644)
			if e, _, err := c.Get("bob"); e != nil || !errors.Is(err, ErrCorrupt) {
				t.Errorf("Get = %v, %v; want ErrCorrupt", e, err)
			}
			if _, err := c.Put("bob", &Entry{User: "bob"}); err != nil {
				t.Fatal(err)
			}
			if e, _, err := c.Get("bob"); e == nil || err != nil {
				t.Errorf("after Put: %v, %v", e, err)
			}
		})
	}
	// What the directory returns cannot break the format.
	c, _ := newCache(t)
	for _, e := range []*Entry{
		{User: "bob\nname\talice"},
		{User: "bob", Groups: []Group{{SAM: "A\tB"}}},
		{User: "bob", Groups: []Group{{SAM: "A", DN: "CN=A\nunknown\t1"}}},
	} {
		if _, err := c.Put("bob", e); err == nil {
			t.Errorf("Put(%+v) succeeded", e)
		}
	}
}

func TestCachePutRejects(t *testing.T) {
	c, _ := newCache(t)
	for _, e := range []*Entry{nil, {}, {User: "x", Unknown: true, Groups: jdoeGroup}, {User: "x", Groups: []Group{{CN: "only a CN"}}}} {
		if _, err := c.Put("x", e); err == nil {
			t.Errorf("Put(%+v) succeeded", e)
		}
	}
	if _, err := (&Cache{}).Put("x", &Entry{User: "x"}); err == nil {
		t.Error("Put with no Dir succeeded")
	}
}

// FuzzDecodeEntry feeds arbitrary bytes to the cache file decoder. It
// must not panic, must wrap ErrCorrupt on every rejection, and whatever it
// accepts must belong to the requested name and survive a re-encode.
func FuzzDecodeEntry(f *testing.F) {
	f.Add([]byte("goauthenntlm-memberships 3\nname\tjdoe\nuser\tjdoe\ndomain\tEXAMPLE\nfetched\t1777636800000000000\nexpires\t1777647600000000000\nserve_until\t1777651200000000000\nunknown\t0\ngroup\tWebUsers\tWebUsers\tCN=WebUsers,CN=Users,DC=example,DC=test\n"), "jdoe")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		e, err := decodeEntry(data, name)
		if err != nil {
			if e != nil || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeEntry = %v, %v", e, err)
			}
			return
		}
		if !strings.EqualFold(e.Name, name) || e.User == "" || e.Fetched.IsZero() || (e.Unknown && len(e.Groups) > 0) {
			t.Fatalf("accepted invalid entry %+v", e)
		}
		enc, err := encodeEntry(e)
		if err != nil {
			t.Fatalf("accepted entry does not encode: %v", err)
		}
		e2, err := decodeEntry(enc, name)
		if err != nil || e2.Name != e.Name || !e2.Expires.Equal(e.Expires) || len(e2.Groups) != len(e.Groups) {
			t.Fatalf("round trip changed %+v to %+v (%v)", e, e2, err)
		}
	})
}
