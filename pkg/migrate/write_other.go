//go:build !unix

package migrate

import "io/fs"

// ownedByUs: owners are not checked here (Windows ACLs are another model).
func ownedByUs(fs.FileInfo) bool { return true }

// syncDir: a directory cannot be synced here.
func syncDir(string) error { return nil }
