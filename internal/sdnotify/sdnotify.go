// Package sdnotify is the daemon's side of systemd's service protocols.
// Notify tells systemd how the daemon is doing (sd_notify(3)): READY=1
// once it serves, RELOADING=1 and READY=1 around a reload, STOPPING=1 at
// shutdown, so that a Type=notify unit's ordering (Before=apache2.service)
// means logins are answered. Files takes the listening sockets socket
// activation passed (sd_listen_fds(3)).
//
// It is the protocol's few lines (one datagram to $NOTIFY_SOCKET) rather
// than github.com/coreos/go-systemd/v22/daemon, whose SdNotify does the
// same and would be the only thing used from that module.
package sdnotify

import (
	"net"
	"os"
)

// Notify sends state (e.g. "READY=1") to $NOTIFY_SOCKET. Without that
// variable (not run by systemd, or not Type=notify) it does nothing and
// returns nil.
func Notify(state string) error {
	sock := os.Getenv("NOTIFY_SOCKET")
	if sock == "" {
		return nil
	}
	if sock[0] == '@' {
		sock = "\x00" + sock[1:] // an abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}
