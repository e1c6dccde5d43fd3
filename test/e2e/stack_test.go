//go:build linux

package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/internal/browser"
)

// stack is what scripts/stack.sh wrote to stack.env.
type stack struct {
	dir string
	env map[string]string
}

func loadStack(t *testing.T) *stack {
	t.Helper()
	path := os.Getenv("GOAUTHENNTLM_STACK")
	if path == "" {
		t.Skip("GOAUTHENNTLM_STACK not set: the e2e tests need the stack of scripts/stack.sh (run make test or make e2e)")
	}
	return readStack(t, path)
}

// readStack reads the stack.env at path.
func readStack(t *testing.T, path string) *stack {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("stack env: %v", err)
	}
	defer f.Close()
	s := &stack{dir: filepath.Dir(path), env: map[string]string{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			s.env[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	for _, k := range []string{"URL", "AUTHZ_LOG"} {
		if s.env[k] == "" {
			t.Fatalf("stack env %s lacks %s", path, k)
		}
	}
	return s
}

// daemonFile writes data to the file name in the stack's PUB directory and
// returns its path. Every file a test hands to the running daemon (a key,
// a secret, a keytab, a certificate) goes through here: the daemon runs as
// AUTHZ_USER, which cannot reach a checkout under a private directory
// (/root, mktemp -d), while stack.sh makes PUB reachable whatever the
// checkout's parents are. The file is owned by root with AUTHZ_USER's group
// and mode 0640, as an administrator would install a secret: readable by
// the daemon, by no other user. It is written to a temporary name and
// renamed, so the daemon never reads half a file. A file of that name that
// already exists is replaced.
func (s *stack) daemonFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	pub := s.env["PUB"]
	if pub == "" {
		t.Fatal("stack env lacks PUB")
	}
	if strings.ContainsRune(name, '/') {
		t.Fatalf("daemonFile: %q is not a plain file name", name)
	}
	g, err := user.LookupGroup(s.env["AUTHZ_USER"])
	if err != nil {
		t.Fatalf("daemonFile: the daemon's group: %v", err)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(pub, name)
	tmp, err := os.CreateTemp(pub, "."+name+".tmp-*")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(data)
	if err := errors.Join(werr, tmp.Chown(0, gid), tmp.Chmod(0o640), tmp.Close()); err != nil {
		t.Fatalf("daemonFile %s: %v", name, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		t.Fatal(err)
	}
	return path
}

func (s *stack) url(path string) string { return strings.TrimSuffix(s.env["URL"], "/") + path }

// ctl runs a stack.sh subcommand (dc-stop, dc-start, ...).
func (s *stack) ctl(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{repoFile(t, "scripts/stack.sh"), args[0], s.dir}, args[1:]...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("stack.sh %v: %v\n%s", args, err, out)
	}
}

func repoFile(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// logSince returns what the authorizer logged after offset, for checks on
// log lines, and the new offset.
func (s *stack) logSince(t *testing.T, offset int64) (string, int64) {
	t.Helper()
	b, err := os.ReadFile(s.env["AUTHZ_LOG"])
	if err != nil {
		t.Fatal(err)
	}
	if offset > int64(len(b)) {
		offset = 0
	}
	return string(b[offset:]), int64(len(b))
}

func (s *stack) logOffset(t *testing.T) int64 {
	_, off := s.logSince(t, 0)
	return off
}

// counter counts what crossed one client's connections: new TCP
// connections, and NTLM messages sent by type.
type counter struct {
	conns, type1, type3 atomic.Int32
}

type countingRT struct {
	c    *counter
	next http.RoundTripper
}

func (rt countingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	if h := req.Header.Get("Authorization"); h != "" {
		// Base64 of "NTLMSSP\0" followed by the message type's first
		// byte: ...AAB for a Type1, ...AAD for a Type3.
		_, tok, _ := strings.Cut(h, " ")
		switch {
		case strings.HasPrefix(tok, "TlRMTVNTUAAB"):
			rt.c.type1.Add(1)
		case strings.HasPrefix(tok, "TlRMTVNTUAAD"):
			rt.c.type3.Add(1)
		}
	}
	return rt.next.RoundTrip(req)
}

// ntlmClient is a Go NTLM client (Azure/go-ntlmssp), the second client the
// tests use besides curl. Each client has its own connection pool; with
// one connection per host, its requests share a keep-alive connection.
func ntlmClient(c *counter) *http.Client {
	tr := &http.Transport{
		MaxConnsPerHost:     1,
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
		TLSClientConfig:     &tls.Config{},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c.conns.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	if c == nil {
		c = &counter{}
	}
	return browser.NewClient(countingRT{c: c, next: browser.Transport{Next: tr}}, 60*time.Second)
}

// get fetches url as user (DOMAIN\user) with password; "" user means no
// credentials. It returns the status and body.
func get(t *testing.T, cl *http.Client, url, user, password string) (int, string) {
	t.Helper()
	resp, body := fetch(t, cl, url, user, password)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// fetch is get returning the whole response (its body already read).
func fetch(t *testing.T, cl *http.Client, url, user, password string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp, b
}

// curl runs curl with args and returns its stdout.
func curl(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "curl", append([]string{"-s", "--max-time", "30"}, args...)...).Output()
	if err != nil {
		t.Fatalf("curl %v: %v", args, err)
	}
	return string(out)
}

// reconfigure writes the authorizer's config as edit makes it from the
// stack's original, reloads it with SIGHUP, and restores the original
// when the test ends.
func (s *stack) reconfigure(t *testing.T, edit func(string) string) {
	t.Helper()
	path, orig := s.restoreConf(t)
	if err := os.WriteFile(path, []byte(edit(string(orig))), 0o644); err != nil {
		t.Fatal(err)
	}
	s.reload(t)
}

// restoreConf returns the config's path and original text, and puts that
// text back (and reloads) when t ends.
func (s *stack) restoreConf(t *testing.T) (path string, orig []byte) {
	t.Helper()
	path, orig = s.env["CONF"], s.originalConf(t)
	t.Cleanup(func() {
		if err := os.WriteFile(path, orig, 0o644); err != nil {
			t.Error(err)
		}
		s.reload(t)
	})
	return path, orig
}

// originalConf is the config as stack.sh wrote it, saved beside it on
// first use, so that a test that died mid-way cannot leave its edits in.
func (s *stack) originalConf(t *testing.T) []byte {
	t.Helper()
	saved := filepath.Join(s.dir, "conf.toml.orig")
	if b, err := os.ReadFile(saved); err == nil {
		return b
	}
	b, err := os.ReadFile(s.env["CONF"])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(saved, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return b
}

// reload sends SIGHUP to the authorizer and waits until it says it has
// reloaded.
func (s *stack) reload(t *testing.T) {
	t.Helper()
	if log, ok := s.hup(t); !ok {
		t.Fatalf("reload failed:\n%s", log)
	}
}

// hup sends SIGHUP to the authorizer and waits (10 s at most) until it
// logs the outcome: ok when it reloaded, false when it kept the running
// configuration. log is what it logged meanwhile.
func (s *stack) hup(t *testing.T) (log string, ok bool) {
	t.Helper()
	off := s.logOffset(t)
	if err := signal(authzPID(t, s), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		log, _ = s.logSince(t, off)
		switch {
		case strings.Contains(log, "configuration reloaded"):
			return log, true
		case strings.Contains(log, "reload failed"):
			return log, false
		case time.Now().After(deadline):
			t.Fatalf("no reload outcome logged within 10 s; log:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// signal sends sig to the process pid.
func signal(pid int, sig os.Signal) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Signal(sig)
}
