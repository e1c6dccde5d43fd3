package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/goauthenntlm/goauthenntlm/internal/procgroup"
)

// stackEnv is DIR/stack.env from scripts/stack.sh.
type stackEnv map[string]string

func loadStackEnv(dir string) (stackEnv, error) {
	f, err := os.Open(filepath.Join(dir, "stack.env"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := stackEnv{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if k, v, ok := strings.Cut(l, "="); ok {
			env[k] = v
		}
	}
	for _, k := range []string{"APACHE_PORT", "AUTHZ_ADDR", "DC_IP", "CONF", "BIN", "PUB", "APACHE_CONF", "AUTHZ_PID_FILE", "STACK_DIR"} {
		if env[k] == "" {
			return nil, fmt.Errorf("%s/stack.env has no %s (has scripts/stack.sh changed?)", dir, k)
		}
	}
	return env, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitPort(addr string, d time.Duration, alive func() bool) error {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if alive != nil && !alive() {
			return fmt.Errorf("process exited before listening on %s", addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s after %s", addr, d)
}

// proc is a process the bench started, in a session and process group of
// its own like a daemon (and like scripts/stack.sh starts the stack's
// authorizer). With autogroup scheduling a session is what the kernel
// shares the CPU between: trivialauthz in the session of the bench and its
// Apache was woken within their group, the stack's authorizer had to win
// its turn against every other session, and on a busy machine that alone
// made P1 read 0.64-0.75x instead of 1.06-1.13x (same binaries, runs
// alternated). stop ends exactly it and its group.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

func startProc(name string, logPath string, args ...string) (*proc, error) {
	return startProcEnv(name, logPath, nil, args...)
}

// startProcEnv is startProc with env added to the bench's environment.
func startProcEnv(name string, logPath string, env []string, args ...string) (*proc, error) {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = procgroup.SessionAttr()
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); lf.Close(); close(p.done) }()
	return p, nil
}

func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) stop() {
	if p == nil || !p.alive() {
		return
	}
	pid := p.cmd.Process.Pid
	procgroup.Signal(pid, false)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		procgroup.Signal(pid, true)
		<-p.done
	}
}

// asApacheUser runs a command as www-data.
func asApacheUser(args ...string) []string { return asUser("www-data", args...) }

// asUser runs a command as user.
func asUser(user string, args ...string) []string {
	return append([]string{"setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups", "--"}, args...)
}

// benchSite is the bench's own Apache instance and helpers.
type benchSite struct {
	env        stackEnv
	dir        string // STACK_DIR/bench: config, logs, pid
	pub        string // PUB/bench: what www-data must read
	port       int
	addr       string // 127.0.0.1:port
	trivial    string // trivial authorizer's address
	haveExpr   bool   // the stack's site has /expr/webusers/
	haveAuthz  bool
	defineMiss bool
	apache     *proc
	triv       *proc
	binDir     string
	// gssapiKeytab, when set, is the keytab copy mod_auth_gssapi's
	// location (bench/apache-bench-gssapi.conf.in) uses; apacheEnv is
	// added to Apache's environment (its KRB5RCACHEDIR).
	gssapiKeytab string
	apacheEnv    []string
}

var (
	reListen  = regexp.MustCompile(`(?m)^Listen\s+.*$`)
	rePid     = regexp.MustCompile(`(?m)^PidFile\s+.*$`)
	reRunDir  = regexp.MustCompile(`(?m)^DefaultRuntimeDir\s+.*$`)
	reMutex   = regexp.MustCompile(`(?m)^Mutex\s+file:\S+`)
	reSock    = regexp.MustCompile(`(?m)^ScriptSock\s+.*$`)
	reErrLog  = regexp.MustCompile(`(?m)^ErrorLog\s+.*$`)
	reCustLog = regexp.MustCompile(`(?m)^CustomLog\s+("[^"]*"|\S+)`)
	reExpr    = regexp.MustCompile(`(?m)^\s*<Location\s+"?/expr/webusers`)
	reAuthz   = regexp.MustCompile(`(?m)^\s*<Location\s+"?/authz/webusers`)
)

// writeConfig derives the bench Apache's config from the stack's live
// httpd.conf plus bench/apache-bench.conf.in; authzAddr replaces the
// stack authorizer's address (for the profiling run).
func (s *benchSite) writeConfig(repo, authzAddr string) (string, error) {
	base, err := os.ReadFile(s.env["APACHE_CONF"])
	if err != nil {
		return "", err
	}
	run := filepath.Join(s.pub, "run")
	c := string(base)
	// The stack's HTTPS virtual host (Extended Protection) stays the
	// stack's: the bench measures plain HTTP, and a second Apache could
	// not listen on that port nor share its TLS session cache.
	if p := s.env["HTTPS_PORT"]; p != "" {
		q := regexp.QuoteMeta(p)
		c = regexp.MustCompile(`(?ms)^<VirtualHost [^>]*:`+q+`>.*?^</VirtualHost>[ \t]*$`).ReplaceAllString(c, "")
		c = regexp.MustCompile(`(?m)^Listen\s+\S*:`+q+`[ \t]*$`).ReplaceAllString(c, "")
		c = regexp.MustCompile(`(?m)^SSLSessionCache\s+.*$`).ReplaceAllString(c, "")
	}
	c = reListen.ReplaceAllString(c, fmt.Sprintf("Listen 127.0.0.1:%d", s.port))
	c = rePid.ReplaceAllString(c, fmt.Sprintf(`PidFile "%s/httpd.pid"`, s.dir))
	c = reRunDir.ReplaceAllString(c, fmt.Sprintf(`DefaultRuntimeDir "%s"`, run))
	c = reMutex.ReplaceAllString(c, "Mutex file:"+run)
	c = reSock.ReplaceAllString(c, fmt.Sprintf(`ScriptSock "%s/cgisock"`, run))
	c = reErrLog.ReplaceAllString(c, fmt.Sprintf(`ErrorLog "%s/error.log"`, s.dir))
	c = reCustLog.ReplaceAllString(c, fmt.Sprintf(`CustomLog "%s/access.log"`, s.dir))
	s.haveExpr = reExpr.MatchString(c)
	s.haveAuthz = reAuthz.MatchString(c)

	htdocs := filepath.Join(s.env["PUB"], "apache", "htdocs")
	fill := func(t string) string {
		return strings.NewReplacer(
			"@AUTHZ_ADDR@", s.env["AUTHZ_ADDR"],
			"@TRIVIAL_ADDR@", s.trivial,
			"@HTDOCS@", htdocs,
			"@HTPASSWD_MD5@", filepath.Join(s.pub, "htpasswd-md5"),
			"@HTPASSWD_BCRYPT@", filepath.Join(s.pub, "htpasswd-bcrypt"),
		).Replace(t)
	}
	extra, err := os.ReadFile(filepath.Join(repo, "bench", "apache-bench.conf.in"))
	if err != nil {
		return "", err
	}
	c += "\n# ---- bench/apache-bench.conf.in ----\n" + fill(string(extra))
	if s.gssapiKeytab != "" {
		g, err := os.ReadFile(filepath.Join(repo, "bench", "apache-bench-gssapi.conf.in"))
		if err != nil {
			return "", err
		}
		c += "\n# ---- bench/apache-bench-gssapi.conf.in ----\n" + strings.ReplaceAll(fill(string(g)), "@GSSAPI_KEYTAB@", s.gssapiKeytab)
	}
	if s.defineMiss && (!s.haveExpr || !s.haveAuthz) {
		g, err := os.ReadFile(filepath.Join(repo, "bench", "apache-bench-groups.conf.in"))
		if err != nil {
			return "", err
		}
		c += "\n# ---- bench/apache-bench-groups.conf.in ----\n" + fill(string(g))
	}
	if authzAddr != "" && authzAddr != s.env["AUTHZ_ADDR"] {
		c = strings.ReplaceAll(c, "fcgi://"+s.env["AUTHZ_ADDR"]+"/", "fcgi://"+authzAddr+"/")
	}
	for _, old := range []string{s.env["APACHE_ERROR_LOG"], s.env["APACHE_ACCESS_LOG"], s.env["APACHE_PID_FILE"]} {
		if old != "" && strings.Contains(c, `"`+old+`"`) {
			return "", fmt.Errorf("bench httpd.conf still names the stack's %s", old)
		}
	}
	path := filepath.Join(s.dir, "httpd.conf")
	return path, os.WriteFile(path, []byte(c), 0o644)
}

func (s *benchSite) apacheArgs(conf string) []string {
	a := []string{"apache2", "-f", conf, "-DFOREGROUND", "-DSTACK_ROOT"}
	if s.haveExpr {
		a = append(a, "-DBENCH_HAVE_EXPR")
	}
	if s.haveAuthz {
		a = append(a, "-DBENCH_HAVE_AUTHZ")
	}
	return a
}

func (s *benchSite) startApache(repo, authzAddr string) error {
	conf, err := s.writeConfig(repo, authzAddr)
	if err != nil {
		return err
	}
	args := s.apacheArgs(conf)
	if out, err := exec.Command(args[0], append(args[1:], "-t")...).CombinedOutput(); err != nil {
		return fmt.Errorf("apache2 -t on %s: %v\n%s", conf, err, out)
	}
	s.apache, err = startProcEnv("apache2 (bench)", filepath.Join(s.dir, "stderr.log"), s.apacheEnv, args...)
	if err != nil {
		return err
	}
	return waitPort(s.addr, 20*time.Second, s.apache.alive)
}

func (s *benchSite) stopApache() {
	s.apache.stop()
	s.apache = nil
}

// setup builds the bench binaries, writes the htpasswd files, starts the
// trivial authorizer and the bench Apache.
func (s *benchSite) setup(repo string) error {
	s.dir = filepath.Join(s.env["STACK_DIR"], "bench")
	s.pub = filepath.Join(s.env["PUB"], "bench")
	s.binDir = filepath.Join(s.pub, "bin")
	for _, d := range []string{s.dir, s.pub, filepath.Join(s.pub, "run"), s.binDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		os.Chmod(d, 0o755)
	}
	build := exec.Command("go", "build", "-o", s.binDir+"/", "./bench/trivialauthz", "./bench/emptygo", "./cmd/ntlm-fcgi-authorizer")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build bench binaries: %v\n%s", err, out)
	}
	for _, h := range []struct{ file, flags string }{{"htpasswd-md5", "-m"}, {"htpasswd-bcrypt", "-B -C 5"}} {
		args := append([]string{"-c", "-b"}, strings.Fields(h.flags)...)
		args = append(args, filepath.Join(s.pub, h.file), basicUser, basicPass)
		if out, err := exec.Command("htpasswd", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("htpasswd %v: %v\n%s", args, err, out)
		}
		os.Chmod(filepath.Join(s.pub, h.file), 0o644)
	}
	p, err := freePort()
	if err != nil {
		return err
	}
	s.trivial = fmt.Sprintf("127.0.0.1:%d", p)
	s.triv, err = startProc("trivialauthz", filepath.Join(s.dir, "trivialauthz.log"),
		asApacheUser(filepath.Join(s.binDir, "trivialauthz"), "-listen", s.trivial)...)
	if err != nil {
		return err
	}
	if err := waitPort(s.trivial, 10*time.Second, s.triv.alive); err != nil {
		return fmt.Errorf("trivialauthz: %w", err)
	}
	if s.port, err = freePort(); err != nil {
		return err
	}
	s.addr = fmt.Sprintf("127.0.0.1:%d", s.port)
	if err := s.gssapiSetup(); err != nil {
		say("mod_auth_gssapi not set up, P7 will say n/a: %v", err)
	}
	return s.startApache(repo, "")
}

func (s *benchSite) teardown() {
	if s.apache != nil {
		s.stopApache()
	}
	s.triv.stop()
}

func readFileString(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}
