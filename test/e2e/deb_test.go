//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Where the package puts what the test looks at.
const (
	debPkg      = "goauthenntlm"
	debUnit     = "/lib/systemd/system/ntlm-fcgi-authorizer.service"
	debSocket   = "/lib/systemd/system/ntlm-fcgi-authorizer.socket"
	debTmpfiles = "/usr/lib/tmpfiles.d/goauthenntlm.conf"
	debEtc      = "/etc/goauthenntlm"
	debCache    = "/var/cache/goauthenntlm"
	debSnippet  = "/etc/apache2/conf-available/goauthenntlm.conf"
	debAuthz    = "/usr/bin/ntlm-fcgi-authorizer"
)

// TestDebPackage builds the Debian package (make deb) twice and wants the
// same bytes, installs it with apt-get into this system, checks what it
// installed and set up, fills the config for the test stack's DC, starts
// the daemon as its unit would and logs a user in; upgrades to a build with
// a higher version (config, secrets and an edited conffile kept), removes
// (programs gone, config kept) and purges (nothing left, the Apache config
// as it was, the shared system user still there).
//
// It changes the real /usr/bin, /etc and /var: it runs only when
// GOAUTHENNTLM_TEST_DEB=1 (make test's own step sets it), under a lock, when
// the package is not installed and no /etc/goauthenntlm exists, and always
// purges what it installed.
func TestDebPackage(t *testing.T) {
	if os.Getenv("GOAUTHENNTLM_TEST_DEB") != "1" {
		t.Skip("GOAUTHENNTLM_TEST_DEB=1 not set: this test installs a package into the system (make test runs it in a step of its own)")
	}
	s := loadStack(t)
	if os.Geteuid() != 0 {
		t.Fatal("installing a package needs root")
	}
	for _, tool := range []string{"make", "dpkg", "dpkg-deb", "apt-get", "lintian", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (scripts/deps.sh)", tool)
		}
	}
	arch := strings.TrimSpace(run(t, "dpkg", "--print-architecture"))
	if arch != "amd64" && arch != "arm64" {
		t.Skipf("the package is built for amd64 and arm64, not %s", arch)
	}
	debLock(t)
	if out, err := exec.Command("dpkg-query", "-W", "-f", "${db:Status-Status}", debPkg).Output(); err == nil && string(out) != "not-installed" {
		t.Fatalf("%s is already on this system (%s): dpkg --purge %s first; this test does not touch an installation it did not make", debPkg, out, debPkg)
	}
	for _, p := range []string{debEtc, debCache, debAuthz} {
		if _, err := os.Lstat(p); err == nil {
			t.Fatalf("%s exists (make install?): remove it first; this test does not touch an installation it did not make", p)
		}
	}
	if _, err := user.Lookup("goauthenntlm"); err != nil {
		// The user the package creates stays after a purge (Debian policy);
		// the stacks need it anyway and the test stack made it.
		t.Fatalf("no user goauthenntlm, yet the test stack runs: %v", err)
	}
	apacheBefore := treeSums(t, "/etc/apache2")

	dir := t.TempDir()
	v1 := buildDeb(t, filepath.Join(dir, "v1"), arch, "1")
	again := buildDeb(t, filepath.Join(dir, "v1-again"), arch, "1")
	if a, b := fileSum(t, v1), fileSum(t, again); a != b {
		t.Errorf("two builds of the same commit differ: %s %x, %s %x", v1, a, again, b)
	}
	// lintian clean, or each tag explained in packaging/deb/lintian-overrides.
	lint, err := exec.Command("lintian", "-I", "--pedantic", "--fail-on", "error,warning,info,pedantic", v1).CombinedOutput()
	if err != nil {
		t.Errorf("lintian %s: %v", filepath.Base(v1), err)
	}
	v2 := buildDeb(t, filepath.Join(dir, "v2"), arch, "2")
	version := func(deb string) string {
		return strings.TrimSpace(run(t, "dpkg-deb", "-f", deb, "Version"))
	}
	if out, err := exec.Command("dpkg", "--compare-versions", version(v2), "gt", version(v1)).CombinedOutput(); err != nil {
		t.Fatalf("the second build's version %s is not higher than %s: %v %s", version(v2), version(v1), err, out)
	}
	// What the package holds, and which of those paths this system has
	// already (directories such as /usr/bin): after the purge, the others
	// must be gone.
	contents := debContents(t, v1)
	existed := map[string]bool{}
	for _, p := range contents {
		if _, err := os.Lstat(p); err == nil {
			existed[p] = true
		}
	}

	t.Cleanup(func() {
		if b, err := exec.Command("dpkg", "--purge", debPkg).CombinedOutput(); err != nil {
			t.Errorf("cleanup: dpkg --purge %s: %v\n%s", debPkg, err, b)
		}
	})
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		b, _ := exec.Command("dpkg", "-s", debPkg).CombinedOutput()
		t.Logf("dpkg -s %s:\n%s", debPkg, b)
		t.Logf("lintian -I --pedantic %s:\n%s", filepath.Base(v1), lint)
	})

	// Install, as an administrator would.
	out := aptInstall(t, v1)
	t.Logf("apt-get install %s:\n%s", filepath.Base(v1), out)
	// Not started with the example config (what postinst starts or
	// restarts is decided by -check; without systemd it starts nothing).
	const notStarted = "is enabled but not (re)started"
	if !strings.Contains(out, notStarted) {
		t.Errorf("a fresh install did not say the service waits for its config (%q)", notStarted)
	}
	if dpkgStatus(t) != "install ok installed" {
		t.Fatalf("after apt-get install: status %q\n%s", dpkgStatus(t), out)
	}
	listed := map[string]bool{}
	for _, l := range strings.Split(run(t, "dpkg", "-L", debPkg), "\n") {
		if l != "" && l != "/." {
			listed[l] = true
		}
	}
	for _, p := range contents {
		if !listed[p] {
			t.Errorf("dpkg -L does not list %s, which the package holds", p)
		}
	}
	if !strings.Contains(run(t, debAuthz, "-version"), version(v1)) {
		t.Errorf("%s -version does not name the package version %s", debAuthz, version(v1))
	}

	secretFile := filepath.Join(debEtc, "caller.secret")
	apacheFile := filepath.Join(debEtc, "apache-secret.conf")
	confFile := filepath.Join(debEtc, "conf.toml")
	secret := readTrimmed(t, secretFile)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(secret) {
		t.Fatalf("caller secret is not 32 random bytes in hex (%d characters)", len(secret))
	}
	if strings.Contains(out, secret) {
		t.Error("the installation printed the caller secret")
	}
	if b, _ := os.ReadFile(apacheFile); string(b) != fmt.Sprintf("RequestHeader set GoAuthenNTLM-Secret %q early\n", secret) {
		t.Error("apache-secret.conf does not pass the caller secret")
	}
	example := readFile(t, repoFile(t, "conf.toml.example"))
	if !bytes.Equal(readFile(t, confFile), example) {
		t.Error("conf.toml is not conf.toml.example")
	}
	type want struct {
		path       string
		mode       fs.FileMode
		owner, grp string
	}
	// The groups cache and its parent (root's: the service user must not
	// replace the cache by a link for root to follow), as the tmpfiles.d
	// file says.
	var cache []want
	for _, d := range tmpfilesDirs(t, repoFile(t, "apache/goauthenntlm-tmpfiles.conf")) {
		cache = append(cache, want{d.path, d.mode, d.owner, d.group})
	}
	if len(cache) != 2 || cache[0].path != debCache || cache[0].owner != "root" || cache[1].path != filepath.Join(debCache, "groups") {
		t.Errorf("apache/goauthenntlm-tmpfiles.conf makes %v, not a root-owned %s and its groups: adapt this test", cache, debCache)
	}
	for _, f := range append(cache, []want{
		{debAuthz, 0o755, "root", "root"},
		{"/usr/bin/ntlm-group-check", 0o755, "root", "root"},
		{"/usr/bin/ntlm-migrate", 0o755, "root", "root"},
		{debUnit, 0o644, "root", "root"},
		{debSocket, 0o644, "root", "root"},
		{debTmpfiles, 0o644, "root", "root"},
		{debSnippet, 0o644, "root", "root"},
		{"/usr/share/goauthenntlm/401.html", 0o644, "root", "root"},
		{"/usr/share/doc/goauthenntlm/examples/example-site.conf", 0o644, "root", "root"},
		{debEtc, fs.ModeDir | 0o750, "root", "goauthenntlm"},
		{confFile, 0o640, "root", "goauthenntlm"},
		{secretFile, 0o640, "root", "goauthenntlm"},
		{apacheFile, 0o600, "root", "root"}, // Apache reads its config as root
	}...) {
		checkOwner(t, f.path, f.mode, f.owner, f.grp)
	}
	// The unit names the installed programs; the snippet is available, not
	// enabled (the admin enables the modules it needs and adapts it first).
	unit := parseUnit(t, debUnit)
	if !strings.HasPrefix(unit.start, debAuthz+" ") {
		t.Errorf("the unit's ExecStart runs %q, not %s", unit.start, debAuthz)
	}
	if _, err := os.Lstat("/etc/apache2/conf-enabled/goauthenntlm.conf"); err == nil {
		t.Error("the package enabled its Apache snippet by itself")
	}
	// Enabled, as deb-systemd-helper records it, where init-system-helpers
	// is installed.
	const wants = "/etc/systemd/system/multi-user.target.wants/ntlm-fcgi-authorizer.service"
	const socketWants = "/etc/systemd/system/sockets.target.wants/ntlm-fcgi-authorizer.socket"
	if _, err := exec.LookPath("deb-systemd-helper"); err == nil {
		if target, err := os.Readlink(wants); err != nil || target != debUnit {
			t.Errorf("the service is not enabled: %s -> %q (%v)", wants, target, err)
		}
		if target, err := os.Readlink(socketWants); err != nil || target != debSocket {
			t.Errorf("the socket that holds the authorizer's address is not enabled: %s -> %q (%v)", socketWants, target, err)
		}
	}
	// The socket holds the address the config and the snippet name, a
	// port only root can bind.
	stream := socketListen(t, debSocket)
	if !strings.Contains(string(example), `listen = "`+stream+`"`) || !strings.Contains(string(readFile(t, debSnippet)), "fcgi://"+stream+"/") {
		t.Errorf("the socket unit's ListenStream=%s is not the example config's listen and the snippet's fcgi:// address", stream)
	}
	if _, p, _ := net.SplitHostPort(stream); func() bool { n, err := strconv.Atoi(p); return err != nil || n >= 1024 }() {
		t.Errorf("the socket unit's ListenStream=%s: a port any user may bind", stream)
	}

	// The administrator's part: the LDAP password and CA, the [[domain]].
	// The administrator's part, as the README writes it (Install, "What
	// is left to the administrator"): each line run is the README's own,
	// but for the CA's file name, the editor (the test edits) and
	// systemctl (the test runs the unit's lines itself where systemd does
	// not run).
	readme := readmeAdminCommands(t)
	ourGID := gidOf(t, "goauthenntlm")
	readme.run(t, "install -m 640 -g goauthenntlm /dev/null /etc/goauthenntlm/ldap.pass", "", 0)
	putInto(t, filepath.Join(debEtc, "ldap.pass"), readFile(t, s.env["LDAP_PASSFILE"])) // "then put the password in"
	readme.run(t, "cp your-ca.pem /etc/goauthenntlm/ca.pem", "", 0, "your-ca.pem", s.env["LDAP_CA"])
	readme.has(t, "editor /etc/goauthenntlm/conf.toml")
	// systemd's part, as the socket unit says, on a port below 1024 free
	// on this machine (other stacks hold theirs): bound by root and passed
	// to the daemon, which runs as goauthenntlm.
	held := holdPrivileged(t)
	addr := held.Addr().String()
	conf := string(example)
	for _, r := range []struct{ re, with string }{
		{`(?m)^listen = .*$`, `listen = "` + addr + `"`},
		{`(?m)^dcs = .*$`, `dcs = ["` + s.env["DC_IP"] + `"]`},
		{`(?m)^ldap_urls = .*$`, `ldap_urls = ["` + s.env["LDAP_URL"] + `"]`},
	} {
		re := regexp.MustCompile(r.re)
		if n := len(re.FindAllString(conf, -1)); n != 1 {
			t.Fatalf("conf.toml.example has %d lines %s, want 1: adapt this test", n, r.re)
		}
		conf = re.ReplaceAllString(conf, r.with)
	}
	writeAs(t, confFile, []byte(conf), 0o640, 0, ourGID)
	probe := readme.run(t, "runuser -u goauthenntlm -- ntlm-fcgi-authorizer -config /etc/goauthenntlm/conf.toml -check -probe", "", 0)
	if !regexp.MustCompile(`(?m)^dc +EXAMPLE .* ok `).MatchString(probe) || !regexp.MustCompile(`(?m)^ldap +EXAMPLE .* ok `).MatchString(probe) {
		t.Errorf("-check -probe as the README runs it: no DC and LDAP line ok:\n%s", probe)
	}

	readme.has(t, "systemctl enable --now ntlm-fcgi-authorizer.socket ntlm-fcgi-authorizer.service")
	stop := startAsUnit(t, unit, addr, held)
	login, errOut, rc := runAsUser(t, unit, users["jdoe"]+"\n", debAuthz, "-config", confFile, "-test-login", `EXAMPLE\jdoe`)
	if rc != 0 || !strings.Contains(login, "REMOTE_USER: jdoe") {
		t.Errorf("-test-login EXAMPLE\\jdoe with the installed package: exit %d\n%s%s", rc, login, errOut)
	}
	// As root, as the README shows it: the daemon's cache entries stay the
	// daemon's (issue 34: root's run replaced them by root's, which
	// ntlm-group-check refused until they expired).
	login = readme.run(t, `ntlm-fcgi-authorizer -config /etc/goauthenntlm/conf.toml -test-login 'EXAMPLE\jdoe'`, users["jdoe"]+"\n", 0)
	if !strings.Contains(login, "REMOTE_USER: jdoe") || !strings.Contains(login, "WebUsers") {
		t.Errorf("-test-login as root: %s", login)
	}
	cacheDir := filepath.Join(debCache, "groups")
	entries, _ := os.ReadDir(cacheDir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Sys().(*syscall.Stat_t).Uid == 0 {
			t.Errorf("-test-login as root left %s owned by root in the groups cache", e.Name())
		}
	}
	check := exec.Command("setpriv", "--reuid=www-data", "--regid=www-data", "--init-groups", "--", "/usr/bin/ntlm-group-check", "-cache", cacheDir)
	check.Stdin = strings.NewReader("jdoe\nWebUsers\n")
	if out, err := check.CombinedOutput(); err != nil || strings.Contains(string(out), "untrusted") {
		t.Errorf("ntlm-group-check as www-data after root's -test-login: %v\n%s", err, out)
	}
	stop()
	// The daemon stopped, the address stays taken: nobody cannot bind it.
	if out, err := exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--",
		buildSquatter(t), "-listen", addr, "-user", "Administrator").CombinedOutput(); err == nil || !strings.Contains(string(out), "permission denied") {
		t.Errorf("as nobody, an always-200 authorizer on %s with the service stopped: %v, want permission denied\n%s", addr, err, out)
	}

	// Apache: the modules and the snippet as the README enables them, and
	// Apache's own check of the whole system configuration. What a2enmod
	// enabled is disabled again at the end (the purge checks /etc/apache2
	// is as it was).
	modsBefore := dirNames(t, "/etc/apache2/mods-enabled")
	restoreMods := func() {
		for _, n := range dirNames(t, "/etc/apache2/mods-enabled") {
			if !slices.Contains(modsBefore, n) {
				os.Remove(filepath.Join("/etc/apache2/mods-enabled", n))
				os.Remove(filepath.Join("/var/lib/apache2/module/enabled_by_admin", strings.TrimSuffix(strings.TrimSuffix(n, ".load"), ".conf")))
			}
		}
	}
	t.Cleanup(restoreMods)
	readme.run(t, "a2enmod authnz_fcgi authn_core authz_core authz_user headers env setenvif alias rewrite ssl authnz_external", "", 0)
	readme.run(t, "a2enconf goauthenntlm", "", 0)
	readme.has(t, "editor /etc/apache2/sites-available/intranet.conf")
	readme.has(t, "apache2ctl configtest && systemctl reload apache2")
	if out, rc := sh(t, "apache2ctl configtest", ""); rc != 0 {
		t.Errorf("apache2ctl configtest with the snippet enabled: exit %d\n%s", rc, out)
	}
	restoreMods()

	// The man pages' header names the whole version, apart from the date.
	if _, err := exec.LookPath("man"); err == nil {
		page, _ := sh(t, "MANWIDTH=80 man -l /usr/share/man/man1/ntlm-fcgi-authorizer.1.gz", "")
		footer := regexp.MustCompile(`(?m)^goauthenntlm +[0-9]{4}-[0-9]{2}-[0-9]{2} +NTLM-FCGI-AUTHORIZER\(1\)$`)
		if !strings.Contains(page, "goauthenntlm "+version(v1)) || !footer.MatchString(page) {
			t.Errorf("man ntlm-fcgi-authorizer does not show the version %s whole, or its footer runs fields together:\n%s", version(v1), page)
		}
	} else {
		t.Log("man is not installed: the man page's layout is not checked")
	}

	// Upgrade: config, secrets, the admin's edit of the conffile kept.
	snippet := append(readFile(t, debSnippet), "# edited by the admin\n"...)
	writeAs(t, debSnippet, snippet, 0o644, 0, 0)
	kept := map[string][]byte{}
	for _, p := range []string{confFile, secretFile, apacheFile, filepath.Join(debEtc, "ldap.pass"), filepath.Join(debEtc, "ca.pem"), debSnippet} {
		kept[p] = readFile(t, p)
	}
	if out := aptInstall(t, v2); strings.Contains(out, notStarted) {
		t.Errorf("the upgrade, with a config that passes -check, says it does not restart the service:\n%s", out)
	}
	if got := strings.TrimSpace(run(t, "dpkg-query", "-W", "-f", "${Version}", debPkg)); got != version(v2) {
		t.Fatalf("after the upgrade: version %s, want %s", got, version(v2))
	}
	for p, b := range kept {
		if !bytes.Equal(readFile(t, p), b) {
			t.Errorf("the upgrade changed %s", p)
		}
	}
	if !strings.Contains(run(t, debAuthz, "-version"), version(v2)) {
		t.Errorf("after the upgrade, -version does not name %s", version(v2))
	}
	stop = startAsUnit(t, parseUnit(t, debUnit), addr, held)
	stop()

	// The snippet is enabled (the README's a2enconf above); apt remove must
	// disable it (and reload Apache), so that Apache stops calling the
	// authorizer's address.
	if _, err := os.Lstat("/etc/apache2/conf-enabled/goauthenntlm.conf"); err != nil {
		t.Errorf("the snippet is not enabled before the removal: %v", err)
	}

	// Remove: the programs go, the config and secrets stay.
	if b, err := exec.Command("dpkg", "-r", debPkg).CombinedOutput(); err != nil {
		t.Fatalf("dpkg -r: %v\n%s", err, b)
	}
	if st := dpkgStatus(t); st != "deinstall ok config-files" {
		t.Errorf("after dpkg -r: status %q, want config-files", st)
	}
	for _, p := range []string{debAuthz, "/usr/bin/ntlm-group-check", "/usr/bin/ntlm-migrate", debUnit, debSocket, "/etc/apache2/conf-enabled/goauthenntlm.conf"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("dpkg -r left %s", p)
		}
	}
	for p, b := range kept {
		if !bytes.Equal(readFile(t, p), b) {
			t.Errorf("dpkg -r changed %s", p)
		}
	}

	// Purge: nothing left.
	if b, err := exec.Command("dpkg", "--purge", debPkg).CombinedOutput(); err != nil {
		t.Fatalf("dpkg --purge: %v\n%s", err, b)
	}
	if st := dpkgStatus(t); st != "" && st != "unknown ok not-installed" {
		t.Errorf("after dpkg --purge: status %q", st)
	}
	for _, p := range contents {
		if _, err := os.Lstat(p); err == nil && !existed[p] {
			t.Errorf("dpkg --purge left %s", p)
		}
	}
	for _, p := range []string{debEtc, debCache, wants, socketWants,
		"/etc/systemd/system/ntlm-fcgi-authorizer.service", // the masks of dpkg -r
		"/etc/systemd/system/ntlm-fcgi-authorizer.socket",
		"/var/lib/systemd/deb-systemd-helper-enabled/ntlm-fcgi-authorizer.service.dsh-also",
		"/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/ntlm-fcgi-authorizer.service",
		"/var/lib/systemd/deb-systemd-helper-masked/ntlm-fcgi-authorizer.service",
	} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("dpkg --purge left %s", p)
		}
	}
	if _, err := user.Lookup("goauthenntlm"); err != nil {
		t.Errorf("dpkg --purge removed the system user goauthenntlm (policy: keep it): %v", err)
	}
	if after := treeSums(t, "/etc/apache2"); !equalSums(apacheBefore, after) {
		t.Errorf("/etc/apache2 is not as it was before the install:\nbefore %v\nafter  %v", apacheBefore, after)
	}
}

