// Package buildinfo says which build of GoAuthenNTLM is running, for the
// programs' -version flag: the module version and the VCS revision the Go
// toolchain stamped into the binary (debug.ReadBuildInfo), so an
// administrator can tell which commit a bug report is about.
package buildinfo

import (
	"fmt"
	"runtime/debug"
)

// packageVersion is the version of the package the programs came in, set
// by the linker (scripts/deb.sh: -X ...buildinfo.packageVersion=VERSION),
// empty otherwise. A package built from a git worktree has no VCS stamp
// (the go command looks for a .git directory, a worktree has a .git file),
// and a package's version is what the administrator compares anyway.
var packageVersion string

// String is one line: program, module version, VCS revision and time (with
// "+dirty" for a build from modified sources) and the Go version.
func String(program string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return program + " (no build information: built without module support)"
	}
	if packageVersion != "" {
		bi.Main.Version = packageVersion
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
