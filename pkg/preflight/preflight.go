// Package preflight checks what a configuration names but cannot be checked
// by reading the configuration file alone, so that a start or a reload
// fails before it happens, with every problem listed: that each file it
// names can be read by the user running the check and holds what it
// should, that the memberships cache directory is writable and cannot be
// replaced by its owner, and (Probe)
// that each domain controller and LDAP server answers.
//
// ntlm-fcgi-authorizer -check runs Files; -check -probe runs Probe too.
package preflight

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/adgroup"
	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/cookie"
	"github.com/goauthenntlm/goauthenntlm/pkg/dc"
	"github.com/goauthenntlm/goauthenntlm/pkg/delegation"
	"github.com/goauthenntlm/goauthenntlm/pkg/replay"
)

// Files opens every file cfg names, as the calling user, and checks the
// cache directory is writable. Each problem is a *config.Error with the
// line of the key that names the file.
//
// Secret files others than the service can read or replace are problems
// too (Secrets): the caller secret, the cookie secrets and the keytabs
// whenever anyone else can, the LDAP password when every local user can
// read it (a *Warning when only another group can). Which user and groups
// are the service's is known only when the check runs as the service
// user; run as root, it checks only what every user can do.
func Files(cfg *config.Config) []error {
	var errs []error
	if cfg.CallerSecretFile != "" {
		if _, err := cfg.CallerSecret(); err != nil {
			errs = append(errs, cfg.Problem([]string{"caller_secret_file"}, "%v", err))
		}
	}
	ldap := false
	for i, d := range cfg.Domains {
		if len(d.LDAPURLs) == 0 {
			continue
		}
		ldap = true
		if pw, err := os.ReadFile(d.LDAPBindPasswordFile); err != nil {
			errs = append(errs, cfg.DomainProblem(i, "ldap_bind_password_file", "domain %s: ldap bind password: %v", d.Name, err))
		} else if strings.TrimRight(string(pw), "\r\n") == "" {
			errs = append(errs, cfg.DomainProblem(i, "ldap_bind_password_file", "domain %s: ldap bind password file %s is empty", d.Name, d.LDAPBindPasswordFile))
		}
		if d.LDAPCAFile != "" {
			if pem, err := os.ReadFile(d.LDAPCAFile); err != nil {
				errs = append(errs, cfg.DomainProblem(i, "ldap_ca_file", "domain %s: ldap CA: %v", d.Name, err))
			} else if !x509.NewCertPool().AppendCertsFromPEM(pem) {
				errs = append(errs, cfg.DomainProblem(i, "ldap_ca_file", "domain %s: ldap CA %s holds no PEM certificate", d.Name, d.LDAPCAFile))
			}
		}
	}
	if cfg.Cookie.Enabled {
		for _, f := range cfg.Cookie.SecretFiles {
			b, err := os.ReadFile(f)
			if err == nil {
				_, err = cookie.ParseSecret(b)
			}
			if err != nil {
				errs = append(errs, cfg.Problem([]string{"cookie", "secret_files"}, "cookie secret %s: %v", f, err))
			}
		}
	}
	errs = append(errs, Secrets(cfg)...)
	if cfg.Replay.File != "" && slices.ContainsFunc(cfg.Domains, func(d config.Domain) bool { return d.KeytabFile != "" }) {
		if err := replay.Check(cfg.Replay.File); err != nil {
			errs = append(errs, cfg.Problem([]string{"replay", "file"}, "%v", err))
		}
	}
	if ldap {
		if err := cacheDir(cfg.Groups.CacheDir, cfg.Groups.HelperUsers); err != nil {
			errs = append(errs, cfg.Problem([]string{"groups", "cache_dir"}, "groups.cache_dir: %v", err))
		} else if err := movable(cfg.Groups.CacheDir); err != nil {
			errs = append(errs, cfg.Problem([]string{"groups", "cache_dir"}, "groups.cache_dir: %v", err))
		}
	}
	if d := cfg.Delegation; d.Enabled() {
		// Run as the service user (the unit's ExecStartPre), the directory
		// must be its own; run as root, any owner will do (it is the
		// service user's), and movable below says who could replace it.
		owner := os.Geteuid()
		if owner == 0 {
			owner = -1
		}
		if _, err := delegation.Check(d.CCacheDir, d.AppGroup, owner); err != nil {
			errs = append(errs, cfg.Problem([]string{"delegation", "ccache_dir"}, "%v", err))
		} else if err := movable(d.CCacheDir); err != nil {
			errs = append(errs, cfg.Problem([]string{"delegation", "ccache_dir"}, "delegation.ccache_dir: %v", err))
		}
	}
	return errs
}

// keepWarning returns p, wrapped as a *Warning if err was one.
func keepWarning(err error, p *config.Error) error {
	if IsWarning(err) {
		return &Warning{Err: p}
	}
	return p
}

