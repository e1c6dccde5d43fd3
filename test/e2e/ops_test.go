//go:build linux

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// authz runs the stack's ntlm-fcgi-authorizer binary with args and returns
// its stdout, stderr and exit code.
func (s *stack) authz(t *testing.T, stdin string, args ...string) (stdout, stderr string, rc int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// As the stack runs the daemon: the cache it writes must be that
	// user's, or ntlm-group-check ignores it.
	user := s.env["AUTHZ_USER"]
	if user == "" {
		user = "www-data"
	}
	cmd := exec.CommandContext(ctx, "setpriv", append([]string{"--reuid=" + user, "--regid=" + user, "--init-groups", "--",
		filepath.Join(s.env["BIN"], "ntlm-fcgi-authorizer")}, args...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		rc = ee.ExitCode()
	default:
		t.Fatalf("ntlm-fcgi-authorizer %v: %v", args, err)
	}
	return out.String(), errb.String(), rc
}

// -check names every file the shipped example names and that is missing;
// on the stack's complete config it is silent; -probe reaches the DC and
// LDAP.
func TestCheck(t *testing.T) {
	s := loadStack(t)
	example, err := os.ReadFile(repoFile(t, "conf.toml.example"))
	if err != nil {
		t.Fatal(err)
	}
	// Run as the daemon's user, who cannot read the checkout when it is
	// under a private directory: a copy the daemon reaches.
	out, errOut, rc := s.authz(t, "", "-config", s.daemonFile(t, "conf.toml.example", example), "-check")
	if rc != 2 || out != "" {
		t.Errorf("-check conf.toml.example: exit %d, stdout %q; want 2 and nothing", rc, out)
	}
	for _, want := range []string{
		"conf.toml.example:", "ldap bind password: open /etc/goauthenntlm/ldap.pass",
		"ldap CA: open /etc/goauthenntlm/ca.pem", "groups.cache_dir:",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("-check conf.toml.example: stderr lacks %q:\n%s", want, errOut)
		}
	}

	out, errOut, rc = s.authz(t, "", "-config", s.env["CONF"], "-check")
	if rc != 0 || out != "" || errOut != "" {
		t.Errorf("-check on the stack's config: exit %d, stdout %q, stderr %q; want 0 and silence", rc, out, errOut)
	}

	out, errOut, rc = s.authz(t, "", "-config", s.env["CONF"], "-check", "-probe")
	if rc != 0 {
		t.Errorf("-check -probe: exit %d\n%s%s", rc, out, errOut)
	}
	for _, want := range []string{
		"dc   EXAMPLE " + s.env["DC_IP"] + " ok", "SMB2 negotiate, dialect 3.1.1",
		"ldap EXAMPLE " + s.env["LDAP_URL"] + " ok", "TLS and bind as " + s.env["LDAP_BIND"],
	} {
		if !strings.Contains(out, want) {
			t.Errorf("-check -probe: stdout lacks %q:\n%s", want, out)
		}
	}
}

// -test-login performs a real login through the configured relay: jdoe's
// right password gives exit 0, her REMOTE_USER and groups; a wrong one
// exit 1 with the DC's STATUS_LOGON_FAILURE.
func TestTestLogin(t *testing.T) {
	s := loadStack(t)
	out, errOut, rc := s.authz(t, users["jdoe"]+"\n", "-config", s.env["CONF"], "-test-login", `EXAMPLE\jdoe`)
	if rc != 0 {
		t.Errorf("jdoe: exit %d, want 0\n%s%s", rc, out, errOut)
	}
	for _, want := range []string{"dc:          " + s.env["DC_IP"] + ":445", "status:      STATUS_SUCCESS", "REMOTE_USER: jdoe\n", "WebUsers", "PowerUsers"} {
		if !strings.Contains(out, want) {
			t.Errorf("jdoe: output lacks %q:\n%s", want, out)
		}
	}

	out, errOut, rc = s.authz(t, "not her password\n", "-config", s.env["CONF"], "-test-login", `EXAMPLE\jdoe`)
	if rc != 1 || !strings.Contains(out, "status:      STATUS_LOGON_FAILURE") || strings.Contains(out, "REMOTE_USER") {
		t.Errorf("wrong password: exit %d, want 1 with STATUS_LOGON_FAILURE and no REMOTE_USER\n%s%s", rc, out, errOut)
	}

	// Named as a UPN, she is the same account, named the same way.
	out, _, rc = s.authz(t, users["jdoe"]+"\n", "-config", s.env["CONF"], "-test-login", "jdoe@example.test")
	if rc != 0 || !strings.Contains(out, "REMOTE_USER: jdoe\n") {
		t.Errorf("jdoe@example.test: exit %d, want 0 and REMOTE_USER jdoe\n%s", rc, out)
	}
	if _, errOut, rc = s.authz(t, "", "-config", s.env["CONF"], "-test-login", `EXAMPLE\jdoe`); rc != 2 || !strings.Contains(errOut, "password") {
		t.Errorf("no password: exit %d, want 2 and a reason\n%s", rc, errOut)
	}
}

