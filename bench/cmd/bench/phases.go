package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"

	"github.com/goauthenntlm/goauthenntlm/pkg/authorizer"
	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/dc"
)

// probe tells whether a location exists on the bench Apache: without
// credentials it must answer 401 (an auth location), 200 for /public/;
// 404 means the location is missing.
func (r *runner) probe(v variant) (bool, string) {
	h, err := dialHTTP(r.site.addr, 5*time.Second)
	if err != nil {
		return false, err.Error()
	}
	defer h.Close()
	resp, err := h.get(v.path, "", time.Now().Add(10*time.Second))
	if err != nil {
		return false, err.Error()
	}
	switch {
	case resp.status == 404:
		return false, "location missing"
	case v.auth == authNone && resp.status == 200, v.auth != authNone && resp.status == 401:
		return true, ""
	case resp.status == 403:
		return false, "403 without credentials: the location never asks for a login (a Require expr that does not name REMOTE_USER is decided before authn)"
	}
	return false, fmt.Sprintf("status %d without credentials", resp.status)
}

// keepAliveMatrix is P1 and the Apache part of P3: every variant in every
// round, in a rotating order, side by side.
func (r *runner) keepAliveMatrix() {
	o := r.o
	vs := []variant{
		{name: "public", path: "/public/file.txt", auth: authNone},
		{name: "trivial", path: "/trivial/file.txt", auth: authNone},
		{name: "private", path: "/private/file.txt", auth: authNTLM},
		{name: "basic-md5", path: "/basic-md5/file.txt", auth: authBasic, basic: basicHeader()},
		{name: "basic-bcrypt", path: "/basic-bcrypt/file.txt", auth: authBasic, basic: basicHeader()},
	}
	if r.section("p3") {
		vs = append(vs,
			variant{name: "webusers", path: "/webusers/file.txt", auth: authNTLM},
			variant{name: "bintrue", path: "/bintrue/file.txt", auth: authNTLM},
			variant{name: "expr", path: "/expr/webusers/file.txt", auth: authNTLM},
			variant{name: "authz", path: "/authz/webusers/file.txt", auth: authNTLM},
		)
	}
	missing := map[string]string{}
	var live []variant
	for _, v := range vs {
		if r.o.variants != "" && !strings.Contains(","+r.o.variants+",", ","+v.name+",") {
			missing[v.name] = "not in -variants"
			continue
		}
		if ok, why := r.probe(v); !ok {
			missing[v.name] = why
			say("%s (%s): n/a: %s", v.name, v.path, why)
			continue
		}
		if (v.name == "expr" && !r.site.haveExpr) || (v.name == "authz" && !r.site.haveAuthz) {
			v.note = "bench-defined location"
		}
		live = append(live, v)
	}
	say("P1/P3: %d variants x %d rounds x %s, %d connections; warm-up %s each; CPU per request in µs", len(live), o.rounds, o.dur, o.conns, o.warm)
	runs := r.keepAliveRounds(live, r.cpuMeter())
	med := map[string]runResult{}
	notes := map[string]string{}
	for _, v := range live {
		med[v.name] = medianOf(runs[v.name])
		r.res.Runs["keepalive/"+v.name] = runs[v.name]
		notes[v.name] = v.note
	}
	add := func(sect, name, ref, target string, min float64) {
		m, ok := med[name]
		x := row{Section: sect, Name: name + " " + pathOf(vs, name), RatioOf: ref, Target: target, Note: notes[name]}
		if !ok {
			x.Value, x.Result, x.Note = "n/a", "n/a", "n/a ("+missing[name]+")"
			r.res.add(x)
			return
		}
		x.Value = fmt.Sprintf("%.0f req/s", m.RPS)
		x.P50ms, x.P99ms, x.Errors = f64(m.P50ms), f64(m.P99ms), m.Errors
		if m.FirstErr != "" {
			x.Note = strings.TrimSpace(x.Note + " first error: " + m.FirstErr)
		}
		if len(m.CPUus) > 0 {
			x.Note = strings.TrimSpace("cpu µs/req: " + formatCPU(m.CPUus) + "; " + x.Note)
		}
		switch rm, ok := med[ref]; {
		case ref == "":
			x.Result = "ref"
		case !ok || rm.RPS == 0:
			x.Result = "n/a"
		default:
			x.Ratio = f64(m.RPS / rm.RPS)
			if target == "" {
				x.Result = "info"
			} else {
				x.Result = verdict(*x.Ratio >= min)
			}
		}
		if m.Errors > 0 && x.Result == "PASS" {
			x.Result = "ERROR"
		}
		r.res.add(x)
	}
	if r.section("p1") {
		add("P1", "public", "", "", 0)
		add("P1", "trivial", "public", "", 0)
		add("P1", "private", "trivial", ">= 0.90", 0.9)
		if p, ok := med["private"]; ok {
			if t, ok := med["trivial"]; ok {
				d := p.P99ms - t.P99ms
				r.res.add(row{Section: "P1", Name: "p99 private - trivial", Value: fmt.Sprintf("%+.2f ms", d),
					Target: "<= 0.50 ms", Result: verdict(d <= 0.5), Note: fmt.Sprintf("p50 %+.2f ms", p.P50ms-t.P50ms)})
			}
		}
		add("P1", "basic-md5", "public", "", 0)
		add("P1", "basic-bcrypt", "public", "", 0)
		if p, ok := med["private"]; ok {
			if b, ok := med["basic-md5"]; ok && b.RPS > 0 {
				r.res.add(row{Section: "P1", Name: "private vs basic-md5", Value: "-", Ratio: f64(p.RPS / b.RPS), RatioOf: "basic-md5", Result: "info"})
			}
		}
	}
	if r.section("p3") {
		add("P3", "bintrue", "private", "", 0)
		add("P3", "webusers", "bintrue", ">= 0.77 (cost <= 1.3x)", 1/1.3)
		if m, ok := med["webusers"]; ok {
			if p, ok := med["private"]; ok && p.RPS > 0 {
				r.res.add(row{Section: "P3", Name: "webusers vs private", Value: "-", Ratio: f64(m.RPS / p.RPS), RatioOf: "private", Result: "info"})
			}
		}
		if n := strings.Count(readFileString(filepath.Join(r.site.dir, "error.log")), "No child processes"); n > 0 {
			r.res.add(row{Section: "P3", Name: "mod_authnz_external failures", Value: fmt.Sprint(n), Result: "info",
				Note: "error.log: (10)No child processes: Could not get status from child process -> 401 (Apache module, also with /bin/true)"})
		}
		add("P3", "expr", "private", ">= 0.90", 0.9)
		add("P3", "authz", "private", ">= 0.45", 0.45)
	}
}

