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
	if m := fi.Mode().Perm(); m != 0o644 {
		t.Errorf("file mode %o, want 644", m)
	}
	di, err := os.Stat(c.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := di.Mode().Perm(); m != 0o755 {
		t.Errorf("dir mode %o, want 755", m)
	}
	// No temporary files left behind.
	names, _ := os.ReadDir(c.Dir)
	if len(names) != 1 {
		t.Errorf("dir holds %v", names)
	}
}
