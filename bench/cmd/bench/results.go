package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one line of the table.
type row struct {
	Section string   `json:"section"`
	Name    string   `json:"name"`
	Value   string   `json:"value"` // "12345 req/s", "31.2 MiB", ...
	P50ms   *float64 `json:"p50_ms,omitempty"`
	P99ms   *float64 `json:"p99_ms,omitempty"`
	Ratio   *float64 `json:"ratio,omitempty"`
	RatioOf string   `json:"ratio_of,omitempty"`
	Target  string   `json:"target,omitempty"`
	Result  string   `json:"result"` // PASS, MISS, info, ref, n/a, ERROR
	Errors  int      `json:"errors"`
	Note    string   `json:"note,omitempty"`
}

type results struct {
	Date     string                 `json:"date"`
	Machine  map[string]string      `json:"machine"`
	Settings map[string]string      `json:"settings"`
	Rows     []row                  `json:"rows"`
	Runs     map[string][]runResult `json:"runs"` // every timed run, per variant
	Extra    map[string]any         `json:"extra"`
	Elapsed  string                 `json:"elapsed"`
}

func cmdOut(name string, args ...string) string {
	b, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

func newResults(o *options, env stackEnv, s *benchSite) *results {
	model := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	apache := cmdOut("apache2", "-v")
	if i := strings.Index(apache, "\n"); i > 0 {
		apache = apache[:i]
	}
	return &results{
		Date: time.Now().Format(time.RFC3339),
		Machine: map[string]string{
			"nproc":              fmt.Sprint(runtime.NumCPU()),
			"cpu":                model,
			"kernel":             cmdOut("uname", "-sr"),
			"go":                 runtime.Version(),
			"apache":             strings.TrimPrefix(apache, "Server version: "),
			"git":                cmdOut("git", "-C", s.repoDir(), "describe", "--always", "--dirty"),
			"tcp_max_tw_buckets": readFileString("/proc/sys/net/ipv4/tcp_max_tw_buckets"),
		},
		Settings: map[string]string{
			"conns": fmt.Sprint(o.conns), "rounds": fmt.Sprint(o.rounds), "dur": o.dur.String(),
			"hs_conc": fmt.Sprint(o.hsConc), "hs_dur": o.hsDur.String(), "spawn": fmt.Sprint(o.spawnN),
			"tracked": fmt.Sprint(o.tracked), "pending": fmt.Sprint(o.pending), "flood": o.flood.String(),
			"sustain": o.sustain.String(), "apache_bench": s.addr, "authorizer": env["AUTHZ_ADDR"],
			"trivial_authorizer": s.trivial, "dc": env["DC_IP"],
		},
		Runs:  map[string][]runResult{},
		Extra: map[string]any{},
	}
}

func (s *benchSite) repoDir() string {
	d, _ := repoRoot()
	return d
}

func f64(v float64) *float64 { return &v }

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func (r *results) add(x row) { r.Rows = append(r.Rows, x) }

func (r *results) write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	p := filepath.Join(dir, "results.json")
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	abs, _ := filepath.Abs(p)
	return abs, os.WriteFile(p, b, 0o644)
}

func (r *results) print(w io.Writer) {
	fmt.Fprintf(w, "\nGoAuthenNTLM bench, %s\n", r.Date)
	fmt.Fprintf(w, "machine: %s cores, %s, %s, %s, %s, git %s\n", r.Machine["nproc"], r.Machine["cpu"],
		r.Machine["kernel"], r.Machine["go"], r.Machine["apache"], r.Machine["git"])
	fmt.Fprintf(w, "settings: %d conns, %d rounds x %s per variant (medians), handshakes %d concurrent, flood %s, sustained %s\n\n",
		atoi(r.Settings["conns"]), atoi(r.Settings["rounds"]), r.Settings["dur"], atoi(r.Settings["hs_conc"]), r.Settings["flood"], r.Settings["sustain"])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "sect\tname\tvalue\tp50 ms\tp99 ms\tratio\tvs\ttarget\tresult\terrors\tnote")
	num := func(p *float64, prec int) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%.*f", prec, *p)
	}
	for _, x := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", x.Section, x.Name, x.Value,
			num(x.P50ms, 2), num(x.P99ms, 2), num(x.Ratio, 3), x.RatioOf, x.Target, x.Result, x.Errors, x.Note)
	}
	tw.Flush()
}

func atoi(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}
