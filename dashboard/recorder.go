package dashboard

import (
	"sync/atomic"
	"time"

	"github.com/evstream/evstream/evi"
)

// destStats are the counts of one destination (a subscriber's socket, over
// every event it is subscribed to). Outcomes fill the live part with
// atomics; the sampler, once a second, moves them into the history.
type destStats struct {
	socket string

	// Filled by outcomes.
	delivered, failed atomic.Uint64 // cumulative
	lat               liveHist      // latencies of this second (sampled)
	every             atomic.Uint64 // latencies sampled: one outcome in every (0, 1: all)
	lastErr           atomic.Pointer[errAt]
	errTick           atomic.Uint64 // the sampler's tick when lastErr was set

	// Owned by the sampler (Dashboard.mu).
	prevDelivered, prevFailed uint64
	recent                    [latencyWindow]hist // the last seconds' latencies, a ring
	points                    []point             // the history, a ring of historyLen
	idle                      int                 // seconds since the last outcome
}

// errAt is a failure and when it happened.
type errAt struct {
	msg string
	at  time.Time
}

// point is one second of a destination's history.
type point struct {
	delivered, failed uint32  // in that second
	p50, p99          float64 // ms over the latency window; -1: none
}

// eventStats counts the raises of one event.
type eventStats struct {
	raised atomic.Uint64 // cumulative
	// Owned by the sampler.
	prev uint64
	rate float64
}

// OnRaise counts the raise and puts it in the tail (evi.RaiseObserver).
func (d *Dashboard) OnRaise(m *evi.Message, subscribers int) {
	d.eventStats(m.Event.Name()).raised.Add(1)
	if d.tail.admit() {
		d.tail.add(raisedEntry(m, subscribers))
	}
}

// OnOutcome counts the outcome by destination and puts it in the tail
// (evi.Observer). A failed attempt that will be retried (Outcome.Retry:
// at-least-once) counts as a failure: failed counts attempts.
//
// Reading the clock is most of what an outcome costs, so a busy
// destination's latencies are sampled: all of them up to latencySamples
// a second, one in n beyond (n set by the sampler from the last second's
// count). A failure is kept as the last error once a second, stamped with
// the sampler's clock.
func (d *Dashboard) OnOutcome(o evi.Outcome) {
	ds := d.destStats(o.Socket)
	switch {
	case ds == nil && o.Err == nil:
		d.untracked.delivered.Add(1)
	case ds == nil:
		d.untracked.failed.Add(1)
	case o.Err == nil:
		n := ds.delivered.Add(1)
		if every := ds.every.Load(); (every <= 1 || n%every == 0) && !o.Raised.IsZero() {
			ds.lat.add(max(time.Since(o.Raised), 0))
		}
	default:
		ds.failed.Add(1)
		if tick := d.tick.Load(); ds.errTick.Load() != tick && ds.errTick.Swap(tick) != tick {
			ds.lastErr.Store(&errAt{msg: o.Err.Error(), at: time.Unix(0, d.clock.Load())})
		}
	}
	if d.tail.admit() {
		now := time.Now()
		var lat time.Duration
		if !o.Raised.IsZero() {
			lat = max(now.Sub(o.Raised), 0)
		}
		d.tail.add(outcomeEntry(o, now, lat))
	}
}

// OnSubscription puts the change in the tail (evi.Observer).
func (d *Dashboard) OnSubscription(c evi.SubscriptionChange) {
	d.changes.Add(1)
	if d.tail.admit() {
		d.tail.add(changeEntry(c))
	}
}

// destStats returns the stats of socket, made when first seen; nil once
// MaxDestinations are kept (the totals still count its outcomes).
func (d *Dashboard) destStats(socket string) *destStats {
	if v, ok := d.dests.Load(socket); ok {
		return v.(*destStats)
	}
	if d.ndests.Add(1) > int64(d.cfg.MaxDestinations) {
		d.ndests.Add(-1)
		return nil
	}
	v, loaded := d.dests.LoadOrStore(socket, &destStats{socket: socket})
	if loaded {
		d.ndests.Add(-1)
	}
	return v.(*destStats)
}

