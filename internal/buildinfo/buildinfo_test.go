package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"release", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}},
			"p v1.2.0 go1.26.8"},
		{"devel with vcs", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "20f57c9aaaaabbbbbccccddddeeeeffff0000111"},
			{Key: "vcs.time", Value: "2026-11-26T01:00:00Z"},
			{Key: "vcs.modified", Value: "false"},
		}}, "p (devel) revision 20f57c9aaaaa (2026-11-26T01:00:00Z) go1.26.8"},
		{"dirty", debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc"},
			{Key: "vcs.modified", Value: "true"},
		}}, "p (devel) revision abc+dirty go1.26.8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := format("p", &tc.bi); got != tc.want {
				t.Errorf("format = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStringNamesGoVersion(t *testing.T) {
	s := String("prog")
	if !strings.HasPrefix(s, "prog ") || !strings.Contains(s, "go1.") {
		t.Errorf("String = %q: want the program and the Go version", s)
	}
}
