package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/ratelog"
)

// conn is the connection to one address (host:port), shared by every
// destination that points there.
//
// Its goroutines exist only while they have work: the writer (run) while
// events are queued — it connects and writes —, the reader (read) while a
// connection is open, and the expiry timer's callback while a deadline is
// due. They meet at mu, which guards the destinations' queues, the window
// and the state below. Outcomes go to the transport's dispatcher, never
// to a Done directly.
type conn struct {
	t     *Transport
	key   string // host:port as written: what is dialled
	name  string // "tcp:host:port", for errors and logs
	shard int    // the dispatcher shard of its outcomes
	log   *ratelog.Logger

	// Errors shared by the events that fail the same way (never modified).
	errClosedSend     error // refused by Send: closed
	errBehind         error // SeqIDs: not written, behind an event that expired unwritten
	errTimeoutQueued  error // not written in time
	errTimeoutWritten error // written, no reply in time
	errClosedQueued   error // the transport closed before it was written
	errClosedWritten  error // the transport closed with it written, unanswered

	mu         sync.Mutex
	dests      int            // open destinations using the conn
	ready      []*destination // destinations with queued events
	merge      []*destination // takeLocked's scratch heap
	pend       pendHeap       // destinations with pending events, by earliest deadline
	seq        uint64         // hand-overs so far: the order of events across destinations
	writing    bool           // the writer goroutine runs
	sleeping   bool           // the writer waits for work, or for a window slot
	wake       chan struct{}  // wakes the writer
	closed     bool           // the transport closed it
	retired    bool           // no destination and nothing pending: gone
	nc         net.Conn
	connecting bool
	win        *window // reliable mode: requests awaiting a reply
	timer      *time.Timer
	timerAt    int64 // when the timer fires; math.MaxInt64: not armed
	sent       uint64
	// connect state
	everConnected bool
	lastErr       error // the last connect error; nil once connected
	backoffErr    error // what the events sent while backing off fail with
	retryAt       int64
	backoff       time.Duration

	ctr counters
}

func newConn(t *Transport, key string, shard int) *conn {
	name := t.cfg.Scheme + ":" + key
	what, answered := "not written", "no reply"
	if !t.cfg.ReliableMode {
		answered = "not written" // a written notification is delivered
	}
	deliveryErr := func(r evi.Reason, written bool, err error) error {
		return &evi.DeliveryError{Dest: name, Reason: r, Written: written, Err: err}
	}
	c := &conn{
		t:                 t,
		key:               key,
		name:              name,
		shard:             shard,
		log:               t.log.With("address", name),
		errClosedSend:     deliveryErr(evi.ReasonClosed, false, fmt.Errorf("destination closed: %w", evi.ErrClosed)),
		errBehind:         deliveryErr(evi.ReasonTimeout, false, fmt.Errorf("not sent: an earlier event to this socket was not written within %v (kept back so that it arrives first): %w", t.cfg.Timeout, evi.ErrTimeout)),
		errTimeoutQueued:  deliveryErr(evi.ReasonTimeout, false, fmt.Errorf("%s within %v: %w", what, t.cfg.Timeout, evi.ErrTimeout)),
		errTimeoutWritten: deliveryErr(evi.ReasonTimeout, true, fmt.Errorf("%s within %v: %w", answered, t.cfg.Timeout, evi.ErrTimeout)),
		errClosedQueued:   deliveryErr(evi.ReasonClosed, false, fmt.Errorf("transport closed: %w", evi.ErrClosed)),
		errClosedWritten:  deliveryErr(evi.ReasonClosed, true, fmt.Errorf("transport closed before the reply: %w", evi.ErrClosed)),
		wake:              make(chan struct{}, 1),
		timerAt:           math.MaxInt64,
	}
	return c
}

// kickLocked makes sure the writer runs (events were queued): it starts
// it, or wakes it.
func (c *conn) kickLocked() {
	if !c.writing {
		c.writing = true
		c.t.wg.Add(1)
		go c.run()
		return
	}
	c.wakeWriterLocked()
}

