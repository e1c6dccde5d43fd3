//go:build unix

package memberships

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
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

// Issue 34: -test-login run as root wrote root's files into the daemon's
// cache, replacing its good entries by ones ntlm-group-check refuses
// (file owner uid 0 is not the directory's). A process that does not own
// the directory now writes and removes nothing there.
func TestCacheNotOwnerWritesNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give the cache directory to another user")
	}
	const daemonUID = 65534 // nobody: any user but this process's
	c, _ := newCache(t)
	if _, err := c.Put("jdoe", &Entry{User: "jdoe", Domain: "EXAMPLE", Groups: jdoeGroup}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{c.Dir, c.Path("jdoe")} {
		if err := os.Chown(p, daemonUID, -1); err != nil {
			t.Fatal(err)
		}
	}
	before, err := os.ReadFile(c.Path("jdoe"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put("jdoe", &Entry{User: "jdoe", Domain: "EXAMPLE"}); !errors.Is(err, ErrNotOwner) {
		t.Errorf("Put as root into uid %d's cache: %v, want ErrNotOwner", daemonUID, err)
	}
	if err := c.Remove("jdoe"); !errors.Is(err, ErrNotOwner) {
		t.Errorf("Remove as root from uid %d's cache: %v, want ErrNotOwner", daemonUID, err)
	}
	after, err := os.ReadFile(c.Path("jdoe"))
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("the owner's entry changed: %v", err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(c.Path("jdoe"), &st); err != nil || st.Uid != daemonUID {
		t.Errorf("the entry's owner is uid %d, want %d (%v)", st.Uid, daemonUID, err)
	}
	names, _ := os.ReadDir(c.Dir)
	if len(names) != 1 {
		t.Errorf("dir holds %v", names)
	}
	// The reader's side: the entry is still trusted.
	c.ReadOnly = true
	if e, _, err := c.Get("jdoe"); e == nil || err != nil {
		t.Errorf("the owner's entry after root's Put: %v %v", e, err)
	}
	if got := WriteFailureLevel(fmt.Errorf("x: %w", ErrNotOwner)); got != slog.LevelInfo {
		t.Errorf("WriteFailureLevel(ErrNotOwner) = %v", got)
	}
}
