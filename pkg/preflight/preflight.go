// Package preflight checks what a configuration names but cannot be checked
// by reading the configuration file alone, so that a start or a reload
// fails before it happens, with every problem listed: that each file it
// names can be read by the user running the check and holds what it
// should, that the memberships cache directory is writable, and (Probe)
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
	"strings"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/adgroup"
	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/cookie"
	"github.com/goauthenntlm/goauthenntlm/pkg/dc"
)

// Files opens every file cfg names, as the calling user, and checks the
// cache directory is writable. Each problem is a *config.Error with the
// line of the key that names the file.
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
	if ldap {
		if err := writable(cfg.Groups.CacheDir); err != nil {
			errs = append(errs, cfg.Problem([]string{"groups", "cache_dir"}, "groups.cache_dir: %v", err))
		}
	}
	return errs
}

// writable creates and removes a file in dir, which is what the cache does.
func writable(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s does not exist (systemd's CacheDirectory= creates it; else mkdir it for this user)", dir)
		}
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if m := fi.Mode().Perm(); m&0o022 != 0 {
		// ntlm-group-check would ignore every entry: anyone who can write
		// here could forge one.
		return fmt.Errorf("%s has mode %v: writable by group or others, so ntlm-group-check trusts none of its entries; make it 0755, owned by this user", dir, m)
	}
	f, err := os.CreateTemp(dir, ".check-")
	if err != nil {
		return fmt.Errorf("%s is not writable for this user: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
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
