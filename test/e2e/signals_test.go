//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The authorizer's signals: SIGTERM finishes the requests in flight, then
// exits; SIGHUP with a broken config logs why and keeps the running one.

func authzPID(t *testing.T, s *stack) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "authorizer.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// procAlive reports whether pid runs (a zombie has exited).
func procAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return false
	}
	m := regexp.MustCompile(`(?m)^State:\s+(\S)`).FindSubmatch(b)
	return m != nil && string(m[1]) != "Z" && string(m[1]) != "X"
}

// FastCGI records, as Apache's mod_authnz_fcgi writes them.
func fcgiRecord(typ byte, id uint16, content []byte) []byte {
	pad := -len(content) & 7
	b := []byte{1, typ, byte(id >> 8), byte(id), byte(len(content) >> 8), byte(len(content)), byte(pad), 0}
	b = append(b, content...)
	return append(b, make([]byte, pad)...)
}

func fcgiPairs(kv ...string) []byte {
	var b []byte
	n := func(l int) {
		if l < 128 {
			b = append(b, byte(l))
		} else {
			b = binary.BigEndian.AppendUint32(b, uint32(l)|1<<31)
		}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		n(len(kv[i]))
		n(len(kv[i+1]))
		b = append(b, kv[i]...)
		b = append(b, kv[i+1]...)
	}
	return b
}

// fcgiReadAnswer reads the STDOUT of request id until its END_REQUEST and
// returns it.
func fcgiReadAnswer(conn net.Conn, id uint16) (string, error) {
	br := bufio.NewReader(conn)
	var out bytes.Buffer
	for {
		var h [8]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return out.String(), err
		}
		n := int(binary.BigEndian.Uint16(h[4:6])) + int(h[6])
		body := make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			return out.String(), err
		}
		if binary.BigEndian.Uint16(h[2:4]) != id {
			continue
		}
		switch h[1] {
		case 6: // STDOUT
			out.Write(body[:binary.BigEndian.Uint16(h[4:6])])
		case 3: // END_REQUEST
			return out.String(), nil
		}
	}
}

// callerSecret is the AUTHORIZER_SECRET the stack's config asks for, if any.
func callerSecret(t *testing.T, s *stack) []string {
	t.Helper()
	b, err := os.ReadFile(s.env["CONF"])
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^caller_secret_file\s*=\s*"([^"]+)"`).FindSubmatch(b)
	if m == nil {
		return nil
	}
	sec, err := os.ReadFile(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	return []string{"HTTP_GOAUTHENNTLM_SECRET", strings.TrimSpace(string(sec))}
}