// debLock serializes the tests that install the package on this machine
// (other checkouts' make test): the lock is released when the test ends.
func debLock(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile("/run/lock/goauthenntlm-deb-test.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Minute)
	for syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		if time.Now().After(deadline) {
			f.Close()
			t.Fatal("another test has held the package test's lock for 10 minutes")
		}
		time.Sleep(2 * time.Second)
	}
	t.Cleanup(func() { f.Close() })
}

// buildDeb runs make deb for arch into dir and returns the package's path.
func buildDeb(t *testing.T, dir, arch, revision string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "-C", repoFile(t, "."), "deb", "DEB_OUT="+dir, "DEB_ARCHES="+arch, "DEB_REVISION="+revision)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make deb: %v\n%s", err, b)
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "goauthenntlm_*_"+arch+".deb"))
	if len(debs) != 1 {
		t.Fatalf("make deb wrote %v, want one goauthenntlm_*_%s.deb", debs, arch)
	}
	return debs[0]
}

// aptInstall installs or upgrades to the package file deb, as an
// administrator would, and returns what apt-get printed.
func aptInstall(t *testing.T, deb string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "-o", "DPkg::Lock::Timeout=600", "--no-install-recommends", deb)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("apt-get install %s: %v\n%s", deb, err, b)
	}
	return string(b)
}

