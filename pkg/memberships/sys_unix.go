//go:build unix

package memberships

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// readEntry reads up to max bytes of the cache file at path, with the
// system calls directly: ntlm-group-check does it once per start, and
// package os would first set up its poller for nothing. O_NOFOLLOW: a
// symbolic link is never followed; O_NONBLOCK: a FIFO does not block the
// open (it is then refused as not a regular file, before any read).
func readEntry(path string, max int) ([]byte, fileMeta, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err == syscall.ELOOP {
		return nil, fileMeta{}, fmt.Errorf("%s is a symbolic link: %w", path, ErrUntrusted)
	}
	if err != nil {
		return nil, fileMeta{}, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, fileMeta{}, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	fm := meta(&st)
	if !fm.regular {
		return nil, fm, nil
	}
	buf := make([]byte, 0, min(int(st.Size)+1, max))
	for len(buf) < max {
		n, err := syscall.Read(fd, buf[len(buf):min(cap(buf), max)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, fm, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			break
		}
		buf = buf[:len(buf)+n]
		if len(buf) == cap(buf) && cap(buf) < max {
			buf = append(buf, 0)[:len(buf)] // grow: the file grew since fstat
		}
	}
	return buf, fm, nil
}

// statMeta describes the file or directory at path (following links).
func statMeta(path string) (fileMeta, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fileMeta{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	return meta(&st), nil
}

func meta(st *syscall.Stat_t) fileMeta {
	return fileMeta{
		regular: st.Mode&syscall.S_IFMT == syscall.S_IFREG,
		perm:    fs.FileMode(st.Mode & 0o777),
		uid:     st.Uid,
		hasUID:  true,
	}
}

// dialUnix connects to a Unix stream socket with the timeout bounding
// connect, every read and every write (SO_SNDTIMEO, SO_RCVTIMEO). It uses
// the system calls directly rather than package net, whose cgo resolver
// would make ntlm-group-check a dynamically linked program that pays the
// dynamic loader at every start.
func dialUnix(path string, timeout time.Duration) (*os.File, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	syscall.CloseOnExec(fd)
	tv := syscall.NsecToTimeval(timeout.Nanoseconds())
	for _, opt := range []int{syscall.SO_SNDTIMEO, syscall.SO_RCVTIMEO} {
		if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, opt, &tv); err != nil {
			syscall.Close(fd)
			return nil, fmt.Errorf("socket timeout: %w", err)
		}
	}
	for {
		err = syscall.Connect(fd, &syscall.SockaddrUnix{Name: path})
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("connect %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}
