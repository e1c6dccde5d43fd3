package preflight

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// KerberosFieldSize is the LimitRequestFieldSize a site taking Kerberos
// needs: Windows makes tokens up to MaxTokenSize, 48,000 bytes, which is
// 64 KiB once in base64 in the Authorization header.
const KerberosFieldSize = 65536

// apacheDefaultFieldSize is Apache's LimitRequestFieldSize default.
const apacheDefaultFieldSize = 8190

// maxApacheFiles bounds the files ApacheFieldSize reads (an Include loop).
const maxApacheFiles = 1000

// Apache is what ApacheConfig read of an Apache configuration.
type Apache struct {
	// FieldSize is LimitRequestFieldSize outside any <VirtualHost>
	// (Apache's default, 8190, when none), LargestFieldSize the largest
	// value anywhere.
	FieldSize, LargestFieldSize int
	// Authorizers are the host:port of each AuthnzFcgiDefineProvider's
	// fcgi:// URL: which authorizers this Apache asks.
	Authorizers []string
}

// ApacheConfig reads the Apache configuration rooted at main (e.g.
// /etc/apache2/apache2.conf), following Include and IncludeOptional (globs,
// relative to main's directory, as Debian's ServerRoot is). It is a
// reading of the files, not of what Apache runs (no <IfModule> or
// <IfDefine> logic): a hint for -check, which only warns.
func ApacheConfig(main string) (*Apache, error) {
	a := &Apache{FieldSize: apacheDefaultFieldSize, LargestFieldSize: apacheDefaultFieldSize}
	root := filepath.Dir(main)
	seen := map[string]bool{}
	var read func(path string, depth int) error
	read = func(path string, depth int) error {
		if seen[path] || len(seen) >= maxApacheFiles || depth > 20 {
			return nil
		}
		seen[path] = true
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		vhost := 0
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
				continue
			}
			switch d := strings.ToLower(fields[0]); {
			case strings.HasPrefix(d, "<virtualhost"):
				vhost++
			case d == "</virtualhost>":
				vhost = max(vhost-1, 0)
			case d == "limitrequestfieldsize" && len(fields) > 1:
				n, err := strconv.Atoi(fields[1])
				if err != nil {
					continue
				}
				a.LargestFieldSize = max(a.LargestFieldSize, n)
				if vhost == 0 {
					a.FieldSize = n
				}
			case d == "authnzfcgidefineprovider" && len(fields) > 3:
				if hp, ok := strings.CutPrefix(strings.Trim(fields[3], `"`), "fcgi://"); ok {
					a.Authorizers = append(a.Authorizers, strings.TrimSuffix(hp, "/"))
				}
			case (d == "include" || d == "includeoptional") && len(fields) > 1:
				pat := strings.Trim(fields[1], `"`)
				if !filepath.IsAbs(pat) {
					pat = filepath.Join(root, pat)
				}
				matches, _ := filepath.Glob(pat)
				if len(matches) == 0 && d == "include" && !strings.ContainsAny(pat, "*?[") {
					matches = []string{pat}
				}
				for _, m := range matches {
					if st, err := os.Stat(m); err == nil && st.IsDir() {
						sub, _ := filepath.Glob(filepath.Join(m, "*"))
						for _, s := range sub {
							read(s, depth+1)
						}
						continue
					}
					read(m, depth+1)
				}
			}
		}
		return sc.Err()
	}
	if err := read(main, 0); err != nil {
		return nil, fmt.Errorf("reading Apache's configuration %s: %w", main, err)
	}
	return a, nil
}

// Asks reports whether a's Apache asks the authorizer listening on listen
// (host:port): the same address, or the same port on loopback names.
func (a *Apache) Asks(listen string) bool {
	lh, lp, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	loop := func(h string) bool {
		ip := net.ParseIP(h)
		return h == "localhost" || h == "" || ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
	}
	for _, u := range a.Authorizers {
		h, p, err := net.SplitHostPort(u)
		if err == nil && p == lp && (strings.EqualFold(h, lh) || loop(h) && loop(lh)) {
			return true
		}
	}
	return false
}
