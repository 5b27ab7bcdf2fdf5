package stream

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/evstream/evstream/evi"
)

// errNoSeq refuses an event without a sequence (Config.SeqIDs).
var errNoSeq = errors.New("the event has no sequence to send as its id (SeqIDs)")

// itemOverhead is what an event costs in a queue besides its params and
// method: the item and the JSON-RPC envelope.
const itemOverhead = 96

// item is one accepted event waiting in a destination's queue (or in the
// writer's hands). It is kept small (56 bytes, under a cache line): the
// raiser writes it on one core and the writer reads it on another, so its
// size is memory traffic on every delivery. Its method is its
// destination's (destination.method), found by the writer.
type item struct {
	m        *evi.Message // its params are encoded by the writer (evi.Message.Encoded, shared)
	done     evi.Done
	deadline int64        // Transport.now() clock: the Send plus the timeout
	id       int64        // reliable mode: the request id, once assigned
	d        *destination // whose it is
	// seq is its rank among the hand-overs to the conn, modulo 2^32
	// (seqBefore compares ranks across the wrap).
	seq  uint32
	size uint32 // bytes counted against the queue bounds (maxItemSize)
}

// maxItemSize is the largest event a queue takes (item.size).
const maxItemSize = math.MaxUint32

// seqBefore reports whether rank a was handed over before rank b: ranks
// wrap at 2^32, and those queued on one conn at the same time are never
// 2^31 apart (were they, only the interleaving of destinations would
// change, never the order within one).
func seqBefore(a, b uint32) bool { return int32(a-b) < 0 }

// destination is one subscription's socket: its own queue, on the
// connection (conn) it shares with every destination of the same
// host:port. The conn's writer takes from the queues of its destinations
// in turn, so that a backlog of one does not delay the others; a
// destination's own events leave in the order they were handed over.
//
// Everything below the first fields is guarded by c.mu.
type destination struct {
	c    *conn
	sock Socket
	name string

	q        []item // q[qhead:] waits to be written, in hand-over order
	qhead    int
	bytes    int   // bytes of the queued events
	inflight int   // requests written and awaiting a reply
	ifHead   int32 // its oldest request in the window, -1: none
	ifTail   int32
	lastSend int64 // when Send last queued an event (Transport.now clock)
	ready    bool  // in c.ready: has queued events
	taken    int   // events the writer took this batch (takeLocked)
	hidx     int   // index in c.pend (events pending: queued or in flight), -1: none
	closed   bool
	stalled  bool // stayed full for a whole WaitRoom: waits fail at once
	// behind (Config.SeqIDs): an event expired before it was written, so
	// the later ones fail unwritten too until nothing of d is pending: an
	// at-least-once event's retry must not arrive after later events.
	behind bool
	room   chan struct{} // closed when room is made; nil: nobody waits
}

func (d *destination) String() string { return d.name }

// Key returns the printed form, which names the scheme, the host as
// written, the port and the method: two "tcp:" destinations are the same
// subscriber exactly when these are equal.
func (d *destination) Key() string { return d.name }

// Connection names the connection the destination shares with the others
// of its host:port (evi.Connected).
func (d *destination) Connection() string { return d.c.name }

// Send queues m for delivery; see evi.Destination. It never blocks on the
// network. It refuses with ReasonQueueFull when the destination's queue,
// or the transport's, is full, and with ReasonClosed after Close. While
// connects to the address keep failing and the next attempt is not due,
// the event is accepted and fails at once (ReasonConnect), without a
// connect.
func (d *destination) Send(m *evi.Message, done evi.Done) error {
	return d.send(m, done, d.c.t.now())
}

// SendAt is Send with the hand-over time given (evi.TimedSender): the
// registry reads the clock once for all the subscribers of a raise.
func (d *destination) SendAt(m *evi.Message, done evi.Done, now time.Time) error {
	return d.send(m, done, int64(now.Sub(d.c.t.epoch)))
}

// send is Send at now, on the Transport.now clock.
func (d *destination) send(m *evi.Message, done evi.Done, now int64) error {
	c := d.c
	t := c.t
	if t.stopping.Load() {
		return c.errClosedSend
	}
	if m.Seq == 0 && t.cfg.SeqIDs {
		return &evi.DeliveryError{Dest: c.name, Reason: evi.ReasonRefused, Err: errNoSeq}
	}
	size := d.size(m)
	c.mu.Lock()
	if d.closed || c.closed {
		c.mu.Unlock()
		return c.errClosedSend
	}
	if c.nc == nil && !c.connecting && now < c.retryAt {
		// Backing off: no connect, no queue, no goroutine woken.
		c.sent++
		c.countLocked(1, true)
		err := c.backoffErr
		c.mu.Unlock()
		t.pending.Add(1)
		b := append(t.disp.batch(), outcome{m: m, done: done, err: err})
		t.disp.report(c.shard, b)
		return nil
	}
	if d.behind {
		if d.qhead < len(d.q) || d.ifHead >= 0 {
			c.mu.Unlock()
			return c.errBehind
		}
		d.behind = false // what was pending has failed: a new round
	}
	if err := d.fullLocked(size); err != nil {
		c.mu.Unlock()
		return err
	}
	if uint64(size) > maxItemSize {
		c.mu.Unlock()
		return c.overflow("bytes in one event", maxItemSize)
	}
	if t.queued.Add(int64(size)) > t.cfg.TotalBytes {
		t.queued.Add(-int64(size))
		c.mu.Unlock()
		return c.overflow("the transport's queues hold TotalBytes already", t.cfg.TotalBytes)
	}
	switch {
	case d.qhead == len(d.q) && cap(d.q) > maxIdleItems && now-d.lastSend > int64(time.Second):
		d.q, d.qhead = nil, 0 // a burst long over: give its memory back
	case d.qhead > 0 && len(d.q) == cap(d.q):
		n := copy(d.q, d.q[d.qhead:])
		clear(d.q[n:])
		d.q, d.qhead = d.q[:n], 0
	}
	d.lastSend = now
	deadline := now + t.timeout
	c.seq++
	d.q = append(d.q, item{m: m, done: done, deadline: deadline, seq: uint32(c.seq), size: uint32(size), d: d})
	d.bytes += size
	c.sent++
	t.pending.Add(1)
	if !d.ready {
		d.ready = true
		c.ready = append(c.ready, d)
	}
	if d.hidx < 0 {
		c.pend.push(d)
	}
	c.armLocked(deadline)
	c.kickLocked()
	c.mu.Unlock()
	return nil
}

