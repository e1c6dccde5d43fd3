//go:build unix

package replay

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Open opens (or makes) the Table kept in the file at path. The file is
// the daemon user's alone: made 0600, refused when it is a symbolic link,
// not a regular file, another user's, or writable by group or others
// (whoever can write it can erase the memory of a token, then replay it).
// It is locked for the Table's life: a second daemon on the same file is
// refused, since two processes writing one mapping would lose entries.
//
// A file of another format is refused, never overwritten (a path set by
// mistake to another file must not destroy it); an empty one, or one whose
// header is all zeros (a crash while it was being made), is made anew.
func Open(path string, o Options) (*Table, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0o600)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("replay file %s: is a symbolic link: give the file's own path", path)
		}
		return nil, fmt.Errorf("replay file %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	t, err := open(f, path, o)
	if err != nil {
		f.Close()
		return nil, err
	}
	return t, nil
}

func open(f *os.File, path string, o Options) (*Table, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("replay file %s: %w", path, err)
	}
	if err := private(fi, true); err != nil {
		return nil, fmt.Errorf("replay file %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return nil, fmt.Errorf("replay file %s: in use by another process (%w): one daemon per file", path, err)
	}
	hdr := make([]byte, headerSize)
	n, err := f.ReadAt(hdr, 0)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("replay file %s: %w", path, err)
	}
	slots, size := o.slots(), fi.Size()
	fresh := n == 0 || allZero(hdr[:n])
	if fresh {
		size = int64(headerSize + slots*slotSize)
		// Truncating to 0 first zeroes every slot of a file left half made.
		if err := f.Truncate(0); err != nil {
			return nil, fmt.Errorf("replay file %s: %w", path, err)
		}
		if err := f.Truncate(size); err != nil {
			return nil, fmt.Errorf("replay file %s: %w", path, err)
		}
	} else if slots, err = header(hdr[:n], size); err != nil {
		return nil, fmt.Errorf("replay file %s: %w: remove it (a new one is made at the next start)", path, err)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("replay file %s: mapping it: %w", path, err)
	}
	t := newTable(data, o)
	if fresh {
		t.format(slots)
		if err := unix.Msync(data[:headerSize], unix.MS_SYNC); err != nil {
			unix.Munmap(data)
			return nil, fmt.Errorf("replay file %s: %w", path, err)
		}
	} else {
		copy(t.seed[:], data[16:48])
		t.keyed()
		t.attach(slots)
		t.load(t.now().UnixNano())
	}
	every := o.SyncEvery
	if every <= 0 {
		every = time.Second
	}
	t.file = &file{f: f, stop: make(chan struct{}), done: make(chan struct{})}
	go t.file.syncLoop(t, every)
	return t, nil
}

// private refuses a file another user could have written (with owner, one
// that is not this process's user's).
func private(fi os.FileInfo, owner bool) error {
	if fi.IsDir() {
		return errors.New("is a directory: give a file's path")
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); owner && ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("belongs to uid %d, not to the daemon's user (uid %d): remove it", st.Uid, os.Geteuid())
	}
	if m := fi.Mode().Perm(); m&0o022 != 0 {
		return fmt.Errorf("is writable by group or others (mode %04o): chmod 0600", m)
	}
	return nil
}

// syncLoop flushes the mapping to disk every every, when anything
// changed: not under the Table's mutex, so logins do not wait for it.
func (f *file) syncLoop(t *Table, every time.Duration) {
	defer close(f.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-tick.C:
		}
		t.mu.Lock()
		dirty := f.dirty
		f.dirty = false
		t.mu.Unlock()
		if dirty {
			// An error here (a disk gone) leaves the pages in the page
			// cache, where restarts still find them.
			_ = unix.Msync(t.data, unix.MS_SYNC)
		}
	}
}

func (f *file) close(t *Table) error {
	t.mu.Lock()
	if t.slots == nil {
		t.mu.Unlock()
		return nil
	}
	t.slots = nil
	t.mu.Unlock()
	close(f.stop)
	<-f.done
	err := unix.Msync(t.data, unix.MS_SYNC)
	if uerr := unix.Munmap(t.data); err == nil {
		err = uerr
	}
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Check is what Open would refuse about path, without opening it for
// writing or locking it (the running daemon holds the lock): for -check.
// A missing file is fine when its directory lets this user make it and
// lets no other user replace it.
func Check(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		dir := filepath.Dir(path)
		di, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("replay file %s: its directory: %w (systemd makes /var/lib/goauthenntlm: StateDirectory=goauthenntlm)", path, err)
		}
		if m := di.Mode(); m.Perm()&0o022 != 0 && m&os.ModeSticky == 0 {
			return fmt.Errorf("replay file %s: directory %s is writable by group or others (mode %04o): they could replace the file", path, dir, m.Perm())
		}
		if err := unix.Access(dir, unix.W_OK); err != nil {
			return fmt.Errorf("replay file %s: this user cannot make it in %s: %w", path, dir, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("replay file %s: %w", path, err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("replay file %s: is a symbolic link: give the file's own path", path)
	}
	// Root, running -check for the service, cannot tell the service's
	// user; the daemon itself checks the owner.
	if err := private(fi, os.Geteuid() != 0); err != nil {
		return fmt.Errorf("replay file %s: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("replay file %s: %w", path, err)
	}
	defer f.Close()
	hdr := make([]byte, headerSize)
	n, err := f.ReadAt(hdr, 0)
	if err != nil && err != io.EOF {
		return fmt.Errorf("replay file %s: %w", path, err)
	}
	if n == 0 || allZero(hdr[:n]) {
		return nil
	}
	if _, err := header(hdr[:n], fi.Size()); err != nil {
		return fmt.Errorf("replay file %s: %w: remove it (a new one is made at the next start)", path, err)
	}
	return nil
}
