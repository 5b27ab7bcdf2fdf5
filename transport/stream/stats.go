package stream

import (
	"sort"
	"sync/atomic"
	"time"
)

// Counters are cumulative counts since the transport started. An event is
// counted in Delivered or Failed before its outcome is reported, so a
// snapshot taken from or after an outcome callback includes that event.
type Counters struct {
	// Sent counts events accepted by Send.
	Sent uint64
	// Delivered counts accepted events delivered: written (notification
	// mode) or confirmed by a reply without error (reliable mode).
	Delivered uint64
	// Failed counts accepted events that failed, whatever the reason
	// (timeouts included). Sent = Delivered + Failed + pending.
	Failed uint64
	// Timeouts counts the failures past the deadline (evi.ErrTimeout).
	Timeouts uint64
	// Overflows counts events Send refused because a queue was full
	// (ReasonQueueFull): the destination's, in events or bytes, or the
	// transport's; they are not in Sent.
	Overflows uint64
	// Connects counts successful connects.
	Connects uint64
	// Reconnects counts the connects after the first one to an address.
	Reconnects uint64
	// ConnectFailures counts failed connect attempts.
	ConnectFailures uint64
	// UnknownReplies counts replies ignored because their id matched no
	// pending request, or was null or not a number.
	UnknownReplies uint64
	// BadReplies counts data from the peer that was not a JSON-RPC response:
	// complete objects that are ignored, and garbage or oversize data that
	// closes the connection.
	BadReplies uint64
	// BytesWritten counts the bytes written to connections.
	BytesWritten uint64
	// Writes counts write calls on connections; with coalescing it grows
	// much slower than Delivered under load.
	Writes uint64
}

func (c *Counters) add(o Counters) {
	c.Sent += o.Sent
	c.Delivered += o.Delivered
	c.Failed += o.Failed
	c.Timeouts += o.Timeouts
	c.Overflows += o.Overflows
	c.Connects += o.Connects
	c.Reconnects += o.Reconnects
	c.ConnectFailures += o.ConnectFailures
	c.UnknownReplies += o.UnknownReplies
	c.BadReplies += o.BadReplies
	c.BytesWritten += o.BytesWritten
	c.Writes += o.Writes
}

// Stats is a snapshot of a Transport's counters and destinations.
type Stats struct {
	// Counters are the totals over every address, past ones included.
	Counters
	// Pending is how many accepted events have no outcome yet:
	// Sent - Delivered - Failed.
	Pending int64
	// QueuedBytes is how many bytes wait in the queues, over every
	// destination (bounded by Config.TotalBytes).
	QueuedBytes int64
	// Addresses describes each destination address in use, by Address.
	Addresses []AddressStats
}

// The states of an address, in AddressStats.State.
const (
	StateIdle       = "idle"       // no connection, nothing to send
	StateConnecting = "connecting" // a connect is in progress
	StateConnected  = "connected"  // a connection is up
	StateBackoff    = "backoff"    // the last connect failed; no connection until one succeeds
)

// AddressStats describes one destination address (host:port) and the
// connection shared by its subscriptions.
type AddressStats struct {
	// Address is "tcp:host:port".
	Address string
	// State is StateIdle, StateConnecting, StateConnected or StateBackoff.
	State string
	// Subscriptions is how many open destinations use the address.
	Subscriptions int
	// Connected reports whether a connection is up.
	Connected bool
	// Queued is how many events wait to be written, QueuedBytes their bytes.
	Queued      int
	QueuedBytes int
	// InFlight is how many requests await a reply (reliable mode).
	InFlight int
	// Backoff is the current wait between connect attempts; 0 after a
	// successful connect. NextAttempt is the time until the next attempt
	// is allowed (0: now, at the next event to send).
	Backoff     time.Duration
	NextAttempt time.Duration
	// LastError is the last connect error, empty after a successful connect.
	LastError string
	// Counters are this address's counts.
	Counters
}

// counters are the live counts of one conn, updated without its lock.
type counters struct {
	delivered, failed, timeouts, overflows           atomic.Uint64
	connects, reconnects, connectFailures            atomic.Uint64
	unknownReplies, badReplies, bytesWritten, writes atomic.Uint64
}

// snapshotLocked returns c's counters; c.mu must be held.
func (c *conn) snapshotLocked() Counters {
	k := &c.ctr
	return Counters{
		Sent:            c.sent,
		Delivered:       k.delivered.Load(),
		Failed:          k.failed.Load(),
		Timeouts:        k.timeouts.Load(),
		Overflows:       k.overflows.Load(),
		Connects:        k.connects.Load(),
		Reconnects:      k.reconnects.Load(),
		ConnectFailures: k.connectFailures.Load(),
		UnknownReplies:  k.unknownReplies.Load(),
		BadReplies:      k.badReplies.Load(),
		BytesWritten:    k.bytesWritten.Load(),
		Writes:          k.writes.Load(),
	}
}

// Stats returns a snapshot of the transport's counters and addresses.
func (t *Transport) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := Stats{Counters: t.retired, QueuedBytes: t.queued.Load()}
	now := t.now()
	for _, c := range t.conns {
		c.mu.Lock()
		a := AddressStats{
			Address:       c.name,
			State:         StateIdle,
			Subscriptions: c.dests,
			Connected:     c.nc != nil,
			Backoff:       c.backoff,
			Counters:      c.snapshotLocked(),
		}
		for _, d := range c.pend.dests {
			a.Queued += len(d.q) - d.qhead
			a.QueuedBytes += d.bytes
		}
		switch {
		case c.nc != nil:
			a.State = StateConnected
		case c.connecting:
			a.State = StateConnecting
		case c.lastErr != nil || now < c.retryAt:
			// The last connect failed: down until a connect succeeds (the
			// next attempt is due at the next event once NextAttempt is 0).
			a.State = StateBackoff
			a.NextAttempt = time.Duration(max(c.retryAt-now, 0))
		}
		if c.win != nil {
			a.InFlight = c.win.n
		}
		if c.lastErr != nil {
			a.LastError = c.lastErr.Error()
		}
		c.mu.Unlock()
		s.Counters.add(a.Counters)
		s.Addresses = append(s.Addresses, a)
	}
	s.Pending = int64(s.Sent - s.Delivered - s.Failed)
	sort.Slice(s.Addresses, func(i, j int) bool { return s.Addresses[i].Address < s.Addresses[j].Address })
	return s
}
