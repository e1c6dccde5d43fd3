package main

import (
	"github.com/goauthenntlm/goauthenntlm/pkg/config"

	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const mib = 1 << 20

// memUse is a process's memory as /proc/PID/status tells it, in bytes.
type memUse struct {
	rss, anon, file, peak int64 // VmRSS, RssAnon, RssFile + RssShmem, VmHWM
}

// rss reads pid's memory use.
func rss(pid int) (memUse, error) {
	var m memUse
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fs[0], 10, 64)
		switch k {
		case "VmRSS":
			m.rss = n * 1024
		case "RssAnon":
			m.anon = n * 1024
		case "RssFile", "RssShmem":
			m.file += n * 1024
		case "VmHWM":
			m.peak = n * 1024
		}
	}
	return m, sc.Err()
}

func (r *runner) authzPid() (int, error) {
	return strconv.Atoi(readFileString(r.env["AUTHZ_PID_FILE"]))
}

func mibs(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/mib) }

// clientKeys makes a new made-up client connection (10.series.x.y, a
// port) on each call, as mod_authnz_fcgi names a new one for each login
// on a new connection.
func clientKeys(series int) func() clientKey {
	var seq atomic.Int64
	return func() clientKey {
		n := seq.Add(1)
		return clientKey{ip: fmt.Sprintf("10.%d.%d.%d", series, n/60000%250, 1+n/240%250), port: 1024 + int(n%60000)}
	}
}

// keyFor makes the i-th made-up browser connection of a series: perIP
// ports per address (max_pending_per_ip allows 64 handshakes per IP).
func keyFor(series, i, perIP int) clientKey {
	n := i / perIP
	return clientKey{ip: fmt.Sprintf("10.%d.%d.%d", series, (n/256)%256, n%256), port: 1024 + i%perIP}
}

func (r *runner) fcgi() *fcgiClient {
	f := &fcgiClient{addr: r.env["AUTHZ_ADDR"], serverAddr: "127.0.0.1", serverPort: r.env["APACHE_PORT"], timeout: 30 * time.Second}
	if cfg, err := config.Load(r.env["CONF"]); err == nil {
		f.secret, _ = cfg.CallerSecret()
	}
	return f
}