// eventStats returns the stats of the event name, made when first raised.
func (d *Dashboard) eventStats(name string) *eventStats {
	if v, ok := d.events.Load(name); ok {
		return v.(*eventStats)
	}
	v, _ := d.events.LoadOrStore(name, &eventStats{})
	return v.(*eventStats)
}

// sampler is the sampled totals: rates over the last second.
type sampler struct {
	at                            time.Time
	prevRaised, prevDel, prevFail uint64
	raisedRate, delRate, failRate float64
	tick                          int // seconds sampled, indexes the latency rings
}

// sampleLocked moves the last second's counts into the history; d.mu is
// held. live reports whether a socket is still subscribed: a destination
// neither subscribed nor heard of for a whole history is forgotten.
func (d *Dashboard) sampleLocked(now time.Time, raised uint64, live func(socket string) bool) {
	s := &d.smp
	secs := 1.0
	if !s.at.IsZero() {
		secs = max(now.Sub(s.at).Seconds(), 0.001)
	}
	del, fail := d.outcomesLocked()
	s.raisedRate = round2(float64(raised-s.prevRaised) / secs)
	s.delRate = round2(float64(del-s.prevDel) / secs)
	s.failRate = round2(float64(fail-s.prevFail) / secs)
	s.prevRaised, s.prevDel, s.prevFail, s.at = raised, del, fail, now
	slot := s.tick % latencyWindow
	s.tick++

	d.events.Range(func(_, v any) bool {
		e := v.(*eventStats)
		n := e.raised.Load()
		e.rate = round2(float64(n-e.prev) / secs)
		e.prev = n
		return true
	})
	d.dests.Range(func(k, v any) bool {
		ds := v.(*destStats)
		del, fail := ds.delivered.Load(), ds.failed.Load()
		p := point{delivered: uint32(del - ds.prevDelivered), failed: uint32(fail - ds.prevFailed)}
		ds.prevDelivered, ds.prevFailed = del, fail
		ds.every.Store(uint64(p.delivered) / latencySamples)
		ds.recent[slot] = ds.lat.take()
		var all hist
		for i := range ds.recent {
			all.add(&ds.recent[i])
		}
		p.p50, p.p99 = all.quantile(0.50), all.quantile(0.99)
		if len(ds.points) < historyLen {
			ds.points = append(ds.points, p)
		} else {
			copy(ds.points, ds.points[1:])
			ds.points[historyLen-1] = p
		}
		if p.delivered != 0 || p.failed != 0 {
			ds.idle = 0
		} else if ds.idle++; ds.idle > historyLen {
			if live(ds.socket) {
				ds.idle = 0
			} else { // its counts stay in the totals
				d.untracked.delivered.Add(ds.delivered.Load())
				d.untracked.failed.Add(ds.failed.Load())
				d.dests.Delete(k)
				d.ndests.Add(-1)
			}
		}
		return true
	})
}

// outcomesLocked returns how many outcomes were delivered and failed, over
// every destination; d.mu is held (no destination is forgotten meanwhile).
func (d *Dashboard) outcomesLocked() (delivered, failed uint64) {
	delivered, failed = d.untracked.delivered.Load(), d.untracked.failed.Load()
	d.dests.Range(func(_, v any) bool {
		ds := v.(*destStats)
		delivered += ds.delivered.Load()
		failed += ds.failed.Load()
		return true
	})
	return delivered, failed
}

// droppedLocked returns how many entries the tail did not take: those
// offered (every raise, outcome and change) less those it took; outcomes
// is outcomesLocked's sum.
func (d *Dashboard) droppedLocked(outcomes uint64) uint64 {
	offered := outcomes + d.changes.Load()
	d.events.Range(func(_, v any) bool {
		offered += v.(*eventStats).raised.Load()
		return true
	})
	return offered - min(offered, d.tail.position())
}

// latest returns the last point of ds, or a point with no latency.
func (ds *destStats) latest() point {
	if len(ds.points) == 0 {
		return point{p50: -1, p99: -1}
	}
	return ds.points[len(ds.points)-1]
}

var _ evi.RaiseObserver = (*Dashboard)(nil)