// metrics fetches path from the authorizer's metrics listener.
func (s *stack) metrics(t *testing.T, path string) (int, string) {
	t.Helper()
	if s.env["METRICS_ADDR"] == "" {
		t.Skip("the stack has no METRICS_ADDR (metrics_listen off)")
	}
	resp, err := http.Get("http://" + s.env["METRICS_ADDR"] + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricValue sums the samples of name whose labels include all of want
// (`key="value"` strings).
func metricValue(text, name string, want ...string) float64 {
	var sum float64
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		labels, value, _ := strings.Cut(rest, " ")
		if strings.HasPrefix(rest, "{") {
			labels, value, _ = strings.Cut(rest, "} ")
		}
		match := true
		for _, w := range want {
			match = match && strings.Contains(labels, w)
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); match && err == nil {
			sum += v
		}
	}
	return sum
}

// waitHealth polls /healthz until it answers code.
func (s *stack) waitHealth(t *testing.T, code int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, body := s.metrics(t, "/healthz")
		if got == code {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz: %d after %s, want %d:\n%s", got, within, code, body)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// /metrics counts a successful and a refused login and shows the DC going
// down and up; /healthz flips with the DC.
func TestMetricsAndHealth(t *testing.T) {
	s := loadStack(t)
	if testing.Short() {
		t.Skip("stops and starts the DC: not in -short")
	}
	s.waitHealth(t, 200, 30*time.Second)
	_, before := s.metrics(t, "/metrics")

	if code, body := get(t, ntlmClient(nil), s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 200 || body != "jdoe" {
		t.Fatalf("jdoe: %d %q", code, body)
	}
	if code, _ := get(t, ntlmClient(nil), s.url("/private/whoami"), `EXAMPLE\jdoe`, "wrong"); code != 401 {
		t.Fatalf("wrong password: %d, want 401", code)
	}
	_, after := s.metrics(t, "/metrics")
	dcLabel := `dc="` + s.env["DC_IP"] + `:445"`
	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"goauthenntlm_logins_total", []string{`result="ok"`, `status="STATUS_SUCCESS"`}},
		{"goauthenntlm_logins_total", []string{`result="refused"`, `status="STATUS_LOGON_FAILURE"`}},
		{"goauthenntlm_login_duration_seconds_count", []string{`result="ok"`}},
		{"goauthenntlm_responses_total", []string{`code="200"`}},
		{"goauthenntlm_responses_total", []string{`code="401"`}},
	} {
		if d := metricValue(after, c.name, c.labels...) - metricValue(before, c.name, c.labels...); d < 1 {
			t.Errorf("%s%v went up by %v, want at least 1", c.name, c.labels, d)
		}
	}
	if v := metricValue(after, "goauthenntlm_dc_up", dcLabel); v != 1 {
		t.Errorf("goauthenntlm_dc_up{%s} = %v, want 1\n%s", dcLabel, v, after)
	}

	s.ctl(t, "dc-stop")
	restarted := false
	defer func() {
		if !restarted {
			s.ctl(t, "dc-start")
		}
	}()
	s.waitHealth(t, 503, 30*time.Second)
	if code, _ := get(t, ntlmClient(nil), s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 503 {
		t.Errorf("DC down: %d, want 503", code)
	}
	_, down := s.metrics(t, "/metrics")
	if v := metricValue(down, "goauthenntlm_dc_up", dcLabel); v != 0 {
		t.Errorf("DC stopped: goauthenntlm_dc_up = %v, want 0", v)
	}
	if d := metricValue(down, "goauthenntlm_logins_total", `result="dc_failure"`) - metricValue(after, "goauthenntlm_logins_total", `result="dc_failure"`); d < 1 {
		t.Errorf("DC stopped: logins_total{result=\"dc_failure\"} went up by %v", d)
	}
	if d := metricValue(down, "goauthenntlm_responses_total", `code="503"`) - metricValue(after, "goauthenntlm_responses_total", `code="503"`); d < 1 {
		t.Errorf("DC stopped: responses_total{code=\"503\"} went up by %v", d)
	}

	s.ctl(t, "dc-start")
	restarted = true
	// Up again once a probe answers and the relay's down mark (set by the
	// failed login above, for down_backoff) has run out.
	s.waitHealth(t, 200, 90*time.Second)
	_, up := s.metrics(t, "/metrics")
	if v := metricValue(up, "goauthenntlm_dc_up", dcLabel); v != 1 {
		t.Errorf("DC back: goauthenntlm_dc_up = %v, want 1", v)
	}
	waitLogin(t, s)
}

// The daemon tells systemd (Type=notify) READY=1 once its port is open,
// RELOADING=1 then READY=1 around a SIGHUP reload, and STOPPING=1 on
// SIGTERM. systemd is played by a datagram socket in NOTIFY_SOCKET.
func TestSystemdNotify(t *testing.T) {
	s := loadStack(t)
	dir := t.TempDir()
	notifyPath := filepath.Join(dir, "notify")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	orig, err := os.ReadFile(s.env["CONF"])
	if err != nil {
		t.Fatal(err)
	}
	conf := regexp.MustCompile(`(?m)^listen = .*$`).ReplaceAllString(string(orig), `listen = "`+addr+`"`)
	conf = regexp.MustCompile(`(?m)^metrics_listen = .*$`).ReplaceAllString(conf, `metrics_listen = ""`)
	// A cache of its own: the stack's daemon answers on the socket there.
	conf = regexp.MustCompile(`(?m)^cache_dir = .*$`).ReplaceAllString(conf, `cache_dir = "`+filepath.Join(dir, "cache")+`"`)
	// No delegation: its credential caches are the stack daemon's, which
	// a second daemon would remove at its start.
	conf = regexp.MustCompile(`(?m)^(ccache_dir|delegate_to|service_account) = .*$`).ReplaceAllString(conf, "")
	// Its own replay file: the stack's daemon holds the stack's.
	conf = regexp.MustCompile(`(?m)^file = .*$`).ReplaceAllString(conf, `file = "`+filepath.Join(dir, "replay")+`"`)
	confPath := filepath.Join(dir, "conf.toml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(filepath.Join(s.env["BIN"], "ntlm-fcgi-authorizer"), "-config", confPath)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notifyPath)
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	next := func(want string) {
		t.Helper()
		sock.SetReadDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, 512)
		n, err := sock.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v\nlog:\n%s", want, err, logs.String())
		}
		if got := string(buf[:n]); !strings.HasPrefix(got, want) {
			t.Fatalf("notification %q, want %s", got, want)
		}
	}

	next("READY=1")
	if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err != nil {
		t.Errorf("READY=1 sent, but %s refuses connections: %v", addr, err)
	} else {
		c.Close()
	}
	cmd.Process.Signal(syscall.SIGHUP)
	next("RELOADING=1")
	next("READY=1")
	cmd.Process.Signal(syscall.SIGTERM)
	next("STOPPING=1")
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(40 * time.Second):
		t.Error("still running 40 s after SIGTERM")
	}
}

// samba runs samba-tool against the stack's DC as its administrator.
func (s *stack) sambaTool(t *testing.T, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "samba-tool", append(args, "-U", "Administrator", "--password=Passw0rd!Adm")...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("samba-tool %v: %v\n%s", args, err, out)
	}
	return nil
}

