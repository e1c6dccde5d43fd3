// Package delegation owns what an application is given to act as the
// logged-in user: MIT credential cache files (package ccache encodes them)
// in one directory, each handed to the application as KRB5CCNAME, and
// their lifetime: a file goes when its tickets end, when no request was
// handed it for a while, and at the daemon's start and stop.
//
// The directory is the daemon's, group the application's (Apache's, e.g.
// www-data), setgid and closed to others (2710): the files, 0640, take the
// application's group from it, so the daemon needs no privilege to hand
// them over, the application can read but neither write, rename nor list
// them, and no other local user can reach them.
package delegation

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/ccache"
)

// filePrefix starts every file the Store writes; only such files are
// removed at start.
const filePrefix = "krb5cc_goauthenntlm_"

// fileMode: the daemon writes, the application's group reads.
const fileMode = 0o640

// ErrFull is returned by Write when the Store holds its maximum of files.
var ErrFull = errors.New("delegation: the credential cache directory holds its maximum of files (delegation.max_ccaches)")

// Options configure a Store.
type Options struct {
	// Dir is the directory of the files (delegation.ccache_dir).
	Dir string
	// Group is the application's group (a name or a number), which Dir
	// must have.
	Group string
	// Max bounds the files held; 0: 10000.
	Max int
	// PerUser bounds one account's files (0: 16): past it, the account's
	// least recently used file makes room for its new one, so that one
	// account (a client opening connection after connection) cannot take
	// the others' share of Max.
	PerUser int
	// Idle is how long a file lives after the last request handed it;
	// 0: 5 minutes.
	Idle   time.Duration
	Logger *slog.Logger
}

// Store holds the credential cache files. It is safe for concurrent use.
type Store struct {
	dir     string
	gid     int
	max     int
	perUser int
	idle    time.Duration
	log     *slog.Logger

	mu    sync.Mutex
	files map[string]*file    // by path
	owned map[string][]string // an account's paths, by accountOf
}

type file struct {
	owner    string    // accountOf the client
	writing  bool      // being created: not to be removed before it exists
	expires  time.Time // the tickets' end
	lastUsed time.Time
}

// accountOf is the key an account's files are counted under: the
// client's name in one case (the KDC matches names in any case).
func accountOf(p ccache.Principal) string { return strings.ToLower(p.String()) }

// Open checks Options.Dir and removes the files a previous run left
// there (a crash, or a stop that could not finish).
func Open(o Options) (*Store, error) {
	if o.Max <= 0 {
		o.Max = 10000
	}
	if o.PerUser <= 0 {
		o.PerUser = 16
	}
	if o.Idle <= 0 {
		o.Idle = 5 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	gid, err := Check(o.Dir, o.Group, os.Geteuid())
	if err != nil {
		return nil, err
	}
	s := &Store{dir: o.Dir, gid: gid, max: o.Max, perUser: o.PerUser, idle: o.Idle, log: o.Logger, files: map[string]*file{}, owned: map[string][]string{}}
	n, err := s.removeLeftovers()
	if err != nil {
		return nil, err
	}
	if n > 0 {
		s.log.Info("delegation: removed credential caches left by an earlier run", "dir", o.Dir, "files", n)
	}
	return s, nil
}

func lookupGroup(g string) (int, error) {
	if g == "" {
		return 0, errors.New("delegation.app_group is not set: the group of the application (Apache's, e.g. www-data) that reads the credential caches")
	}
	if n, err := strconv.Atoi(g); err == nil {
		return n, nil
	}
	gr, err := user.LookupGroup(g)
	if err != nil {
		return 0, fmt.Errorf("delegation.app_group %q: %w", g, err)
	}
	return strconv.Atoi(gr.Gid)
}

// Check is CheckDir for the group named group (a name or a number), whose
// id it returns. -check runs it, without touching the files.
func Check(dir, group string, owner int) (int, error) {
	gid, err := lookupGroup(group)
	if err != nil {
		return 0, err
	}
	return gid, CheckDir(dir, gid, owner)
}

// CheckDir checks that dir is what the Store needs and keeps safe: a
// directory (not a link) of the user owner (the daemon's; -1: any, for
// root's -check of the service user's directory), group gid, setgid, and
// nothing for others.
func CheckDir(dir string, gid, owner int) error {
	if dir == "" || !filepath.IsAbs(dir) {
		return fmt.Errorf("delegation.ccache_dir %q: an absolute path is needed", dir)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("delegation.ccache_dir: %w (make it: install -d -o %s -g GROUP -m 2710 %s)", err, currentUser(), dir)
	}
	uid, dgid, ok := fileOwner(fi)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("delegation.ccache_dir %s is not a directory (a link is not taken)", dir)
	case !ok:
		return fmt.Errorf("delegation.ccache_dir %s: cannot read its owner", dir)
	case owner >= 0 && uid != owner:
		return fmt.Errorf("delegation.ccache_dir %s belongs to uid %d, not to this process's user %s: another user could replace the files", dir, uid, currentUser())
	case dgid != gid:
		return fmt.Errorf("delegation.ccache_dir %s has group %d, not delegation.app_group's %d (chgrp it; mode 2710)", dir, dgid, gid)
	case fi.Mode()&fs.ModeSetgid == 0:
		return fmt.Errorf("delegation.ccache_dir %s is not setgid: the files would not take the application's group (chmod 2710)", dir)
	case fi.Mode().Perm()&0o007 != 0:
		return fmt.Errorf("delegation.ccache_dir %s is open to other users (mode %o): chmod 2710", dir, fi.Mode().Perm())
	case fi.Mode().Perm()&0o020 != 0:
		return fmt.Errorf("delegation.ccache_dir %s is writable by its group (mode %o): the application could replace files; chmod 2710", dir, fi.Mode().Perm())
	}
	return nil
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Geteuid())
}

