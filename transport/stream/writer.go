package stream

import (
	"fmt"
	"math"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/jsonrpc"
)

const (
	// chunkSize is how many bytes the writer encodes before writing them:
	// a burst of queued events goes out in writes of about this size.
	chunkSize = 64 << 10
	// writeGrace is the least time a write is given before it is deemed
	// stuck.
	writeGrace = 10 * time.Millisecond
	// maxIdleItems is the largest queue array a destination keeps once it
	// is empty.
	maxIdleItems = 4096
	// maxBatch bounds the events the writer takes off the queues at once.
	maxBatch = 1024
	// turnItems is how many events a destination gives the writer per
	// turn when several have events queued: destinations take turns, so
	// that a backlog of one (a replay, a slow burst) delays the live events
	// of the others by at most a turn each.
	turnItems = 64
	// writerLinger is how long an idle writer waits for more work before
	// it ends (a busy destination keeps its writer and its buffers; an
	// idle one holds none).
	writerLinger = 2 * time.Second
)

// writer is the state of one run of a conn's writer goroutine. Its buffers
// come from a pool: a conn with nothing to write holds none.
type writer struct {
	batch []item
	spare []item // the array a lone destination's queue swaps with batch
	buf   []byte
	ends  []int          // end offset in buf of each item of a chunk, -1: skipped
	late  []*destination // Config.SeqIDs: those with an event skipped as too late this batch
}

var writers = sync.Pool{New: func() any { return &writer{buf: make([]byte, 0, chunkSize+1024)} }}

// release gives w back to the pool, dropping what a burst or a huge event
// grew.
func (w *writer) release() {
	clear(w.batch)
	w.batch = w.batch[:0]
	if cap(w.batch) > maxIdleItems {
		w.batch = nil
	}
	if cap(w.spare) > maxIdleItems {
		w.spare = nil
	}
	if cap(w.buf) > 4*chunkSize {
		w.buf = make([]byte, 0, chunkSize+1024)
	}
	if cap(w.ends) > maxBatch {
		w.ends = nil
	}
	writers.Put(w)
}

// run is the writer goroutine: it runs while events are queued, connects
// when it has to and writes the queues out in as few writes as it can.
func (c *conn) run() {
	defer c.t.wg.Done()
	w := writers.Get().(*writer)
	defer w.release()
	var linger *time.Timer
	defer func() {
		if linger != nil {
			linger.Stop()
		}
	}()
	reliable := c.t.cfg.ReliableMode
	for {
		c.mu.Lock()
		if c.closed || (len(c.ready) == 0 && c.dests == 0) {
			// Closed, or nothing to write and no destination left to
			// write more: end now (the conn retires once its replies
			// are in).
			c.endRunLocked()
			return
		}
		if len(c.ready) == 0 {
			// Nothing to write: wait a while for more before ending.
			c.sleeping = true
			c.mu.Unlock()
			if linger == nil {
				linger = time.NewTimer(writerLinger)
			} else {
				linger.Reset(writerLinger)
			}
			select {
			case <-c.wake:
				linger.Stop()
				continue
			case <-linger.C:
			}
			c.mu.Lock()
			c.sleeping = false
			if len(c.ready) > 0 || c.closed {
				c.mu.Unlock()
				continue
			}
			c.endRunLocked()
			return
		}
		if c.nc == nil {
			c.mu.Unlock()
			c.connect()
			continue
		}
		nc := c.nc
		if reliable {
			if c.win == nil {
				c.win = newWindow(c.t.cfg.MaxInFlight, c.t.cfg.SeqIDs)
			}
			if c.win.room() == 0 {
				c.sleeping = true // a reply, the timer or a teardown frees a slot
				c.mu.Unlock()
				<-c.wake
				continue
			}
		}
		c.takeLocked(w)
		c.mu.Unlock()
		w.send(c, nc)
	}
}

// endRunLocked ends the writer's run: it releases c.mu, and retires the
// conn when nothing is left on it (never a closed one).
func (c *conn) endRunLocked() {
	c.writing, c.sleeping = false, false
	retire := c.idleLocked()
	c.mu.Unlock()
	if retire {
		c.retire()
	}
}