func dpkgStatus(t *testing.T) string {
	t.Helper()
	b, _ := exec.Command("dpkg-query", "-W", "-f", "${Status}", debPkg).Output()
	return strings.TrimSpace(string(b))
}

// debContents is every path in the package file, absolute.
func debContents(t *testing.T, deb string) []string {
	t.Helper()
	var paths []string
	out := run(t, "sh", "-c", `dpkg-deb --fsys-tarfile "$1" | tar -t`, "sh", deb)
	for _, l := range strings.Split(out, "\n") {
		p := strings.TrimSuffix(strings.TrimPrefix(l, "."), "/")
		if p != "" {
			paths = append(paths, p)
		}
	}
	return paths
}

// unitExec is how systemd starts the daemon, from the installed unit.
type unitExec struct {
	user, group string
	pre         []string // ExecStartPre, "+" for root
	start       string   // ExecStart
}

func parseUnit(t *testing.T, path string) unitExec {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var u unitExec
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		switch k {
		case "User":
			u.user = v
		case "Group":
			u.group = v
		case "ExecStartPre":
			u.pre = append(u.pre, v)
		case "ExecStart":
			u.start = v
		}
	}
	if u.user == "" || u.group == "" || u.start == "" {
		t.Fatalf("%s: no User=, Group= or ExecStart=: adapt this test", path)
	}
	return u
}

