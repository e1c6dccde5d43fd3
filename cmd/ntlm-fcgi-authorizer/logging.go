package main

import (
	"io"
	"log/slog"

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
