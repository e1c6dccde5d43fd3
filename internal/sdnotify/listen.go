//go:build unix

package sdnotify

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// listenFDsStart is SD_LISTEN_FDS_START: the first passed descriptor.
const listenFDsStart = 3

// Files returns the sockets passed by socket activation (sd_listen_fds(3)):
// LISTEN_PID names this process and LISTEN_FDS counts the descriptors
// from 3 on. Whoever passed them (systemd's .socket unit, the stack's
// root-run holder) keeps its own copy, so the address stays taken while
// this process is stopped or restarting. Like sd_listen_fds with
// unset_environment set, it removes the variables, so that nothing this
// process starts takes the descriptors for its own, and it marks them
// close-on-exec. Without the variables, or with another process's: nil.
//
// A few lines of the protocol rather than coreos/go-systemd's activation
// package, as Notify is.
func Files() ([]*os.File, error) {
	pid, fds := os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS")
	defer func() {
		os.Unsetenv("LISTEN_PID")
		os.Unsetenv("LISTEN_FDS")
		os.Unsetenv("LISTEN_FDNAMES")
	}()
	if pid == "" || fds == "" {
		return nil, nil
	}
	if p, err := strconv.Atoi(pid); err != nil || p != os.Getpid() {
		return nil, nil // meant for another process (a parent's variables)
	}
	n, err := strconv.Atoi(fds)
	if err != nil || n < 0 || n > 64 {
		return nil, fmt.Errorf("socket activation: LISTEN_FDS=%q is not a small count", fds)
	}
	files := make([]*os.File, 0, n)
	for fd := listenFDsStart; fd < listenFDsStart+n; fd++ {
		syscall.CloseOnExec(fd)
		files = append(files, os.NewFile(uintptr(fd), "LISTEN_FD_"+strconv.Itoa(fd)))
	}
	return files, nil
}
