//go:build !unix

package sdnotify

import "os"

// Files returns nil: socket activation passes Unix descriptors, and
// systems without them have no such hand-over. The daemon binds its
// address itself there.
func Files() ([]*os.File, error) { return nil, nil }