func (s *Store) removeLeftovers() (int, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, fmt.Errorf("delegation.ccache_dir: %w", err)
	}
	n := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), filePrefix) {
			if err := os.Remove(filepath.Join(s.dir, e.Name())); err == nil {
				n++
			}
		}
	}
	return n, nil
}

// Write stores a cache of creds for client in a new file and returns its
// path. The file lives until the earliest end of creds, or Idle after the
// last Use.
func (s *Store) Write(client ccache.Principal, creds []ccache.Credential, now time.Time) (string, error) {
	if len(creds) == 0 {
		return "", errors.New("delegation: no credentials to write")
	}
	b, err := ccache.Marshal(client, creds)
	if err != nil {
		return "", err
	}
	expires := creds[0].EndTime
	for _, c := range creds[1:] {
		if c.EndTime.Before(expires) {
			expires = c.EndTime
		}
	}
	owner := accountOf(client)
	var evicted string
	s.mu.Lock()
	if len(s.owned[owner]) >= s.perUser {
		if evicted = s.leastUsed(owner); evicted == "" {
			// All of the account's files are being written (a burst of
			// its logins): none can make room yet.
			s.mu.Unlock()
			return "", ErrFull
		}
		s.drop(evicted)
	}
	if len(s.files) >= s.max {
		s.mu.Unlock()
		s.remove(evicted)
		return "", ErrFull
	}
	var r [16]byte
	rand.Read(r[:])
	path := filepath.Join(s.dir, filePrefix+hex.EncodeToString(r[:]))
	// Held before it exists, so that the count bounds files being written.
	s.files[path] = &file{owner: owner, expires: expires, lastUsed: now, writing: true}
	s.owned[owner] = append(s.owned[owner], path)
	s.mu.Unlock()
	s.remove(evicted)
	err = s.create(path, b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.drop(path)
		return "", err
	}
	if f := s.files[path]; f != nil {
		f.writing = false
	}
	return path, nil
}

// leastUsed is owner's file used longest ago, of those written; "" for
// none; s.mu held. One being written is never taken: removing it before
// it exists would leave the file, once made, to nobody.
func (s *Store) leastUsed(owner string) string {
	var oldest string
	for _, p := range s.owned[owner] {
		if f := s.files[p]; !f.writing && (oldest == "" || f.lastUsed.Before(s.files[oldest].lastUsed)) {
			oldest = p
		}
	}
	return oldest
}

// drop forgets path (its file is removed by the caller); s.mu held.
func (s *Store) drop(path string) {
	f, ok := s.files[path]
	if !ok {
		return
	}
	delete(s.files, path)
	ps := s.owned[f.owner]
	if i := slices.Index(ps, path); i >= 0 {
		ps = slices.Delete(ps, i, i+1)
	}
	if len(ps) == 0 {
		delete(s.owned, f.owner)
	} else {
		s.owned[f.owner] = ps
	}
}

// remove removes the file at path ("": none), which the Store has
// dropped.
func (s *Store) remove(path string) {
	if path == "" {
		return
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("delegation: cannot remove a credential cache", "path", path, "err", err)
	}
}

// create writes b to a new file at path, never through a link or over
// another file, and checks that it took the application's group.
func (s *Store) create(path string, b []byte) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollow, fileMode)
	if err != nil {
		return fmt.Errorf("delegation: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("delegation: %w", err)
	}
	// The umask may have taken bits off; others get none either way.
	if fi.Mode().Perm() != fileMode {
		if err := f.Chmod(fileMode); err != nil {
			return fmt.Errorf("delegation: %w", err)
		}
	}
	if _, fgid, ok := fileOwner(fi); !ok || fgid != s.gid {
		return fmt.Errorf("delegation: %s did not take the application's group from its directory (is ccache_dir still setgid?)", path)
	}
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("delegation: %w", err)
	}
	return nil
}

// Use reports whether path is a file the Store holds and whose tickets
// have not ended, and marks it used at now.
func (s *Store) Use(path string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[path]
	if !ok || !now.Before(f.expires) {
		return false
	}
	f.lastUsed = now
	return true
}

// Sweep removes the files whose tickets ended or that no request was
// handed for Idle.
func (s *Store) Sweep(now time.Time) {
	var gone []string
	s.mu.Lock()
	for p, f := range s.files {
		if !f.writing && (!now.Before(f.expires) || now.Sub(f.lastUsed) > s.idle) {
			gone = append(gone, p)
		}
	}
	for _, p := range gone {
		s.drop(p)
	}
	s.mu.Unlock()
	for _, p := range gone {
		s.remove(p)
	}
}

// Len is the number of files held.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.files)
}

// Close removes every file: at the daemon's stop no application request
// is left to use them.
func (s *Store) Close() error {
	s.mu.Lock()
	files := s.files
	s.files, s.owned = map[string]*file{}, map[string][]string{}
	s.mu.Unlock()
	var errs []error
	for p := range files {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
