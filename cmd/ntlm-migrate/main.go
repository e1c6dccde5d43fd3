// Command ntlm-migrate turns an Apache configuration written for
// PyAuthenNTLM2, Apache::AuthenNTLM or Apache2::AuthenNTLM::Cookie into
// GoAuthenNTLM's:
//
//	ntlm-migrate [-o DIR] [flags] /etc/apache2/apache2.conf
//
// It follows Include and IncludeOptional (relative to ServerRoot, or the
// first file's directory), finds every block configured for an old
// module, and writes DIR/conf.toml (for ntlm-fcgi-authorizer),
// DIR/goauthenntlm-site.conf (the blocks rewritten for Apache 2.4 and
// mod_authnz_fcgi) and, when a block used the cookie module,
// DIR/cookie.key (a new random secret). The report on stdout names each
// old directive with its file:line and what it became.
//
// It never copies secrets: an Include'd file's contents are never pasted
// (an Include of lines that are all kept stays an Include line), a file
// that is not Apache configuration is refused without showing its text
// (mod_perl's <Perl> sections, POD and what follows __END__ are skipped
// unread, with a note), options of other handlers (PerlSetVar,
// PythonOption) are kept by reference to their file:line, and every
// value that may be secret (credentials in URLs and query strings
// included) is masked in the report and left out of the outputs. Outputs are written to a temporary file created
// exclusively with their final mode (0640, the key 0600) and renamed into
// place; a symlink at a target is refused.
//
// Exit status: 0 when everything was translated; 1 when the report lists
// problems (the outputs are then written so that apache2 -t and
// ntlm-fcgi-authorizer -check refuse them until they are resolved); 2 on
// bad usage or unreadable input.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/goauthenntlm/goauthenntlm/pkg/migrate"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// fallbackGroupCheck is where make install puts ntlm-group-check by default.
const fallbackGroupCheck = "/usr/local/bin/ntlm-group-check"

// defaultGroupCheck is the ntlm-group-check beside this program's
// executable, if there is one there that can run, else fallbackGroupCheck:
// both programs are installed together.
func defaultGroupCheck(executable func() (string, error)) string {
	exe, err := executable()
	if err != nil {
		return fallbackGroupCheck
	}
	p := filepath.Join(filepath.Dir(exe), "ntlm-group-check")
	if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return p
	}
	return fallbackGroupCheck
}

func run(args []string) int {
	fl := flag.NewFlagSet("ntlm-migrate", flag.ContinueOnError)
	out := fl.String("o", ".", "directory to write conf.toml, goauthenntlm-site.conf (and cookie.key) to")
	root := fl.String("root", "", "ServerRoot for relative Include paths (default: the files' ServerRoot, else the first file's directory)")
	listen := fl.String("listen", "127.0.0.1:930", "the authorizer's listen address (apache/goauthenntlm.conf's fcgi:// address must match)")
	groups := fl.String("groups", "expr", "how Require group is rewritten: expr (Require expr on AD_GROUPS) or external (Require external-group, ntlm-group-check)")
	// No default value in the flag: -h prints it, and the man page is made
	// from -h (a build directory's path would make builds differ).
	groupCheck := fl.String("group-check", "", "ntlm-group-check's installed path (for -groups external; default: the ntlm-group-check beside this program if there is one, as the Debian package installs both in /usr/bin and make install in PREFIX/bin, else "+fallbackGroupCheck+")")
	confPath := fl.String("config-path", "/etc/goauthenntlm/conf.toml", "where conf.toml will be installed (for -groups external)")
	bindUser := fl.String("ldap-bind-user", "", "LDAP service account for group checks, e.g. svc-ntlm@EXAMPLE.COM")
	passFile := fl.String("ldap-password-file", "", "file holding that account's password (named in conf.toml, not read)")
	cacheDir := fl.String("groups-cache-dir", "", "[groups] cache_dir to write (default: the authorizer's default, /var/cache/goauthenntlm/groups)")
	caFile := fl.String("ldap-ca-file", "", "CA of the DCs' LDAPS certificates (empty: the system's CAs)")
	fl.Usage = func() {
		fmt.Fprintf(fl.Output(), "usage: ntlm-migrate [-o DIR] [flags] APACHE-CONF...\n")
		fl.PrintDefaults()
		fmt.Fprint(fl.Output(), `
What it copies into goauthenntlm-site.conf: each old NTLM block, rewritten;
the lines written in the block that are not about NTLM, as written; an
Include inside a block whose lines are all kept, as the Include line.

What it never copies (each named by file:line in the report instead):
  - the contents of an Include'd file (a file that is not Apache
    configuration, such as /etc/shadow, is refused without showing its text);
  - mod_perl's <Perl> sections, POD and what follows __END__ (not read;
    a NOTE with their lines);
  - PerlSetVar/PerlAddVar/PythonOption options the old modules do not
    read (another handler's settings, credentials too: by reference);
  - values that may be secret: directives or arguments naming a password,
    pass (DBPass, ADMINPASS too), pwd, secret, key, token, credential, salt
    or hmac; SetEnv, PerlSetEnv, SetEnvIf, Define, Use and RequestHeader
    values; AuthLDAPBindPassword; user:password@ in URLs; credentials in
    query strings (?sig=, &auth=, access_token=, ;jsessionid=...).
    The report shows them as <hidden>.

Outputs: conf.toml and the site 0640, cookie.key 0600, each written to a
new temporary file in DIR and renamed into place; a symlink or other
non-regular file at a target, or a DIR that another user owns or that every
user or its group can write to, is refused.
`)
	}
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() == 0 {
		fl.Usage()
		return 2
	}
	if *groupCheck == "" {
		*groupCheck = defaultGroupCheck(os.Executable)
	}
	route := migrate.GroupRoute(*groups)
	if route != migrate.GroupsExpr && route != migrate.GroupsExternal {
		fmt.Fprintf(os.Stderr, "ntlm-migrate: -groups must be expr or external, not %q\n", *groups)
		return 2
	}
	var files []string
	for _, f := range fl.Args() {
		abs, err := filepath.Abs(f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "ntlm-migrate: %v\n", err)
			return 2
		}
		files = append(files, filepath.ToSlash(abs))
	}
	p := &migrate.Parser{FS: os.DirFS("/"), ServerRoot: *root}
	dirs, findings, err := p.Parse(files...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ntlm-migrate: %v\n", err)
		return 2
	}
	res := migrate.Translate(dirs, findings, migrate.Options{
		Listen: *listen, Groups: route, GroupCheck: *groupCheck, ConfPath: *confPath,
		LDAPBindUser: *bindUser, LDAPBindPasswordFile: *passFile, LDAPCAFile: *caFile, GroupsCacheDir: *cacheDir,
		CookieSecretFile: "cookie.key",
	})
	if err := migrate.WriteReport(os.Stdout, res); err != nil {
		fmt.Fprintf(os.Stderr, "ntlm-migrate: %v\n", err)
		return 2
	}
	if res.Blocks == 0 {
		return 1
	}
	written, err := migrate.WriteOutputs(*out, res, "cookie.key")
	for _, w := range written {
		switch {
		case w.Kept:
			fmt.Printf("ntlm-migrate: %s exists; kept\n", w.Path)
		case filepath.Base(w.Path) == "cookie.key":
			fmt.Printf("ntlm-migrate: wrote a new cookie secret to %s (mode 0600; install it beside conf.toml)\n", w.Path)
		default:
			fmt.Printf("ntlm-migrate: wrote %s\n", w.Path)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ntlm-migrate: %v\n", err)
		return 2
	}
	if res.Problems() > 0 {
		return 1
	}
	return 0
}
