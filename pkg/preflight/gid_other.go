//go:build !unix

package preflight

import "os"

// fileGID: no file groups to check on this system.
func fileGID(os.FileInfo) (uint32, bool) { return 0, false }

// fileUID: no file owners to check on this system.
func fileUID(os.FileInfo) (uint32, bool) { return 0, false }
