//go:build unix

package memberships

import (
	"os"
	"syscall"
	"testing"
)

func umask(m int) int { return syscall.Umask(m) }

func TestCachePermissions(t *testing.T) {
	old := umask(0o077) // the strictest usual umask must not hide files from the helper
	defer umask(old)
	c, _ := newCache(t)
	if _, err := c.Put("jdoe", &Entry{User: "jdoe", Domain: "EXAMPLE", Groups: jdoeGroup}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(c.Path("jdoe"))
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o640 {
		t.Errorf("file mode %o, want 640", m)
	}
	di, err := os.Stat(c.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := di.Mode().Perm(); m != 0o750 {
		t.Errorf("dir mode %o, want 750", m)
	}
	// No temporary files left behind.
	names, _ := os.ReadDir(c.Dir)
	if len(names) != 1 {
		t.Errorf("dir holds %v", names)
	}
}

// Group read, as the 2750 directory of Apache's group gives, is no reason
// to distrust an entry; group write is.
func TestCacheGroupReadTrusted(t *testing.T) {
	c, _ := newCache(t)
	if _, err := c.Put("jdoe", &Entry{User: "jdoe", Domain: "EXAMPLE", Groups: jdoeGroup}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(c.Dir, 0o750|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	if e, fresh, err := c.Get("jdoe"); e == nil || !fresh || err != nil {
		t.Errorf("2750 directory, 0640 file: %v %v %v", e, fresh, err)
	}
	os.Chmod(c.Path("jdoe"), 0o660)
	if e, _, err := c.Get("jdoe"); e != nil || err == nil {
		t.Errorf("group-writable file trusted: %v %v", e, err)
	}
}
