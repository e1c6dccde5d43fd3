package adgroup

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Cache is the on-disk memberships cache shared by the authorizer and the
// group-check helper: one JSON file per user in Dir.
//
// File names are the hex SHA-256 of lower(domain) + `\` + lower(user), so
// no part of a user name ever becomes part of a path. Files are replaced
// atomically (temporary file in Dir, fsync, chmod 0644, rename), so readers
// never see a partial file and concurrent writers, in one process or
// several, simply race to the last rename. Files are 0644 and Dir 0755
// because the helper runs as the web server user, which is usually not the
// user the authorizer runs as.
//
// A Cache value is safe for concurrent use if its fields are not changed
// after first use.
type Cache struct {
	Dir         string
	TTL         time.Duration    // how long a group list is fresh; default 3h
	NegativeTTL time.Duration    // how long "no such user" is fresh; default 1m
	Now         func() time.Time // nil = time.Now; tests set it
}

// Entry is one user's cached memberships.
type Entry struct {
	User, Domain string
	Fetched      time.Time // when LDAP answered
	Unknown      bool      // LDAP said there is no such user (a negative entry)
	Groups       []Group
}

// Cache defaults and limits.
const (
	DefaultTTL         = 3 * time.Hour
	DefaultNegativeTTL = time.Minute
	// MaxEntrySize bounds what Get reads: a cache file is a few KiB, and a
	// huge one is damage or mischief, not data.
	MaxEntrySize = 1 << 20
	// entryVersion is the file format version ("v"). A file of any other
	// version is ignored, so a format change never misreads old files.
	entryVersion = 1
	// maxClockSkew: an entry fetched further than this in the future (a
	// clock step, a copied file) is treated as stale, not fresh forever.
	maxClockSkew = time.Minute
)

// ErrCorrupt is wrapped by Cache.Get for a file it refuses to use:
// unparseable, truncated, too large, a different format version, or
// written for another user (a hash collision or a foreign file). The
// caller should treat it as a miss, and may log it; the next Put replaces
// the file.
var ErrCorrupt = errors.New("corrupt cache entry")

// fileEntry and fileGroup are the JSON form, kept apart from Entry and
// Group so the on-disk names and version are fixed here and only here.
type fileEntry struct {
	V       int         `json:"v"`
	User    string      `json:"user"`
	Domain  string      `json:"domain"`
	Fetched time.Time   `json:"fetched"` // RFC 3339, UTC
	Unknown bool        `json:"unknown"`
	Groups  []fileGroup `json:"groups"`
}

type fileGroup struct {
	SAM string `json:"sam"`
	CN  string `json:"cn"`
	DN  string `json:"dn"`
}

