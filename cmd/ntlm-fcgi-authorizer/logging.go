package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
)

// newLogger writes to w in format. Under journald (stderr is the stream
// JOURNAL_STREAM names) the time attribute is left out: the journal stamps
// every line itself, and two timestamps per line only confuse.
func newLogger(w io.Writer, format config.LogFormat, level slog.Leveler, journald bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if journald {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	if format == config.LogJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// underJournald reports whether f is the journal stream systemd connected
// (JOURNAL_STREAM is "device:inode" of it, see systemd.exec(5)); the
// variable alone is inherited by children whose stderr may go elsewhere.
func underJournald(f *os.File) bool {
	v := os.Getenv("JOURNAL_STREAM")
	if v == "" {
		return false
	}
	var dev, ino uint64
	if _, err := fmt.Sscanf(v, "%d:%d", &dev, &ino); err != nil {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return uint64(st.Dev) == dev && st.Ino == ino
}
