package fcgi

import (
	"net"
	"syscall"
)

// cork holds back the answer that is about to be written until the
// connection is closed, so that the answer and our FIN leave in one
// segment. The web server then sees our close together with END_REQUEST and
// closes passively; otherwise it often closes at the same moment as we do,
// and both sides keep a TIME_WAIT (about one connection in six measured on
// loopback), which on its side eats ephemeral ports.
func cork(nc net.Conn) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return
	}
	if rc, err := tc.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, 1)
		})
	}
}
