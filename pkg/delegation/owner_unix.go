//go:build unix

package delegation

import (
	"os"
	"syscall"
)

// noFollow makes create refuse a link planted at a cache file's path.
const noFollow = syscall.O_NOFOLLOW

// fileOwner is the owner and group of the file fi describes.
func fileOwner(fi os.FileInfo) (uid, gid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}
