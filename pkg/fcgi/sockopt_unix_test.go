//go:build unix

package fcgi

import (
	"context"
	"net"
	"syscall"
	"testing"
)

// TestListenNoKeepAlive: connections accepted through Listen do not have
// TCP keep-alive on (net.Listen's do).
func TestListenNoKeepAlive(t *testing.T) {
	for _, tt := range []struct {
		name   string
		listen func() (net.Listener, error)
		want   int
	}{
		{"fcgi.Listen", func() (net.Listener, error) { return Listen(context.Background(), "tcp", "127.0.0.1:0") }, 0},
		{"net.Listen", func() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := tt.listen()
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			a, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			rc, err := a.(*net.TCPConn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var v int
			var serr error
			rc.Control(func(fd uintptr) { v, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) })
			if serr != nil {
				t.Fatal(serr)
			}
			if v != tt.want {
				t.Errorf("SO_KEEPALIVE = %d, want %d", v, tt.want)
			}
		})
	}
}
