//go:build unix

package procgroup

import "syscall"

// Attr starts a process in a group of its own.
func Attr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// SessionAttr starts a process in a session (and so a group) of its own,
// as a daemon started by systemd or setsid is. With the kernel's
// autogroup scheduling every session is a scheduling group: a daemon in
// the session of the program that drives the load would get its CPU, and
// its wakeups, on other terms than a daemon started on its own.
func SessionAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

// Signal asks the process group pid to end (SIGTERM), or kills it
// (SIGKILL).
func Signal(pid int, kill bool) error {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	return syscall.Kill(-pid, sig)
}