func pathOf(vs []variant, name string) string {
	for _, v := range vs {
		if v.name == name {
			return strings.TrimSuffix(v.path, "file.txt")
		}
	}
	return ""
}

// spawnCost (P3): ntlm-group-check with a warm cache vs /bin/true and an
// empty Go program, each started spawnN times with the same stdin,
// interleaved (the order rotates, so none always runs first).
func (r *runner) spawnCost() {
	helper := filepath.Join(r.env["BIN"], "ntlm-group-check")
	empty := filepath.Join(r.site.binDir, "emptygo")
	for _, p := range []string{helper, empty} {
		if _, err := os.Stat(p); err != nil {
			r.res.add(row{Section: "P3", Name: "spawn ntlm-group-check", Value: "n/a", Result: "n/a", Note: err.Error()})
			return
		}
	}
	n := r.o.spawnN
	say("P3: spawning ntlm-group-check, /bin/true and an empty Go program %d times each, interleaved", n)
	stdin := "jdoe\nWebUsers\n"
	one := func(args ...string) (time.Duration, error) {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		t0 := time.Now()
		err := cmd.Run()
		return time.Since(t0), err
	}
	cmds := [][]string{{helper, "-cache", r.env["GROUPS_CACHE"]}, {"/bin/true"}, {empty}}
	times := make([][]time.Duration, len(cmds))
	errs := 0
	first := ""
	deadline := time.Now().Add(2 * time.Minute)
	for i := 0; i < n && time.Now().Before(deadline); i++ {
		for k := range cmds {
			c := (i + k) % len(cmds)
			d, err := one(cmds[c]...)
			if err != nil {
				errs++
				if first == "" {
					first = fmt.Sprintf("%s: %v", cmds[c][0], err)
				}
				continue
			}
			times[c] = append(times[c], d)
		}
	}
	sh, st, se := summarize(times[0], 0, 0, ""), summarize(times[1], 0, 0, ""), summarize(times[2], 0, 0, "")
	r.res.Extra["spawn"] = map[string]runResult{"ntlm-group-check": sh, "bin-true": st, "empty-go": se}
	r.res.add(row{Section: "P3", Name: "spawn /bin/true", Value: fmt.Sprintf("%.3f ms mean", st.MeanMs),
		P50ms: f64(st.P50ms), P99ms: f64(st.P99ms), Result: "ref"})
	r.res.add(row{Section: "P3", Name: "spawn empty Go program", Value: fmt.Sprintf("%.3f ms mean", se.MeanMs),
		P50ms: f64(se.P50ms), P99ms: f64(se.P99ms), Result: "ref"})
	for _, ref := range []struct {
		name   string
		s      runResult
		target float64
	}{{"/bin/true", st, 2.5}, {"empty Go program", se, 1.3}} {
		x := row{Section: "P3", Name: "spawn ntlm-group-check (warm) vs " + ref.name, Value: fmt.Sprintf("%.3f ms mean", sh.MeanMs),
			P50ms: f64(sh.P50ms), P99ms: f64(sh.P99ms), RatioOf: ref.name, Target: fmt.Sprintf("<= %.2f", ref.target), Errors: errs, Note: first}
		if ref.s.MeanMs > 0 && len(times[0]) > 0 {
			x.Ratio = f64(sh.MeanMs / ref.s.MeanMs)
			x.Result = verdict(*x.Ratio <= ref.target && errs == 0)
			x.Note = strings.TrimSpace(fmt.Sprintf("cost ratio (mean wall time per run); p50 ratio %.2f %s", sh.P50ms/ref.s.P50ms, first))
		} else {
			x.Result = "ERROR"
		}
		r.res.add(x)
	}
}

