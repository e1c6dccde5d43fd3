// Command ntlm-group-check answers mod_authnz_external's group questions
// (Require external-group ...) from the memberships cache that
// ntlm-fcgi-authorizer fills at login, asking LDAP on a miss.
//
//	DefineExternalGroup adgroup pipe "/usr/local/bin/ntlm-group-check -config /etc/goauthenntlm/conf.toml"
//
// Pipe mode reads "user\ngroup1 group2\n" on stdin; environment mode reads
// USER and GROUP. Exit 0: member of at least one group; 1: of none; 2: an
// error, explained in one line on stderr, which Apache puts in its error
// log. Apache starts it for every check, so the warm path reads the
// configuration and one cache file, and nothing else.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/goauthenntlm/goauthenntlm/internal/buildinfo"
	"github.com/goauthenntlm/goauthenntlm/pkg/adgroup"
	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/identity"
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
	confPath := fs.String("config", envOr("GOAUTHENNTLM_CONFIG", "/etc/goauthenntlm/conf.toml"), "configuration file")
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

	remoteUser, groupLine, err := question(stdin)
	if err != nil {
		return fail("%v", err)
	}
	cfg, err := config.Load(*confPath)
	if err != nil {
		return fail("%v", err)
	}
	user, dom, err := identity.New(cfg).Remote(remoteUser)
	if err != nil {
		return fail("%v", err)
	}
	domain := dom.Name
	names := groupNames(groupLine)

	cache := &adgroup.Cache{Dir: cfg.Groups.CacheDir, TTL: cfg.Groups.CacheTTL.D(), NegativeTTL: cfg.Groups.NegativeTTL.D()}
	e, fresh, err := cache.Get(user, domain)
	if err != nil && !errors.Is(err, adgroup.ErrCorrupt) {
		return fail("memberships cache for %s\\%s: %v", domain, user, err)
	}
	if e == nil || !fresh {
		dir, err := adgroup.NewDirectory(cfg, nil)
		if err != nil {
			return fail("%v", err)
		}
		defer dir.Close()
		var stale *adgroup.StaleError
		e, err = dir.Lookup(context.Background(), user, domain)
		switch {
		case errors.As(err, &stale):
			fmt.Fprintf(stderr, "ntlm-group-check: LDAP unreachable, answering for %s\\%s from memberships fetched %s: %v\n",
				domain, user, stale.Fetched.Format("2006-01-02 15:04:05"), stale.Err)
		case err != nil:
			return fail("groups of %s\\%s: %v", domain, user, err)
		}
	}
	if e.MemberOfAny(names) {
		return exitMember
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

// groupNames splits the required groups: Apache joins the words of
// Require external-group with spaces, so a name with a space ("Domain
// Users") arrives split. The whole line is tried as one name too.
func groupNames(line string) []string {
	names := strings.Fields(line)
	if len(names) > 1 {
		names = append(names, strings.Join(names, " "))
	}
	return names
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