// execLine splits one Exec line of the unit: "+" runs it as root.
func execLine(t *testing.T, line string) (args []string, asRoot bool) {
	t.Helper()
	asRoot = strings.HasPrefix(line, "+")
	line = strings.TrimPrefix(line, "+")
	if line == "" || strings.ContainsAny(line, `"'\$%;`) || strings.ContainsAny(line[:1], "-@:!") {
		t.Fatalf("Exec line %q needs systemd's quoting, specifiers or prefixes: adapt this test", line)
	}
	return strings.Fields(line), asRoot
}

// unitCmd runs args as systemd would for the unit: as root, or as the
// unit's user and group (and the user's groups), in /, with systemd's
// small environment.
func unitCmd(u unitExec, asRoot bool, args ...string) *exec.Cmd {
	if !asRoot {
		args = append([]string{"setpriv", "--reuid=" + u.user, "--regid=" + u.group, "--init-groups", "--"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	return cmd
}

// runAsUser runs a command as the unit's user, stdin given.
func runAsUser(t *testing.T, u unitExec, stdin string, args ...string) (stdout, stderr string, rc int) {
	t.Helper()
	cmd := unitCmd(u, false, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() {
		<-ctx.Done()
		if cmd.Process != nil {
			cmd.Process.Kill()
		}
	}()
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

// startAsUnit runs the unit's ExecStartPre lines, then its ExecStart with a
// NOTIFY_SOCKET (Type=notify) and, as the socket unit has systemd do, the
// listener held passed as descriptor 3 (LISTEN_FDS, LISTEN_PID); waits for
// READY=1 and for addr to answer, and returns how to stop it (SIGTERM, as
// KillSignal says).
func startAsUnit(t *testing.T, u unitExec, addr string, held *net.TCPListener) (stop func()) {
	t.Helper()
	old := syscall.Umask(0o022) // the unit's UMask
	defer syscall.Umask(old)
	for _, line := range u.pre {
		args, asRoot := execLine(t, line)
		cmd := unitCmd(u, asRoot, args...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ExecStartPre=%s: %v\n%s", line, err, b)
		}
	}
	notify := fmt.Sprintf("@goauthenntlm-deb-test-%d", os.Getpid())
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	args, asRoot := execLine(t, u.start)
	// LISTEN_PID is the daemon's pid: sh's, which setpriv and the daemon
	// keep through exec.
	unit := unitCmd(u, asRoot, args...)
	cmd := exec.Command("sh", append([]string{"-c", `LISTEN_PID=$$ exec "$@"`, "sh"}, unit.Args...)...)
	cmd.Dir = unit.Dir
	cmd.Env = append(unit.Env, "NOTIFY_SOCKET="+notify, "LISTEN_FDS=1")
	lf, err := held.File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	cmd.ExtraFiles = []*os.File{lf}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(40 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("ExecStart=%s: still running 40 s after SIGTERM", u.start)
		}
	}
	t.Cleanup(stop)
	sock.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 512)
	for {
		n, err := sock.Read(buf)
		if err != nil {
			stop()
			t.Fatalf("ExecStart=%s: no READY=1: %v\n%s", u.start, err, logs.String())
		}
		if strings.HasPrefix(string(buf[:n]), "READY=1") {
			break
		}
	}
	// An FCGI_GET_VALUES record, answered by the daemon itself (the held
	// socket takes a connection with no daemon behind it): the daemon, which
	// cannot bind a port below 1024, serves on the socket passed.
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		stop()
		t.Fatalf("READY=1, but %s refuses connections: %v\n%s", addr, err, logs.String())
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte{1, 9, 0, 0, 0, 0, 0, 0}); err == nil {
		_, err = c.Read(make([]byte, 1))
	}
	if err != nil {
		stop()
		t.Fatalf("READY=1, but no FastCGI answer on %s: %v\n%s", addr, err, logs.String())
	}
	return stop
}

// socketListen is the ListenStream= of the socket unit at path.
func socketListen(t *testing.T, path string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^ListenStream=(\S+)$`).FindAllSubmatch(readFile(t, path), -1)
	if len(m) != 1 {
		t.Fatalf("%s: %d ListenStream= lines, want 1: adapt this test", path, len(m))
	}
	return string(m[0][1])
}

// holdPrivileged binds, as root, a free loopback port below 1024, as the
// socket unit has systemd do; it is closed when the test ends.
func holdPrivileged(t *testing.T) *net.TCPListener {
	t.Helper()
	for port := 1023; port >= 600; port-- {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			t.Cleanup(func() { ln.Close() })
			return ln.(*net.TCPListener)
		}
	}
	t.Fatal("no free loopback port below 1024")
	return nil
}

func checkOwner(t *testing.T, path string, mode fs.FileMode, owner, group string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Error(err)
		return
	}
	if fi.Mode() != mode {
		t.Errorf("%s: mode %v, want %v", path, fi.Mode(), mode)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if u, err := user.Lookup(owner); err != nil || u.Uid != strconv.Itoa(int(st.Uid)) {
		t.Errorf("%s: owner uid %d, want %s", path, st.Uid, owner)
	}
	if gid := gidOf(t, group); int(st.Gid) != gid {
		t.Errorf("%s: group gid %d, want %s (%d)", path, st.Gid, group, gid)
	}
}

func gidOf(t *testing.T, group string) int {
	t.Helper()
	g, err := user.LookupGroup(group)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(g.Gid)
	return n
}

// writeAs writes data to path (temporary name, then rename) with that mode
// and owner, as an administrator would with install -m.
func writeAs(t *testing.T, path string, data []byte, mode fs.FileMode, uid, gid int) {
	t.Helper()
	tmp := path + ".test-tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(tmp, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	return sha256.Sum256(readFile(t, path))
}

// treeSums is every path under dir with its type, mode and content (or
// link target) hash.
func treeSums(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		var sum string
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			sum, _ = os.Readlink(p)
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum = fmt.Sprintf("%x", sha256.Sum256(b))
		}
		out = append(out, fmt.Sprintf("%s %v %s", p, fi.Mode(), sum))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func equalSums(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}

// run runs a command and returns its standard output; failure is fatal.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &errOut
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, errOut.String())
	}
	return string(b)
}

// adminCommands are the lines of the README's block of what is left to
// the administrator, after "What is left to the administrator".
type adminCommands []string

func readmeAdminCommands(t *testing.T) adminCommands {
	t.Helper()
	text := string(readFile(t, repoFile(t, "README.md")))
	_, after, ok := strings.Cut(text, "What is left to the administrator")
	if ok {
		_, after, ok = strings.Cut(after, "```sh\n")
	}
	block, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no sh block after \"What is left to the administrator\": adapt this test")
	}
	var cmds adminCommands
	for _, l := range strings.Split(block, "\n") {
		if c, _, _ := strings.Cut(l, "#"); strings.TrimSpace(c) != "" {
			cmds = append(cmds, strings.TrimSpace(c))
		}
	}
	return cmds
}

// has fails the test unless line is one of the README's commands.
func (a adminCommands) has(t *testing.T, line string) {
	t.Helper()
	if !slices.Contains(a, line) {
		t.Fatalf("the README's administrator commands have no line %q (they are %q): the README and this test disagree", line, []string(a))
	}
}

// run runs one of the README's commands as root (replacing each pair of
// old, new strings first: a file name the README leaves to the reader),
// with stdin, and wants exit code want; it returns what it printed.
func (a adminCommands) run(t *testing.T, line, stdin string, want int, replace ...string) string {
	t.Helper()
	a.has(t, line)
	line = strings.NewReplacer(replace...).Replace(line)
	out, rc := sh(t, line, stdin)
	if rc != want {
		t.Fatalf("%s: exit %d, want %d\n%s", line, rc, want, out)
	}
	return out
}

// sh runs a shell command line as root with a login's PATH and stdin; it
// returns stdout and stderr together and the exit code.
func sh(t *testing.T, line, stdin string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", line)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "HOME=/root"}
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return string(out), 0
}

// putInto replaces path's content, keeping its mode and owner (as an
// editor does).
func putInto(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0); err != nil {
		t.Fatal(err)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
