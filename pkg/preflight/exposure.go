package preflight

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"runtime"
	"slices"
	"strconv"
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
	// helper_users; a cookie secret mints login cookies for anyone).
	// Every reader but the service and root is refused.
	impersonation secretKind = iota
	// directoryRead: the LDAP service account's password reads the
	// directory, which any domain account may read too. Readable by every
	// local user is refused; by a group of the admin's choosing (a
	// monitoring tool's, say) only warned about.
	directoryRead
)

// exposure checks who besides the service can read the secret file path:
// every local user (the mode's "other" read bit), or a group not among
// serviceGroups. With serviceGroups nil (the check runs as root, whose
// groups say nothing about the service's) only the first is checked. It
// returns nil where modes do not say this (Windows) or the file cannot be
// stat'ed (reading it fails elsewhere).
func exposure(path string, kind secretKind, serviceGroups []uint32) error {
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
	gid, ok := fileGID(fi)
	if !ok || m&0o040 == 0 || serviceGroups == nil || slices.Contains(serviceGroups, gid) {
		return nil
	}
	name := strconv.FormatUint(uint64(gid), 10)
	if g, err := user.LookupGroupId(name); err == nil {
		name = g.Name
	}
	err = fmt.Errorf("%s has mode %v and group %s, which is not the authorizer's: its members can read this secret; %s", path, m, name, fix)
	if kind == directoryRead {
		return &Warning{Err: err}
	}
	return err
}

// serviceGroups are the groups exposure accepts as the service's: this
// process's, for -check runs as the service user (as the systemd unit's
// ExecStartPre and the stacks do). Nil when it runs as root, or on
// Windows.
func serviceGroups() []uint32 {
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		return nil
	}
	gs := []uint32{uint32(os.Getegid())}
	if more, err := os.Getgroups(); err == nil {
		for _, g := range more {
			gs = append(gs, uint32(g))
		}
	}
	return gs
}
