package memberships

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Cache is the on-disk memberships cache: one small file per user in Dir,
// named by a hash (fileName) of the user's name as Apache knows it (lower
// case), so no part of a user name ever becomes part of a path.
//
// Only the authorizer writes it. Its integrity rests on file ownership,
// not on a MAC: Dir and its files belong to the authorizer's user and are
// writable by nobody else, while Apache's user (which runs
// ntlm-group-check) can only read them. A MAC would need a key the helper
// holds, and the helper runs as Apache's user, so anything running as that
// user could sign a forged entry with it; ownership is what the kernel
// enforces and a reader can check. Get checks it on every read: a file is
// trusted only if it and Dir belong to the same user, neither is writable
// by group or others, and, for a ReadOnly cache (the helper), that user is
// not the reader itself. Otherwise it wraps ErrUntrusted.
//
// Files are replaced atomically (temporary file in Dir, fsync, chmod 0640,
// rename), so readers never see a partial file. They are readable by
// Dir's group alone: Dir is meant to be 2750, owned by the authorizer's
// user, group Apache's, so that new files take Apache's group (setgid)
// and other local users read nobody's memberships. Group read is no
// danger to trust; group write is (trusted refuses it).
//
// A Cache value is safe for concurrent use if its fields are not changed
// after first use.
type Cache struct {
	Dir         string
	TTL         time.Duration    // how long a group list is fresh; default 3h
	NegativeTTL time.Duration    // how long "no such user" is fresh; default 1m
	Grace       time.Duration    // how long past TTL an entry may be served while the directory is down
	Now         func() time.Time // nil = time.Now; tests set it
	// ReadOnly marks the reader that must not trust a cache its own user
	// could have written: ntlm-group-check, running as Apache's user.
	ReadOnly bool
}

// Cache defaults and limits.
const (
	DefaultTTL         = 3 * time.Hour
	DefaultNegativeTTL = time.Minute
	// MaxEntrySize bounds what Get reads: a cache file is a few KiB, and a
	// huge one is damage or mischief, not data.
	MaxEntrySize = 1 << 20
	// entryMagic is a cache file's first line, with the format version.
	// A file of any other version is ignored, so a format change never
	// misreads old files. Versions 1 and 2 were JSON; version 1 files were
	// written into caches Apache's user could write.
	entryMagic = "goauthenntlm-memberships 3"
	// maxClockSkew: an entry fetched further than this in the future (a
	// clock step, a copied file) is treated as stale, not fresh forever.
	maxClockSkew = time.Minute
)

// Errors wrapped by Cache.Get. Both mean "treat as a miss"; callers log
// them, and the authorizer's next Put replaces a corrupt file.
var (
	// ErrCorrupt: unparseable, truncated, too large, another format
	// version, or written for another user.
	ErrCorrupt = errors.New("corrupt cache entry")
	// ErrUntrusted: the file or Dir could have been written by someone
	// other than the authorizer (see Cache).
	ErrUntrusted = errors.New("untrusted cache entry")
	// ErrNotOwner (from Put and Remove): this process is not Dir's owner.
	// What it wrote would be another user's file, which every reader
	// refuses (ErrUntrusted), and it would replace the owner's good entry:
	// root running -test-login would slow ntlm-group-check down until the
	// entry expired. Nothing is written; the lookup itself succeeds.
	ErrNotOwner = errors.New("this process does not own the cache directory")
)

// The file format: the magic line, then one "key<TAB>value" line each
// for name, user, domain, fetched, expires, serve_until (Unix
// nanoseconds) and unknown (0 or 1), then one "group<TAB>sam<TAB>cn<TAB>dn"
// line per group. No value holds a tab or a line break (encodeEntry
// refuses them). Plain lines rather than JSON: ntlm-group-check reads one
// of these at every start, and decoding them costs microseconds without
// reflection.

// Clock is the cache's time: Now, or time.Now.
func (c *Cache) Clock() time.Time { return c.now() }

