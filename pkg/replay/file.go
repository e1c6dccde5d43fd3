package replay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// file is an open Table's file: mapped shared, so that every Add is in
// the kernel's page cache when it returns. That is what crash-safe means
// here: a crash, kill -9, restart or reload of the daemon loses nothing
// (the kernel holds the pages, and the next start maps them again).
// A power cut or kernel crash loses what was not yet on disk: the pages
// are flushed (msync) every SyncEvery, by a goroutine and not on the
// login path, because an fsync costs milliseconds and a login must not
// wait for one. Entries live at most twice max_clock_skew, so such a loss
// matters only when the machine is back within that time.
type file struct {
	f     *os.File
	dirty bool // under the Table's mutex
	stop  chan struct{}
	done  chan struct{}
}

// header checks a file's header against its size and returns its slots.
func header(h []byte, size int64) (int, error) {
	if len(h) < 48 || string(h[:8]) != magic {
		return 0, errors.New("not a GoAuthenNTLM replay file")
	}
	if v := binary.LittleEndian.Uint32(h[8:]); v != version {
		return 0, fmt.Errorf("format version %d, this daemon reads %d", v, version)
	}
	n := int(binary.LittleEndian.Uint32(h[12:]))
	if n < minSlots || n > maxSlots || n&(n-1) != 0 {
		return 0, fmt.Errorf("its header says %d slots", n)
	}
	if want := int64(headerSize + n*slotSize); size != want {
		return 0, fmt.Errorf("%d bytes, its header says %d (truncated?)", size, want)
	}
	return n, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
