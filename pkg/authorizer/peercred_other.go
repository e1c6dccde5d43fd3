//go:build !linux

package authorizer

import (
	"errors"
	"net"
)

// peerUID: peer credentials are read on Linux only (SO_PEERCRED); elsewhere
// ntlm-group-check's questions are all refused, and its cache misses with
// them.
func peerUID(*net.UnixConn) (uint32, error) {
	return 0, errors.New("peer credentials are only checked on Linux")
}