func (c *Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// ttl is how long an entry written now stays fresh.
func (c *Cache) ttl(unknown bool) time.Duration {
	if unknown {
		if c.NegativeTTL > 0 {
			return c.NegativeTTL
		}
		return DefaultNegativeTTL
	}
	if c.TTL > 0 {
		return c.TTL
	}
	return DefaultTTL
}

// Fresh reports whether e may be served without asking the directory.
func (c *Cache) Fresh(e *Entry) bool {
	now := c.now()
	return !e.Fetched.After(now.Add(maxClockSkew)) && now.Before(e.Expires)
}

// Servable reports whether e, stale, may still be served while the
// directory cannot be asked.
func (c *Cache) Servable(e *Entry) bool {
	now := c.now()
	return !e.Fetched.After(now.Add(maxClockSkew)) && now.Before(e.ServeUntil)
}

// fileName is the cache file's base name for the user Apache calls name:
// the FNV-1a 128-bit hash of the lower-cased name, in hex. It only has to
// keep names out of paths: a collision would make two users' entries
// replace each other (decodeEntry checks the name inside), never answer
// for the wrong user. Not SHA-256, whose package would bring the FIPS
// module's initialisation into every start of ntlm-group-check.
func fileName(name string) string {
	h := fnv.New128a()
	h.Write([]byte(strings.ToLower(name)))
	return hex.EncodeToString(h.Sum(nil))
}

// Path is the file that holds name's entry.
func (c *Cache) Path(name string) string {
	return filepath.Join(c.Dir, fileName(name))
}

// Get reads the entry of the user Apache calls name. It returns:
//   - (nil, false, nil) when there is no entry;
//   - (nil, false, err wrapping ErrCorrupt or ErrUntrusted) for a file it
//     refuses to use: treat as a miss, and log it;
//   - (nil, false, err) on other I/O errors (e.g. permission denied);
//   - (e, fresh, nil) otherwise; a stale entry may still be Servable.
//
// name matches case-insensitively, as Windows names do.
func (c *Cache) Get(name string) (e *Entry, fresh bool, err error) {
	if c.Dir == "" {
		return nil, false, errors.New("memberships cache: no directory configured")
	}
	path := c.Path(name)
	// readEntry reads at most MaxEntrySize+1 bytes, so the limit holds even
	// if the file grew after it was checked.
	data, fm, err := readEntry(path, MaxEntrySize+1)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("memberships cache: %w", err)
	}
	if err := c.trusted(fm); err != nil {
		return nil, false, fmt.Errorf("memberships cache: %s: %w", path, err)
	}
	if len(data) > MaxEntrySize {
		return nil, false, fmt.Errorf("memberships cache: %s: more than %d bytes: %w", path, MaxEntrySize, ErrCorrupt)
	}
	e, err = decodeEntry(data, name)
	if err != nil {
		return nil, false, fmt.Errorf("memberships cache: %s: %w", path, err)
	}
	return e, c.Fresh(e), nil
}

// fileMeta is what trusted needs to know of a file or directory.
type fileMeta struct {
	regular bool
	perm    fs.FileMode
	uid     uint32
	hasUID  bool // false where owners cannot be read
}

// trusted checks that the file described by fm could only have been
// written by the owner of Dir, and that the owner is not a ReadOnly reader
// itself.
func (c *Cache) trusted(fm fileMeta) error {
	if !fm.regular {
		return fmt.Errorf("not a regular file: %w", ErrUntrusted)
	}
	dm, err := statMeta(c.Dir)
	if err != nil {
		return err
	}
	if !fm.hasUID || !dm.hasUID {
		return fmt.Errorf("no file owner to check on this system: %w", ErrUntrusted)
	}
	switch {
	case fm.perm&0o022 != 0:
		return fmt.Errorf("file mode %v is writable by group or others: %w", fm.perm, ErrUntrusted)
	case dm.perm&0o022 != 0:
		return fmt.Errorf("directory %s mode %v is writable by group or others: %w", c.Dir, dm.perm, ErrUntrusted)
	case fm.uid != dm.uid:
		return fmt.Errorf("file owner uid %d is not the directory's (%d): %w", fm.uid, dm.uid, ErrUntrusted)
	case c.ReadOnly && dm.uid == uint32(os.Geteuid()) && dm.uid != 0:
		return fmt.Errorf("the cache belongs to uid %d, the user this check runs as (Apache's), so anything running as it could forge entries; run the authorizer as its own user: %w", dm.uid, ErrUntrusted)
	}
	return nil
}

