//go:build unix

package procgroup

import "syscall"

// Attr starts a process in a group of its own.
func Attr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// Signal asks the process group pid to end (SIGTERM), or kills it
// (SIGKILL).
func Signal(pid int, kill bool) error {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	return syscall.Kill(-pid, sig)
}
