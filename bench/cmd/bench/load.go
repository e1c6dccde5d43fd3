package main

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

type authKind int

const (
	authNone authKind = iota
	authNTLM
	authBasic
	authNegotiate // a Kerberos login (variant.krb's tokens) on the first request
)

const (
	basicUser = "benchuser"
	basicPass = "B3nch!Pass"
)

type variant struct {
	name  string
	path  string
	auth  authKind
	basic string // Authorization header for authBasic
	krb   *krbTokens
	note  string
}

// runResult is one timed run.
type runResult struct {
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"rps"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	MeanMs   float64 `json:"mean_ms"`
	FirstErr string  `json:"first_error,omitempty"`
	// CPUus is the CPU each process used per request during the run, in
	// µs (keep-alive runs; see cpuMeter).
	CPUus map[string]float64 `json:"cpu_us_per_req,omitempty"`
}

func summarize(lat []time.Duration, errs int, elapsed time.Duration, firstErr string) runResult {
	r := runResult{Requests: len(lat), Errors: errs, Seconds: elapsed.Seconds(), FirstErr: firstErr}
	if elapsed > 0 {
		r.RPS = float64(len(lat)) / elapsed.Seconds()
	}
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		r.P50ms = ms(lat[len(lat)*50/100])
		r.P99ms = ms(lat[min(len(lat)-1, len(lat)*99/100)])
		var sum time.Duration
		for _, d := range lat {
			sum += d
		}
		r.MeanMs = ms(sum / time.Duration(len(lat)))
	}
	return r
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

type errRec struct {
	mu    sync.Mutex
	n     int
	first string
}

func (e *errRec) add(err error) {
	e.mu.Lock()
	e.n++
	if e.first == "" {
		e.first = err.Error()
	}
	e.mu.Unlock()
}