// takeLocked moves events from the destinations' queues to w.batch (and,
// in reliable mode, to the window, ids assigned), in the order they were
// handed over across all the destinations of the conn, but at most
// turnItems from each destination per batch when several have events
// queued: a backlog of one (a replay, a slow burst) makes the others wait
// a batch at most, and without a backlog the events leave in the order
// they were raised. A destination alone gives all it has, up to maxBatch.
func (c *conn) takeLocked(w *writer) {
	room := maxBatch
	if c.t.cfg.ReliableMode {
		room = min(room, c.win.room())
	}
	if len(c.ready) == 1 && !c.t.cfg.ReliableMode {
		// A lone destination's whole queue, with no copy: its array and
		// the writer's spare one change places (the writer sends the batch
		// before it takes again, so the spare is free by then).
		d := c.ready[0]
		full := d.q
		w.batch = full[d.qhead:]
		d.q, d.qhead = w.spare[:0], 0
		w.spare = full[:0]
		c.t.queued.Add(-int64(d.bytes))
		d.bytes = 0
		d.ready = false
		c.ready = c.ready[:0]
		d.afterTakeLocked()
		return
	}
	if len(c.ready) == 1 {
		d := c.ready[0]
		for n := min(len(d.q)-d.qhead, room); n > 0; n-- {
			c.takeOneLocked(d, w)
		}
		if d.qhead == len(d.q) {
			d.ready = false
			c.ready = c.ready[:0]
		}
		d.afterTakeLocked()
		return
	}
	h := c.merge[:0] // destinations by the hand-over order of their next event
	for _, d := range c.ready {
		d.taken = 0
		if d.qhead < len(d.q) {
			h = mergePush(h, d)
		}
	}
	for room > 0 && len(h) > 0 {
		d := h[0]
		c.takeOneLocked(d, w)
		room--
		d.taken++
		if d.qhead == len(d.q) || d.taken == turnItems {
			h = mergePop(h)
		} else {
			mergeDown(h, 0)
		}
	}
	clear(h)
	c.merge = h[:0]
	keep := c.ready[:0]
	for _, d := range c.ready {
		if d.qhead < len(d.q) {
			keep = append(keep, d)
		} else {
			d.ready = false
		}
		d.afterTakeLocked()
	}
	clear(c.ready[len(keep):])
	c.ready = keep
}

// takeOneLocked moves d's next event to w.batch.
func (c *conn) takeOneLocked(d *destination, w *writer) {
	it := d.q[d.qhead]
	c.unqueueLocked(d, &d.q[d.qhead])
	d.qhead++
	if c.t.cfg.ReliableMode {
		it.id = c.win.add(d, &it)
	}
	w.batch = append(w.batch, it)
}

// mergePush, mergePop and mergeDown keep h a min-heap of destinations by
// the hand-over rank (seq) of their next queued event.
func mergePush(h []*destination, d *destination) []*destination {
	h = append(h, d)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !seqBefore(h[i].q[h[i].qhead].seq, h[p].q[h[p].qhead].seq) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	return h
}

func mergePop(h []*destination) []*destination {
	last := len(h) - 1
	h[0] = h[last]
	h[last] = nil
	h = h[:last]
	if len(h) > 0 {
		mergeDown(h, 0)
	}
	return h
}