// decodeEntry parses a cache file and checks it belongs to name. Every
// failure wraps ErrCorrupt. It must never panic whatever data holds
// (FuzzDecodeEntry).
func decodeEntry(data []byte, name string) (*Entry, error) {
	if len(data) > MaxEntrySize {
		return nil, fmt.Errorf("larger than %d bytes: %w", MaxEntrySize, ErrCorrupt)
	}
	line, rest, _ := bytes.Cut(data, []byte{'\n'})
	if string(line) != entryMagic {
		return nil, fmt.Errorf("not a %q file: %w", entryMagic, ErrCorrupt)
	}
	e := &Entry{}
	var seen [7]bool
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte{'\n'})
		key, val, ok := strings.Cut(string(line), "\t")
		if !ok {
			return nil, fmt.Errorf("line %q: %w", line, ErrCorrupt)
		}
		if key == "group" {
			f := strings.Split(val, "\t")
			if len(f) != 3 || (f[0] == "" && f[2] == "") {
				return nil, fmt.Errorf("group line %q: %w", line, ErrCorrupt)
			}
			e.Groups = append(e.Groups, Group{SAM: f[0], CN: f[1], DN: f[2]})
			continue
		}
		k := slicesIndex(entryKeys, key)
		if k < 0 || seen[k] {
			return nil, fmt.Errorf("key %q unknown or repeated: %w", key, ErrCorrupt)
		}
		seen[k] = true
		var err error
		switch key {
		case "name":
			e.Name = val
		case "user":
			e.User = val
		case "domain":
			e.Domain = val
		case "fetched":
			e.Fetched, err = parseNanos(val)
		case "expires":
			e.Expires, err = parseNanos(val)
		case "serve_until":
			e.ServeUntil, err = parseNanos(val)
		case "unknown":
			switch val {
			case "0":
			case "1":
				e.Unknown = true
			default:
				err = errors.New("not 0 or 1")
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s %q: %v: %w", key, val, err, ErrCorrupt)
		}
	}
	for k, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("no %s: %w", entryKeys[k], ErrCorrupt)
		}
	}
	if e.Name == "" || e.User == "" || !strings.EqualFold(e.Name, name) {
		return nil, fmt.Errorf("entry is for %q: %w", e.Name, ErrCorrupt)
	}
	if e.Unknown && len(e.Groups) > 0 {
		return nil, fmt.Errorf("negative entry with groups: %w", ErrCorrupt)
	}
	return e, nil
}

// entryKeys are the lines every entry has, in the order encodeEntry
// writes them.
var entryKeys = [7]string{"name", "user", "domain", "fetched", "expires", "serve_until", "unknown"}

func slicesIndex(keys [7]string, k string) int {
	for i, x := range keys {
		if x == k {
			return i
		}
	}
	return -1
}

func parseNanos(s string) (time.Time, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	if n == 0 {
		return time.Time{}, errors.New("zero time")
	}
	return time.Unix(0, n).UTC(), nil
}

// encodeEntry is the inverse of decodeEntry.
func encodeEntry(e *Entry) ([]byte, error) {
	if e == nil || e.User == "" || e.Name == "" {
		return nil, errors.New("entry without user")
	}
	if e.Unknown && len(e.Groups) > 0 {
		return nil, errors.New("negative entry with groups")
	}
	if e.Fetched.IsZero() || e.Expires.IsZero() || e.ServeUntil.IsZero() {
		return nil, errors.New("entry without fetch or expiry time")
	}
	var b strings.Builder
	b.WriteString(entryMagic + "\n")
	unknown := "0"
	if e.Unknown {
		unknown = "1"
	}
	for i, v := range [7]string{e.Name, e.User, e.Domain, nanos(e.Fetched), nanos(e.Expires), nanos(e.ServeUntil), unknown} {
		if strings.ContainsAny(v, "\t\r\n") {
			return nil, fmt.Errorf("%s %q holds a tab or a line break", entryKeys[i], v)
		}
		b.WriteString(entryKeys[i] + "\t" + v + "\n")
	}
	for _, g := range e.Groups {
		if g.SAM == "" && g.DN == "" {
			return nil, errors.New("group without name")
		}
		if strings.ContainsAny(g.SAM+g.CN+g.DN, "\t\r\n") {
			return nil, fmt.Errorf("group %q holds a tab or a line break", g.DN)
		}
		b.WriteString("group\t" + g.SAM + "\t" + g.CN + "\t" + g.DN + "\n")
	}
	if b.Len() > MaxEntrySize {
		// Get would reject it; fail here, where the cause is visible.
		return nil, fmt.Errorf("entry is %d bytes, more than %d", b.Len(), MaxEntrySize)
	}
	return []byte(b.String()), nil
}

