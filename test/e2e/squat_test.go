//go:build linux

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Issue 29, 1: while the authorizer is not running (a crash, a restart,
// an upgrade), a local user binds its address (Go's Listen sets
// SO_REUSEADDR) with an authorizer of its own that answers 200
// Administrator to everything; Apache sends it every request, the caller
// secret included, and believes it. On the old stack (an unprivileged port
// the daemon bound itself) nobody got the address and Apache answered 200
// "Administrator" without credentials.
//
// Now the address is a port below 1024 that root holds for the daemon, as
// systemd's ntlm-fcgi-authorizer.socket does: nobody cannot bind it, and a
// request that arrives while the daemon is down waits in the held socket's
// backlog and is answered by the next daemon (401 here, no credentials),
// never by anyone else.
func TestAuthorizerAddressSquat(t *testing.T) {
	s := loadStack(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root, to act as nobody")
	}
	addr := s.env["AUTHZ_ADDR"]
	fake := buildSquatter(t)

	pid := authzPID(t, s)
	t.Cleanup(func() { s.ctl(t, "restart-authz") })
	if err := signal(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); procAlive(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the authorizer (pid %d) still runs 10 s after SIGTERM", pid)
		}
	}

	// A request while the daemon is down: it must not be a 200, whoever
	// answers it.
	type answer struct {
		code int
		body string
		err  error
	}
	pending := make(chan answer, 1)
	go func() {
		cl := &http.Client{Timeout: 60 * time.Second}
		resp, err := cl.Get(s.url("/private/whoami"))
		if err != nil {
			pending <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		pending <- answer{code: resp.StatusCode, body: string(b)}
	}()
	time.Sleep(300 * time.Millisecond)

	// nobody tries to take the address.
	cmd := exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--",
		fake, "-listen", addr, "-user", "Administrator")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		t.Logf("nobody's authorizer on %s: %v: %s", addr, err, strings.TrimSpace(out.String()))
		if err == nil {
			t.Errorf("nobody's authorizer exited 0: %s", out.String())
		}
	case <-time.After(2 * time.Second):
		t.Errorf("nobody bound %s, the authorizer's address, while the daemon was down", addr)
		defer func() { cmd.Process.Kill(); <-exited }()
		code, body := curlStatus(t, s.url("/private/whoami"))
		if code == 200 {
			t.Errorf("Apache answered 200 %q from nobody's authorizer, without credentials", body)
		}
	}

	// The request made while the daemon was down is answered by the next
	// daemon, as a refusal.
	select {
	case a := <-pending:
		t.Fatalf("answered while the daemon was down: %d %q %v", a.code, a.body, a.err)
	default:
	}
	s.ctl(t, "restart-authz")
	select {
	case a := <-pending:
		if a.err != nil || a.code != http.StatusUnauthorized {
			t.Errorf("the request made while the daemon was down: %d %q %v; want 401 from the restarted daemon", a.code, a.body, a.err)
		}
	case <-time.After(30 * time.Second):
		t.Error("the request made while the daemon was down got no answer 30 s after the restart")
	}
}

// buildSquatter builds the benchmark's always-200 authorizer where nobody
// can run it.
func buildSquatter(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "squatter-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := filepath.Join(dir, "trivialauthz")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./bench/trivialauthz")
	build.Dir = repoFile(t, ".")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./bench/trivialauthz: %v\n%s", err, b)
	}
	return bin
}

// curlStatus is GET url's status and body, with no credentials, in at most
// 5 s (0 when none came).
func curlStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		return 0, fmt.Sprint(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
