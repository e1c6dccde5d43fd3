package adgroup

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	t0        = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	jdoeGroup = []Group{
		{SAM: "Domain Users", CN: "Domain Users", DN: "CN=Domain Users,CN=Users,DC=example,DC=test"},
		{SAM: "PowerUsers", CN: "PowerUsers", DN: "CN=PowerUsers,CN=Users,DC=example,DC=test"},
		{SAM: "WebUsers", CN: "WebUsers", DN: "CN=WebUsers,CN=Users,DC=example,DC=test"},
	}
)

// clock is a settable Now for Cache.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func newCache(t *testing.T) (*Cache, *clock) {
	clk := &clock{t: t0}
	return &Cache{Dir: filepath.Join(t.TempDir(), "cache"), Now: clk.Now}, clk
}

func TestCacheFreshness(t *testing.T) {
	tests := []struct {
		name    string
		unknown bool
		age     time.Duration
		fresh   bool
	}{
		{"new", false, 0, true},
		{"almost expired", false, DefaultTTL - time.Second, true},
		{"expired", false, DefaultTTL, false},
		{"long expired", false, 48 * time.Hour, false},
		{"negative new", true, 0, true},
		{"negative almost", true, DefaultNegativeTTL - time.Second, true},
		{"negative expired", true, DefaultNegativeTTL, false},
		{"small future skew", false, -30 * time.Second, true},
		{"far future", false, -2 * time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newCache(t)
			e := &Entry{User: "jdoe", Domain: "EXAMPLE", Fetched: t0, Unknown: tt.unknown}
			if !tt.unknown {
				e.Groups = jdoeGroup
			}
			if err := c.Put(e); err != nil {
				t.Fatal(err)
			}
			clk.Set(t0.Add(tt.age))
			got, fresh, err := c.Get("jdoe", "EXAMPLE")
			if err != nil || got == nil {
				t.Fatalf("Get = %v, %v", got, err)
			}
			if fresh != tt.fresh {
				t.Errorf("fresh = %v, want %v", fresh, tt.fresh)
			}
			if !got.Fetched.Equal(t0) || got.Unknown != tt.unknown {
				t.Errorf("got %+v", got)
			}
		})
	}
}

func TestCacheCustomTTL(t *testing.T) {
	c, clk := newCache(t)
	c.TTL, c.NegativeTTL = 10*time.Minute, 5*time.Second
	c.Put(&Entry{User: "jdoe", Domain: "EXAMPLE", Fetched: t0, Groups: jdoeGroup})
	c.Put(&Entry{User: "ghost", Domain: "EXAMPLE", Fetched: t0, Unknown: true})
	clk.Set(t0.Add(6 * time.Second))
	if _, fresh, _ := c.Get("ghost", "EXAMPLE"); fresh {
		t.Error("negative entry fresh after NegativeTTL")
	}
	if _, fresh, _ := c.Get("jdoe", "EXAMPLE"); !fresh {
		t.Error("entry stale before TTL")
	}
	clk.Set(t0.Add(10 * time.Minute))
	if _, fresh, _ := c.Get("jdoe", "EXAMPLE"); fresh {
		t.Error("entry fresh after TTL")
	}
}

func TestCacheRoundTripAndNames(t *testing.T) {
	c, _ := newCache(t)
	in := &Entry{User: "JDoe", Domain: "Example", Fetched: t0.Add(123 * time.Millisecond), Groups: jdoeGroup}
	if err := c.Put(in); err != nil {
		t.Fatal(err)
	}
	// Names match case-insensitively, like Windows names.
	got, fresh, err := c.Get("jdoe", "EXAMPLE")
	if err != nil || !fresh {
		t.Fatalf("Get = %v, %v, %v", got, fresh, err)
	}
	if !reflect.DeepEqual(got.Groups, in.Groups) || got.User != "JDoe" || got.Domain != "Example" || !got.Fetched.Equal(in.Fetched) {
		t.Errorf("round trip: %+v != %+v", got, in)
	}
	// Another domain is another entry.
	if e, _, err := c.Get("jdoe", "OTHER"); e != nil || err != nil {
		t.Errorf("other domain: %v, %v", e, err)
	}
	// The file name is the documented hash; no user text in the path.
	names, _ := os.ReadDir(c.Dir)
	if len(names) != 1 || len(names[0].Name()) != 64 || strings.Trim(names[0].Name(), "0123456789abcdef") != "" {
		t.Errorf("dir holds %v, want one hex name", names)
	}
	// The format is the documented one.
	raw, _ := os.ReadFile(c.Path("jdoe", "example"))
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"v", "user", "domain", "fetched", "unknown", "groups"} {
		if _, ok := m[k]; !ok {
			t.Errorf("file lacks %q: %s", k, raw)
		}
	}
	if m["v"] != 1.0 {
		t.Errorf("v = %v", m["v"])
	}
	if _, err := time.Parse(time.RFC3339, m["fetched"].(string)); err != nil {
		t.Errorf("fetched not RFC 3339: %v", err)
	}
	g := m["groups"].([]any)[0].(map[string]any)
	if g["sam"] != "Domain Users" || g["cn"] != "Domain Users" || g["dn"] == nil {
		t.Errorf("group form: %v", g)
	}
}

