package metrics

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/dc"
)

// Health probes each DC every interval (an SMB2 negotiate, as -check
// -probe does) and answers /healthz: 200 when every domain has at least
// one DC up, 503 otherwise. Probing, rather than waiting for a login to
// fail, lets a load balancer or an alert see a dead DC before users do.
type Health struct {
	src      Source
	interval time.Duration
	timeout  time.Duration

	mu     sync.Mutex
	ok     map[string]bool // DC address -> answered the last probe
	probed bool
}

// NewHealth returns a Health for the DCs of src's Authorizer; Run probes.
func NewHealth(src Source, interval, timeout time.Duration) *Health {
	return &Health{src: src, interval: interval, timeout: timeout, ok: map[string]bool{}}
}

// Run probes now and then every interval until ctx is done.
func (h *Health) Run(ctx context.Context) {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		h.probe(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probe asks every DC at once and records who answered.
func (h *Health) probe(ctx context.Context) {
	a := h.src()
	if a == nil {
		return
	}
	addrs := map[string]bool{}
	for _, d := range a.DCStats() {
		for _, s := range d.DCs {
			addrs[s.Addr] = false
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for addr := range addrs {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, h.timeout)
			defer cancel()
			_, err := dc.Probe(pctx, addr)
			mu.Lock()
			addrs[addr] = err == nil
			mu.Unlock()
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	h.mu.Lock()
	h.ok, h.probed = addrs, true
	h.mu.Unlock()
}

// up reports whether a DC answered the last probe and the relay is not
// skipping it.
func (h *Health) up(s dc.DCStats) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ok[s.Addr] && !s.Down
}

// ServeHTTP answers /healthz with one line per domain.
func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	code := http.StatusOK
	h.mu.Lock()
	probed := h.probed
	h.mu.Unlock()
	a := h.src()
	switch {
	case a == nil || !probed:
		code = http.StatusServiceUnavailable
		b.WriteString("starting: DCs not probed yet\n")
	default:
		for _, d := range a.DCStats() {
			var up []string
			for _, s := range d.DCs {
				if h.up(s) {
					up = append(up, s.Addr)
				}
			}
			if len(up) == 0 {
				code = http.StatusServiceUnavailable
				fmt.Fprintf(&b, "%s: no DC up (of %d)\n", d.Domain, len(d.DCs))
			} else {
				fmt.Fprintf(&b, "%s: %d of %d DCs up: %s\n", d.Domain, len(up), len(d.DCs), strings.Join(up, " "))
			}
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write([]byte(b.String()))
}
