// Command ntlm-group-check answers mod_authnz_external's group questions
// (Require external-group ...) from the memberships cache that
// ntlm-fcgi-authorizer writes, and asks the running authorizer on a miss.
//
//	DefineExternalGroup adgroup pipe "/usr/local/bin/ntlm-group-check -cache /var/cache/goauthenntlm/groups"
//
// Pipe mode reads "user\ngroups\n" on stdin (the groups as the Require
// line gives them, see memberships.ParseNames); environment mode reads
// USER and GROUP. Exit 0: member of at least one group; 1: of none; 2: an
// error, explained in one line on stderr, which Apache puts in its error
// log.
//
// It never writes the cache and holds no directory credentials: Apache
// runs it as its own user, which must not be able to change what the
// cache says. Apache starts it for every check, so it reads one cache
// file and, only when that is missing or stale, asks the authorizer over
// the socket in the cache directory. It links no LDAP, TLS or
// configuration code.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goauthenntlm/goauthenntlm/internal/buildinfo"
	"github.com/goauthenntlm/goauthenntlm/pkg/memberships"
)

const (
	exitMember    = 0
	exitNotMember = 1
	exitError     = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stderr))
}

func run(args []string, stdin io.Reader, stderr io.Writer) int {
	fs := flag.NewFlagSet("ntlm-group-check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cacheDir := fs.String("cache", "/var/cache/goauthenntlm/groups", "the memberships cache directory (the authorizer's [groups] cache_dir)")
	socket := fs.String("socket", "", "the authorizer's socket (default: "+memberships.SocketName+" in the cache directory)")
	timeout := fs.Duration("timeout", 15*time.Second, "how long to wait for the authorizer on a cache miss")
	conf := fs.String("config", "", "no longer read: use -cache")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	if *version {
		fmt.Println(buildinfo.String("ntlm-group-check"))
		return exitMember
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "ntlm-group-check: "+format+"\n", a...)
		return exitError
	}
	if *conf != "" {
		return fail("-config is no longer read (the helper holds no configuration or LDAP password): give the cache directory with -cache, e.g. -cache /var/cache/goauthenntlm/groups")
	}
	if *socket == "" {
		*socket = filepath.Join(*cacheDir, memberships.SocketName)
	}

	user, line, err := question(stdin)
	if err != nil {
		return fail("%v", err)
	}
	names, err := memberships.ParseNames(line)
	if err != nil {
		return fail("%v", err)
	}

	cache := &memberships.Cache{Dir: *cacheDir, ReadOnly: true}
	e, fresh, err := cache.Get(user)
	if err != nil {
		// Untrusted or corrupt: ignore it, say so, and ask the authorizer.
		fmt.Fprintf(stderr, "ntlm-group-check: ignoring the cache entry of %s: %v\n", user, err)
		e = nil
	}
	if e != nil && fresh {
		return decide(stderr, user, line, e.MemberOfAny(names))
	}
	member, err := memberships.Ask(*socket, user, line, *timeout)
	switch {
	case err == nil:
		return decide(stderr, user, line, member)
	case errors.Is(err, memberships.ErrAuthorizer):
		return fail("groups of %s: %v", user, err)
	case e != nil && cache.Servable(e):
		fmt.Fprintf(stderr, "ntlm-group-check: authorizer unreachable (%v); answering for %s from memberships fetched %s\n",
			err, user, e.Fetched.Format(time.RFC3339))
		return decide(stderr, user, line, e.MemberOfAny(names))
	}
	return fail("groups of %s: no fresh cache entry, and the authorizer did not answer at %s: %v", user, *socket, err)
}

// decide is the exit code, with a hint in the error log for the one
// mistake the naming rule makes easy: several unquoted names, which are
// read as one.
func decide(stderr io.Writer, user, line string, member bool) int {
	if member {
		return exitMember
	}
	if l := strings.TrimSpace(line); strings.ContainsAny(l, " \t") && !strings.ContainsAny(l, `"'`) {
		fmt.Fprintf(stderr, "ntlm-group-check: %s is not in a group named %q (one name: to require any of several groups, quote each name)\n", user, l)
	}
	return exitNotMember
}

// question reads what mod_authnz_external asks: USER and GROUP in the
// environment, or two lines on stdin.
func question(stdin io.Reader) (user, groups string, err error) {
	if g, ok := os.LookupEnv("GROUP"); ok {
		user = os.Getenv("USER")
		if user == "" {
			return "", "", errors.New("environment mode: USER is empty")
		}
		return user, g, nil
	}
	br := bufio.NewReader(io.LimitReader(stdin, 64<<10))
	user, err = br.ReadString('\n')
	if err != nil {
		return "", "", errors.New("pipe mode: no user line on stdin (is this run by mod_authnz_external?)")
	}
	groups, err = br.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && groups != "") {
		return "", "", errors.New("pipe mode: no group line on stdin")
	}
	user = strings.TrimRight(user, "\r\n")
	if user == "" {
		return "", "", errors.New("pipe mode: empty user")
	}
	return user, strings.TrimRight(groups, "\r\n"), nil
}
