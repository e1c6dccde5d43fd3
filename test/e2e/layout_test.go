//go:build linux

package e2e

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"
)

// The stack is laid out as a checkout under a private directory (/root,
// mktemp -d) forces it to be, wherever the checkout is: the stack
// directory is root's alone, and everything the daemon reads is somewhere
// its user reaches. A test or a stack.sh change that hands the daemon a
// file in the stack directory fails here on every machine, not only in a
// private checkout (issue 26).
func TestStackLayout(t *testing.T) {
	s := loadStack(t)
	for _, u := range []string{s.env["AUTHZ_USER"], "www-data"} {
		if asUser(t, u, "test", "-x", s.dir) {
			t.Errorf("%s can enter the stack directory %s: it must be root's alone (0700), as under a private checkout", u, s.dir)
		}
	}
	// Every absolute path the authorizer's config names: secrets, CA,
	// cache directory, and whatever later tests or templates add.
	conf, err := os.ReadFile(s.env["CONF"])
	if err != nil {
		t.Fatal(err)
	}
	paths := regexp.MustCompile(`"(/[^"]+)"`).FindAllStringSubmatch(string(conf), -1)
	if len(paths) == 0 {
		t.Fatalf("%s names no file: the check below would pass on nothing", s.env["CONF"])
	}
	for _, m := range paths {
		if !asUser(t, s.env["AUTHZ_USER"], "test", "-r", m[1]) {
			t.Errorf("the authorizer's user %s cannot read %s, which its config names", s.env["AUTHZ_USER"], m[1])
		}
	}
	if !asUser(t, s.env["AUTHZ_USER"], "test", "-r", s.env["CONF"]) {
		t.Errorf("the authorizer's user cannot read its config %s", s.env["CONF"])
	}
}

// asUser reports whether the command, run as user, succeeded.
func asUser(t *testing.T, user string, args ...string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "setpriv", append([]string{"--reuid=" + user, "--regid=" + user, "--init-groups", "--"}, args...)...)
	return cmd.Run() == nil
}