// memory is P4.
func (r *runner) memory() {
	o := r.o
	pid, err := r.authzPid()
	if err != nil {
		r.res.add(row{Section: "P4", Name: "authorizer RSS", Value: "n/a", Result: "ERROR", Note: "no authorizer pid: " + err.Error()})
		return
	}
	fc := r.fcgi()
	user, pass := `EXAMPLE\jdoe`, "Secr3t!Pass"
	// The target is on the anonymous memory (heap, stacks: what the
	// daemon allocates). VmRSS also counts file pages: the executable's,
	// and the Kerberos replay file's, a fixed 32 MiB shared mapping
	// (1,048,576 slots) that becomes resident as Kerberos logins touch its
	// pages: after P6/P7 it is all there, whatever P4 does.
	sample := func() int64 { m, _ := rss(pid); return m.anon }
	fileNote := func() string {
		m, _ := rss(pid)
		return fmt.Sprintf("VmRSS %s, of which file-backed %s (executable, replay file)", mibs(m.rss), mibs(m.file))
	}
	extra := map[string]any{"pid": pid}
	r.res.Extra["memory"] = extra

	// The flood: full handshakes over FastCGI with distinct connection
	// keys, as fast as the DC allows; each leaves a tracked connection that
	// idles out after keepalive_timeout.
	before := sample()
	say("P4: handshake flood for %s (FastCGI, 32 concurrent, distinct REMOTE_ADDR:PORT); anon RSS before %s", o.flood, mibs(before))
	var seq atomic.Int64
	flood := runConcurrent(32, o.flood, 1_000_000, func() error {
		return fc.login(keyFor(1, int(seq.Add(1)), 60000), user, pass)
	})
	after := sample()
	say("  flood: %d handshakes (%.0f/s), errors %d %s; anon RSS after %s", flood.Requests, flood.RPS, flood.Errors, flood.FirstErr, mibs(after))
	time.Sleep(10 * time.Second) // idle entries expire (keepalive_timeout 5s) and are swept
	settled := sample()
	mu, _ := rss(pid)
	peak := mu.peak
	extra["flood"] = map[string]any{"result": flood, "rss_before": before, "rss_after": after, "rss_after_10s": settled, "vmhwm": peak}
	r.res.add(row{Section: "P4", Name: fmt.Sprintf("flood %s: anon RSS before", o.flood), Value: mibs(before), Result: "ref", Note: fileNote()})
	x := row{Section: "P4", Name: "flood: anon RSS right after", Value: mibs(after), Target: "<= 50 MiB", Errors: flood.Errors,
		Note: fmt.Sprintf("%d handshakes, %.0f/s, p50 %.1f ms, p99 %.1f ms %s", flood.Requests, flood.RPS, flood.P50ms, flood.P99ms, flood.FirstErr)}
	x.Result = verdict(after <= 50*mib)
	r.res.add(x)
	flat := settled-before <= 5*mib
	r.res.add(row{Section: "P4", Name: "flood: anon RSS 10 s later", Value: mibs(settled), Target: "<= 50 MiB, flat (<= before + 5 MiB)",
		Result: verdict(settled <= 50*mib && flat), Note: fmt.Sprintf("%+.1f MiB vs before; VmHWM %s", float64(settled-before)/mib, mibs(peak))})

	// Tracked connections: real handshakes, kept alive by "later requests"
	// (no Authorization) so none idles out, as browsers keeping their
	// connections open would.
	base := sample()
	say("P4: %d tracked connections (real handshakes over FastCGI, budget %s), then %d pending handshakes; anon RSS now %s", o.tracked, o.trackedBudget, o.pending, mibs(base))
	last := make([]atomic.Int64, o.tracked) // unix nanos of the last 200; 0 = not (or no longer) tracked
	var lost, touches, loginErrs atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var tw sync.WaitGroup
	const touchers = 4
	for g := 0; g < touchers; g++ {
		tw.Add(1)
		go func(g int) {
			defer tw.Done()
			for {
				did := false
				for i := g; i < len(last); i += touchers {
					select {
					case <-stop:
						return
					default:
					}
					t := last[i].Load()
					if t == 0 || time.Since(time.Unix(0, t)) < 2500*time.Millisecond {
						continue
					}
					did = true
					ok, err := fc.touch(keyFor(2, i, 60000))
					touches.Add(1)
					if err != nil || !ok {
						lost.Add(1)
						last[i].Store(0)
						continue
					}
					last[i].Store(time.Now().UnixNano())
				}
				if !did {
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
		}(g)
	}
	var next atomic.Int64
	t0 := time.Now()
	deadline := t0.Add(o.trackedBudget)
	var lw sync.WaitGroup
	for w := 0; w < 32; w++ {
		lw.Add(1)
		go func() {
			defer lw.Done()
			for time.Now().Before(deadline) {
				i := int(next.Add(1) - 1)
				if i >= o.tracked {
					return
				}
				if err := fc.login(keyFor(2, i, 60000), user, pass); err != nil {
					loginErrs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				last[i].Store(time.Now().UnixNano())
			}
		}()
	}
	lw.Wait()
	loginTime := time.Since(t0)
	established := 0
	for i := range last {
		if last[i].Load() != 0 {
			established++
		}
	}
	say("  %d logins in %s (%d errors), %d lost since", established, loginTime.Round(time.Millisecond), loginErrs.Load(), lost.Load())
	time.Sleep(3 * time.Second)
	withTracked := sample()

	// Pending: Type1s only, each its own connection key; 50 per made-up IP.
	var pseq atomic.Int64
	var pendOK atomic.Int64
	pend := runConcurrent(32, 60*time.Second, o.pending, func() error {
		i := int(pseq.Add(1) - 1)
		if _, err := fc.type1(keyFor(3, i, 50)); err != nil {
			return err
		}
		pendOK.Add(1)
		return nil
	})
	time.Sleep(2 * time.Second)
	var samples []float64
	for i := 0; i < 3; i++ {
		samples = append(samples, float64(sample()))
		time.Sleep(time.Second)
	}
	withBoth := int64(medianF(samples))
	close(stop)
	tw.Wait()
	alive := 0
	for i := range last {
		if last[i].Load() != 0 {
			alive++
		}
	}
	mu, _ = rss(pid)
	peak = mu.peak
	extra["tracked"] = map[string]any{"target": o.tracked, "established": established, "alive_at_end": alive, "lost": lost.Load(),
		"login_errors": loginErrs.Load(), "login_seconds": loginTime.Seconds(), "touches": touches.Load(),
		"rss_base": base, "rss_tracked": withTracked, "rss_tracked_pending": withBoth, "vmhwm": peak,
		"pending_ok": pendOK.Load(), "pending": pend}
	fe, _ := firstErr.Load().(string)
	how := "measured"
	if established < o.tracked {
		how = fmt.Sprintf("only %d of %d within %s: RSS at that count", established, o.tracked, o.trackedBudget)
	}
	per := 0.0
	if established > 0 {
		per = float64(withTracked-base) / float64(established)
	}
	r.res.add(row{Section: "P4", Name: "anon RSS before tracked logins", Value: mibs(base), Result: "ref"})
	x = row{Section: "P4", Name: fmt.Sprintf("anon RSS %d tracked conns", established), Value: mibs(withTracked), Target: "<= 50 MiB",
		Result: verdict(withTracked <= 50*mib && established > 0), Errors: int(loginErrs.Load()),
		Note: fmt.Sprintf("%s; %.0f B/entry over base -> %s extrapolated for %d; %.0f logins/s; %d alive at end (%d lost) %s",
			how, per, mibs(base+int64(per*float64(o.tracked))), o.tracked, float64(established)/loginTime.Seconds(), alive, lost.Load(), fe)}
	r.res.add(x)
	x = row{Section: "P4", Name: fmt.Sprintf("anon RSS + %d pending handshakes", pendOK.Load()), Value: mibs(withBoth), Target: "<= 50 MiB",
		Result: verdict(withBoth <= 50*mib && pendOK.Load() == int64(o.pending)), Errors: pend.Errors,
		Note: fmt.Sprintf("%+.1f MiB for the pending; Type1 p50 %.1f ms p99 %.1f ms; VmHWM %s %s", float64(withBoth-withTracked)/mib, pend.P50ms, pend.P99ms, mibs(peak), pend.FirstErr)}
	r.res.add(x)
}

// timeWait counts TIME_WAIT sockets with port p as local (sport) or peer
// (dport) port.
func timeWait(p string) (local, peer int) {
	count := func(filter string) int {
		out, err := exec.Command("ss", "-Htan", "state", "time-wait", filter).Output()
		if err != nil {
			return -1
		}
		return strings.Count(string(out), "\n")
	}
	return count("( sport = :" + p + " )"), count("( dport = :" + p + " )")
}

// sustained is P5: /private/ keep-alive GETs (one FastCGI call each) for
// o.sustain, then errors and TIME_WAIT sockets on both sides.
func (r *runner) sustained() {
	o := r.o
	port := r.env["AUTHZ_ADDR"][strings.LastIndex(r.env["AUTHZ_ADDR"], ":")+1:]
	l0, p0 := timeWait(port)
	say("P5: sustained /private/ keep-alive GETs, %d connections, %s; TIME_WAIT before: authorizer side %d, Apache side %d", o.conns, o.sustain, l0, p0)
	var maxL, maxP int
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Second):
			}
			l, p := timeWait(port)
			maxL, maxP = max(maxL, l), max(maxP, p)
		}
	}()
	x := runKeepAlive(r.site.addr, variant{name: "sustained", path: "/private/file.txt", auth: authNTLM}, o.conns, o.sustain, 50_000_000, nil)
	close(stop)
	<-done
	l1, p1 := timeWait(port)
	maxL, maxP = max(maxL, l1), max(maxP, p1)
	r.res.Runs["sustained"] = []runResult{x}
	r.res.Extra["time_wait"] = map[string]any{"authz_port": port, "before_local": l0, "before_peer": p0, "end_local": l1, "end_peer": p1,
		"max_local": maxL, "max_peer": maxP, "tcp_max_tw_buckets": readFileString("/proc/sys/net/ipv4/tcp_max_tw_buckets")}
	say("  %.0f req/s, errors %d %s; TIME_WAIT at end: authorizer side %d, Apache side %d", x.RPS, x.Errors, x.FirstErr, l1, p1)
	r.res.add(row{Section: "P5", Name: fmt.Sprintf("sustained /private/ %s", o.sustain), Value: fmt.Sprintf("%.0f req/s", x.RPS),
		P50ms: f64(x.P50ms), P99ms: f64(x.P99ms), Target: "0 errors", Result: verdict(x.Errors == 0 && x.Requests > 0), Errors: x.Errors,
		Note: fmt.Sprintf("%d requests %s", x.Requests, x.FirstErr)})
	share := 0.0
	if l1+p1 > 0 {
		share = float64(p1) / float64(l1+p1)
	}
	note := fmt.Sprintf("max during run: authorizer %d, Apache %d; before the run %d/%d; bounded by the ephemeral port range (TW recycled on port reuse); tcp_max_tw_buckets %s",
		maxL, maxP, l0, p0, readFileString("/proc/sys/net/ipv4/tcp_max_tw_buckets"))
	r.res.add(row{Section: "P5", Name: "TIME_WAIT authorizer side (sport)", Value: fmt.Sprint(l1), Target: "the authorizer's side",
		Result: verdict(l1 > 0 && share <= 0.05), Note: note})
	r.res.add(row{Section: "P5", Name: "TIME_WAIT Apache side (dport)", Value: fmt.Sprint(p1), Ratio: f64(share), RatioOf: "all TW",
		Target: "<= 0.05 of all", Result: verdict(share <= 0.05), Note: "a few simultaneous closes (both sides close at once) leave TW on both sides"})
}

