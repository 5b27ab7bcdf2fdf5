package daemon

import (
	"github.com/evstream/evstream/dashboard"
	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/transport"
)

// UIPath is where the live view is served on the MI listener (mi.ui).
const UIPath = dashboard.Path

// connections lists the connections of every transport, at-most-once and
// (once built) at-least-once, for the live view.
func (d *Daemon) connections() []dashboard.Connection {
	var out []dashboard.Connection
	add := func(t evi.Transport, policy evi.Delivery) {
		if r, ok := t.(transport.ConnectionReporter); ok {
			for _, c := range r.Connections() {
				out = append(out, dashboard.Connection{Connection: c, Delivery: policy.String()})
			}
		}
	}
	for _, b := range d.transports {
		add(b.t, evi.AtMostOnce)
	}
	if d.du != nil {
		if reg := d.du.transports(); reg != nil {
			for _, p := range transport.Plugins() {
				if t := reg.Transport(p.Scheme); t != nil {
					add(t, evi.AtLeastOnce)
				}
			}
		}
	}
	return out
}

// uiStatistics are get_statistics' counters, for the live view.
func (d *Daemon) uiStatistics() []dashboard.Stat {
	stats := d.statistics()
	out := make([]dashboard.Stat, len(stats))
	for i, s := range stats {
		out[i] = dashboard.Stat{Name: s.Name, Value: s.Value}
	}
	return out
}
