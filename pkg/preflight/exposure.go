package preflight

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
)

// Warning is a problem Files reports that does not stop a start: -check
// prints it and still succeeds if nothing else is wrong.
type Warning struct{ Err error }

func (w *Warning) Error() string { return "warning: " + w.Err.Error() }
func (w *Warning) Unwrap() error { return w.Err }

// IsWarning reports whether err, one of Files' problems, is only a warning.
func IsWarning(err error) bool {
	var w *Warning
	return errors.As(err, &w)
}

// secretKind says how much a secret file's readers can do, which decides
// whether a reader besides the service is refused or only warned about.
type secretKind int

const (
	// impersonation: whoever reads it can make the authorizer vouch for
	// any user or answer for any user's groups (the caller secret lets a
	// local process ask the authorizer directly, past Apache and past
	// helper_users; a cookie secret mints login cookies for anyone; a
	// keytab's keys make Kerberos tickets for any user to the site).
	// Every reader but the service and root is refused, and so is anyone
	// else who could change or replace the file (and so know its secret).
	impersonation secretKind = iota
	// directoryRead: the LDAP service account's password reads the
	// directory, which any domain account may read too. Readable by every
	// local user is refused; by a group of the admin's choosing (a
	// monitoring tool's, say), or replaceable by another user, only
	// warned about.
	directoryRead
)

// Secrets checks every secret file cfg names (the caller secret, the
// cookie secrets, each LDAP bind password, each keytab and the replay
// store's Redis password) with exposure,
// as the calling user: -check runs it within Files, and the daemon at
// start and reload, so that a file opened up after -check passed is still
// refused. Each problem is a *config.Error (or a *Warning of one) with the
// line of the key that names the file.
func Secrets(cfg *config.Config) []error {
	var errs []error
	svc := currentService()
	if cfg.CallerSecretFile != "" {
		if err := exposure(cfg.CallerSecretFile, impersonation, svc); err != nil {
			errs = append(errs, keepWarning(err, cfg.Problem([]string{"caller_secret_file"}, "caller secret: %v", err)))
		}
	}
	for i, d := range cfg.Domains {
		if len(d.LDAPURLs) > 0 && d.LDAPBindPasswordFile != "" {
			if err := exposure(d.LDAPBindPasswordFile, directoryRead, svc); err != nil {
				errs = append(errs, keepWarning(err, cfg.DomainProblem(i, "ldap_bind_password_file", "domain %s: ldap bind password: %v", d.Name, err)))
			}
		}
		if d.KeytabFile != "" {
			if err := exposure(d.KeytabFile, impersonation, svc); err != nil {
				errs = append(errs, keepWarning(err, cfg.DomainProblem(i, "keytab_file", "domain %s: keytab: %v", d.Name, err)))
			}
		}
	}
	// The shared replay store's password: its reader can delete a
	// captured token's entry, and replay the token on any node.
	if cfg.Replay.RedisURL != "" && cfg.Replay.RedisPasswordFile != "" {
		if err := exposure(cfg.Replay.RedisPasswordFile, impersonation, svc); err != nil {
			errs = append(errs, keepWarning(err, cfg.Problem([]string{"replay", "redis_password_file"}, "replay store's Redis password: %v", err)))
		}
	}
	if cfg.Cookie.Enabled {
		for _, f := range cfg.Cookie.SecretFiles {
			if err := exposure(f, impersonation, svc); err != nil {
				errs = append(errs, keepWarning(err, cfg.Problem([]string{"cookie", "secret_files"}, "cookie secret: %v", err)))
			}
		}
	}
	return errs
}

// service is who the daemon runs as, as far as the checking process can
// tell: itself when it is not root (the systemd unit's ExecStartPre and
// the stacks run -check as the service user). Run as root, uid is -1 and
// groups nil: root's groups say nothing about the service's, so only what
// every user can do is checked.
type service struct {
	uid    int
	groups []uint32
}

func (s service) known() bool { return s.uid >= 0 }

// ours says whether the file owner uid is root or the service.
func (s service) ours(uid uint32) bool { return uid == 0 || (s.known() && int(uid) == s.uid) }

// ourGroup says whether gid is root's group or one of the service's.
func (s service) ourGroup(gid uint32) bool { return gid == 0 || slices.Contains(s.groups, gid) }

func currentService() service {
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		return service{uid: -1}
	}
	gs := []uint32{uint32(os.Getegid())}
	if more, err := os.Getgroups(); err == nil {
		for _, g := range more {
			gs = append(gs, uint32(g))
		}
	}
	return service{uid: os.Geteuid(), groups: gs}
}

