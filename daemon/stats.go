package daemon

import (
	"strings"

	"github.com/evstream/evstream/transport"
)

// schemeStats are the statistics of one transport plugin over both of the
// daemon's instances of it: the one of at-most-once subscribers and, once
// built, the one of at-least-once subscribers (durable.parse). Both count
// what goes over sockets of the scheme, so get_statistics' "tcp:connects"
// and /metrics count the connections of every subscriber.
type schemeStats struct {
	own    transport.StatsReporter
	du     *durable // nil: no at-least-once side
	scheme string
}

// Statistics returns own's statistics with the at-least-once instance's
// added (transport.StatsReporter).
func (s schemeStats) Statistics() []transport.Stat {
	stats := s.own.Statistics()
	if s.du == nil {
		return stats
	}
	if other := s.du.transportStats(s.scheme); other != nil {
		return sumStats(stats, other.Statistics())
	}
	return stats
}

// sumStats adds b's statistics to a's, which are those of another instance
// of the same transport (the same statistics in the same order): values
// are added, and so are the series with the same label values; a series
// only b has is added to a's. a is changed and returned.
func sumStats(a, b []transport.Stat) []transport.Stat {
	for i := range a {
		if i >= len(b) || b[i].Name != a[i].Name {
			continue // not the same transport: nothing to add
		}
		a[i].Value += b[i].Value
		if len(b[i].Series) == 0 {
			continue
		}
		at := make(map[string]int, len(a[i].Series))
		for k, s := range a[i].Series {
			at[strings.Join(s.Values, "\x00")] = k
		}
		for _, s := range b[i].Series {
			if k, ok := at[strings.Join(s.Values, "\x00")]; ok {
				a[i].Series[k].Value += s.Value
			} else {
				a[i].Series = append(a[i].Series, s)
			}
		}
	}
	return a
}

// schemeStats returns the statistics of b's plugin over both of its
// instances (schemeStats); nil when b counts nothing.
func (d *Daemon) schemeStats(b built) transport.StatsReporter {
	r, ok := b.t.(transport.StatsReporter)
	if !ok {
		return nil
	}
	return schemeStats{own: r, du: d.du, scheme: b.p.Scheme}
}