func nanos(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }

// Put writes e as the entry of the user Apache calls name, atomically,
// replacing any previous one (corrupt or not). It sets e's Name, and its
// Fetched (if zero), Expires and ServeUntil from this cache's TTLs, and
// returns the entry as written.
func (c *Cache) Put(name string, e *Entry) (*Entry, error) {
	if c.Dir == "" {
		return nil, errors.New("memberships cache: no directory configured")
	}
	if e == nil {
		return nil, errors.New("memberships cache: nil entry")
	}
	e = c.Stamp(name, e)
	data, err := encodeEntry(e)
	if err != nil {
		return nil, fmt.Errorf("memberships cache: %w", err)
	}
	if err := c.ensureDir(); err != nil {
		return nil, err
	}
	if err := c.owned(); err != nil {
		return nil, err
	}
	// The dot prefix keeps temporary files out of the hex name space.
	f, err := os.CreateTemp(c.Dir, ".tmp-")
	if err != nil {
		return nil, fmt.Errorf("memberships cache: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return nil, fmt.Errorf("memberships cache: write %s: %w", tmp, err)
	}
	// fsync before rename: after a crash the name must point at complete
	// data, never at an empty file.
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("memberships cache: sync %s: %w", tmp, err)
	}
	// CreateTemp makes 0600; the helper (Apache's group, Dir's group)
	// must read it, and nobody else.
	if err := f.Chmod(0o640); err != nil {
		return nil, fmt.Errorf("memberships cache: chmod %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("memberships cache: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, c.Path(name)); err != nil {
		return nil, fmt.Errorf("memberships cache: %w", err)
	}
	ok = true
	// Make the rename itself durable; best effort, as a failure here loses
	// at most a cache entry.
	if d, err := os.Open(c.Dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return e, nil
}

// Stamp returns a copy of e as Put would write it for name: Name set,
// Fetched (if zero) now, Expires and ServeUntil from this cache's TTLs.
func (c *Cache) Stamp(name string, e *Entry) *Entry {
	cp := *e
	cp.Name = name
	if cp.Fetched.IsZero() {
		cp.Fetched = c.now()
	}
	cp.Expires = cp.Fetched.Add(c.ttl(cp.Unknown))
	cp.ServeUntil = cp.Expires.Add(c.Grace)
	return &cp
}

// WriteFailureLevel is the level at which to log a failed Put or Remove:
// Info when the process is not the cache's owner (a diagnostic such as
// -test-login run as root, which leaves the owner's entries alone by
// design), else Warn.
func WriteFailureLevel(err error) slog.Level {
	if errors.Is(err, ErrNotOwner) {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

// owned returns ErrNotOwner (wrapped) unless this process's effective
// user owns Dir, the one user whose files readers trust (see trusted).
// Where owners cannot be read, nobody's entries are trusted anyway.
func (c *Cache) owned() error {
	dm, err := statMeta(c.Dir)
	if err != nil {
		return fmt.Errorf("memberships cache: %w", err)
	}
	if euid := os.Geteuid(); dm.hasUID && dm.uid != uint32(euid) {
		return fmt.Errorf("memberships cache %s belongs to uid %d, not to uid %d (this process): %w", c.Dir, dm.uid, euid, ErrNotOwner)
	}
	return nil
}

// ensureDir creates Dir 0750 if it is missing: the administrator (or
// systemd, scripts/stack.sh) makes it 2750 with Apache's group, which this
// process, not a member of that group, cannot. An existing directory's
// mode is left alone (Get refuses entries in one others can write).
func (c *Cache) ensureDir() error {
	if _, err := os.Stat(c.Dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(c.Dir, 0o750); err != nil {
		return fmt.Errorf("memberships cache: %w", err)
	}
	// MkdirAll's mode is filtered by the umask.
	if err := os.Chmod(c.Dir, 0o750); err != nil {
		return fmt.Errorf("memberships cache: %w", err)
	}
	return nil
}
