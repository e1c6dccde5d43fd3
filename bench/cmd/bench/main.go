// Command bench is GoAuthenNTLM's benchmark suite (make bench; issue #8).
//
//	go run ./bench/cmd/bench [flags]
//
// It uses the stack in -stack (scripts/stack.sh; brought up on -ip if not
// running, and torn down at the end if it brought it up), starts a second,
// bench-only Apache instance on its own port (the stack's httpd.conf plus
// bench/apache-bench.conf.in) pointing at the stack's ntlm-fcgi-authorizer,
// and bench/trivialauthz. Everything is on loopback; every load loop is
// bounded in count and in time. The machine is small and noisy: variants
// are measured side by side in interleaved rounds and judged by RATIOS.
//
// Sections (see bench/README.md):
//
//	P1 keep-alive GETs: NTLM vs no auth, trivial authorizer, Basic MD5/bcrypt
//	P2 full handshakes through Apache vs direct SMB2 logins (pkg/dc Pool)
//	P3 group routes vs /private/ and vs /bin/true; helper spawn cost
//	P4 authorizer RSS: tracked connections, pending handshakes, a flood
//	P5 a sustained run: errors and TIME_WAIT on each side
//	P6 Kerberos logins over FastCGI next to NTLM handshakes
//	P7 Kerberos through Apache: ours vs mod_auth_gssapi, logins and keep-alive
//	P9 NTLM logins and requests through HAProxy: two nodes vs one
//
// The table is printed and written with machine info to -out/results.json.
package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

type options struct {
	stackDir      string
	ip            string
	keepStack     bool
	out           string
	conns         int
	rounds        int
	dur           time.Duration
	warm          time.Duration
	maxReq        int
	hsConc        int
	hsDur         time.Duration
	spawnN        int
	tracked       int
	pending       int
	trackedBudget time.Duration
	flood         time.Duration
	sustain       time.Duration
	profile       string
	profDur       time.Duration
	defineMissing bool
	only          string
	variants      string
}

func main() {
	var o options
	flag.StringVar(&o.stackDir, "stack", ".stack/bench", "stack directory (scripts/stack.sh); used if running, else brought up")
	flag.StringVar(&o.ip, "ip", "127.0.0.30", "loopback address for the DC when the bench brings the stack up")
	flag.BoolVar(&o.keepStack, "keep-stack", false, "leave a stack the bench brought up running")
	flag.StringVar(&o.out, "out", "bench/out", "output directory (results.json, profiles)")
	flag.IntVar(&o.conns, "conns", 16, "P1/P3/P5: concurrent keep-alive connections")
	flag.IntVar(&o.rounds, "rounds", 3, "P1/P3/P2: interleaved rounds (medians are reported)")
	flag.DurationVar(&o.dur, "dur", 5*time.Second, "P1/P3: length of one variant's run in a round")
	flag.DurationVar(&o.warm, "warm", time.Second, "P1/P3: warm-up run per variant before the rounds")
	flag.IntVar(&o.maxReq, "max-req", 2_000_000, "cap on requests in any one run")
	flag.IntVar(&o.hsConc, "hs-conc", 16, "P2: concurrent handshakes")
	flag.DurationVar(&o.hsDur, "hs-dur", 5*time.Second, "P2: length of one run in a round")
	flag.IntVar(&o.spawnN, "spawn", 500, "P3: runs of ntlm-group-check, /bin/true and an empty Go program each (interleaved)")
	flag.IntVar(&o.tracked, "tracked", 10000, "P4: authenticated connections to track")
	flag.IntVar(&o.pending, "pending", 1000, "P4: pending handshakes")
	flag.DurationVar(&o.trackedBudget, "tracked-budget", 90*time.Second, "P4: time allowed for the tracked logins")
	flag.DurationVar(&o.flood, "flood", 20*time.Second, "P4: handshake flood length (the issue says 60s)")
	flag.DurationVar(&o.sustain, "sustain", 60*time.Second, "P5: sustained run length")
	flag.StringVar(&o.profile, "profile", "auto", "profile the authorizer (ntlm-fcgi-authorizer -pprof): auto (when a P1/P2 target is missed), always, never")
	flag.DurationVar(&o.profDur, "profile-dur", 8*time.Second, "CPU profile length")
	flag.BoolVar(&o.defineMissing, "define-missing", false, "define /expr/webusers/ and /authz/webusers/ (bench/apache-bench-groups.conf.in) when the stack's site lacks them")
	flag.StringVar(&o.only, "only", "p1,p2,p3,p4,p5,p6,p7,p8,p9", "sections to run")
	flag.StringVar(&o.variants, "variants", "", "P1/P3: run only these keep-alive variants (comma-separated names, e.g. trivial,private); empty: all")
	flag.Parse()

	if err := run(&o); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func say(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench %s: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

func repoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/goauthenntlm/goauthenntlm") {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", fmt.Errorf("run from inside the goauthenntlm checkout")
		}
		d = p
	}
}

