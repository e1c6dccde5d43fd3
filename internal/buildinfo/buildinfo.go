// Package buildinfo says which build of GoAuthenNTLM is running, for the
// programs' -version flag: the module version and the VCS revision the Go
// toolchain stamped into the binary (debug.ReadBuildInfo), so an
// administrator can tell which commit a bug report is about.
package buildinfo

import (
	"fmt"
	"runtime/debug"
)

// String is one line: program, module version, VCS revision and time (with
// "+dirty" for a build from modified sources) and the Go version.
func String(program string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return program + " (no build information: built without module support)"
	}
	return format(program, bi)
}

func format(program string, bi *debug.BuildInfo) string {
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var rev, at string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	out := fmt.Sprintf("%s %s", program, version)
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "+dirty"
		}
		out += " revision " + rev
		if at != "" {
			out += " (" + at + ")"
		}
	}
	return out + " " + bi.GoVersion
}
