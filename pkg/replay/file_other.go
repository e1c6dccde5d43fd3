//go:build !unix

package replay

import (
	"errors"
	"fmt"
)

// errNoFile: the file needs Unix (a shared mapping, flock, O_NOFOLLOW);
// the daemon runs on Linux.
var errNoFile = errors.New("a replay file needs a Unix system: set [replay] file = \"\" (in memory)")

// Open is refused off Unix.
func Open(path string, o Options) (*Table, error) {
	return nil, fmt.Errorf("replay file %s: %w", path, errNoFile)
}

// Check is refused off Unix.
func Check(path string) error {
	return fmt.Errorf("replay file %s: %w", path, errNoFile)
}

func (f *file) close(t *Table) error { return nil }
