// Command soak runs a bounded load against a GoAuthenNTLM stack and
// watches the authorizer for leaks (make soak; issue #6).
//
//	go run ./soak [-dur 5m] [-workers 16] [-stack DIR/stack.env] [-keep]
//
// Without -stack it brings up its own stack (scripts/stack.sh up .stack/soak
// 127.0.0.40), with [auth] bind_connections = true unless -bind=false, and
// tears it down at the end unless -keep. With -stack, the stack's config is
// used as it is.
//
// Why bind_connections: the workers open new connections all the time, and
// on loopback the kernel soon gives a new connection the client port of one
// that logged in less than keepalive_timeout ago. With binding off, that new
// connection is let in as the earlier user (counted as an error: "200 as
// another user"); with it on, it must log in itself. Workers mix full
// NTLM handshakes on new connections, keep-alive GETs on a logged-in
// connection, group routes, Basic, and wrong passwords (their 401s are
// expected, not errors). Every 10 s it prints the requests by kind, the
// unexpected outcomes, and the authorizer's RSS and open file descriptors;
// at the end a summary, and soak/out/results.json. Exit status 0 only if
// nothing unexpected happened. Everything is on loopback; the run is
// bounded in time (-dur, at most 10 min) and in requests (-max-requests).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const maxDur = 10 * time.Minute

type options struct {
	dur      time.Duration
	workers  int
	maxReq   int64
	stackEnv string
	keep     bool
	dir, ip  string
	out      string
	every    time.Duration
	bind     bool
}

func main() {
	var o options
	flag.DurationVar(&o.dur, "dur", 5*time.Minute, "how long to run (at most 10m)")
	flag.IntVar(&o.workers, "workers", 16, "concurrent clients")
	flag.Int64Var(&o.maxReq, "max-requests", 5_000_000, "stop after this many requests")
	flag.StringVar(&o.stackEnv, "stack", "", "stack.env of a running stack to use (default: bring one up)")
	flag.BoolVar(&o.keep, "keep", false, "leave the stack this run brought up running")
	flag.StringVar(&o.dir, "dir", ".stack/soak", "stack directory when bringing one up")
	flag.StringVar(&o.ip, "ip", "127.0.0.40", "the DC's loopback address when bringing a stack up")
	flag.StringVar(&o.out, "out", "soak/out", "directory for results.json")
	flag.DurationVar(&o.every, "every", 10*time.Second, "progress interval")
	flag.BoolVar(&o.bind, "bind", true, "turn [auth] bind_connections on in the stack this run brings up (with -stack: the stack's config is used as it is)")
	flag.Parse()
	if o.dur <= 0 || o.dur > maxDur {
		fatalf("-dur %v: between 0 and %v", o.dur, maxDur)
	}
	if o.workers < 1 || o.workers > 256 {
		fatalf("-workers %d: between 1 and 256", o.workers)
	}
	if ip := net.ParseIP(o.ip); ip == nil || !ip.IsLoopback() {
		fatalf("-ip %s: a loopback address only", o.ip)
	}
	os.Exit(run(o))
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "soak: "+format+"\n", a...)
	os.Exit(2)
}