func TestCacheFileNameIsHash(t *testing.T) {
	got := fileName("JDoe", "EXAMPLE")
	if got != fileName("jdoe", "example") {
		t.Error("file name depends on case")
	}
	if got != sha256Hex(`example\jdoe`) {
		t.Errorf("fileName = %s", got)
	}
	for _, user := range []string{"../../etc/passwd", "/abs", "a/b", `a\b`, "..", ""} {
		if n := fileName(user, "EXAMPLE"); strings.ContainsAny(n, `/\.`) || len(n) != 64 {
			t.Errorf("fileName(%q) = %q", user, n)
		}
	}
}

func TestCacheMissingAndMissingDir(t *testing.T) {
	c, _ := newCache(t) // Dir does not exist yet
	if e, fresh, err := c.Get("jdoe", "EXAMPLE"); e != nil || fresh || err != nil {
		t.Errorf("Get on missing dir = %v, %v, %v", e, fresh, err)
	}
	if err := c.Put(&Entry{User: "jdoe", Domain: "EXAMPLE", Groups: jdoeGroup}); err != nil {
		t.Fatal(err)
	}
	e, fresh, err := c.Get("jdoe", "EXAMPLE")
	if err != nil || !fresh || !e.Fetched.Equal(t0) {
		t.Errorf("zero Fetched should become Now: %v %v %v", e, fresh, err)
	}
	if (&Cache{}).Put(e) == nil {
		t.Error("Put with empty Dir succeeded")
	}
}

func TestCacheCorruptFilesIgnoredAndRewritten(t *testing.T) {
	valid := func(mod func(*fileEntry)) []byte {
		fe := fileEntry{V: 1, User: "jdoe", Domain: "EXAMPLE", Fetched: t0, Groups: []fileGroup{{SAM: "WebUsers", CN: "WebUsers", DN: "CN=WebUsers"}}}
		mod(&fe)
		b, _ := json.Marshal(fe)
		return b
	}
	good := valid(func(*fileEntry) {})
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"garbage", []byte("\x00\xff garbage \x01")},
		{"truncated", good[:len(good)/2]},
		{"trailing data", append(append([]byte{}, good...), []byte(`{"v":1}`)...)},
		{"not an object", []byte(`[1,2,3]`)},
		{"null", []byte(`null`)},
		{"wrong version", valid(func(fe *fileEntry) { fe.V = 2 })},
		{"no version", valid(func(fe *fileEntry) { fe.V = 0 })},
		{"wrong user", valid(func(fe *fileEntry) { fe.User = "alice" })},
		{"wrong domain", valid(func(fe *fileEntry) { fe.Domain = "OTHER" })},
		{"no user", valid(func(fe *fileEntry) { fe.User = "" })},
		{"no fetch time", valid(func(fe *fileEntry) { fe.Fetched = time.Time{} })},
		{"negative with groups", valid(func(fe *fileEntry) { fe.Unknown = true })},
		{"empty group", valid(func(fe *fileEntry) { fe.Groups = append(fe.Groups, fileGroup{}) })},
		{"bad time", []byte(`{"v":1,"user":"jdoe","domain":"EXAMPLE","fetched":"yesterday","unknown":false,"groups":[]}`)},
		{"wrong types", []byte(`{"v":"1","user":"jdoe","domain":"EXAMPLE","fetched":"2026-05-01T12:00:00Z","groups":{}}`)},
		{"huge", append(append([]byte{}, good[:len(good)-1]...), []byte(`,"pad":"`+strings.Repeat("x", MaxEntrySize)+`"}`)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newCache(t)
			if err := os.MkdirAll(c.Dir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := c.Path("jdoe", "EXAMPLE")
			if err := os.WriteFile(path, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			e, fresh, err := c.Get("jdoe", "EXAMPLE")
			if e != nil || fresh || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Get = %v, %v, %v; want nil, false, ErrCorrupt", e, fresh, err)
			}
			if err := c.Put(&Entry{User: "jdoe", Domain: "EXAMPLE", Fetched: t0, Groups: jdoeGroup}); err != nil {
				t.Fatal(err)
			}
			e, fresh, err = c.Get("jdoe", "EXAMPLE")
			if err != nil || !fresh || len(e.Groups) != len(jdoeGroup) {
				t.Fatalf("after Put: %v, %v, %v", e, fresh, err)
			}
		})
	}
	// The control case: the valid file is accepted.
	if _, err := decodeEntry(good, "JDOE", "example"); err != nil {
		t.Errorf("valid entry rejected: %v", err)
	}
}