// TestSIGTERMFinishesInFlight talks FastCGI to the authorizer as Apache
// does. A request whose params are still arriving when SIGTERM comes is in
// flight: the authorizer stops accepting, waits for it (longer than the 1 s
// it gives connections that have sent nothing), answers it, and only then
// exits.
func TestSIGTERMFinishesInFlight(t *testing.T) {
	s := loadStack(t)
	addr := s.env["AUTHZ_ADDR"]
	if addr == "" {
		t.Fatal("stack env lacks AUTHZ_ADDR")
	}
	pid := authzPID(t, s)
	if !procAlive(pid) {
		t.Fatalf("authorizer (pid %d) not running", pid)
	}
	t.Cleanup(func() { s.ctl(t, "restart-authz") })
	off := s.logOffset(t)

	// A connection that never sends anything: it must not hold up the exit.
	silent, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	const id = 1
	first := fcgiPairs(append([]string{
		"FCGI_APACHE_ROLE", "AUTHENTICATOR",
		"REMOTE_ADDR", "127.0.0.1", "REMOTE_PORT", "40001",
	}, callerSecret(t, s)...)...)
	rest := fcgiPairs(
		"SERVER_ADDR", "127.0.0.1", "SERVER_PORT", s.env["APACHE_PORT"],
		"REQUEST_METHOD", "GET", "REQUEST_URI", "/private/whoami",
	)
	begin := fcgiRecord(1, id, []byte{0, 2, 0, 0, 0, 0, 0, 0}) // role authorizer, keep_conn 0
	if _, err := conn.Write(append(begin, fcgiRecord(4, id, first)...)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let it read what was sent

	if err := signal(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	for {
		log, _ := s.logSince(t, off)
		if strings.Contains(log, "shutting down") {
			break
		}
		if time.Since(sent) > 5*time.Second {
			t.Fatalf("no shutdown logged within 5 s of SIGTERM:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// No longer accepting: a request sent now gets no answer from this
	// process. (The address itself stays held by root, as systemd's
	// socket unit holds it: the request waits in its backlog for the next
	// authorizer, which TestAuthorizerAddressSquat checks.)
	late, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("the authorizer's address refuses connections during shutdown (no longer held?): %v", err)
	}
	defer late.Close()
	lateReq := append(append(fcgiRecord(1, id, []byte{0, 2, 0, 0, 0, 0, 0, 0}), fcgiRecord(4, id, append(first, rest...))...), fcgiRecord(4, id, nil)...)
	if _, err := late.Write(lateReq); err != nil {
		t.Fatal(err)
	}
	late.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := late.Read(make([]byte, 1)); n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a request sent after SIGTERM was answered or dropped by the exiting authorizer (%d bytes, %v)", n, err)
	}
	// The silent connection is closed after its grace.
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the connection that sent nothing was not closed during shutdown: %v", err)
	}
	// Past that grace, the request in flight still holds the exit.
	time.Sleep(time.Until(sent.Add(1500 * time.Millisecond)))
	if !procAlive(pid) {
		t.Fatalf("the authorizer exited %v after SIGTERM with a request in flight", time.Since(sent).Round(time.Millisecond))
	}

	if _, err := conn.Write(append(fcgiRecord(4, id, rest), fcgiRecord(4, id, nil)...)); err != nil {
		t.Fatalf("completing the request: %v", err)
	}
	answer, err := fcgiReadAnswer(conn, id)
	if err != nil {
		t.Fatalf("answer to the request in flight: %v (got %q)", err, answer)
	}
	if !strings.HasPrefix(answer, "Status: 401") || !strings.Contains(answer, "WWW-Authenticate: NTLM") {
		t.Errorf("answer to the request in flight: %q, want 401 with a challenge", answer)
	}

	deadline := time.Now().Add(5 * time.Second)
	for procAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the authorizer (pid %d) still runs 5 s after its last request was answered", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := s.logSince(t, off)
	if regexp.MustCompile(`level=(WARN|ERROR)`).MatchString(log) {
		t.Errorf("shutdown logged warnings or errors:\n%s", log)
	}
	t.Logf("answered and exited %v after SIGTERM", time.Since(sent).Round(10*time.Millisecond))
}

// TestSIGHUPBadConfigKeepsRunning: a reload of a broken config is refused
// with the file and line, and the running configuration keeps serving.
func TestSIGHUPBadConfigKeepsRunning(t *testing.T) {
	s := loadStack(t)
	path := s.env["CONF"]
	orig := s.originalConf(t)
	pid := authzPID(t, s)
	t.Cleanup(func() {
		if err := os.WriteFile(path, orig, 0o644); err != nil {
			t.Error(err)
		}
		s.reload(t)
	})

	cl := ntlmClient(nil)
	if code, body := get(t, cl, s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 200 || body != "jdoe" {
		t.Fatalf("login before: %d %q", code, body)
	}
	broken := strings.Replace(string(orig), "[auth]\n", "[auth]\nno_such_key = 1\n", 1)
	line := strings.Count(broken[:strings.Index(broken, "no_such_key")], "\n") + 1
	if err := os.WriteFile(path, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	log, reloaded := s.hup(t)
	if reloaded {
		t.Fatalf("the broken config was accepted:\n%s", log)
	}
	if want := filepath.Base(path) + ":" + strconv.Itoa(line) + ": unknown key"; !strings.Contains(log, want) {
		t.Errorf("the failure does not name %q:\n%s", want, log)
	}
	if !procAlive(pid) || authzPID(t, s) != pid {
		t.Fatalf("the authorizer did not survive the bad reload")
	}
	// The kept connection's login and new logins still work.
	if code, body := get(t, cl, s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 200 || body != "jdoe" {
		t.Errorf("the logged-in connection after the failed reload: %d %q", code, body)
	}
	if code, body := get(t, ntlmClient(nil), s.url("/private/whoami"), `EXAMPLE\alice`, users["alice"]); code != 200 || body != "alice" {
		t.Errorf("a new login after the failed reload: %d %q", code, body)
	}
}