func run(o options) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	envPath := o.stackEnv
	if envPath == "" {
		if _, err := os.Stat("scripts/stack.sh"); err != nil {
			fatalf("run from the repository's root (make soak): %v", err)
		}
		fmt.Printf("== bringing up the stack in %s (DC on %s)\n", o.dir, o.ip)
		if err := stackSh("up", o.dir, o.ip); err != nil {
			fmt.Fprintf(os.Stderr, "soak: the stack did not come up: %v\n", err)
			stackSh("down", o.dir)
			return 1
		}
		if !o.keep {
			defer func() {
				fmt.Printf("== tearing down %s\n", o.dir)
				if err := stackSh("down", o.dir); err != nil {
					fmt.Fprintf(os.Stderr, "soak: stack.sh down: %v\n", err)
				}
			}()
		} else {
			defer fmt.Printf("== stack left running (-keep): scripts/stack.sh down %s\n", o.dir)
		}
		envPath = filepath.Join(o.dir, "stack.env")
		if o.bind {
			if err := setBindConnections(filepath.Join(o.dir, "conf.toml")); err != nil {
				fmt.Fprintf(os.Stderr, "soak: %v\n", err)
				return 1
			}
			if err := stackSh("restart-authz", o.dir); err != nil {
				fmt.Fprintf(os.Stderr, "soak: restarting the authorizer with bind_connections = true: %v\n", err)
				return 1
			}
		}
	}
	env, err := readEnv(envPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		return 1
	}
	bound := bindConnectionsOn(env["CONF"])
	if err := checkLoopback(env); err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		return 1
	}
	pidFile := env["AUTHZ_PID_FILE"]
	if pidFile == "" {
		pidFile = filepath.Join(filepath.Dir(envPath), "authorizer.pid")
	}
	pid, err := readPID(pidFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		return 1
	}
	base := strings.TrimSuffix(env["URL"], "/")
	logOff := fileSize(env["AUTHZ_LOG"])

	res := newResults()
	fmt.Printf("== soak: %d workers for %v (at most %d requests) against %s, authorizer pid %d, bind_connections %v\n", o.workers, o.dur, o.maxReq, base, pid, bound)
	res.bound = bound
	first := sample(pid)
	res.addSample(0, first)
	if !first.ok {
		fmt.Fprintf(os.Stderr, "soak: cannot read /proc/%d: is the authorizer running?\n", pid)
		return 1
	}
	fmt.Printf("   authorizer at start: RSS %s, %d fds\n", mib(first.rssKB), first.fds)

	start := time.Now()
	deadline := start.Add(o.dur)
	var stopping atomic.Bool
	var issued atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < o.workers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			kept, ktr := ntlmClient()
			w := &worker{base: base, r: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i))), kept: kept, ktr: ktr}
			defer w.close()
			for !stopping.Load() && time.Now().Before(deadline) && ctx.Err() == nil {
				if issued.Add(1) > o.maxReq {
					return
				}
				res.add(w.do(pickKind(w.r)))
			}
		}(i)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	tick := time.NewTicker(o.every)
	defer tick.Stop()
	hardStop := time.NewTimer(o.dur + time.Minute) // in-flight requests time out after 30 s
	defer hardStop.Stop()
	interrupted := false
loop:
	for {
		select {
		case <-done:
			break loop
		case <-ctx.Done():
			if !interrupted {
				interrupted = true
				stopping.Store(true)
				fmt.Println("== interrupted: stopping the workers")
			}
		case <-hardStop.C:
			fmt.Println("== workers did not stop within a minute after the end; giving up on them")
			res.noteError("workers did not stop in time")
			break loop
		case <-tick.C:
			el := time.Since(start)
			s := sample(pid)
			res.addSample(el, s)
			if !s.ok {
				res.noteError("authorizer process gone")
			} else if p, err := readPID(pidFile); err != nil || p != pid {
				res.noteError("authorizer restarted (pid file changed)")
			}
			res.progress(el, s)
		}
	}
	el := time.Since(start)
	last := sample(pid)
	res.addSample(el, last)
	if !last.ok {
		res.noteError("authorizer process gone")
	}
	res.logErrors, res.logWarnings = countLogLevels(env["AUTHZ_LOG"], logOff)

	code := res.report(o, el, interrupted)
	if err := res.write(o, el, env); err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		code = 1
	}
	return code
}

var bindRE = regexp.MustCompile(`(?m)^bind_connections\s*=\s*(\w+)`)

// setBindConnections turns [auth] bind_connections on in the config at path.
func setBindConnections(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	c := bindRE.ReplaceAllString(string(b), "")
	if !strings.Contains(c, "[auth]\n") {
		return fmt.Errorf("%s has no [auth] table", path)
	}
	c = strings.Replace(c, "[auth]\n", "[auth]\nbind_connections = true\n", 1)
	return os.WriteFile(path, []byte(c), 0o644)
}

func bindConnectionsOn(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	m := bindRE.FindSubmatch(b)
	return m != nil && string(m[1]) == "true"
}

