//go:build linux

package e2e

import (
	"net"
	"syscall"
	"time"
)

// reuseDialer dials from ip:port with SO_REUSEADDR, as a client that
// reuses a local port does.
func reuseDialer(ip net.IP, port int) *net.Dialer {
	return &net.Dialer{
		Timeout:   5 * time.Second,
		LocalAddr: &net.TCPAddr{IP: ip, Port: port},
		Control: func(network, address string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
}
