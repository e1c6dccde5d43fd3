package main

import (
	"bytes"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/memberships"
)

// setup writes a warm cache entry for jdoe and returns the cache
// directory; nothing listens on its socket unless a test starts it.
func setup(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cache")
	c := &memberships.Cache{Dir: dir}
	if _, err := c.Put("jdoe", &memberships.Entry{User: "jdoe", Domain: "EXAMPLE", Groups: []memberships.Group{
		{SAM: "WebUsers", CN: "WebUsers"}, {SAM: "Domain Users", CN: "Domain Users"}, {SAM: "Web Editors"}, {SAM: "Users"},
	}}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// authorizer answers on dir's socket as the authorizer would for alice,
// a member of Outsiders only, and counts questions.
func authorizer(t *testing.T, dir string) *atomic.Int32 {
	t.Helper()
	ln, err := net.Listen("unix", filepath.Join(dir, memberships.SocketName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	n := new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			user, groups, err := memberships.ReadQuestion(c)
			if err == nil {
				names, perr := memberships.ParseNames(groups)
				e := &memberships.Entry{User: user, Groups: []memberships.Group{{SAM: "Outsiders"}}}
				memberships.WriteAnswer(c, perr == nil && user == "alice" && e.MemberOfAny(names), perr)
			}
			c.Close()
		}
	}()
	return n
}

func TestRun(t *testing.T) {
	dir := setup(t)
	asked := authorizer(t, dir)
	tests := []struct {
		name, stdin string
		want        int
		stderr      string
		asks        int
	}{
		{"member", "jdoe\nWebUsers\n", exitMember, "", 0},
		{"case-insensitive", "JDoe\nwebusers\n", exitMember, "", 0},
		{"a name with a blank", "jdoe\nDomain Users\n", exitMember, "", 0},
		{"quoted names", "jdoe\n\"Outsiders\" \"Web Editors\"\n", exitMember, "", 0},
		{"not a member", "jdoe\nOutsiders\n", exitNotMember, "", 0},
		{"no prefix match", "jdoe\nWeb\n", exitNotMember, "", 0},
		// "Web Users" is one name, never "Web" or "Users" (jdoe is in Users).
		{"no part of a name", "jdoe\nWeb Users\n", exitNotMember, `not in a group named "Web Users"`, 0},
		{"unquoted list is one name", "jdoe\nOutsiders WebUsers\n", exitNotMember, "quote each name", 0},
		{"half-quoted list", "jdoe\n\"Web Users\" Power Users\n", exitError, "not in quotes", 0},
		{"cold cache: the authorizer answers", "alice\nOutsiders\n", exitMember, "", 1},
		{"cold cache: the authorizer says no", "alice\n\"Web Users\"\n", exitNotMember, "", 1},
		{"no group line", "jdoe\n", exitError, "no group line", 0},
		{"nothing on stdin", "", exitError, "no user line", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := asked.Load()
			var stderr bytes.Buffer
			got := run([]string{"-cache", dir}, strings.NewReader(tt.stdin), &stderr)
			if got != tt.want {
				t.Errorf("exit %d, want %d (stderr %q)", got, tt.want, stderr.String())
			}
			if tt.stderr != "" && !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.stderr)
			}
			if tt.stderr == "" && stderr.Len() > 0 {
				t.Errorf("unexpected stderr %q", stderr.String())
			}
			if n := strings.Count(stderr.String(), "\n"); n > 1 {
				t.Errorf("%d lines on stderr, want one", n)
			}
			if n := asked.Load() - before; n != int32(tt.asks) {
				t.Errorf("asked the authorizer %d times, want %d", n, tt.asks)
			}
		})
	}
}

func TestNoAuthorizer(t *testing.T) {
	dir := setup(t)
	var stderr bytes.Buffer
	if got := run([]string{"-cache", dir, "-timeout", "1s"}, strings.NewReader("alice\nWebUsers\n"), &stderr); got != exitError ||
		!strings.Contains(stderr.String(), "the authorizer did not answer") {
		t.Errorf("cold cache, no authorizer: exit %d, stderr %q", got, stderr.String())
	}
	// A stale entry within its grace is served while the authorizer is away.
	c := &memberships.Cache{Dir: dir, TTL: time.Nanosecond, Grace: time.Hour}
	if _, err := c.Put("bob", &memberships.Entry{User: "bob", Groups: []memberships.Group{{SAM: "Outsiders"}}}); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if got := run([]string{"-cache", dir}, strings.NewReader("bob\nOutsiders\n"), &stderr); got != exitMember ||
		!strings.Contains(stderr.String(), "answering for bob from memberships fetched") {
		t.Errorf("stale within grace: exit %d, stderr %q", got, stderr.String())
	}
}

func TestEnvironmentMode(t *testing.T) {
	dir := setup(t)
	t.Setenv("USER", "jdoe")
	t.Setenv("GROUP", "Web Editors")
	if got := run([]string{"-cache", dir}, strings.NewReader(""), &bytes.Buffer{}); got != exitMember {
		t.Errorf("exit %d, want %d", got, exitMember)
	}
}

func TestConfigFlagRefused(t *testing.T) {
	var stderr bytes.Buffer
	if got := run([]string{"-config", "/etc/goauthenntlm/conf.toml"}, strings.NewReader("jdoe\nx\n"), &stderr); got != exitError || !strings.Contains(stderr.String(), "-cache") {
		t.Errorf("exit %d, stderr %q", got, stderr.String())
	}
}
