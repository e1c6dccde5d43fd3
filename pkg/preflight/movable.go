package preflight

import (
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
)

// movable checks that the owner of the cache directory dir cannot move or
// replace it: that no directory above it, as named and with links
// resolved, is the owner's or writable by it. Otherwise the owner (the
// service user, or whoever took it over) could put a link in its place,
// and root, which makes and puts the cache right at every start (the
// unit's systemd-tmpfiles line, an install), would follow it: chown or
// chmod what it names, /etc say, for the owner. A cache of root's is not
// checked: root needs no link to do anything.
func movable(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil // cacheDir says why
	}
	uid, ok := fileUID(fi)
	if !ok || uid == 0 {
		return nil
	}
	name := strconv.FormatUint(uint64(uid), 10)
	inGroup := func(uint32) bool { return true } // unknown groups: assume the worst
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
		if gids, err := u.GroupIds(); err == nil {
			inGroup = func(gid uint32) bool { return slices.Contains(gids, strconv.FormatUint(uint64(gid), 10)) }
		}
	}
	return movableBy(dir, uid, name, inGroup)
}

// movableBy is movable for the owner uid (called name), a member of the
// groups inGroup says.
func movableBy(dir string, uid uint32, name string, inGroup func(gid uint32) bool) error {
	parent, why, err := walkUp(dir, func(p, c os.FileInfo) string { return replaceable(p, c, uid, inGroup) })
	if err != nil || why == "" {
		return err
	}
	return fmt.Errorf("%s can be replaced by a link by its owner %s: %s %s (root, which puts the cache right at every start, would follow the link); make %s root's, mode 0755, as the tmpfiles.d file goauthenntlm.conf does",
		dir, name, parent, why, parent)
}

// replaceable says why the user uid can rename or remove the entry child
// of the directory parent, or "" if it cannot. A sticky directory (/tmp)
// lets it do so only to its own entries.
func replaceable(parent, child os.FileInfo, uid uint32, inGroup func(uint32) bool) string {
	puid, ok := fileUID(parent)
	if !ok {
		return ""
	}
	pgid, _ := fileGID(parent)
	m := parent.Mode()
	var why string
	switch {
	case puid == uid:
		return "is its own"
	case m&0o002 != 0:
		why = "is writable by every user"
	case m&0o020 != 0 && inGroup(pgid):
		why = fmt.Sprintf("is writable by its group %d, which the owner is in", pgid)
	default:
		return ""
	}
	if m&os.ModeSticky != 0 {
		if cuid, _ := fileUID(child); cuid != uid {
			return ""
		}
		why += " and holds " + child.Name() + ", which is the owner's"
	}
	return why
}
