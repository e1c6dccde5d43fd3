package migrate

import (
	"fmt"
	"io"
	"sort"
)

// Level says what became of an old directive.
type Level int

const (
	// Translated: carried over to conf.toml or the rewritten block.
	Translated Level = iota
	// Kept: not about NTLM; kept in the block as written.
	Kept
	// Dropped: needs no equivalent here; What says why.
	Dropped
	// Note: carried over, but something behaves differently; read it.
	Note
	// Problem: not translated; a person must decide. The outputs are then
	// made to fail their checks until it is resolved.
	Problem
)

func (l Level) String() string {
	switch l {
	case Translated:
		return "translated"
	case Kept:
		return "kept"
	case Dropped:
		return "dropped"
	case Note:
		return "NOTE"
	case Problem:
		return "PROBLEM"
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// Finding is one line of the report: an old directive, where it was, and
// what became of it.
type Finding struct {
	Pos       Pos
	Directive string
	Level     Level
	What      string
}

func (f Finding) String() string {
	d := f.Directive
	if len(d) > 100 {
		d = d[:97] + "..."
	}
	if d != "" {
		d += ": "
	}
	return fmt.Sprintf("%s: %s: %s%s", f.Pos, f.Level, d, f.What)
}

// WriteReport writes the findings in file and line order, then a summary.
func WriteReport(w io.Writer, r *Result) error {
	fs := append([]Finding(nil), r.Findings...)
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].Pos.File != fs[j].Pos.File {
			return fs[i].Pos.File < fs[j].Pos.File
		}
		return fs[i].Pos.Line < fs[j].Pos.Line
	})
	for _, f := range fs {
		if _, err := fmt.Fprintln(w, f); err != nil {
			return err
		}
	}
	n := map[Level]int{}
	for _, f := range fs {
		n[f.Level]++
	}
	_, err := fmt.Fprintf(w, "ntlm-migrate: %d block(s); %d translated, %d kept, %d dropped, %d note(s), %d problem(s)\n",
		r.Blocks, n[Translated], n[Kept], n[Dropped], n[Note], n[Problem])
	return err
}