// maybeProfile runs the authorizer's pprof build behind the bench Apache
// and takes CPU profiles of the keep-alive path and of handshakes.
func (r *runner) maybeProfile() {
	want := r.o.profile == "always"
	wantKrb := want && (r.section("p6") || r.section("p7"))
	if r.o.profile == "auto" {
		for _, x := range r.res.Rows {
			if (x.Section == "P1" || x.Section == "P2" || x.Section == "P3") && x.Result == "MISS" && !strings.HasPrefix(x.Name, "spawn") {
				want = true
			}
			if (x.Section == "P6" || x.Section == "P7") && x.Result == "MISS" {
				want, wantKrb = true, true
			}
		}
	}
	if !want || r.o.profile == "never" {
		return
	}
	outDir, _ := filepath.Abs(r.o.out)
	os.MkdirAll(outDir, 0o755)
	lp, _ := freePort()
	pp, _ := freePort()
	addr, paddr := fmt.Sprintf("127.0.0.1:%d", lp), fmt.Sprintf("127.0.0.1:%d", pp)
	bin := filepath.Join(r.site.binDir, "ntlm-fcgi-authorizer")
	// In PUB, not STACK_DIR: the authorizer's user cannot reach a stack
	// under a private checkout (/root, mktemp -d).
	conf, err := secondInstanceConfig(r.env["CONF"], filepath.Join(r.site.pub, "conf-profile.toml"))
	if err != nil {
		say("profile: %v", err)
		return
	}
	say("profile: starting %s on %s (pprof %s) with the stack's config; bench Apache restarted to use it", bin, addr, paddr)
	p, err := startProc("ntlm-fcgi-authorizer -pprof", filepath.Join(r.site.dir, "authz-pprof.log"),
		asUser(authzUser(r.env), bin, "-config", conf, "-listen", addr, "-pprof", paddr)...)
	if err != nil {
		say("profile: %v", err)
		return
	}
	defer p.stop()
	if err := waitPort(addr, 20*time.Second, p.alive); err != nil {
		say("profile: %v", err)
		return
	}
	r.site.stopApache()
	defer func() {
		r.site.stopApache()
		if err := r.site.startApache(r.repo, ""); err != nil {
			say("profile: restarting the bench Apache: %v", err)
		}
	}()
	if err := r.site.startApache(r.repo, addr); err != nil {
		say("profile: %v", err)
		return
	}
	kinds := []string{"keepalive", "handshake"}
	var krb *krbTokens
	if wantKrb {
		if krb, err = r.kerberosTokens(); err != nil {
			say("profile: no Kerberos tokens: %v", err)
		} else {
			kinds = append(kinds, "kerberos-login")
		}
	}
	profiles := map[string]string{}
	for _, kind := range kinds {
		file := filepath.Join(outDir, "authz-"+kind+".cpu.pprof")
		var wg sync.WaitGroup
		wg.Add(1)
		var perr error
		go func() {
			defer wg.Done()
			resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", paddr, int(r.o.profDur.Seconds())))
			if err != nil {
				perr = err
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(file)
			if err != nil {
				perr = err
				return
			}
			defer f.Close()
			_, perr = io.Copy(f, resp.Body)
		}()
		var x runResult
		switch kind {
		case "keepalive":
			x = runKeepAlive(r.site.addr, variant{name: "private", path: "/private/file.txt", auth: authNTLM}, r.o.conns, r.o.profDur+time.Second, r.o.maxReq, nil)
		case "kerberos-login":
			// P7's login: a new connection and a fresh AP-REQ each.
			x = runConcurrent(r.o.hsConc, r.o.profDur+time.Second, 200000, func() error {
				_, err := negotiateLogin(r.site.addr, "/private/file.txt", krb, false)
				return err
			})
		default:
			x = runConcurrent(r.o.hsConc, r.o.profDur+time.Second, 200000, func() error {
				h, err := dialHTTP(r.site.addr, 5*time.Second)
				if err != nil {
					return err
				}
				defer h.Close()
				return h.ntlmLogin("/private/file.txt", `EXAMPLE\jdoe`, "Secr3t!Pass", time.Now().Add(30*time.Second))
			})
		}
		wg.Wait()
		if perr != nil {
			say("profile %s: %v", kind, perr)
			continue
		}
		top, _ := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", bin, file).CombinedOutput()
		os.WriteFile(strings.TrimSuffix(file, ".pprof")+".top.txt", top, 0o644)
		say("profile %s (%.0f/s during it): %s\n%s", kind, x.RPS, file, top)
		profiles[kind] = file
	}
	r.res.Extra["profiles"] = profiles
}

// authzUser is the user the stack runs the authorizer as (it alone reads
// the config and the LDAP password); www-data for stacks from before
// AUTHZ_USER.
func authzUser(env stackEnv) string {
	if u := env["AUTHZ_USER"]; u != "" {
		return u
	}
	return "www-data"
}

// reMetricsListen is the metrics_listen line of an authorizer config.
var reMetricsListen = regexp.MustCompile(`(?m)^[ \t]*metrics_listen[ \t]*=.*$`)

// secondInstanceConfig writes to path the stack's config as secondInstance
// makes it, readable by the same user and group.
func secondInstanceConfig(conf, path string) (string, error) {
	b, err := os.ReadFile(conf)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(conf)
	if err != nil {
		return "", err
	}
	b = secondInstance(b, strings.TrimSuffix(filepath.Base(path), ".toml"))
	if err := os.WriteFile(path, b, fi.Mode().Perm()); err != nil {
		return "", err
	}
	if out, err := exec.Command("chown", "--reference="+conf, path).CombinedOutput(); err != nil {
		return "", fmt.Errorf("chown %s: %v: %s", path, err, out)
	}
	return path, nil
}

// reReplayFile is the [replay] section's file line (the only key named
// just "file").
var reReplayFile = regexp.MustCompile(`(?m)^([ \t]*file[ \t]*=[ \t]*")([^"]*)(")`)

// secondInstance is the stack's config for another authorizer beside the
// stack's own: without metrics_listen, which the stack's authorizer holds
// (a second one would fail to start on it), and with a replay file of its
// own next to the stack's, named after name: each daemon locks its file,
// so a second one on the same file refuses to start.
func secondInstance(conf []byte, name string) []byte {
	conf = reMetricsListen.ReplaceAll(conf, nil)
	return reReplayFile.ReplaceAll(conf, []byte("${1}${2}-"+name+"${3}"))
}
