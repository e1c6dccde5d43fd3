//go:build unix

package adgroup

import (
	"crypto/sha256"
	"encoding/hex"
	"syscall"
)

func umask(m int) int { return syscall.Umask(m) }

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