func (c *Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// ttl is how long e stays fresh.
func (c *Cache) ttl(e *Entry) time.Duration {
	if e.Unknown {
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

// Expires is when e stops being fresh under this cache's TTLs.
func (c *Cache) Expires(e *Entry) time.Time { return e.Fetched.Add(c.ttl(e)) }

func (c *Cache) isFresh(e *Entry) bool {
	now := c.now()
	if e.Fetched.After(now.Add(maxClockSkew)) {
		return false
	}
	return now.Before(c.Expires(e))
}

// fileName is the cache file's base name for user in domain.
func fileName(user, domain string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(domain) + `\` + strings.ToLower(user)))
	return hex.EncodeToString(sum[:])
}

// Path is the file that holds user's entry.
func (c *Cache) Path(user, domain string) string {
	return filepath.Join(c.Dir, fileName(user, domain))
}

// Get reads user's entry. It returns:
//   - (nil, false, nil) when there is no entry;
//   - (nil, false, err wrapping ErrCorrupt) when the file exists but is not
//     a valid entry for this user (see ErrCorrupt): treat as a miss;
//   - (nil, false, err) on other I/O errors (e.g. permission denied);
//   - (e, true, nil) for a fresh entry;
//   - (e, false, nil) for a stale one, which the caller may still serve
//     within a grace period when LDAP is down (Lookup does).
//
// user and domain match case-insensitively, as Windows names do.
func (c *Cache) Get(user, domain string) (e *Entry, fresh bool, err error) {
	if c.Dir == "" {
		return nil, false, errors.New("memberships cache: no directory configured")
	}
	path := c.Path(user, domain)
	// Lstat first: opening a FIFO planted in the directory would block.
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("memberships cache: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, false, fmt.Errorf("memberships cache: %s: not a regular file: %w", path, ErrCorrupt)
	}
	if fi.Size() > MaxEntrySize {
		return nil, false, fmt.Errorf("memberships cache: %s: %d bytes: %w", path, fi.Size(), ErrCorrupt)
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("memberships cache: %w", err)
	}
	defer f.Close()
	// The limit holds even if the file grew after Lstat.
	data, err := io.ReadAll(io.LimitReader(f, MaxEntrySize+1))
	if err != nil {
		return nil, false, fmt.Errorf("memberships cache: %w", err)
	}
	e, err = decodeEntry(data, user, domain)
	if err != nil {
		return nil, false, fmt.Errorf("memberships cache: %s: %w", path, err)
	}
	return e, c.isFresh(e), nil
}

// decodeEntry parses a cache file and checks it belongs to user in
// domain. Every failure wraps ErrCorrupt. It must never panic whatever
// data holds (FuzzDecodeEntry).
func decodeEntry(data []byte, user, domain string) (*Entry, error) {
	if len(data) > MaxEntrySize {
		return nil, fmt.Errorf("larger than %d bytes: %w", MaxEntrySize, ErrCorrupt)
	}
	var fe fileEntry
	if err := json.Unmarshal(data, &fe); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if fe.V != entryVersion {
		return nil, fmt.Errorf("format version %d, want %d: %w", fe.V, entryVersion, ErrCorrupt)
	}
	if fe.User == "" || !strings.EqualFold(fe.User, user) || !strings.EqualFold(fe.Domain, domain) {
		return nil, fmt.Errorf("entry is for %q in %q: %w", fe.User, fe.Domain, ErrCorrupt)
	}
	if fe.Fetched.IsZero() {
		return nil, fmt.Errorf("no fetch time: %w", ErrCorrupt)
	}
	if fe.Unknown && len(fe.Groups) > 0 {
		return nil, fmt.Errorf("negative entry with groups: %w", ErrCorrupt)
	}
	e := &Entry{User: fe.User, Domain: fe.Domain, Fetched: fe.Fetched, Unknown: fe.Unknown}
	if len(fe.Groups) > 0 {
		e.Groups = make([]Group, 0, len(fe.Groups))
	}
	for _, g := range fe.Groups {
		if g.SAM == "" && g.CN == "" && g.DN == "" {
			return nil, fmt.Errorf("empty group: %w", ErrCorrupt)
		}
		e.Groups = append(e.Groups, Group(g))
	}
	return e, nil
}

// encodeEntry is the inverse of decodeEntry.
func encodeEntry(e *Entry) ([]byte, error) {
	if e == nil || e.User == "" {
		return nil, errors.New("entry without user")
	}
	if e.Unknown && len(e.Groups) > 0 {
		return nil, errors.New("negative entry with groups")
	}
	if e.Fetched.IsZero() {
		return nil, errors.New("entry without fetch time")
	}
	fe := fileEntry{
		V:       entryVersion,
		User:    e.User,
		Domain:  e.Domain,
		Fetched: e.Fetched.UTC(),
		Unknown: e.Unknown,
		Groups:  make([]fileGroup, 0, len(e.Groups)),
	}
	for _, g := range e.Groups {
		if g.SAM == "" && g.CN == "" && g.DN == "" {
			return nil, errors.New("empty group")
		}
		fe.Groups = append(fe.Groups, fileGroup(g))
	}
	data, err := json.Marshal(fe)
	if err != nil {
		return nil, err
	}
	if len(data) > MaxEntrySize {
		// Get would reject it; fail here, where the cause is visible.
		return nil, fmt.Errorf("entry is %d bytes, more than %d", len(data), MaxEntrySize)
	}
	return append(data, '\n'), nil
}

// Put writes e atomically, replacing any previous entry for the same user
// (corrupt or not). A zero e.Fetched is set to now.
func (c *Cache) Put(e *Entry) error {
	if c.Dir == "" {
		return errors.New("memberships cache: no directory configured")
	}
	if e != nil && e.Fetched.IsZero() {
		cp := *e
		cp.Fetched = c.now()
		e = &cp
	}
	data, err := encodeEntry(e)
	if err != nil {
		return fmt.Errorf("memberships cache: %w", err)
	}
	if err := c.ensureDir(); err != nil {
		return err
	}
	path := c.Path(e.User, e.Domain)
	// The dot prefix keeps temporary files out of the hex name space.
	f, err := os.CreateTemp(c.Dir, ".tmp-")
	if err != nil {
		return fmt.Errorf("memberships cache: %w", err)
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
		return fmt.Errorf("memberships cache: write %s: %w", tmp, err)
	}
	// fsync before rename: after a crash the name must point at complete
	// data, never at an empty file.
	if err := f.Sync(); err != nil {
		return fmt.Errorf("memberships cache: sync %s: %w", tmp, err)
	}
	// CreateTemp makes 0600; the helper (another user) must read it.
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("memberships cache: chmod %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("memberships cache: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("memberships cache: %w", err)
	}
	ok = true
	// Make the rename itself durable; best effort, as a failure here loses
	// at most a cache entry.
	if d, err := os.Open(c.Dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// ensureDir creates Dir 0755 if it is missing. An existing directory's
// mode is left alone: it is the administrator's choice.
func (c *Cache) ensureDir() error {
	if _, err := os.Stat(c.Dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fmt.Errorf("memberships cache: %w", err)
	}
	// MkdirAll's mode is filtered by the umask; the helper needs r-x.
	if err := os.Chmod(c.Dir, 0o755); err != nil {
		return fmt.Errorf("memberships cache: %w", err)
	}
	return nil
}

// MemberOfAny reports whether the user is in any of the named groups.
// A name matches a group's sAMAccountName, CN or DN, case-insensitively
// and whole (never as a prefix: "Web" does not match "WebUsers"). A name
// containing "=" is also compared as a DN, so spacing and case in the
// attribute types do not matter. Empty names never match. A negative
// (Unknown) or nil entry is a member of nothing.
func (e *Entry) MemberOfAny(names []string) bool {
	if e == nil || e.Unknown {
		return false
	}
	for _, name := range names {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		var dn *ldap.DN
		if strings.Contains(name, "=") {
			dn, _ = ldap.ParseDN(name)
		}
		for _, g := range e.Groups {
			if (g.SAM != "" && strings.EqualFold(name, g.SAM)) ||
				(g.CN != "" && strings.EqualFold(name, g.CN)) ||
				(g.DN != "" && strings.EqualFold(name, g.DN)) {
				return true
			}
			if dn != nil && len(dn.RDNs) > 0 && g.DN != "" {
				if gdn, err := ldap.ParseDN(g.DN); err == nil && dn.EqualFold(gdn) {
					return true
				}
			}
		}
	}
	return false
}
