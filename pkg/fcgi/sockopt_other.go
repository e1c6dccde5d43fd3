//go:build !linux

package fcgi

import "net"

// cork does nothing where TCP_CORK does not exist. (BSD's TCP_NOPUSH is
// the nearest, but it flushes on close only on some systems; the cost of
// doing nothing is a TIME_WAIT on the web server's side now and then.)
func cork(net.Conn) {}
