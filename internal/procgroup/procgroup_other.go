//go:build !unix

package procgroup

import (
	"os"
	"syscall"
)

// Attr: no process groups here; the tools that use them drive a Linux
// stack anyway.
func Attr() *syscall.SysProcAttr { return nil }

// SessionAttr: no sessions here either.
func SessionAttr() *syscall.SysProcAttr { return nil }

// Signal kills the process alone: there is no group to signal.
func Signal(pid int, _ bool) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}
