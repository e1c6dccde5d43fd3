package migrate

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Output modes. conf.toml names the daemon's files and is read by it
// through its group; the site file is read by Apache as root, so nothing
// needs the world bit, and the secret masking is a heuristic that a
// secret under an unusual name can slip past; a key is its owner's alone.
const (
	ConfMode fs.FileMode = 0o640
	SiteMode fs.FileMode = 0o640
	KeyMode  fs.FileMode = 0o600
)

// UnsafeOutputError is an output path, or the directory, that the tool
// refuses to write through.
type UnsafeOutputError struct {
	Path, Why string
}

func (e *UnsafeOutputError) Error() string {
	return fmt.Sprintf("refusing to write %s: %s", e.Path, e.Why)
}

// Written says what WriteOutputs did with one file.
type Written struct {
	Path string
	// Kept: an existing cookie key was left as it was (a rerun must not
	// log everybody out).
	Kept bool
}

// WriteOutputs writes conf.toml and goauthenntlm-site.conf into dir and,
// when the result needs one, a new random cookie key named keyName (an
// existing one of ours is kept). Each file is written to a new temporary
// file in dir, created exclusively with its final mode, synced, and
// renamed over the target; a target that is a symlink or not a regular
// file is refused, so the tool never writes through a link planted in dir.
func WriteOutputs(dir string, res *Result, keyName string) ([]Written, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	// Every target is checked before anything is written: a refusal
	// leaves the directory as it was.
	names := []string{"conf.toml", "goauthenntlm-site.conf"}
	if res.CookieSecret {
		names = append(names, keyName)
	}
	for _, n := range names {
		if _, err := checkTarget(filepath.Join(dir, n)); err != nil {
			return nil, err
		}
	}
	var done []Written
	for _, f := range []struct {
		name string
		data []byte
		mode fs.FileMode
	}{{"conf.toml", res.Conf, ConfMode}, {"goauthenntlm-site.conf", res.Site, SiteMode}} {
		p := filepath.Join(dir, f.name)
		if err := replaceFile(p, f.data, f.mode); err != nil {
			return done, err
		}
		done = append(done, Written{Path: p})
	}
	if !res.CookieSecret {
		return done, syncDir(dir)
	}
	p := filepath.Join(dir, keyName)
	kept, err := newKey(p)
	if err != nil {
		return done, err
	}
	return append(done, Written{Path: p, Kept: kept}), syncDir(dir)
}

// checkDir refuses an output directory others could change files in
// (they could swap an output before it is installed, or plant the cookie
// key): one that every user or its group can write, or another user owns;
// and a symlink to it that someone else made.
func checkDir(dir string) error {
	li, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if li.Mode()&fs.ModeSymlink != 0 && !ownedByUs(li) {
		return &UnsafeOutputError{dir, "a symlink made by another user; name the directory itself"}
	}
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return &UnsafeOutputError{dir, "not a directory"}
	}
	if st.Mode().Perm()&0o002 != 0 {
		return &UnsafeOutputError{dir, "writable by every user; choose a directory only you can write"}
	}
	// Its owner, or a group that can write it, can replace what we write
	// (a site file of theirs) before it is installed, whatever the
	// files' own modes: -o /tmp/migrated made beforehand by someone else.
	if !ownedByUs(st) {
		return &UnsafeOutputError{dir, "owned by another user; choose a directory only you can write"}
	}
	if st.Mode().Perm()&0o020 != 0 {
		return &UnsafeOutputError{dir, "writable by its group; choose a directory only you can write"}
	}
	return nil
}

// checkTarget refuses a symlink, or anything but a regular file, at p.
func checkTarget(p string) (fs.FileInfo, error) {
	li, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if li.Mode()&fs.ModeSymlink != 0 {
		return nil, &UnsafeOutputError{p, "it is a symlink (the file it points to is left alone); remove it first"}
	}
	if !li.Mode().IsRegular() {
		return nil, &UnsafeOutputError{p, fmt.Sprintf("not a regular file (%s)", li.Mode().Type())}
	}
	return li, nil
}

// tempFile creates a new file beside p, exclusively (never an existing
// file or a link), with mode (the umask undone).
func tempFile(p string, mode fs.FileMode) (*os.File, error) {
	for range 10 {
		b := make([]byte, 8)
		rand.Read(b)
		f, err := os.OpenFile(p+".tmp-"+hex.EncodeToString(b), os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create a temporary file for %s: %w", p, err)
		}
		if err := f.Chmod(mode); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, fmt.Errorf("chmod %s: %w", f.Name(), err)
		}
		return f, nil
	}
	return nil, fmt.Errorf("create a temporary file for %s: names taken", p)
}

// writeTemp writes data to a new temporary file beside p and returns its
// name, synced and closed.
func writeTemp(p string, data []byte, mode fs.FileMode) (string, error) {
	f, err := tempFile(p, mode)
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write %s: %w", f.Name(), err)
	}
	return f.Name(), nil
}

// replaceFile puts data at p atomically: rename replaces the directory
// entry and never follows a link, and a link found there is refused
// before anything is written.
func replaceFile(p string, data []byte, mode fs.FileMode) error {
	if _, err := checkTarget(p); err != nil {
		return err
	}
	tmp, err := writeTemp(p, data, mode)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename %s to %s: %w", tmp, p, err)
	}
	return nil
}

// newKey creates a cookie key at p unless a key of ours is there (kept:
// true). A key someone else owns, or that others can read, is refused:
// it may be known to them. The new key is linked into place, which fails
// rather than replaces when p appeared meanwhile.
func newKey(p string) (bool, error) {
	st, err := checkTarget(p)
	if err != nil {
		return false, err
	}
	if st != nil {
		if !ownedByUs(st) || st.Mode().Perm()&0o077 != 0 {
			return false, &UnsafeOutputError{p, fmt.Sprintf("an existing key that another user owns or others can read (mode %04o): it may be known; remove it for a new one", st.Mode().Perm())}
		}
		return true, nil
	}
	b := make([]byte, 32)
	rand.Read(b)
	tmp, err := writeTemp(p, []byte(base64.StdEncoding.EncodeToString(b)+"\n"), KeyMode)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, p); err != nil {
		return false, fmt.Errorf("put the new key at %s: %w", p, err)
	}
	return false, nil
}