// A domain configured by dns_name alone finds its DCs in the SRV records
// of the DC's own DNS (Samba's internal DNS), logs users in through them,
// and follows DNS when a DC disappears from it. The second DC is a name
// whose address nothing listens on, so it is down but known.
func TestDCDiscoveryByDNS(t *testing.T) {
	s := loadStack(t)
	if testing.Short() {
		t.Skip("changes the DC's DNS: not in -short")
	}
	ip := s.env["DC_IP"]
	dns := net.JoinHostPort(ip, "53")
	if c, err := net.DialTimeout("tcp", dns, 2*time.Second); err != nil {
		t.Skipf("the stack's DC serves no DNS on %s (provisioned before scripts/dc.sh used Samba's internal DNS; make e2e-down, then up): %v", dns, err)
	} else {
		c.Close()
	}
	// An address in the stack's own /24 that nothing binds: a DC that is
	// in DNS but down.
	ghost := ip[:strings.LastIndexByte(ip, '.')] + ".250"
	srv := "dc9.example.test 389 0 100"
	if err := s.sambaTool(t, "dns", "add", ip, "example.test", "dc9", "A", ghost); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.sambaTool(t, "dns", "delete", ip, "example.test", "dc9", "A", ghost) })
	if err := s.sambaTool(t, "dns", "add", ip, "_msdcs.example.test", "_ldap._tcp.dc", "SRV", srv); err != nil {
		t.Fatal(err)
	}
	srvAdded := true
	t.Cleanup(func() {
		if srvAdded {
			s.sambaTool(t, "dns", "delete", ip, "_msdcs.example.test", "_ldap._tcp.dc", "SRV", srv)
		}
	})

	s.reconfigure(t, func(c string) string {
		c = regexp.MustCompile(`(?m)^(dcs|ldap_urls) = .*\n`).ReplaceAllString(c, "")
		return c + "\n[dc]\ndns_server = \"" + dns + "\"\ndns_refresh = \"1s\"\ndial_timeout = \"1s\"\n"
	})
	waitBody := func(want string) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, body := s.metrics(t, "/healthz")
			if strings.Contains(body, want) {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("/healthz never said %q; last %d:\n%s", want, code, body)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	waitBody("EXAMPLE: 1 of 2 DCs up: " + ip + ":445")
	if code, body := get(t, ntlmClient(nil), s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 200 || body != "jdoe" {
		t.Errorf("jdoe through the DCs DNS named: %d %q", code, body)
	}
	// Groups through the LDAP URLs DNS named.
	if code, _ := get(t, ntlmClient(nil), s.url("/webusers/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 200 {
		t.Errorf("jdoe's group route through LDAP found in DNS: %d", code)
	}
	_, m := s.metrics(t, "/metrics")
	if v := metricValue(m, "goauthenntlm_dc_up", `dc="`+ghost+`:445"`); v != 0 || !strings.Contains(m, `dc="`+ghost+`:445"`) {
		t.Errorf("the DC nothing answers for: listed %v, dc_up %v", strings.Contains(m, ghost), v)
	}

	if err := s.sambaTool(t, "dns", "delete", ip, "_msdcs.example.test", "_ldap._tcp.dc", "SRV", srv); err != nil {
		t.Fatal(err)
	}
	srvAdded = false
	waitBody("EXAMPLE: 1 of 1 DCs up: " + ip + ":445")
	if log, _ := s.logSince(t, 0); !strings.Contains(log, "DCs changed in DNS") {
		t.Error("the authorizer did not log the change of DCs")
	}
	if code, body := get(t, ntlmClient(nil), s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 200 || body != "jdoe" {
		t.Errorf("jdoe after the DC left DNS: %d %q", code, body)
	}
}