// handshakes (P2): full NTLM logins through Apache and the authorizer vs
// direct SMB2 logins to the same DC with pkg/dc's Pool, same concurrency.
func (r *runner) handshakes() {
	o := r.o
	cfg, err := config.Load(r.env["CONF"])
	if err != nil {
		r.res.add(row{Section: "P2", Name: "handshakes", Value: "n/a", Result: "ERROR", Note: err.Error()})
		return
	}
	dom := cfg.Domains[0]
	// The same settings the authorizer's pool has.
	pool, err := dc.NewPool(authorizer.PoolConfig(cfg, &dom, slog.New(slog.DiscardHandler)))
	if err != nil {
		r.res.add(row{Section: "P2", Name: "handshakes", Value: "n/a", Result: "ERROR", Note: err.Error()})
		return
	}
	defer pool.Close()
	user, pass := `EXAMPLE\jdoe`, "Secr3t!Pass"
	stepTimeout := cfg.DC.QueueTimeout.D() + cfg.DC.RequestTimeout.D()
	direct := func() error {
		t1, err := ntlmssp.NewNegotiateMessage("", "")
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
		hs, t2, err := pool.Negotiate(ctx, t1)
		cancel()
		if err != nil {
			return err
		}
		t3, err := ntlmssp.ProcessChallenge(t2, user, pass, false)
		if err != nil {
			hs.Close()
			return err
		}
		ctx, cancel = context.WithTimeout(context.Background(), stepTimeout)
		defer cancel()
		return hs.Authenticate(ctx, t3)
	}
	viaApache := func() error {
		h, err := dialHTTP(r.site.addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer h.Close()
		return h.ntlmLogin("/private/file.txt", user, pass, time.Now().Add(30*time.Second))
	}
	maxHS := 200000
	say("P2: handshakes, %d concurrent, %d rounds x %s each way (warm-up 1s each)", o.hsConc, o.rounds, o.hsDur)
	runConcurrent(o.hsConc, time.Second, maxHS, direct)
	runConcurrent(o.hsConc, time.Second, maxHS, viaApache)
	var ra, rd []runResult
	for round := 0; round < o.rounds; round++ {
		for i := 0; i < 2; i++ {
			if (i+round)%2 == 0 {
				x := runConcurrent(o.hsConc, o.hsDur, maxHS, viaApache)
				ra = append(ra, x)
				say("  round %d apache %6.0f hs/s p50 %6.2f p99 %6.2f ms errors %d %s", round+1, x.RPS, x.P50ms, x.P99ms, x.Errors, x.FirstErr)
			} else {
				x := runConcurrent(o.hsConc, o.hsDur, maxHS, direct)
				rd = append(rd, x)
				say("  round %d direct %6.0f hs/s p50 %6.2f p99 %6.2f ms errors %d %s", round+1, x.RPS, x.P50ms, x.P99ms, x.Errors, x.FirstErr)
			}
		}
	}
	r.res.Runs["handshake/apache"], r.res.Runs["handshake/direct"] = ra, rd
	ma, md := medianOf(ra), medianOf(rd)
	r.res.add(row{Section: "P2", Name: "handshake direct SMB2 (pkg/dc)", Value: fmt.Sprintf("%.0f hs/s", md.RPS),
		P50ms: f64(md.P50ms), P99ms: f64(md.P99ms), Result: "ref", Errors: md.Errors, Note: md.FirstErr})
	x := row{Section: "P2", Name: "handshake via Apache+authorizer", Value: fmt.Sprintf("%.0f hs/s", ma.RPS),
		P50ms: f64(ma.P50ms), P99ms: f64(ma.P99ms), RatioOf: "direct", Target: ">= 0.90", Errors: ma.Errors, Note: ma.FirstErr}
	if md.RPS > 0 {
		x.Ratio = f64(ma.RPS / md.RPS)
		x.Result = verdict(*x.Ratio >= 0.9)
		if ma.Errors > 0 && x.Result == "PASS" {
			x.Result = "ERROR"
		}
	} else {
		x.Result = "n/a"
	}
	x.Note = strings.TrimSpace(fmt.Sprintf("p50 %+.2f ms over direct %s", ma.P50ms-md.P50ms, x.Note))
	r.res.add(x)
}

// the median of a few samples
func medianF(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
