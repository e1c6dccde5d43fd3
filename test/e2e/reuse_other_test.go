//go:build !unix

package e2e

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// reuseDialer would dial from ip:port with SO_REUSEADDR; the e2e stack runs
// on Linux only, so elsewhere it fails every dial and says why.
func reuseDialer(ip net.IP, port int) *net.Dialer {
	return &net.Dialer{
		Timeout:   5 * time.Second,
		LocalAddr: &net.TCPAddr{IP: ip, Port: port},
		Control: func(network, address string, c syscall.RawConn) error {
			return errors.New("reuseDialer: SO_REUSEADDR client ports are set up on Unix only")
		},
	}
}
