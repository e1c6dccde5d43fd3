package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/adgroup"
)

// setup writes a config whose domain has no LDAP (so only the cache can
// answer) and a warm cache entry for jdoe.
func setup(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	conf := filepath.Join(dir, "conf.toml")
	err := os.WriteFile(conf, []byte("[[domain]]\nname = \"EXAMPLE\"\ndns_name = \"example.test\"\ndcs = [\"127.0.0.1:1\"]\n[groups]\ncache_dir = \""+cache+"\"\n"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	c := &adgroup.Cache{Dir: cache}
	if err := c.Put(&adgroup.Entry{User: "jdoe", Domain: "EXAMPLE", Fetched: time.Now(), Groups: []adgroup.Group{
		{SAM: "WebUsers", CN: "WebUsers"}, {SAM: "Domain Users", CN: "Domain Users"},
	}}); err != nil {
		t.Fatal(err)
	}
	return conf
}

func TestRun(t *testing.T) {
	conf := setup(t)
	tests := []struct {
		name, stdin string
		want        int
		stderr      string
	}{
		{"member", "jdoe\nWebUsers\n", exitMember, ""},
		{"member of one of several", "jdoe\nOutsiders WebUsers\n", exitMember, ""},
		{"case-insensitive, logon form", "EXAMPLE\\JDoe\nwebusers\n", exitMember, ""},
		{"upn form", "jdoe@example.test\nWebUsers\n", exitMember, ""},
		{"a name with a space", "jdoe\nDomain Users\n", exitMember, ""},
		{"not a member", "jdoe\nOutsiders\n", exitNotMember, ""},
		{"no prefix match", "jdoe\nWeb\n", exitNotMember, ""},
		{"cold cache, no LDAP", "alice\nWebUsers\n", exitError, `groups of EXAMPLE\alice`},
		{"no group line", "jdoe\n", exitError, "no group line"},
		{"nothing on stdin", "", exitError, "no user line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			got := run([]string{"-config", conf}, strings.NewReader(tt.stdin), &stderr)
			if got != tt.want {
				t.Errorf("exit %d, want %d (stderr %q)", got, tt.want, stderr.String())
			}
			if tt.stderr != "" && !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.stderr)
			}
			if tt.want != exitError && stderr.Len() > 0 {
				t.Errorf("unexpected stderr %q", stderr.String())
			}
			if n := strings.Count(stderr.String(), "\n"); n > 1 {
				t.Errorf("%d lines on stderr, want one", n)
			}
		})
	}
}

func TestEnvironmentMode(t *testing.T) {
	conf := setup(t)
	t.Setenv("USER", "jdoe")
	t.Setenv("GROUP", "Outsiders WebUsers")
	if got := run([]string{"-config", conf}, strings.NewReader(""), &bytes.Buffer{}); got != exitMember {
		t.Errorf("exit %d, want %d", got, exitMember)
	}
}

func TestBadConfig(t *testing.T) {
	var stderr bytes.Buffer
	if got := run([]string{"-config", "/nonexistent.toml"}, strings.NewReader("jdoe\nx\n"), &stderr); got != exitError || !strings.Contains(stderr.String(), "nonexistent.toml") {
		t.Errorf("exit %d, stderr %q", got, stderr.String())
	}
}
