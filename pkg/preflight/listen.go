package preflight

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// unprivilegedPortStart is where Linux keeps the first port any user may
// bind (net.ipv4.ip_unprivileged_port_start, for IPv6 too).
const unprivilegedPortStart = "/proc/sys/net/ipv4/ip_unprivileged_port_start"

// Squattable is a *Warning when any local user could bind the address the
// authorizer listens on (its listen) whenever the daemon does not hold it
// (a crash, a restart, an upgrade, before it starts): its port is not
// below net.ipv4.ip_unprivileged_port_start. Apache would then send that
// user's process every request, the caller secret with it, and believe its
// answers. A port below it can be bound by root alone, and the systemd
// unit ntlm-fcgi-authorizer.socket holds it for the daemon even while the
// daemon is stopped. Nil when only root can bind the port.
func Squattable(listen string) error {
	return squattable(listen, portStart())
}

func squattable(listen string, start int) error {
	_, p, err := net.SplitHostPort(listen)
	if err != nil {
		return nil // the configuration's own check says so
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < start {
		return nil
	}
	why := fmt.Sprintf("port %d is not below %d", port, start)
	if start < 1024 {
		why = fmt.Sprintf("net.ipv4.ip_unprivileged_port_start is %d, so every user may bind port %d", start, port)
	}
	return &Warning{Err: fmt.Errorf("listen %s: any local user can take this address whenever the daemon is not running (%s), and Apache would send that user's process every request, caller secret included, and believe its answers; listen on a port below 1024 held by root (ntlm-fcgi-authorizer.socket, README \"Security notes\")", listen, why)}
}

// portStart is ip_unprivileged_port_start, 1024 where it cannot be read
// (its default, and the rule on systems other than Linux).
func portStart() int {
	b, err := os.ReadFile(unprivilegedPortStart)
	if err != nil {
		return 1024
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 1024
	}
	return n
}