func stackSh(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{"scripts/stack.sh"}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

func readEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("stack env: %w", err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			env[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	for _, k := range []string{"URL", "AUTHZ_LOG"} {
		if env[k] == "" {
			return nil, fmt.Errorf("stack env %s lacks %s", path, k)
		}
	}
	return env, sc.Err()
}

// checkLoopback refuses a stack that is not on loopback: this is a load
// generator.
func checkLoopback(env map[string]string) error {
	u, err := url.Parse(env["URL"])
	if err != nil {
		return fmt.Errorf("stack URL: %w", err)
	}
	for name, host := range map[string]string{"URL": u.Hostname(), "AUTHZ_ADDR": hostOf(env["AUTHZ_ADDR"]), "DC_IP": env["DC_IP"]} {
		if host == "" {
			continue
		}
		ip := net.ParseIP(host)
		if ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("stack %s %q is not a loopback address: refusing to generate load", name, host)
		}
	}
	return nil
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return h
}

func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("authorizer pid: %w", err)
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// countLogLevels counts the authorizer's ERROR and WARN lines after off.
func countLogLevels(path string, off int64) (errs, warns int) {
	f, err := os.Open(path)
	if err != nil {
		return -1, -1
	}
	defer f.Close()
	if _, err := f.Seek(off, 0); err != nil {
		return -1, -1
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		switch {
		case strings.Contains(sc.Text(), "level=ERROR"):
			errs++
		case strings.Contains(sc.Text(), "level=WARN"):
			warns++
		}
	}
	return errs, warns
}

// procSample is what /proc shows of the authorizer.
type procSample struct {
	ok      bool
	rssKB   int64
	fds     int
	threads int
}

func sample(pid int) procSample {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return procSample{}
	}
	var s procSample
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "State":
			if f[0] == "Z" || f[0] == "X" {
				return procSample{}
			}
		case "VmRSS":
			s.rssKB, _ = strconv.ParseInt(f[0], 10, 64)
		case "Threads":
			s.threads, _ = strconv.Atoi(f[0])
		}
	}
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return procSample{}
	}
	s.fds, s.ok = len(fds), true
	return s
}

func mib(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }

// results collects outcomes and samples.
type results struct {
	mu                     sync.Mutex
	byKind                 map[string]*kindStats
	errors                 map[string]int // unexpected outcomes by message
	nErrors                int
	samples                []timedSample
	examples               []outcome // the first unexpected outcomes, in full
	bound                  bool
	lastN                  int64
	lastT                  time.Duration
	logErrors, logWarnings int
}

type kindStats struct {
	n, denied, unexpected int64
	durs                  []time.Duration // a sample, for percentiles
	max                   time.Duration
}

type timedSample struct {
	At time.Duration
	procSample
}

const maxDurSamples = 200_000

func newResults() *results {
	r := &results{byKind: map[string]*kindStats{}, errors: map[string]int{}}
	for _, k := range kinds {
		r.byKind[k] = &kindStats{}
	}
	return r
}

func (r *results) add(o outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := r.byKind[o.kind]
	k.n++
	if len(k.durs) < maxDurSamples {
		k.durs = append(k.durs, o.dur)
	}
	k.max = max(k.max, o.dur)
	if !o.expected {
		k.unexpected++
		r.nErrors++
		if len(r.examples) < 25 {
			r.examples = append(r.examples, o)
		}
		msg := o.kind + ": " + o.err
		if len(r.errors) < 50 || r.errors[msg] > 0 {
			r.errors[msg]++
		}
		return
	}
	if o.denied {
		k.denied++
	}
}

// inherited counts the outcomes that got in as another user than asked.
func (r *results) inherited() int {
	n := 0
	for msg, c := range r.errors {
		if strings.Contains(msg, "200 as") || strings.Contains(msg, "200 with body") {
			n += c
		}
	}
	return n
}

func (r *results) noteError(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nErrors++
	r.errors[msg]++
}

func (r *results) addSample(at time.Duration, s procSample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, timedSample{at, s})
}

func (r *results) progress(el time.Duration, s procSample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	var parts []string
	for _, k := range kinds {
		n += r.byKind[k].n
		parts = append(parts, fmt.Sprintf("%s=%d", k, r.byKind[k].n))
	}
	rate := float64(n-r.lastN) / (el - r.lastT).Seconds()
	r.lastN, r.lastT = n, el
	fmt.Printf("t=%4.0fs  %d req (%.0f/s)  %s  unexpected=%d  authorizer: RSS %s, fds %d, threads %d\n",
		el.Seconds(), n, rate, strings.Join(parts, " "), r.nErrors, mib(s.rssKB), s.fds, s.threads)
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(p*float64(len(d))))]
}