// connect opens a connection for v and authenticates it if v needs it.
func connect(addr string, v variant) (*httpConn, error) {
	if v.auth == authNegotiate {
		return negotiateLogin(addr, v.path, v.krb, true)
	}
	h, err := dialHTTP(addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	if v.auth == authNTLM {
		if err := h.ntlmLogin(v.path, `EXAMPLE\jdoe`, "Secr3t!Pass", time.Now().Add(30*time.Second)); err != nil {
			h.Close()
			return nil, err
		}
	}
	return h, nil
}

// runKeepAlive: conns keep-alive connections, each authenticated once (not
// timed), then GETs on v.path as fast as they are answered, for dur or
// maxReq requests in all, whichever comes first. With a meter, the result
// has the CPU per request of the timed part only (the logins' cost, at the
// DC too, is P2's subject).
func runKeepAlive(addr string, v variant, conns int, dur time.Duration, maxReq int, meter *cpuMeter) runResult {
	var (
		wg       sync.WaitGroup
		ready    sync.WaitGroup
		start    = make(chan struct{})
		count    atomic.Int64
		errs     errRec
		mu       sync.Mutex
		all      []time.Duration
		setupErr atomic.Int64
	)
	var end time.Time
	authz := ""
	if v.auth == authBasic {
		authz = v.basic
	}
	for i := 0; i < conns; i++ {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			h, err := connect(addr, v)
			ready.Done()
			if err != nil {
				setupErr.Add(1)
				errs.add(fmt.Errorf("setup: %w", err))
			}
			<-start
			if h == nil {
				return
			}
			defer func() {
				if h != nil {
					h.Close()
				}
			}()
			lat := make([]time.Duration, 0, 1<<14)
			for reconnects := 0; ; {
				if count.Add(1) > int64(maxReq) || time.Now().After(end) {
					break
				}
				t0 := time.Now()
				r, err := h.get(v.path, authz, t0.Add(10*time.Second))
				if err == nil && r.status != 200 {
					err = &statusErr{step: "GET " + v.path, status: r.status}
				}
				if err == nil && r.close {
					err = errors.New("server closed the keep-alive connection")
				}
				if err != nil {
					errs.add(err)
					h.Close()
					h = nil
					if reconnects++; reconnects > 20 {
						break
					}
					if h, err = connect(addr, v); err != nil {
						errs.add(err)
						break
					}
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	ready.Wait()
	var c0 map[string]time.Duration
	if meter != nil {
		c0 = meter.sample()
	}
	t0 := time.Now()
	end = t0.Add(dur)
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	res := summarize(all, errs.n, elapsed, errs.first)
	if meter != nil {
		res.CPUus = perRequest(c0, meter.sample(), res.Requests)
	}
	return res
}

// runConcurrent calls op from conc goroutines for dur or max calls in all,
// timing each call (handshake benchmarks).
func runConcurrent(conc int, dur time.Duration, max int, op func() error) runResult {
	var (
		wg    sync.WaitGroup
		count atomic.Int64
		errs  errRec
		mu    sync.Mutex
		all   []time.Duration
	)
	t0 := time.Now()
	end := t0.Add(dur)
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1024)
			for count.Add(1) <= int64(max) && time.Now().Before(end) {
				s := time.Now()
				if err := op(); err != nil {
					errs.add(err)
					continue
				}
				lat = append(lat, time.Since(s))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return summarize(all, errs.n, time.Since(t0), errs.first)
}

// median of the runs by rate; latency percentiles are the medians of the
// per-round values.
func medianOf(rs []runResult) runResult {
	if len(rs) == 0 {
		return runResult{}
	}
	med := func(f func(runResult) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	out := runResult{
		RPS:    med(func(r runResult) float64 { return r.RPS }),
		P50ms:  med(func(r runResult) float64 { return r.P50ms }),
		P99ms:  med(func(r runResult) float64 { return r.P99ms }),
		MeanMs: med(func(r runResult) float64 { return r.MeanMs }),
	}
	if len(rs[0].CPUus) > 0 {
		out.CPUus = map[string]float64{}
	}
	for name := range rs[0].CPUus {
		out.CPUus[name] = med(func(r runResult) float64 { return r.CPUus[name] })
	}
	for _, r := range rs {
		out.Requests += r.Requests
		out.Errors += r.Errors
		out.Seconds += r.Seconds
		if out.FirstErr == "" {
			out.FirstErr = r.FirstErr
		}
	}
	return out
}

// pairOp is one side of an interleaved pair of concurrent runs.
type pairOp struct {
	name, unit string // for the log: "ours", "logins/s"
	op         func() error
}

// interleavedPair runs a and b, each o.hsConc concurrent for o.hsDur, in
// o.rounds rounds whose order alternates, after a 1 s warm-up of each;
// every timed run records the CPU per operation of meter's processes.
func (r *runner) interleavedPair(meter *cpuMeter, a, b pairOp) (ra, rb []runResult) {
	o := r.o
	runConcurrent(o.hsConc, time.Second, 200000, a.op)
	runConcurrent(o.hsConc, time.Second, 200000, b.op)
	for round := 0; round < o.rounds; round++ {
		for i := 0; i < 2; i++ {
			p, out := a, &ra
			if (i+round)%2 != 0 {
				p, out = b, &rb
			}
			before := meter.sample()
			x := runConcurrent(o.hsConc, o.hsDur, 200000, p.op)
			x.CPUus = perRequest(before, meter.sample(), x.Requests)
			*out = append(*out, x)
			say("  round %d %-8s %6.0f %-8s p50 %6.2f p99 %6.2f ms errors %d cpu µs/op %s %s", round+1, p.name, x.RPS, p.unit, x.P50ms, x.P99ms, x.Errors, formatCPU(x.CPUus), x.FirstErr)
		}
	}
	return ra, rb
}

// keepAliveRounds runs each variant once to warm up (o.warm), then
// o.rounds rounds of every variant (o.dur each, o.conns connections) in a
// rotating order, so none always runs first; meter records each timed
// run's CPU per request.
func (r *runner) keepAliveRounds(vs []variant, meter *cpuMeter) map[string][]runResult {
	o := r.o
	for _, v := range vs {
		w := runKeepAlive(r.site.addr, v, o.conns, o.warm, o.maxReq, nil)
		say("  warm %-13s %8.0f req/s errors %d %s", v.name, w.RPS, w.Errors, w.FirstErr)
	}
	runs := map[string][]runResult{}
	for round := 0; round < o.rounds; round++ {
		for i := range vs {
			v := vs[(i+round)%len(vs)]
			x := runKeepAlive(r.site.addr, v, o.conns, o.dur, o.maxReq, meter)
			runs[v.name] = append(runs[v.name], x)
			say("  round %d %-13s %8.0f req/s p50 %6.2f p99 %6.2f ms errors %d, cpu %s %s", round+1, v.name, x.RPS, x.P50ms, x.P99ms, x.Errors, formatCPU(x.CPUus), x.FirstErr)
		}
	}
	return runs
}