// cacheDir checks the memberships cache directory is as it must be: not
// writable by group or others (ntlm-group-check would trust none of its
// entries), of no use to others (they would read everyone's memberships),
// readable by the helper users through its group, with the setgid bit if
// that group is not this process's own (else new files would not take
// it); then that this user can create and remove a file there, as the
// cache does.
func cacheDir(dir string, helpers []string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s does not exist (make it: install -d -m 2750 -g www-data, as this user)", dir)
		}
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	const want = "make it 2750, owned by this user, group Apache's (install -d -m 2750 -g www-data)"
	m := fi.Mode().Perm()
	if m&0o022 != 0 {
		return fmt.Errorf("%s has mode %v: writable by group or others, so ntlm-group-check trusts none of its entries; %s", dir, m, want)
	}
	if m&0o007 != 0 {
		return fmt.Errorf("%s has mode %v: every local user can read everyone's memberships; %s", dir, m, want)
	}
	if gid, ok := fileGID(fi); ok {
		if err := helpersRead(dir, gid, helpers); err != nil {
			return fmt.Errorf("%w; %s", err, want)
		}
		if int(gid) != os.Getegid() && fi.Mode()&os.ModeSetgid == 0 {
			return fmt.Errorf("%s has no setgid bit: the files written would have this process's group, not the directory's (gid %d), and ntlm-group-check could not read them; %s", dir, gid, want)
		}
	}
	f, err := os.CreateTemp(dir, ".check-")
	if err != nil {
		return fmt.Errorf("%s is not writable for this user: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// helpersRead checks each helper user (helper_users: names or uids) is
// in group gid, as reading a 2750 directory of that group requires. Root
// and unknown users are left out: root reads anything, and the daemon's
// start refuses unknown users.
func helpersRead(dir string, gid uint32, helpers []string) error {
	for _, h := range helpers {
		u, err := user.Lookup(h)
		if err != nil {
			if u, err = user.LookupId(h); err != nil {
				continue
			}
		}
		if u.Uid == "0" {
			continue
		}
		gids, err := u.GroupIds()
		if err != nil {
			gids = []string{u.Gid}
		}
		if !slices.Contains(gids, strconv.FormatUint(uint64(gid), 10)) {
			return fmt.Errorf("%s belongs to group %d, which helper user %s (ntlm-group-check, run by Apache) is not in: it could not read the cache", dir, gid, h)
		}
	}
	return nil
}

// Result is one server a probe reached, or failed to.
type Result struct {
	Kind   string // "dc" or "ldap"
	Domain string
	Server string
	Detail string // what worked, when Err is nil
	Took   time.Duration
	Err    error
}

func (r Result) String() string {
	if r.Err != nil {
		return fmt.Sprintf("%-4s %s %s FAIL (%s): %v", r.Kind, r.Domain, r.Server, r.Took.Round(time.Millisecond), r.Err)
	}
	return fmt.Sprintf("%-4s %s %s ok (%s): %s", r.Kind, r.Domain, r.Server, r.Took.Round(time.Millisecond), r.Detail)
}

// Probe connects to each domain controller (SMB2 NEGOTIATE, within
// dc.dial_timeout) and each LDAP URL (TLS and the service account's bind,
// within groups.lookup_timeout), in configuration order. It needs the files
// Files checks; run Files first.
func Probe(ctx context.Context, cfg *config.Config) ([]Result, error) {
	var out []Result
	var dir *adgroup.Directory
	for _, d := range cfg.Domains {
		if len(d.LDAPURLs) > 0 {
			var err error
			if dir, err = adgroup.NewDirectory(cfg, nil); err != nil {
				return nil, err
			}
			defer dir.Close()
			break
		}
	}
	for _, d := range cfg.Domains {
		for _, addr := range d.DCs {
			start := time.Now()
			pctx, cancel := context.WithTimeout(ctx, cfg.DC.DialTimeout.D())
			dialect, err := dc.Probe(pctx, addr)
			cancel()
			out = append(out, Result{Kind: "dc", Domain: d.Name, Server: addr, Took: time.Since(start), Err: err,
				Detail: fmt.Sprintf("SMB2 negotiate, dialect %s", dialectName(dialect))})
		}
		if dir == nil {
			continue
		}
		for _, r := range dir.Probe(ctx, d.Name) {
			out = append(out, Result{Kind: "ldap", Domain: d.Name, Server: r.URL, Took: r.Took, Err: r.Err,
				Detail: "TLS and bind as " + d.LDAPBindUser})
		}
	}
	return out, nil
}

func dialectName(d uint16) string {
	return fmt.Sprintf("%d.%d.%d", d>>8, d>>4&0xf, d&0xf)
}
