//go:build unix

package main

import (
	"fmt"
	"os"
	"syscall"
)

// underJournald reports whether f is the journal stream systemd connected
// (JOURNAL_STREAM is "device:inode" of it, see systemd.exec(5)); the
// variable alone is inherited by children whose stderr may go elsewhere.
func underJournald(f *os.File) bool {
	v := os.Getenv("JOURNAL_STREAM")
	if v == "" {
		return false
	}
	var dev, ino uint64
	if _, err := fmt.Sscanf(v, "%d:%d", &dev, &ino); err != nil {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return uint64(st.Dev) == dev && st.Ino == ino
}
