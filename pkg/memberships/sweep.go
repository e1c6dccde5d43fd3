package memberships

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Remove deletes the entry of the user Apache calls name, if there is one.
func (c *Cache) Remove(name string) error {
	if c.Dir == "" {
		return nil
	}
	if err := c.owned(); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if err := os.Remove(c.Path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("memberships cache: %w", err)
	}
	return nil
}

// tmpMaxAge: a temporary file older than this was left by a Put that died
// between CreateTemp and rename.
const tmpMaxAge = time.Hour

// Sweep removes, among at most limit files of Dir, those no reader may
// use any more: entries past ServeUntil, negative entries (older versions
// wrote them, one per name asked), files that do not parse, and temporary
// files a crashed Put left. Only names this package writes are touched,
// never the socket. It starts where the previous sweep of the same
// Cache value stopped (next, its cursor, is returned and passed back), so
// repeated sweeps with a small limit visit the whole directory while each
// does bounded work. The cursor is a place in the listing, so files
// added or removed meanwhile may make a sweep skip or revisit a few; the
// next round of sweeps finds them. It returns how many files it removed.
func (c *Cache) Sweep(limit, next int) (removed, cursor int, err error) {
	if c.Dir == "" || limit <= 0 {
		return 0, next, nil
	}
	d, err := os.Open(c.Dir)
	if err != nil {
		return 0, next, fmt.Errorf("memberships cache: sweep: %w", err)
	}
	defer d.Close()
	now := c.now()
	pos, seen := 0, 0
	for seen < limit {
		batch, rerr := d.ReadDir(128)
		for _, de := range batch {
			pos++
			if pos <= next {
				continue
			}
			if seen >= limit {
				// A removed file no longer takes a place in the
				// listing: the next sweep skips only the files kept.
				return removed, pos - 1 - removed, nil
			}
			seen++
			if c.sweepOne(de, now) {
				removed++
			}
		}
		if errors.Is(rerr, io.EOF) || len(batch) == 0 {
			return removed, 0, nil // the end: the next sweep starts over
		}
		if rerr != nil {
			return removed, pos - removed, fmt.Errorf("memberships cache: sweep: %w", rerr)
		}
	}
	return removed, pos - removed, nil
}

// sweepOne removes de if it is a file of this cache no reader may use.
func (c *Cache) sweepOne(de fs.DirEntry, now time.Time) bool {
	name := de.Name()
	if !de.Type().IsRegular() {
		return false
	}
	path := filepath.Join(c.Dir, name)
	switch {
	case strings.HasPrefix(name, ".tmp-"):
		fi, err := de.Info()
		if err != nil || now.Sub(fi.ModTime()) < tmpMaxAge {
			return false
		}
	case isEntryName(name):
		data, _, err := readEntry(path, MaxEntrySize+1)
		if err != nil {
			return false
		}
		// decodeEntry checks the name inside against the file's; the
		// sweep has no name, so it takes the one the file holds and
		// checks that it hashes to this file.
		e, err := decodeEntry(data, entryName(data))
		if err == nil && fileName(e.Name) != name {
			err = ErrCorrupt
		}
		if err == nil && !e.Unknown && now.Before(e.ServeUntil) && !e.Fetched.After(now.Add(maxClockSkew)) {
			return false
		}
	default:
		return false
	}
	return os.Remove(path) == nil
}

// isEntryName reports whether name is one fileName makes: 32 lower-case
// hex digits.
func isEntryName(name string) bool {
	if len(name) != 32 {
		return false
	}
	for _, r := range name {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

// entryName is the value of the name line of an encoded entry, or "".
func entryName(data []byte) string {
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "name\t"); ok {
			return v
		}
	}
	return ""
}
