package dc

import "time"

// DCStats is one DC's state in a Pool, for metrics.
type DCStats struct {
	Addr     string // host:port
	Down     bool   // marked down after a failure, for DownBackoff
	InFlight int    // handshake steps at the DC now
	Conns    int    // open connections, retired ones included
}

// StatsReporter is a Relay that reports its DCs' state (a Pool does).
type StatsReporter interface {
	Stats() []DCStats
}

var _ StatsReporter = (*Pool)(nil)

// Stats reports each DC's state, in configured order.
func (p *Pool) Stats() []DCStats {
	now := time.Now()
	out := make([]DCStats, 0, len(p.dcs))
	for _, d := range p.dcs {
		d.mu.Lock()
		s := DCStats{Addr: d.addr, InFlight: len(d.sem), Conns: len(d.all)}
		d.mu.Unlock()
		s.Down = d.health.IsDown(now)
		out = append(out, s)
	}
	return out
}