// wakeWriterLocked wakes the writer if it sleeps (for work, or for a
// window slot).
func (c *conn) wakeWriterLocked() {
	if c.sleeping {
		c.sleeping = false
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// armLocked makes the expiry timer fire no later than deadline. Every
// scheduled run of the callback holds a count of the transport's wait
// group, released by the run or by the Stop that cancels it, so that
// Close waits for a callback in progress.
func (c *conn) armLocked(deadline int64) {
	if deadline >= c.timerAt || c.closed {
		return
	}
	d := time.Duration(max(deadline-c.t.now(), 0))
	c.t.wg.Add(1)
	if c.timer == nil {
		c.timer = time.AfterFunc(d, c.expire)
	} else {
		if c.timer.Stop() {
			c.t.wg.Done() // that run is cancelled
		}
		c.timer.Reset(d)
	}
	c.timerAt = deadline
}

// stopTimerLocked cancels the scheduled expiry, if any.
func (c *conn) stopTimerLocked() {
	if c.timer != nil && c.timer.Stop() {
		c.t.wg.Done()
	}
	c.timerAt = math.MaxInt64
}

// keepBackLocked (Config.SeqIDs) fails what d has queued, unwritten,
// after one of its events expired unwritten, and makes it refuse more
// until nothing of it is pending: nothing overtakes the expired event,
// which at-least-once delivery sends again first (go-back-N).
func (c *conn) keepBackLocked(d *destination, b []outcome) []outcome {
	d.behind = true
	for d.qhead < len(d.q) {
		it := &d.q[d.qhead]
		b = append(b, outcome{m: it.m, done: it.done, err: c.errBehind})
		c.unqueueLocked(d, it)
		d.qhead++
	}
	return b
}

// expire runs on the timer: it fails the queued and in-flight events past
// their deadline, whatever their order across destinations, and arms the
// timer for the next deadline.
func (c *conn) expire() {
	defer c.t.wg.Done()
	now := c.t.now()
	b := c.t.disp.batch()
	c.mu.Lock()
	if c.closed || c.retired {
		c.mu.Unlock()
		return
	}
	c.timerAt = math.MaxInt64
	for c.pend.len() > 0 {
		d := c.pend.top()
		if d.earliest() > now {
			break
		}
		for d.ifHead >= 0 && c.win.slots[d.ifHead].deadline <= now {
			b = append(b, c.win.remove(d.ifHead, c.errTimeoutWritten))
		}
		expired := false
		for d.qhead < len(d.q) && d.q[d.qhead].deadline <= now {
			it := &d.q[d.qhead]
			b = append(b, outcome{m: it.m, done: it.done, err: c.errTimeoutQueued})
			c.unqueueLocked(d, it)
			d.qhead++
			expired = true
		}
		if expired && c.t.cfg.SeqIDs {
			b = c.keepBackLocked(d, b)
		}
		d.afterTakeLocked()
	}
	if c.pend.len() > 0 {
		c.armLocked(c.pend.top().earliest())
	}
	c.countLocked(len(b), true)
	c.ctr.timeouts.Add(uint64(len(b)))
	if len(b) > 0 {
		c.wakeWriterLocked()
	}
	retire := c.idleLocked()
	c.mu.Unlock()
	c.t.disp.report(c.shard, b)
	if retire {
		c.retire()
	}
}

// unqueueLocked releases the bytes of it, taken off d's queue.
func (c *conn) unqueueLocked(d *destination, it *item) {
	d.bytes -= int(it.size)
	c.t.queued.Add(-int64(it.size))
	*it = item{}
}

// afterTakeLocked updates d's places after events left it: its queue
// compacted when empty, its turn in c.ready, its place in c.pend, its
// waiters woken.
func (d *destination) afterTakeLocked() {
	c := d.c
	if d.qhead == len(d.q) {
		d.q, d.qhead = d.q[:0], 0 // its array is trimmed by Send once it is idle
	}
	if d.pending() {
		c.pend.fix(d)
	} else if d.hidx >= 0 {
		c.pend.remove(d)
	}
	d.madeRoomLocked()
}

// countLocked counts n accepted events completed with an error (failed) or
// without (delivered). Events are counted when they are taken off a queue
// or the window, under c.mu, before their outcome is reported (see
// Counters).
func (c *conn) countLocked(n int, failed bool) {
	if n == 0 {
		return
	}
	if failed {
		c.ctr.failed.Add(uint64(n))
	} else {
		c.ctr.delivered.Add(uint64(n))
	}
}

// idleLocked reports whether the conn has no destination and nothing
// pending, and marks it retired if so: the caller then calls retire.
func (c *conn) idleLocked() bool {
	if c.retired || c.closed || c.dests > 0 || c.writing || c.pend.len() > 0 {
		return false
	}
	c.retired = true
	return true
}

// retire closes a retired conn's connection and removes it from its
// transport; c.mu must not be held.
func (c *conn) retire() {
	c.mu.Lock()
	nc := c.nc
	c.nc = nil
	c.stopTimerLocked()
	final := c.snapshotLocked()
	c.mu.Unlock()
	if nc != nil {
		nc.Close()
	}
	c.t.forget(c, final)
	c.log.Debug("connection retired: no subscription left")
}

// close fails everything pending with ReasonClosed and closes the
// connection (Transport.Close).
func (c *conn) close() {
	b := c.t.disp.batch()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	for _, d := range c.ready {
		d.ready = false
	}
	c.ready = nil
	for c.pend.len() > 0 {
		d := c.pend.top()
		for d.ifHead >= 0 {
			err := c.errClosedQueued
			if c.win.slots[d.ifHead].written {
				err = c.errClosedWritten
			}
			b = append(b, c.win.remove(d.ifHead, err))
		}
		for ; d.qhead < len(d.q); d.qhead++ {
			it := &d.q[d.qhead]
			b = append(b, outcome{m: it.m, done: it.done, err: c.errClosedQueued})
			c.unqueueLocked(d, it)
		}
		d.afterTakeLocked()
	}
	c.countLocked(len(b), true)
	nc := c.nc
	c.nc = nil
	c.stopTimerLocked()
	c.wakeWriterLocked()
	c.mu.Unlock()
	if nc != nil {
		nc.Close()
	}
	c.t.disp.report(c.shard, b)
}

// teardown closes nc, if it is still the current connection, and fails
// every request awaiting a reply on it (ReasonLost: they were written).
// The next event reconnects.
func (c *conn) teardown(nc net.Conn, cause error) {
	b := c.t.disp.batch()
	c.mu.Lock()
	if nc == nil || c.nc != nc {
		c.mu.Unlock()
		return
	}
	c.nc = nil
	if c.win != nil && c.win.n > 0 {
		// Written: they reached the peer's side, no reply came. The others
		// were still in the writer's hands.
		lost := &evi.DeliveryError{Dest: c.name, Reason: evi.ReasonLost, Written: true,
			Err: fmt.Errorf("connection lost with %d requests unanswered: %w", c.win.n, cause)}
		unwritten := &evi.DeliveryError{Dest: c.name, Reason: evi.ReasonWrite,
			Err: fmt.Errorf("connection lost before the request was written: %w", cause)}
		for _, d := range c.pend.dests {
			for d.ifHead >= 0 {
				err := error(unwritten)
				if c.win.slots[d.ifHead].written {
					err = lost
				}
				b = append(b, c.win.remove(d.ifHead, err))
			}
		}
		c.pend.rebuild() // many heads changed at once
		c.countLocked(len(b), true)
	}
	c.wakeWriterLocked()
	retire := c.idleLocked()
	c.mu.Unlock()
	nc.Close()
	c.log.Warn("connection lost", "reason", cause, "unanswered", len(b))
	c.t.disp.report(c.shard, b)
	if retire {
		c.retire()
	}
}

// connect dials the address. On failure every queued event fails
// (ReasonConnect) and the next attempt waits for a backoff that doubles
// with every failure in a row, with jitter.
func (c *conn) connect() {
	t := c.t
	c.mu.Lock()
	c.connecting = true
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.ConnectTimeout)
	nc, err := t.cfg.Dialer.DialContext(ctx, "tcp", c.key)
	cancel()

	b := t.disp.batch()
	c.mu.Lock()
	c.connecting = false
	if c.closed {
		c.mu.Unlock()
		if nc != nil {
			nc.Close()
		}
		return
	}
	if err != nil {
		if c.backoff == 0 {
			c.backoff = t.cfg.BackoffMin
		} else {
			c.backoff = min(2*c.backoff, t.cfg.BackoffMax)
		}
		wait := jitter(c.backoff)
		c.retryAt = t.now() + int64(wait)
		c.lastErr = err
		reason := evi.ReasonConnect
		if errors.Is(err, evi.ErrForbidden) {
			reason = evi.ReasonRefused // a policy (Config.Dialer's allow-list): retrying will not help
		}
		c.backoffErr = &evi.DeliveryError{Dest: c.name, Reason: reason,
			Err: fmt.Errorf("not connected, next attempt in %v: %w", wait.Round(time.Millisecond), err)}
		failErr := &evi.DeliveryError{Dest: c.name, Reason: reason, Err: fmt.Errorf("connect: %w", err)}
		for _, d := range c.ready {
			for ; d.qhead < len(d.q); d.qhead++ {
				it := &d.q[d.qhead]
				b = append(b, outcome{m: it.m, done: it.done, err: failErr})
				c.unqueueLocked(d, it)
			}
			d.ready = false
			d.afterTakeLocked()
		}
		c.ready = c.ready[:0]
		c.countLocked(len(b), true)
		first := c.backoff == t.cfg.BackoffMin
		c.mu.Unlock()
		c.ctr.connectFailures.Add(1)
		level := slog.LevelDebug
		if first {
			level = slog.LevelWarn // the first failure of a streak
		}
		c.log.Log(level, "connect failed", "err", err, "retry_in", wait.Round(time.Millisecond), "failed_events", len(b))
		t.disp.report(c.shard, b)
		return
	}
	c.nc = nc
	c.backoff, c.retryAt, c.lastErr, c.backoffErr = 0, 0, nil, nil
	reconnect := c.everConnected
	c.everConnected = true
	t.wg.Add(1)
	c.mu.Unlock()
	t.disp.recycle(b)
	go c.read(nc)
	c.ctr.connects.Add(1)
	if reconnect {
		c.ctr.reconnects.Add(1)
		c.log.Info("reconnected")
	} else {
		c.log.Debug("connected")
	}
}

// jitter spreads d by ±20 %, so that many destinations that failed at once
// do not retry at once.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// pendHeap is a min-heap of the destinations with pending events, by the
// deadline of their oldest one: the expiry timer looks at its top. A
// destination's events are in hand-over order, so its oldest is its head;
// across destinations, the heap keeps the order right whatever the order
// of hand-overs.
type pendHeap struct {
	dests []*destination
}

func (h *pendHeap) len() int           { return len(h.dests) }
func (h *pendHeap) top() *destination  { return h.dests[0] }
func (h *pendHeap) less(i, j int) bool { return h.dests[i].earliest() < h.dests[j].earliest() }
func (h *pendHeap) swap(i, j int) {
	h.dests[i], h.dests[j] = h.dests[j], h.dests[i]
	h.dests[i].hidx, h.dests[j].hidx = i, j
}
func (h *pendHeap) push(d *destination) {
	d.hidx = len(h.dests)
	h.dests = append(h.dests, d)
	h.up(d.hidx)
}
func (h *pendHeap) fix(d *destination) { h.down(d.hidx); h.up(d.hidx) }
func (h *pendHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h *pendHeap) down(i int) {
	n := len(h.dests)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h.swap(i, m)
		i = m
	}
}

// rebuild drops the destinations with nothing pending and restores the
// heap after many of its keys changed at once.
func (h *pendHeap) rebuild() {
	kept := h.dests[:0]
	for _, d := range h.dests {
		if d.pending() {
			kept = append(kept, d)
		} else {
			d.hidx = -1
		}
	}
	clear(h.dests[len(kept):])
	h.dests = kept
	for i, d := range h.dests {
		d.hidx = i
	}
	for i := len(h.dests)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *pendHeap) remove(d *destination) {
	i, last := d.hidx, len(h.dests)-1
	if i != last {
		h.swap(i, last)
	}
	h.dests[last] = nil
	h.dests = h.dests[:last]
	d.hidx = -1
	if i != last {
		h.fix(h.dests[i])
	}
}
