package dc

import "time"

// Views of the pool's and connections' state that only tests need.

// isDown reports whether the DC at addr is currently marked down.
func (p *Pool) isDown(addr string) bool {
	for _, d := range p.dcs {
		if d.addr == addr {
			return d.health.IsDown(time.Now())
		}
	}
	return false
}

// isDead reports whether c's reader has stopped.
func (c *conn) isDead() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}
