//go:build unix

package main

import "syscall"

// groupAttr starts a process in a group of its own, so that stop ends it
// and everything it started.
func groupAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// signalGroup asks the process group pid to end (SIGTERM), or kills it.
func signalGroup(pid int, kill bool) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	syscall.Kill(-pid, sig)
}
