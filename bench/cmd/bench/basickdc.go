package main

import (
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// basicKDC (P8): Basic passwords checked by the KDC (a domain's basic =
// "kerberos"), over FastCGI as mod_authnz_fcgi sends them (a new
// connection and client address each): per login, with the Basic cache
// off (each request an AS and a TGS exchange with the stack's KDC, the
// ticket opened with the keytab), and per repeated request, with the
// cache on (a client sending the same Basic header on every request).
// The reference is Basic relayed as NTLM by the stack's own authorizer
// (a DC round trip per request). Two more authorizers from the stack's
// binary run for it, on ports of their own with groups caches of their
// own, and stop when it ends.
func (r *runner) basicKDC() {
	o := r.o
	fail := func(err error) {
		r.res.add(row{Section: "P8", Name: "Basic by the KDC", Value: "n/a", Result: "ERROR", Note: err.Error()})
	}
	if r.env["KEYTAB"] == "" {
		fail(fmt.Errorf("the stack has no Kerberos (KEYTAB in stack.env): bring it up again"))
		return
	}
	off, err := r.kdcAuthorizer("nocache", `basic_cache_ttl = "0s"`)
	if err != nil {
		fail(err)
		return
	}
	on, err := r.kdcAuthorizer("cache", `basic_cache_ttl = "1m"`)
	if err != nil {
		fail(err)
		return
	}
	ref := r.fcgi()
	key := clientKeys(78)
	header := "Basic " + base64.StdEncoding.EncodeToString([]byte("jdoe:Secr3t!Pass"))
	basic := func(addr string) func() error {
		return func() error {
			resp, err := fcgiAuthorize(addr, ref.params(key(), header), ref.timeout)
			if err != nil {
				return err
			}
			if resp.status != 200 || resp.header.Get("Variable-Remote_user") == "" {
				return &statusErr{step: "fcgi basic", status: resp.status}
			}
			return nil
		}
	}
	ops := []struct {
		name string
		op   func() error
		runs []runResult
	}{{name: "ntlm", op: basic(ref.addr)}, {name: "kdc-login", op: basic(off)}, {name: "kdc-cached", op: basic(on)}}
	say("P8: Basic by the KDC over FastCGI, per login and per repeated request, vs Basic relayed as NTLM; %d concurrent, %d rounds x %s each", o.hsConc, o.rounds, o.hsDur)
	for i := range ops {
		runConcurrent(o.hsConc, time.Second, 100000, ops[i].op)
	}
	for round := 0; round < o.rounds; round++ {
		for j := range ops {
			i := (j + round) % len(ops)
			x := runConcurrent(o.hsConc, o.hsDur, 100000, ops[i].op)
			ops[i].runs = append(ops[i].runs, x)
			say("  round %d %-10s %6.0f req/s p50 %6.2f p99 %6.2f ms errors %d %s", round+1, ops[i].name, x.RPS, x.P50ms, x.P99ms, x.Errors, x.FirstErr)
		}
	}
	med := make([]runResult, len(ops))
	for i := range ops {
		r.res.Runs["basic/"+ops[i].name] = ops[i].runs
		med[i] = medianOf(ops[i].runs)
	}
	r.res.add(row{Section: "P8", Name: "Basic relayed as NTLM, per request", Value: fmt.Sprintf("%.0f req/s", med[0].RPS),
		P50ms: f64(med[0].P50ms), P99ms: f64(med[0].P99ms), Result: "ref", Errors: med[0].Errors, Note: med[0].FirstErr})
	for i, name := range []string{"", "Basic by the KDC, per login (AS + TGS)", "Basic by the KDC, repeated request (cache)"} {
		if i == 0 {
			continue
		}
		x := row{Section: "P8", Name: name, Value: fmt.Sprintf("%.0f req/s", med[i].RPS), P50ms: f64(med[i].P50ms), P99ms: f64(med[i].P99ms),
			RatioOf: "ntlm", Result: "info", Errors: med[i].Errors, Note: med[i].FirstErr}
		if med[0].RPS > 0 {
			x.Ratio = f64(med[i].RPS / med[0].RPS)
		}
		if med[i].Errors > 0 {
			x.Result = "ERROR"
		}
		r.res.add(x)
	}
}

// kdcAuthorizer starts the stack's authorizer binary with the stack's
// config, Basic checked by the KDC and authLine added to [auth], on a
// free port, and returns its address; it is stopped when the bench ends.
// It runs as the stack's authorizer user (the daemon refuses directories
// such as the delegation's that belong to another user), from PUB, which
// that user can reach.
func (r *runner) kdcAuthorizer(name, authLine string) (string, error) {
	b, err := os.ReadFile(r.env["CONF"])
	if err != nil {
		return "", err
	}
	dir := filepath.Join(r.site.pub, "basic-"+name)
	cache := filepath.Join(dir, "groups-cache")
	if err := os.MkdirAll(cache, 0o750); err != nil {
		return "", err
	}
	os.Chmod(cache, 0o2750)
	c := string(secondInstance(b, "basic-"+name))
	c = regexp.MustCompile(`(?m)^basic = .*\n`).ReplaceAllString(c, "")
	c = regexp.MustCompile(`(?m)^keytab_file = .*$`).ReplaceAllString(c, "$0\nbasic = \"kerberos\"")
	c = regexp.MustCompile(`(?m)^cache_dir = .*$`).ReplaceAllString(c, "cache_dir = \""+cache+"\"")
	c = strings.Replace(c, "[auth]\n", "[auth]\n"+authLine+"\n", 1)
	conf := filepath.Join(dir, "conf.toml")
	if err := os.WriteFile(conf, []byte(c), 0o600); err != nil {
		return "", err
	}
	user := authzUser(r.env)
	if out, err := exec.Command("chown", "-R", user+":", dir).CombinedOutput(); err != nil {
		return "", fmt.Errorf("chown %s: %v: %s", dir, err, out)
	}
	p, err := freePort()
	if err != nil {
		return "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(p)
	logPath := filepath.Join(dir, "authorizer.log")
	authz, err := startProc("Basic-by-KDC authorizer ("+name+")", logPath,
		asUser(user, filepath.Join(r.site.binDir, "ntlm-fcgi-authorizer"), "-config", conf, "-listen", addr)...)
	if err != nil {
		return "", err
	}
	r.onExit(authz.stop)
	if err := waitPort(addr, 20*time.Second, authz.alive); err != nil {
		return "", fmt.Errorf("the Basic-by-KDC authorizer (%s) did not start: %v; see %s", name, err, logPath)
	}
	return addr, nil
}