// method returns the JSON-RPC method of m at d: the socket's, else the
// event's name.
func (d *destination) method(m *evi.Message) string {
	if d.sock.Method != "" {
		return d.sock.Method
	}
	return m.Event.Name()
}

// size returns what m counts against the queue bounds: the size of its
// params once encoded (estimated from the params: the encoding is made by
// the writer, off the raiser's goroutine), its method and the overhead of
// an event.
func (d *destination) size(m *evi.Message) int {
	return paramsSize(m, d.c.t.cfg.EventParam, m.Event.Name()) + len(d.method(m)) + itemOverhead
}

// fullLocked returns the error of a Send of size bytes that does not fit.
func (d *destination) fullLocked(size int) error {
	cfg := &d.c.t.cfg
	switch {
	case len(d.q)-d.qhead >= cfg.QueueSize:
		return d.c.overflow("events queued for the destination", int64(cfg.QueueSize))
	case d.bytes+size > cfg.QueueBytes && d.bytes > 0:
		return d.c.overflow("bytes queued for the destination", int64(cfg.QueueBytes))
	}
	return nil
}

// WaitRoom returns once a Send of m would fit in the destination's queue,
// or ctx's error. A destination that stays full for a whole wait is marked
// stalled: later waits fail at once, until its queue has drained to half.
func (d *destination) WaitRoom(ctx context.Context, m *evi.Message) error {
	c := d.c
	size := d.size(m)
	for {
		c.mu.Lock()
		if d.closed || c.closed {
			c.mu.Unlock()
			return c.errClosedSend
		}
		if d.fullLocked(size) == nil && c.t.queued.Load()+int64(size) <= c.t.cfg.TotalBytes {
			c.mu.Unlock()
			return nil
		}
		if d.stalled {
			c.mu.Unlock()
			return c.overflow("stalled: stayed full for a whole wait", int64(c.t.cfg.QueueBytes))
		}
		if d.room == nil {
			d.room = make(chan struct{})
		}
		room := d.room
		c.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			c.mu.Lock()
			if d.fullLocked(size) != nil {
				d.stalled = true
			}
			c.mu.Unlock()
			return ctx.Err()
		}
	}
}

// madeRoomLocked wakes the waiters of d after events left its queue, and
// clears its stalled mark once it has drained to half.
func (d *destination) madeRoomLocked() {
	if d.room != nil {
		close(d.room)
		d.room = nil
	}
	if d.stalled && d.bytes <= d.c.t.cfg.QueueBytes/2 && len(d.q)-d.qhead <= d.c.t.cfg.QueueSize/2 {
		d.stalled = false
	}
}

// earliest returns the deadline of d's oldest pending event (in flight or
// queued: the requests in flight were handed over first), MaxInt64 when
// nothing is pending. c.mu is held.
func (d *destination) earliest() int64 {
	switch {
	case d.ifHead >= 0:
		return d.c.win.slots[d.ifHead].deadline
	case d.qhead < len(d.q):
		return d.q[d.qhead].deadline
	}
	return math.MaxInt64
}

// pending reports whether d has events queued or in flight; c.mu is held.
func (d *destination) pending() bool { return d.qhead < len(d.q) || d.inflight > 0 }

// Close releases the destination; its connection closes once no
// destination uses it and everything queued on it is done. Events already
// accepted still complete. Close is idempotent.
func (d *destination) Close() error {
	c := d.c
	c.mu.Lock()
	if d.closed {
		c.mu.Unlock()
		return nil
	}
	d.closed = true
	c.dests--
	if c.dests == 0 {
		c.wakeWriterLocked() // a lingering writer ends at once
	}
	if d.room != nil {
		close(d.room)
		d.room = nil
	}
	retire := c.idleLocked()
	c.mu.Unlock()
	if retire {
		c.retire()
	}
	return nil
}

// overflow counts and logs an event refused for lack of room, and returns
// the refusal.
func (c *conn) overflow(what string, limit int64) error {
	c.ctr.overflows.Add(1)
	c.log.Warn("queue full, event refused", "limit", what, "max", limit)
	return &evi.DeliveryError{Dest: c.name, Reason: evi.ReasonQueueFull,
		Err: fmt.Errorf("%d %s: %w", limit, what, errQueueFull)}
}

// errQueueFull is the cause of the refusals of a full queue.
var errQueueFull = errors.New("queue full")