func TestCacheNotRegularFile(t *testing.T) {
	c, _ := newCache(t)
	if err := os.MkdirAll(c.Path("jdoe", "EXAMPLE"), 0o755); err != nil {
		t.Fatal(err)
	}
	if e, _, err := c.Get("jdoe", "EXAMPLE"); e != nil || !errors.Is(err, ErrCorrupt) {
		t.Errorf("directory in place of a file: %v, %v", e, err)
	}
}

func TestCachePutRejects(t *testing.T) {
	c, _ := newCache(t)
	for name, e := range map[string]*Entry{
		"nil":                  nil,
		"no user":              {Domain: "EXAMPLE"},
		"negative with groups": {User: "x", Domain: "EXAMPLE", Unknown: true, Groups: jdoeGroup},
		"empty group":          {User: "x", Domain: "EXAMPLE", Groups: []Group{{}}},
		"too big":              {User: "x", Domain: "EXAMPLE", Groups: []Group{{DN: strings.Repeat("x", MaxEntrySize)}}},
	} {
		if err := c.Put(e); err == nil {
			t.Errorf("%s: Put succeeded", name)
		}
	}
}

// Many goroutines writing and reading one user's entry: every read sees
// a complete entry written by one of the writers, never a torn file.
func TestCacheConcurrentWriters(t *testing.T) {
	c, _ := newCache(t)
	const workers = 50
	var wg sync.WaitGroup
	errs := make(chan error, workers*20)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				e := writerEntry(w, i)
				if err := c.Put(e); err != nil {
					errs <- err
					continue
				}
				got, _, err := c.Get("jdoe", "EXAMPLE")
				if err != nil {
					errs <- err
				} else if got == nil {
					errs <- errors.New("entry vanished")
				} else if err := checkWriterEntry(got); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	names, _ := os.ReadDir(c.Dir)
	if len(names) != 1 {
		t.Errorf("leftover files: %v", names)
	}
}

// writerEntry makes an entry whose groups all carry the writer's tag, and
// whose size varies, so a torn or mixed file would be detected.
func writerEntry(w, i int) *Entry {
	tag := fmt.Sprintf("w%d-%d", w, i)
	e := &Entry{User: "jdoe", Domain: "EXAMPLE", Fetched: t0}
	for g := 0; g < 1+(w*7+i)%40; g++ {
		e.Groups = append(e.Groups, Group{SAM: tag, CN: strconv.Itoa(g), DN: "CN=" + tag + ",DC=example,DC=test"})
	}
	return e
}

func checkWriterEntry(e *Entry) error {
	if len(e.Groups) == 0 {
		return errors.New("no groups")
	}
	tag := e.Groups[0].SAM
	var w, i int
	if _, err := fmt.Sscanf(tag, "w%d-%d", &w, &i); err != nil {
		return fmt.Errorf("bad tag %q", tag)
	}
	if want := 1 + (w*7+i)%40; len(e.Groups) != want {
		return fmt.Errorf("%s: %d groups, want %d", tag, len(e.Groups), want)
	}
	for g, gr := range e.Groups {
		if gr.SAM != tag || gr.CN != strconv.Itoa(g) {
			return fmt.Errorf("mixed entry: %v", e.Groups)
		}
	}
	return nil
}

