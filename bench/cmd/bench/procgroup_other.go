//go:build !unix

package main

import (
	"os"
	"syscall"
)

// groupAttr: process groups as the bench uses them exist on Unix only; the
// stack it drives (Samba, Apache) runs on Linux anyway.
func groupAttr() *syscall.SysProcAttr { return nil }

// signalGroup kills the process alone: no group to signal here.
func signalGroup(pid int, _ bool) {
	if p, err := os.FindProcess(pid); err == nil {
		p.Kill()
	}
}