func mergeDown(h []*destination, i int) {
	seq := func(k int) uint32 { return h[k].q[h[k].qhead].seq }
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && seqBefore(seq(r), seq(l)) {
			m = r
		}
		if !seqBefore(seq(m), seq(i)) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// send encodes and writes w.batch, in chunks of about chunkSize bytes. In
// notification mode it reports each event once its bytes are written; in
// reliable mode the events are the window's, which the replies, the timer
// or a teardown complete.
func (w *writer) send(c *conn, nc net.Conn) {
	t := c.t
	reliable := t.cfg.ReliableMode
	framing := t.cfg.Framing
	batch := w.batch
	for i := 0; i < len(batch); {
		start := i
		now := t.now()
		buf := w.buf[:0]
		ends := w.ends[:0]
		minDL := int64(math.MaxInt64)
		for ; i < len(batch) && len(buf) < chunkSize; i++ {
			it := &batch[i]
			if it.deadline <= now || (len(w.late) > 0 && slices.Contains(w.late, it.d)) {
				// Too late: the timer fails it (reliable mode), or
				// report fails it below. With SeqIDs the later events
				// of its destination are not written either: they
				// would arrive before its retry.
				ends = append(ends, -1)
				if t.cfg.SeqIDs && !slices.Contains(w.late, it.d) {
					w.late = append(w.late, it.d)
				}
				continue
			}
			params := t.encodedParams(it.m)
			method := it.d.method(it.m)
			if reliable {
				buf = jsonrpc.AppendRequest(buf, it.id, method, params)
			} else {
				buf = jsonrpc.AppendNotification(buf, method, params)
			}
			buf = framing.Append(buf)
			ends = append(ends, len(buf))
			minDL = min(minDL, it.deadline)
		}
		w.buf, w.ends = buf, ends
		var n int
		var err error
		if len(buf) > 0 {
			// A write that cannot finish by the earliest deadline of the
			// chunk (with a little grace, so that a deadline reached while
			// encoding does not break a healthy connection) means that
			// the peer does not read: the connection is closed.
			dl := max(minDL, t.now()+int64(writeGrace))
			nc.SetWriteDeadline(t.epoch.Add(time.Duration(dl)))
			if reliable {
				// Before the write: a reply, or a teardown, can come
				// before Write returns.
				c.markWriting(batch[start:i], ends)
			}
			n, err = nc.Write(buf)
			c.ctr.writes.Add(1)
			c.ctr.bytesWritten.Add(uint64(n))
		}
		if err != nil {
			err = fmt.Errorf("write: %w", err)
		}
		closed := err != nil && c.isClosed() // the write failed because Close closed nc
		if reliable {
			if n < len(buf) {
				c.markUnwritten(batch[start:i], ends, n)
			}
		} else {
			w.report(c, batch[start:i], ends, n, err, closed)
		}
		if err != nil {
			c.teardown(nc, err)
			if !reliable && i < len(batch) {
				// Never attempted, but the connection they were queued
				// for is gone.
				w.report(c, batch[i:], nil, 0, err, closed)
			}
			break
		}
	}
	clear(batch)
	w.batch = batch[:0]
	if len(w.late) > 0 {
		c.keepBack(w.late)
		clear(w.late)
		w.late = w.late[:0]
	}
}

// keepBack fails what the destinations ds (which had an event skipped as
// too late) have queued, and makes them refuse more until nothing of
// theirs is pending (keepBackLocked).
func (c *conn) keepBack(ds []*destination) {
	b := c.t.disp.batch()
	c.mu.Lock()
	for _, d := range ds {
		b = c.keepBackLocked(d, b)
		d.afterTakeLocked()
	}
	c.countLocked(len(b), true)
	c.mu.Unlock()
	c.t.disp.report(c.shard, b)
}

// isClosed reports whether the transport closed c.
func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// markWriting records that the requests of a chunk about to be written
// may reach the peer from now on, so that a teardown that comes before
// Write returns (the peer read them and hung up) counts them written.
func (c *conn) markWriting(items []item, ends []int) {
	c.mu.Lock()
	for k := range items {
		if ends[k] < 0 || c.win == nil {
			continue
		}
		if i := c.win.lookup(items[k].id); i >= 0 {
			c.win.slots[i].written = true
		}
	}
	c.mu.Unlock()
}

// markUnwritten records, after a short write of n bytes of a chunk, the
// requests none of whose bytes left: a teardown says they were not
// written. Those partly written stay marked.
func (c *conn) markUnwritten(items []item, ends []int, n int) {
	c.mu.Lock()
	begin := 0 // where items[k]'s bytes begin in the chunk
	for k := range items {
		if ends[k] < 0 {
			continue
		}
		if begin >= n && c.win != nil {
			if i := c.win.lookup(items[k].id); i >= 0 {
				c.win.slots[i].written = false
			}
		}
		begin = ends[k]
	}
	c.mu.Unlock()
}

// report completes events of notification mode: those whose bytes were
// all written are delivered, the others failed (ends nil: none was
// attempted), with ReasonClosed when closed says Close broke the write. The counters are updated before any outcome is reported, so
// a caller that reads Stats from (or after) its outcome sees its event
// counted; without c.mu, as the batch is the writer's and the conn is not
// retired while its writer runs.
func (w *writer) report(c *conn, items []item, ends []int, n int, err error, closed bool) {
	var delivered, failed, timeouts uint64
	var now int64
	var notWritten, partly error
	b := c.t.disp.batch()
	begin := 0 // where items[k]'s bytes begin in the chunk
	for k := range items {
		it := &items[k]
		written := false // some of its bytes left
		if ends != nil && ends[k] >= 0 {
			written = begin < n
			begin = ends[k]
		}
		var e error
		switch {
		case ends != nil && ends[k] >= 0 && ends[k] <= n:
			delivered++
		case ends != nil && ends[k] < 0:
			e = c.errTimeoutQueued
			timeouts++
		default:
			if now == 0 {
				now = c.t.now()
			}
			switch {
			case closed && written:
				e = c.errClosedWritten
			case closed:
				e = c.errClosedQueued
			case it.deadline <= now:
				e = c.errTimeoutQueued
				timeouts++
			case written:
				if partly == nil {
					partly = &evi.DeliveryError{Dest: c.name, Reason: evi.ReasonWrite, Written: true, Err: err}
				}
				e = partly
			default:
				if notWritten == nil {
					notWritten = &evi.DeliveryError{Dest: c.name, Reason: evi.ReasonWrite, Err: err}
				}
				e = notWritten
			}
		}
		if e != nil {
			failed++
		}
		b = append(b, outcome{m: it.m, done: it.done, err: e})
	}
	c.ctr.delivered.Add(delivered)
	c.ctr.failed.Add(failed)
	c.ctr.timeouts.Add(timeouts)
	c.t.disp.report(c.shard, b)
}