type runner struct {
	o       *options
	repo    string
	env     stackEnv
	site    *benchSite
	res     *results
	cleanup []func()
	mu      sync.Mutex
}

func (r *runner) onExit(f func()) {
	r.mu.Lock()
	r.cleanup = append(r.cleanup, f)
	r.mu.Unlock()
}

func (r *runner) runCleanup() {
	r.mu.Lock()
	c := r.cleanup
	r.cleanup = nil
	r.mu.Unlock()
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

func (r *runner) section(s string) bool { return strings.Contains(","+r.o.only+",", ","+s+",") }

func run(o *options) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (the stack's Samba DC, Apache serving as www-data)")
	}
	if !strings.HasPrefix(o.ip, "127.") {
		return fmt.Errorf("-ip %s is not a loopback address", o.ip)
	}
	repo, err := repoRoot()
	if err != nil {
		return err
	}
	r := &runner{o: o, repo: repo}
	defer r.runCleanup()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		say("%v: cleaning up", s)
		r.runCleanup()
		os.Exit(130)
	}()

	t0 := time.Now()
	if err := r.stackUp(); err != nil {
		return err
	}
	r.site = &benchSite{env: r.env, defineMiss: o.defineMissing}
	r.onExit(func() { r.site.teardown() })
	say("starting the bench Apache and bench/trivialauthz")
	if err := r.site.setup(repo); err != nil {
		return err
	}
	say("bench Apache on %s (config %s/httpd.conf), stack authorizer %s, trivial authorizer %s",
		r.site.addr, r.site.dir, r.env["AUTHZ_ADDR"], r.site.trivial)

	r.res = newResults(o, r.env, r.site)
	if r.section("p1") || r.section("p3") {
		r.keepAliveMatrix()
	}
	if r.section("p3") {
		r.spawnCost()
	}
	if r.section("p2") {
		r.handshakes()
	}
	if r.section("p6") {
		r.kerberosLogins()
	}
	if r.section("p7") {
		r.kerberosPeer()
	}
	if r.section("p8") {
		r.basicKDC()
	}
	if r.section("p9") {
		r.clusterScaling()
	}
	if r.section("p4") {
		r.memory()
	}
	if r.section("p5") {
		r.sustained()
	}
	r.maybeProfile()
	r.res.Elapsed = time.Since(t0).Round(time.Second).String()
	path, err := r.res.write(o.out)
	r.res.print(os.Stdout)
	if err != nil {
		return err
	}
	fmt.Printf("\nresults: %s (total %s)\n", path, r.res.Elapsed)
	return nil
}

// stackUp uses a running stack in -stack or brings one up.
func (r *runner) stackUp() error {
	sh := filepath.Join(r.repo, "scripts", "stack.sh")
	dir := r.o.stackDir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(r.repo, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "stack.env")); err == nil {
		if exec.Command("bash", sh, "status", dir).Run() == nil {
			say("using the running stack in %s", dir)
			env, err := loadStackEnv(dir)
			r.env = env
			return err
		}
	}
	say("bringing up a stack in %s (DC on %s); stack.sh output follows", dir, r.o.ip)
	cmd := exec.Command("bash", sh, "up", dir, r.o.ip)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if !r.o.keepStack {
		r.onExit(func() {
			say("tearing down the stack in %s", dir)
			c := exec.Command("bash", sh, "down", dir)
			c.Stdout, c.Stderr = os.Stderr, os.Stderr
			c.Run()
		})
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("stack.sh up %s %s: %w", dir, r.o.ip, err)
	}
	env, err := loadStackEnv(dir)
	r.env = env
	return err
}

func basicHeader() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(basicUser+":"+basicPass))
}
