package memberships

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Sweep removes what no reader may use, leaves the rest, and with a small
// limit still visits the whole directory over successive calls.
func TestSweep(t *testing.T) {
	c, clk := newCache(t)
	put := func(name string, e Entry) {
		t.Helper()
		e.User, e.Domain = "u", "EXAMPLE"
		if _, err := c.Put(name, &e); err != nil {
			t.Fatal(err)
		}
	}
	// Written at t0: live until t0+TTL+Grace.
	for i := range 5 {
		put(fmt.Sprintf("live%d", i), Entry{Groups: jdoeGroup})
	}
	// Written long ago: past ServeUntil at t0.
	clk.Set(t0.Add(-DefaultTTL - 2*time.Hour))
	for i := range 5 {
		put(fmt.Sprintf("old%d", i), Entry{Groups: jdoeGroup})
	}
	// Negative entries (older versions wrote one per name asked), fresh.
	clk.Set(t0)
	for i := range 5 {
		put(fmt.Sprintf("neg%d", i), Entry{Unknown: true})
	}
	// Damage, a crashed Put's temporary files, and files not ours to judge.
	os.WriteFile(c.Path("garbage"), []byte("not an entry"), 0o644)
	os.WriteFile(filepath.Join(c.Dir, ".tmp-old"), nil, 0o600)
	os.Chtimes(filepath.Join(c.Dir, ".tmp-old"), t0.Add(-2*tmpMaxAge), t0.Add(-2*tmpMaxAge))
	os.WriteFile(filepath.Join(c.Dir, ".tmp-new"), nil, 0o600)
	os.Chtimes(filepath.Join(c.Dir, ".tmp-new"), t0, t0)
	os.WriteFile(filepath.Join(c.Dir, "README"), nil, 0o644)
	// An entry renamed onto another user's file name.
	data, _ := os.ReadFile(c.Path("live0"))
	os.WriteFile(c.Path("moved"), data, 0o644)

	total, cursor, sweeps := 0, 0, 0
	for ; sweeps < 20; sweeps++ {
		n, next, err := c.Sweep(4, cursor)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		cursor = next
		if cursor == 0 {
			break
		}
	}
	if sweeps < 2 {
		t.Errorf("sweeps of limit 4 went through 23 files in %d", sweeps+1)
	}
	left, _ := os.ReadDir(c.Dir)
	var names []string
	for _, de := range left {
		names = append(names, de.Name())
	}
	want := map[string]bool{".tmp-new": true, "README": true}
	for i := range 5 {
		want[fileName(fmt.Sprintf("live%d", i))] = true
	}
	if len(names) != len(want) || total != 13 {
		t.Errorf("removed %d, left %v; want 13 removed, left the 5 live entries, .tmp-new and README", total, names)
	}
	for _, n := range names {
		if !want[n] {
			t.Errorf("left %s", n)
		}
	}
	for i := range 5 {
		if e, fresh, err := c.Get(fmt.Sprintf("live%d", i)); e == nil || !fresh || err != nil {
			t.Errorf("live%d: %v %v %v", i, e, fresh, err)
		}
	}
}

func TestRemove(t *testing.T) {
	c, _ := newCache(t)
	if err := c.Remove("nobody-here"); err != nil {
		t.Errorf("Remove of a missing entry: %v", err)
	}
	if _, err := c.Put("jdoe", &Entry{User: "jdoe", Groups: jdoeGroup}); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove("JDOE"); err != nil {
		t.Fatal(err)
	}
	if e, _, _ := c.Get("jdoe"); e != nil {
		t.Error("entry still there")
	}
}