type kindJSON struct {
	Kind       string  `json:"kind"`
	Requests   int64   `json:"requests"`
	Denied     int64   `json:"expected_denials"`
	Unexpected int64   `json:"unexpected"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
}

func (r *results) kindRows() []kindJSON {
	var rows []kindJSON
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for _, k := range kinds {
		s := r.byKind[k]
		sort.Slice(s.durs, func(i, j int) bool { return s.durs[i] < s.durs[j] })
		rows = append(rows, kindJSON{k, s.n, s.denied, s.unexpected, ms(pct(s.durs, .5)), ms(pct(s.durs, .99)), ms(s.max)})
	}
	return rows
}

func (r *results) memStats() (first, maxS, last procSample) {
	for _, s := range r.samples {
		if !s.ok {
			continue
		}
		if !first.ok {
			first = s.procSample
		}
		if s.rssKB > maxS.rssKB {
			maxS = s.procSample
		}
		last = s.procSample
	}
	return
}

func (r *results) report(o options, el time.Duration, interrupted bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Printf("\n== soak summary: %v, %d workers\n", el.Round(time.Second), o.workers)
	fmt.Printf("%-15s %10s %10s %11s %9s %9s %9s\n", "kind", "requests", "denied*", "unexpected", "p50 ms", "p99 ms", "max ms")
	var total int64
	for _, row := range r.kindRows() {
		total += row.Requests
		fmt.Printf("%-15s %10d %10d %11d %9.1f %9.1f %9.1f\n", row.Kind, row.Requests, row.Denied, row.Unexpected, row.P50ms, row.P99ms, row.MaxMs)
	}
	fmt.Printf("%-15s %10d   (%.0f req/s)\n", "total", total, float64(total)/el.Seconds())
	fmt.Println("* expected 401/403: wrong passwords, a user outside the group")
	first, maxS, last := r.memStats()
	fmt.Printf("authorizer RSS: first %s, max %s, last %s\n", mib(first.rssKB), mib(maxS.rssKB), mib(last.rssKB))
	fmt.Printf("authorizer fds: first %d, last %d; threads: first %d, last %d\n", first.fds, last.fds, first.threads, last.threads)
	fmt.Printf("authorizer log during the run: %d ERROR, %d WARN lines\n", r.logErrors, r.logWarnings)
	if len(r.errors) > 0 {
		fmt.Println("unexpected outcomes:")
		keys := make([]string, 0, len(r.errors))
		for k := range r.errors {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return r.errors[keys[i]] > r.errors[keys[j]] })
		for _, k := range keys {
			fmt.Printf("  %6d  %s\n", r.errors[k], k)
		}
		fmt.Println("first ones (time, client address of the connection, what):")
		for _, e := range r.examples {
			fmt.Printf("  %s  %-21s  %s: %s\n", e.at.UTC().Format("15:04:05.000"), e.local, e.kind, e.err)
		}
		if !r.bound && r.inherited() > 0 {
			fmt.Println("200 as another user on a new connection: with bind_connections off, a new connection whose client")
			fmt.Println("port an earlier, logged-in connection used within keepalive_timeout inherits that login.")
		}
	}
	fmt.Printf("errors: %d\n", r.nErrors)
	switch {
	case r.nErrors > 0:
		fmt.Println("== soak: FAIL")
		return 1
	case interrupted:
		fmt.Println("== soak: interrupted (no errors until then)")
		return 1
	case total == 0:
		fmt.Println("== soak: FAIL (no requests made)")
		return 1
	}
	fmt.Println("== soak: PASS")
	return 0
}

func examplesJSON(es []outcome) []map[string]string {
	var out []map[string]string
	for _, e := range es {
		out = append(out, map[string]string{"at": e.at.UTC().Format(time.RFC3339Nano), "kind": e.kind, "client": e.local, "error": e.err})
	}
	return out
}

func (r *results) write(o options, el time.Duration, env map[string]string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	first, maxS, last := r.memStats()
	type sampleJSON struct {
		AtS     float64 `json:"at_s"`
		RSSKB   int64   `json:"rss_kb"`
		FDs     int     `json:"fds"`
		Threads int     `json:"threads"`
	}
	var samples []sampleJSON
	for _, s := range r.samples {
		if s.ok {
			samples = append(samples, sampleJSON{s.At.Seconds(), s.rssKB, s.fds, s.threads})
		}
	}
	host, _ := os.Hostname()
	out := map[string]any{
		"when":             time.Now().UTC().Format(time.RFC3339),
		"host":             host,
		"cpus":             runtime.NumCPU(),
		"go":               runtime.Version(),
		"duration_s":       el.Seconds(),
		"workers":          o.workers,
		"url":              env["URL"],
		"kinds":            r.kindRows(),
		"bind_connections": r.bound,
		"errors":           r.nErrors,
		"first_errors":     examplesJSON(r.examples),
		"error_messages":   r.errors,
		"rss_kb":           map[string]int64{"first": first.rssKB, "max": maxS.rssKB, "last": last.rssKB},
		"fds":              map[string]int{"first": first.fds, "last": last.fds},
		"authorizer_log":   map[string]int{"error_lines": r.logErrors, "warn_lines": r.logWarnings},
		"samples":          samples,
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	p := filepath.Join(o.out, "results.json")
	if err := os.WriteFile(p, append(b, '\n'), 0o644); err != nil {
		return errors.Join(errors.New("writing results"), err)
	}
	fmt.Printf("results: %s\n", p)
	return nil
}