// Two separate processes writing the same entry (like the authorizer and
// the helper): the test binary re-runs itself as the writers.
func TestCacheTwoProcessWriters(t *testing.T) {
	if os.Getenv("ADGROUP_TEST_WRITER") != "" {
		return
	}
	c, _ := newCache(t)
	if err := c.Put(writerEntry(0, 0)); err != nil {
		t.Fatal(err)
	}
	var cmds []*exec.Cmd
	for w := 1; w <= 2; w++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCacheWriterProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), "ADGROUP_TEST_WRITER="+strconv.Itoa(w), "ADGROUP_TEST_DIR="+c.Dir)
		cmds = append(cmds, cmd)
	}
	outs := make([][]byte, len(cmds))
	var wg sync.WaitGroup
	var finished atomic.Int32
	for i, cmd := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer finished.Add(1)
			var err error
			outs[i], err = cmd.CombinedOutput()
			if err != nil {
				t.Errorf("writer %d: %v\n%s", i+1, err, outs[i])
			}
		}()
	}
	// Read while they write.
	deadline := time.Now().Add(20 * time.Second)
	reads := 0
	for {
		done := finished.Load() == int32(len(cmds))
		e, _, err := c.Get("jdoe", "EXAMPLE")
		if err != nil || e == nil {
			t.Fatalf("read %d: %v, %v", reads, e, err)
		}
		if err := checkWriterEntry(e); err != nil {
			t.Fatal(err)
		}
		reads++
		if done || time.Now().After(deadline) {
			break
		}
	}
	wg.Wait()
	for i, out := range outs {
		if !strings.Contains(string(out), "PASS") {
			t.Errorf("writer %d did not pass:\n%s", i+1, out)
		}
	}
	t.Logf("%d concurrent reads", reads)
}

func TestCacheWriterProcess(t *testing.T) {
	w, _ := strconv.Atoi(os.Getenv("ADGROUP_TEST_WRITER"))
	if w == 0 {
		t.Skip("run by TestCacheTwoProcessWriters")
	}
	c := &Cache{Dir: os.Getenv("ADGROUP_TEST_DIR"), Now: func() time.Time { return t0 }}
	for i := 0; i < 150; i++ {
		if err := c.Put(writerEntry(w, i)); err != nil {
			t.Fatal(err)
		}
		if e, _, err := c.Get("jdoe", "EXAMPLE"); err != nil || e == nil {
			t.Fatalf("Get: %v %v", e, err)
		} else if err := checkWriterEntry(e); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMemberOfAny(t *testing.T) {
	e := &Entry{User: "jdoe", Domain: "EXAMPLE", Groups: []Group{
		{SAM: "WebUsers", CN: "Web Users", DN: "CN=Web Users,OU=Groups,DC=example,DC=test"},
		{SAM: "Domain Users", CN: "Domain Users", DN: "CN=Domain Users,CN=Users,DC=example,DC=test"},
		{SAM: "NoCN", DN: "CN=NoCN,DC=example,DC=test"},
	}}
	tests := []struct {
		names []string
		want  bool
	}{
		{[]string{"WebUsers"}, true},
		{[]string{"webusers"}, true},
		{[]string{"WEBUSERS"}, true},
		{[]string{"Web Users"}, true}, // CN differs from SAM
		{[]string{"web users"}, true},
		{[]string{"CN=Web Users,OU=Groups,DC=example,DC=test"}, true},
		{[]string{"cn=web users,ou=groups,dc=example,dc=test"}, true},
		{[]string{"CN=Web Users, OU=Groups, DC=example, DC=test"}, true}, // DN spacing
		{[]string{"Web"}, false},                                         // no prefix match
		{[]string{"WebUser"}, false},
		{[]string{"WebUsers2"}, false},
		{[]string{"Users"}, false},
		{[]string{"CN=Web Users"}, false}, // partial DN
		{[]string{"CN=Web Users,OU=Groups"}, false},
		{[]string{""}, false}, // empty names never match, not even an empty CN
		{[]string{"  "}, false},
		{nil, false},
		{[]string{"Outsiders", "PowerUsers"}, false},
		{[]string{"Outsiders", "domain users"}, true},
		{[]string{"nocn"}, true},
		{[]string{"*"}, false},
	}
	for _, tt := range tests {
		if got := e.MemberOfAny(tt.names); got != tt.want {
			t.Errorf("MemberOfAny(%q) = %v, want %v", tt.names, got, tt.want)
		}
	}
	if (&Entry{User: "x", Unknown: true}).MemberOfAny([]string{"x"}) {
		t.Error("negative entry is a member")
	}
	var nilEntry *Entry
	if nilEntry.MemberOfAny([]string{"WebUsers"}) {
		t.Error("nil entry is a member")
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