// exposure checks who besides the service (and root) can read the secret
// file path, or change it: every local user (the mode's "other" bits), a
// group not among the service's, an owner who is neither root nor the
// service (it can chmod the file at will), or whoever can write to a
// directory above it (it can put a file of its own, with a secret it
// knows, in its place). A reader or a replacer of an impersonation secret
// is refused; of the LDAP password, every local user reading it is
// refused and the rest warned about. It returns nil where modes do not
// say this (Windows) or the file cannot be stat'ed (reading it fails
// elsewhere).
func exposure(path string, kind secretKind, svc service) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	m := fi.Mode().Perm()
	fix := fmt.Sprintf("chmod 0640 %s; chown root:<the authorizer's group> %s", path, path)
	if m&0o004 != 0 {
		return fmt.Errorf("%s has mode %v: every local user can read this secret; %s", path, m, fix)
	}
	soft := func(err error) error {
		if kind == directoryRead {
			return &Warning{Err: err}
		}
		return err
	}
	if m&0o002 != 0 {
		return soft(fmt.Errorf("%s has mode %v: every local user can write this secret; %s", path, m, fix))
	}
	if uid, ok := fileUID(fi); ok && svc.known() && !svc.ours(uid) {
		return soft(fmt.Errorf("%s is owned by %s, neither root nor the authorizer's user: its owner can open it to anyone or change it; %s", path, userName(uid), fix))
	}
	if gid, ok := fileGID(fi); ok && m&0o060 != 0 && svc.known() && !svc.ourGroup(gid) {
		return soft(fmt.Errorf("%s has mode %v and group %s, which is not the authorizer's: its members can read or change this secret; %s", path, m, groupName(gid), fix))
	}
	if dir, why := replaceableDir(path, svc); why != "" {
		return soft(fmt.Errorf("%s can be replaced by another user: the directory %s %s; keep secrets in a directory only root can write (/etc/goauthenntlm, 0750 root:<the authorizer's group>)", path, dir, why))
	}
	return nil
}

// replaceableDir returns a directory above path (as named, and with links
// resolved) in which someone other than root and the service could
// rename or replace the entry on the way to path, and why; or "", "".
// A sticky directory (/tmp) lets only an entry's owner (and its own) do
// so.
func replaceableDir(path string, svc service) (dir, why string) {
	dir, why, err := walkUp(path, func(parent, child os.FileInfo) string { return othersReplace(parent, child, svc) })
	if err != nil {
		return "", ""
	}
	return dir, why
}

// walkUp calls check with each directory on the way from path (as given,
// and with its links resolved) up to /, and the entry below it, until
// check says why that entry can be replaced: it returns that directory
// and why, or "", "" at /, or the first error reading them.
func walkUp(path string, check func(parent, child os.FileInfo) string) (dir, why string, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", "", err
	}
	paths := []string{abs}
	if real, err := filepath.EvalSymlinks(abs); err == nil && real != abs {
		paths = append(paths, real)
	}
	for _, p := range paths {
		for child := p; ; {
			parent := filepath.Dir(child)
			if parent == child {
				break
			}
			pfi, err := os.Stat(parent)
			if err != nil {
				return "", "", err
			}
			cfi, err := os.Lstat(child)
			if err != nil {
				return "", "", err
			}
			if why := check(pfi, cfi); why != "" {
				return parent, why, nil
			}
			child = parent
		}
	}
	return "", "", nil
}

// othersReplace says why someone other than root and the service can
// rename or remove the entry child of the directory parent, or "".
func othersReplace(parent, child os.FileInfo, svc service) string {
	puid, ok := fileUID(parent)
	if !ok {
		return ""
	}
	pgid, _ := fileGID(parent)
	m := parent.Mode()
	var why string
	switch {
	case svc.known() && !svc.ours(puid):
		return "is owned by " + userName(puid)
	case m&0o002 != 0:
		why = "is writable by every user"
	case m&0o020 != 0 && svc.known() && !svc.ourGroup(pgid):
		why = "is writable by its group " + groupName(pgid)
	default:
		return ""
	}
	if m&os.ModeSticky != 0 {
		// Only the entry's owner or the directory's may move it; run as
		// root, an owner other than root may be the service's.
		cuid, _ := fileUID(child)
		if !svc.known() || svc.ours(cuid) && svc.ours(puid) {
			return ""
		}
		why += " and holds " + child.Name() + ", owned by " + userName(cuid)
	}
	return why
}

func userName(uid uint32) string {
	s := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(s); err == nil {
		return u.Username
	}
	return "uid " + s
}

func groupName(gid uint32) string {
	s := strconv.FormatUint(uint64(gid), 10)
	if g, err := user.LookupGroupId(s); err == nil {
		return g.Name
	}
	return "gid " + s
}
