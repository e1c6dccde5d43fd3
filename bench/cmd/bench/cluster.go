package main

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// clusterScaling is P9: NTLM logins/s and keep-alive requests/s through
// HAProxy to two Apache + authorizer nodes, against HAProxy to node1 alone
// (scripts/cluster.sh on the bench stack's DC), in interleaved rounds. On
// this 2-core machine both nodes share the cores, so the ratio shows what
// HAProxy and a second node cost or gain here, not what two machines give.
func (r *runner) clusterScaling() {
	o := r.o
	dir := r.env["STACK_DIR"] + "-cluster"
	sh := filepath.Join(r.repo, "scripts", "cluster.sh")
	say("P9: the cluster stack in %s on the bench DC (%s)", dir, r.env["DC_IP"])
	cmd := exec.Command("bash", sh, "up", dir, r.env["DC_IP"])
	cmd.Env = append(os.Environ(), "STACK_DC_DIR="+r.env["DC_DIR"])
	out, err := cmd.CombinedOutput()
	if !o.keepStack {
		r.onExit(func() {
			say("tearing down the cluster stack in %s", dir)
			exec.Command("bash", sh, "down", dir).Run()
		})
	}
	if err != nil {
		r.res.add(row{Section: "P9", Name: "cluster", Value: "n/a", Result: "ERROR", Note: fmt.Sprintf("cluster.sh up: %v: %s", err, lastLines(out, 5))})
		return
	}
	env, err := loadStackEnv(dir)
	if err != nil {
		r.res.add(row{Section: "P9", Name: "cluster", Value: "n/a", Result: "ERROR", Note: err.Error()})
		return
	}
	addr := func(k string) string {
		u, _ := url.Parse(env[k])
		return u.Host
	}
	two, one := addr("URL"), addr("ONE_NODE_URL")
	login := func(a string) func() error {
		return func() error {
			h, err := dialHTTP(a, 5*time.Second)
			if err != nil {
				return err
			}
			defer h.Close()
			return h.ntlmLogin("/private/file.txt", `EXAMPLE\jdoe`, "Secr3t!Pass", time.Now().Add(30*time.Second))
		}
	}
	v := variant{name: "private", path: "/private/file.txt", auth: authNTLM}
	const maxHS = 200000
	runs := map[string][]runResult{}
	say("P9: %d rounds: logins (%d concurrent, %s) and keep-alive GETs (%d connections, %s), two nodes and one", o.rounds, o.hsConc, o.hsDur, o.conns, o.dur)
	runConcurrent(o.hsConc, time.Second, maxHS, login(two))
	runConcurrent(o.hsConc, time.Second, maxHS, login(one))
	for round := 0; round < o.rounds; round++ {
		order := []string{"two", "one"}
		if round%2 == 1 {
			order = []string{"one", "two"}
		}
		for _, n := range order {
			a := map[string]string{"two": two, "one": one}[n]
			x := runConcurrent(o.hsConc, o.hsDur, maxHS, login(a))
			runs["cluster/logins/"+n] = append(runs["cluster/logins/"+n], x)
			y := runKeepAlive(a, v, o.conns, o.dur, o.maxReq, nil)
			runs["cluster/requests/"+n] = append(runs["cluster/requests/"+n], y)
			say("  round %d %s node(s): %6.0f logins/s, %6.0f req/s (errors %d, %d)", round+1, n, x.RPS, y.RPS, x.Errors, y.Errors)
		}
	}
	for k, v := range runs {
		r.res.Runs[k] = v
	}
	for _, what := range []string{"logins", "requests"} {
		m2, m1 := medianOf(runs["cluster/"+what+"/two"]), medianOf(runs["cluster/"+what+"/one"])
		unit := map[string]string{"logins": "logins/s", "requests": "req/s"}[what]
		x := row{Section: "P9", Name: "NTLM " + what + " via HAProxy, two nodes", Value: fmt.Sprintf("%.0f %s", m2.RPS, unit),
			P50ms: f64(m2.P50ms), P99ms: f64(m2.P99ms), RatioOf: "one node", Result: "info", Errors: m2.Errors + m1.Errors,
			Note: fmt.Sprintf("one node %.0f %s; 2 cores shared by both nodes", m1.RPS, unit)}
		if m1.RPS > 0 {
			x.Ratio = f64(m2.RPS / m1.RPS)
		}
		if x.Errors > 0 {
			x.Result = "ERROR"
			x.Note += "; " + m2.FirstErr + m1.FirstErr
		}
		r.res.add(x)
	}
}

func lastLines(b []byte, n int) string {
	s := string(b)
	for i, k := len(s)-1, 0; i >= 0; i-- {
		if s[i] == '\n' {
			if k++; k > n {
				return s[i+1:]
			}
		}
	}
	return s
}
