package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/ratelog"
	"github.com/evstream/evstream/jsonrpc"
)

// chunkSize is how many bytes the writer encodes before writing them: a
// burst of queued events goes out in writes of about this size.
const chunkSize = 64 << 10

// writeGrace is the least time a write is given before it is deemed stuck.
const writeGrace = 10 * time.Millisecond

// maxIdleItems is the largest queue array a conn keeps while idle.
const maxIdleItems = 4096

// maxReplyBatch is how many replies the reader matches under one lock.
const maxReplyBatch = 256

// item is one accepted event waiting in a conn's queue (or in the writer's
// hands).
type item struct {
	params   []byte // encoded params, shared by every destination; nil: none
	method   string
	done     func(error)
	deadline int64 // Transport.now() clock
	id       int64 // reliable mode: the request id, once assigned
}

// conn is the connection to one destination address (host:port), shared by
// every destination that points there. Its writer goroutine (run) owns
// connecting and every write; its reader goroutine (read) owns every read
// of the current net.Conn. A timer fails events past their deadline. All of
// them meet at mu, which guards the queue, the window and the state below.
type conn struct {
	t          *Transport
	key        string          // host:port as written: what is dialled
	name       string          // "tcp:host:port", for errors and logs
	log        *ratelog.Logger // shares the transport's limits
	timeoutErr error
	closedErr  error
	wake       chan struct{} // wakes the writer when it sleeps

	mu       sync.Mutex
	queue    []item // queue[qhead:] waits to be written, in raise order
	qhead    int
	refs     int  // destinations using this conn
	closed   bool // transport closed, or the conn retired
	sleeping bool // the writer waits on wake
	nc       net.Conn
	win      *window // reliable mode: requests awaiting a reply
	timer    *time.Timer
	timerSet bool
	timerAt  int64
	sent     uint64
	// connect state
	everConnected bool
	lastErr       error
	retryAt       int64
	backoff       time.Duration

	ctr counters
}

func newConn(t *Transport, key string) *conn {
	name := prefix + key
	what := "not written"
	if t.cfg.ReliableMode {
		what = "no reply"
	}
	c := &conn{
		t:          t,
		key:        key,
		name:       name,
		log:        t.log.With("address", name),
		timeoutErr: fmt.Errorf("%s: %s within %v: %w", name, what, t.cfg.Timeout, evi.ErrTimeout),
		closedErr:  fmt.Errorf("%s: transport closed: %w", name, evi.ErrClosed),
		wake:       make(chan struct{}, 1),
		refs:       1,
	}
	c.timer = time.AfterFunc(time.Hour, c.expire)
	c.timer.Stop()
	return c
}

// enqueue accepts it for delivery, or says why not.
func (c *conn) enqueue(it item) error {
	t := c.t
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.closedErr
	}
	if len(c.queue)-c.qhead >= t.cfg.QueueSize {
		c.mu.Unlock()
		return c.overflow()
	}
	if c.qhead > 0 && len(c.queue) == cap(c.queue) {
		n := copy(c.queue, c.queue[c.qhead:])
		clear(c.queue[n:])
		c.queue, c.qhead = c.queue[:n], 0
	}
	c.queue = append(c.queue, it)
	c.sent++
	t.pending.Add(1)
	if !c.timerSet || it.deadline < c.timerAt {
		c.armLocked(it.deadline, t.now())
	}
	c.wakeLocked()
	c.mu.Unlock()
	return nil
}

func (c *conn) overflow() error {
	c.ctr.overflows.Add(1)
	c.log.Warn("queue full, event rejected", "queue_size", c.t.cfg.QueueSize)
	return fmt.Errorf("%s: %d events already queued: %w", c.name, c.t.cfg.QueueSize, evi.ErrQueueFull)
}

// wakeLocked wakes the writer if it sleeps.
func (c *conn) wakeLocked() {
	if c.sleeping {
		c.sleeping = false
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// armLocked makes the timer fire at deadline.
func (c *conn) armLocked(deadline, now int64) {
	c.timerSet, c.timerAt = true, deadline
	c.timer.Reset(time.Duration(max(deadline-now, 0)))
}

// expire runs on the timer: it fails the queued and in-flight events past
// their deadline and re-arms the timer for the next one.
func (c *conn) expire() {
	now := c.t.now()
	var dones []func(error)
	c.mu.Lock()
	c.timerSet = false
	if c.closed {
		c.mu.Unlock()
		return
	}
	for c.qhead < len(c.queue) && c.queue[c.qhead].deadline <= now {
		dones = append(dones, c.queue[c.qhead].done)
		c.queue[c.qhead] = item{}
		c.qhead++
	}
	if c.qhead == len(c.queue) {
		c.queue, c.qhead = c.queue[:0], 0
	}
	if c.win != nil {
		for {
			dl, ok := c.win.oldest()
			if !ok || dl > now {
				break
			}
			dones = append(dones, c.win.remove(c.win.head))
		}
	}
	next, ok := int64(math.MaxInt64), false
	if c.qhead < len(c.queue) {
		next, ok = c.queue[c.qhead].deadline, true
	}
	if c.win != nil {
		if dl, has := c.win.oldest(); has && dl < next {
			next, ok = dl, true
		}
	}
	if ok {
		c.armLocked(next, now)
	}
	if len(dones) > 0 {
		c.countLocked(len(dones), c.timeoutErr, true)
		c.wakeLocked()
	}
	c.mu.Unlock()
	c.complete(dones, c.timeoutErr)
}

// countLocked counts n accepted events completed with err (a timeout when
// timeout is set). Events are counted when they are taken off the queue or
// the window, under c.mu: retire snapshots the counters under c.mu once
// both are empty, so no count can land on a retired conn. They are counted
// before their outcome is reported (see Counters).
func (c *conn) countLocked(n int, err error, timeout bool) {
	if n == 0 {
		return
	}
	if err == nil {
		c.ctr.delivered.Add(uint64(n))
		return
	}
	c.ctr.failed.Add(uint64(n))
	if timeout {
		c.ctr.timeouts.Add(uint64(n))
	}
}

// complete reports err to accepted events already counted by countLocked.
func (c *conn) complete(dones []func(error), err error) {
	if len(dones) == 0 {
		return
	}
	for _, d := range dones {
		if d != nil {
			d(err)
		}
	}
	c.t.settle(len(dones))
}

// takeAllLocked removes every queued event and appends its callback to dst.
func (c *conn) takeAllLocked(dst []func(error)) []func(error) {
	for i := c.qhead; i < len(c.queue); i++ {
		dst = append(dst, c.queue[i].done)
	}
	clear(c.queue)
	c.queue, c.qhead = c.queue[:0], 0
	return dst
}

// release drops one destination's reference; the writer retires the conn
// once none is left and everything accepted is done.
func (c *conn) release() {
	c.mu.Lock()
	c.refs--
	c.wakeLocked()
	c.mu.Unlock()
}

// close fails everything pending with evi.ErrClosed and stops the conn's
// goroutines (Transport.Close).
func (c *conn) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	dones := c.takeAllLocked(nil)
	if c.win != nil {
		for c.win.head >= 0 {
			dones = append(dones, c.win.remove(c.win.head))
		}
	}
	c.countLocked(len(dones), c.closedErr, false)
	nc := c.nc
	c.nc = nil
	c.timer.Stop()
	c.wakeLocked()
	c.mu.Unlock()
	if nc != nil {
		nc.Close()
	}
	c.complete(dones, c.closedErr)
}

// isClosed reports whether the conn was closed.
func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// retire removes an unused, drained conn from its transport and reports
// whether the writer must stop.
func (c *conn) retire() bool {
	t := c.t
	t.mu.Lock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		t.mu.Unlock()
		return true
	}
	if c.refs > 0 || c.qhead < len(c.queue) || c.win != nil && c.win.n > 0 {
		c.mu.Unlock()
		t.mu.Unlock()
		return false
	}
	c.closed = true
	if t.conns[c.key] == c {
		delete(t.conns, c.key)
	}
	t.retired.add(c.snapshotLocked())
	nc := c.nc
	c.nc = nil
	c.timer.Stop()
	c.mu.Unlock()
	t.mu.Unlock()
	if nc != nil {
		nc.Close()
	}
	c.log.Debug("connection retired: no subscription left")
	return true
}

// teardown closes nc, if it is still the current connection, and fails
// every request awaiting a reply on it. The next event reconnects.
func (c *conn) teardown(nc net.Conn, cause error) {
	c.mu.Lock()
	if nc == nil || c.nc != nc {
		c.mu.Unlock()
		return
	}
	c.nc = nil
	var dones []func(error)
	if c.win != nil {
		for c.win.head >= 0 {
			dones = append(dones, c.win.remove(c.win.head))
		}
	}
	var err error
	if len(dones) > 0 {
		err = fmt.Errorf("%s: connection lost with %d requests unanswered: %w", c.name, len(dones), cause)
		c.countLocked(len(dones), err, false)
	}
	c.wakeLocked()
	c.mu.Unlock()
	nc.Close()
	c.log.Warn("connection lost", "reason", cause, "unanswered", len(dones))
	c.complete(dones, err)
}

// run is the writer goroutine: it connects when there is something to send
// and writes the queue out in as few writes as it can.
func (c *conn) run() {
	defer c.t.wg.Done()
	w := &writer{c: c, buf: make([]byte, 0, chunkSize+1024)}
	for {
		c.mu.Lock()
		if w.nc != nil && c.nc != w.nc {
			w.nc = nil // torn down by the reader, the timer or Close
		}
		if c.closed {
			c.mu.Unlock()
			return
		}
		queued := len(c.queue) - c.qhead
		if queued == 0 {
			if c.refs == 0 && (c.win == nil || c.win.n == 0) {
				c.mu.Unlock()
				if c.retire() {
					return
				}
				continue
			}
			// A burst long over: give its memory back.
			trim := c.t.now()-w.lastBurst > int64(time.Second)
			if trim && cap(c.queue) > maxIdleItems {
				c.queue = nil
			}
			c.sleeping = true
			c.mu.Unlock()
			if trim {
				w.trim()
			}
			<-c.wake
			continue
		}
		if w.nc == nil {
			c.mu.Unlock()
			w.connect()
			continue
		}
		if c.t.cfg.ReliableMode {
			if c.win == nil {
				c.win = newWindow(c.t.cfg.MaxInFlight)
			}
			n := min(queued, len(c.win.free))
			if n == 0 {
				c.sleeping = true // the reader or the timer frees a slot
				c.mu.Unlock()
				<-c.wake
				continue
			}
			took := c.queue[c.qhead : c.qhead+n]
			w.batch = append(w.batch[:0], took...)
			clear(took)
			c.qhead += n
			if c.qhead == len(c.queue) {
				c.queue, c.qhead = c.queue[:0], 0
			}
			for i := range w.batch {
				it := &w.batch[i]
				it.id = c.win.add(it.done, it.deadline)
			}
		} else {
			// Take the whole queue, leaving the writer's spare array in
			// its place: O(1) under the lock.
			full := c.queue
			w.batch = c.queue[c.qhead:]
			c.queue, c.qhead = w.spare[:0], 0
			w.spare = full[:0]
		}
		c.mu.Unlock()
		if len(w.batch) > maxIdleItems/2 {
			w.lastBurst = c.t.now()
		}
		w.send()
	}
}

// trim drops buffers grown by a burst or a huge event, before sleeping.
func (w *writer) trim() {
	if cap(w.spare) > maxIdleItems {
		w.spare = nil
	}
	if cap(w.batch) > maxIdleItems {
		w.batch = nil
	}
	if cap(w.buf) > 4*chunkSize {
		w.buf = make([]byte, 0, chunkSize+1024)
	}
	if cap(w.ends) > maxIdleItems {
		w.ends = nil
	}
}

// writer is the state of the writer goroutine.
type writer struct {
	c     *conn
	nc    net.Conn
	batch []item
	spare []item
	buf   []byte
	ends  []int // end offset in buf of each item of a chunk, -1: skipped
	dones []func(error)
	errs  []error // outcome of each item of a chunk, see report
	// lastBurst is when a large batch was last sent; buffers are trimmed
	// only well after it.
	lastBurst int64
}

// connect dials the destination address, unless connects keep failing and
// the backoff has not elapsed: then the queued events fail at once with the
// last connect error.
func (w *writer) connect() {
	c, t := w.c, w.c.t
	c.mu.Lock()
	if now := t.now(); now < c.retryAt {
		w.dones = c.takeAllLocked(w.dones[:0])
		err := fmt.Errorf("%s: not connected, next attempt in %v: %w", c.name,
			time.Duration(c.retryAt-now).Round(time.Millisecond), c.lastErr)
		c.countLocked(len(w.dones), err, false)
		c.mu.Unlock()
		c.complete(w.dones, err)
		clear(w.dones)
		return
	}
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.ConnectTimeout)
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.key)
	cancel()

	c.mu.Lock()
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
		c.retryAt = t.now() + int64(c.backoff)
		c.lastErr = err
		w.dones = c.takeAllLocked(w.dones[:0])
		failErr := fmt.Errorf("%s: connect: %w", c.name, err)
		c.countLocked(len(w.dones), failErr, false)
		backoff := c.backoff
		c.mu.Unlock()
		c.ctr.connectFailures.Add(1)
		level := slog.LevelDebug
		if backoff == t.cfg.BackoffMin {
			level = slog.LevelWarn // the first failure of a streak
		}
		c.log.Log(level, "connect failed", "err", err, "retry_in", backoff, "failed_events", len(w.dones))
		c.complete(w.dones, failErr)
		clear(w.dones)
		return
	}
	c.nc, w.nc = nc, nc
	c.backoff, c.retryAt, c.lastErr = 0, 0, nil
	reconnect := c.everConnected
	c.everConnected = true
	t.wg.Add(1)
	c.mu.Unlock()
	go c.read(nc)
	c.ctr.connects.Add(1)
	if reconnect {
		c.ctr.reconnects.Add(1)
		c.log.Info("reconnected")
	} else {
		c.log.Debug("connected")
	}
}

// send encodes and writes w.batch, in chunks of about chunkSize bytes.
// In notification mode it reports each event once its bytes are written.
func (w *writer) send() {
	c, t := w.c, w.c.t
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
			if it.deadline <= now {
				// Too late: the timer fails it (reliable mode), or
				// report fails it below.
				ends = append(ends, -1)
				continue
			}
			if reliable {
				buf = jsonrpc.AppendRequest(buf, it.id, it.method, it.params)
			} else {
				buf = jsonrpc.AppendNotification(buf, it.method, it.params)
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
			w.nc.SetWriteDeadline(t.epoch.Add(time.Duration(dl)))
			n, err = w.nc.Write(buf)
			c.ctr.writes.Add(1)
			c.ctr.bytesWritten.Add(uint64(n))
		}
		if err != nil && c.isClosed() {
			err = c.closedErr
		} else if err != nil {
			err = fmt.Errorf("%s: write: %w", c.name, err)
		}
		if !reliable {
			w.report(batch[start:i], ends, n, err)
		}
		if err != nil {
			c.teardown(w.nc, err)
			w.nc = nil
			if !reliable && i < len(batch) {
				// Never attempted, but the connection they were queued
				// for is gone.
				w.dones = w.dones[:0]
				for j := i; j < len(batch); j++ {
					w.dones = append(w.dones, batch[j].done)
				}
				c.mu.Lock()
				c.countLocked(len(w.dones), err, false)
				c.mu.Unlock()
				c.complete(w.dones, err)
				clear(w.dones)
			}
			break
		}
	}
	clear(batch)
	w.batch = batch[:0]
}

// report completes the events of one written chunk (notification mode):
// those whose bytes were all written are delivered, the others failed.
// The counters are updated before any outcome is reported, so a caller
// that reads Stats from (or after) its outcome sees its event counted;
// without c.mu, as the batch is the writer's and only the writer retires
// the conn.
func (w *writer) report(items []item, ends []int, n int, err error) {
	c := w.c
	var delivered, failed, timeouts uint64
	var now int64
	errs := w.errs[:0]
	for k := range items {
		var e error
		switch {
		case ends[k] >= 0 && ends[k] <= n:
			delivered++
		case ends[k] < 0:
			e = c.timeoutErr
			timeouts++
		default:
			if now == 0 {
				now = c.t.now()
			}
			if items[k].deadline <= now {
				e = c.timeoutErr
				timeouts++
			} else {
				e = err
			}
		}
		if e != nil {
			failed++
		}
		errs = append(errs, e)
	}
	c.ctr.delivered.Add(delivered)
	c.ctr.failed.Add(failed)
	c.ctr.timeouts.Add(timeouts)
	for k := range items {
		if d := items[k].done; d != nil {
			d(errs[k])
		}
	}
	clear(errs)
	w.errs = errs[:0]
	c.t.settle(len(items))
}

// read is the reader goroutine of nc: it matches replies (reliable mode) or
// reads and discards whatever the peer sends (notification mode), until
// the connection breaks.
func (c *conn) read(nc net.Conn) {
	defer c.t.wg.Done()
	var err error
	if c.t.cfg.ReliableMode {
		err = c.readReplies(nc)
	} else {
		err = discard(nc)
	}
	if errors.Is(err, io.EOF) {
		err = fmt.Errorf("%s: peer closed the connection: %w", c.name, err)
	} else {
		err = fmt.Errorf("%s: read: %w", c.name, err)
	}
	c.teardown(nc, err)
}

func discard(nc net.Conn) error {
	var buf [4096]byte
	for {
		if _, err := nc.Read(buf[:]); err != nil {
			return err
		}
	}
}

// replyReader feeds the decoder from the connection; just before it blocks
// on a read it completes the replies decoded so far, under one lock.
type replyReader struct {
	c       *conn
	nc      net.Conn
	replies []reply
}

type reply struct {
	id   int64
	err  *jsonrpc.Error
	done func(error)
	ok   bool // matched a pending request
}

func (r *replyReader) Read(p []byte) (int, error) {
	r.flush()
	return r.nc.Read(p)
}

func (c *conn) readReplies(nc net.Conn) error {
	r := &replyReader{c: c, nc: nc, replies: make([]reply, 0, maxReplyBatch)}
	dec := jsonrpc.NewDecoder(r, c.t.cfg.MaxReplySize)
	for {
		b, err := dec.Next()
		if err != nil {
			r.flush()
			var se *jsonrpc.SyntaxError
			if errors.As(err, &se) || errors.Is(err, jsonrpc.ErrTooLarge) {
				c.ctr.badReplies.Add(1)
				c.log.Warn("closing connection: bad data from the peer", "err", err)
				return fmt.Errorf("bad reply: %w", err)
			}
			return err
		}
		resp, err := jsonrpc.ParseResponse(b)
		if err != nil {
			c.ctr.badReplies.Add(1)
			c.log.Warn("reply is not a JSON-RPC response, ignored", "err", err)
			continue
		}
		if resp.HasMethod {
			c.ctr.badReplies.Add(1)
			c.log.Warn("peer sent a request or notification, not a reply; ignored", "message", ratelog.ClipBytes(b))
			continue
		}
		if !resp.HasID {
			c.ctr.unknownReplies.Add(1)
			c.log.Warn("reply without a numeric id, ignored", "reply", ratelog.ClipBytes(b))
			continue
		}
		r.replies = append(r.replies, reply{id: resp.ID, err: resp.Error})
		if len(r.replies) == maxReplyBatch {
			r.flush()
		}
	}
}

// flush matches the decoded replies with their requests and reports them.
func (r *replyReader) flush() {
	if len(r.replies) == 0 {
		return
	}
	c := r.c
	var delivered, failed, unknown uint64
	c.mu.Lock()
	for k := range r.replies {
		rp := &r.replies[k]
		i := int32(-1)
		if c.win != nil {
			i = c.win.lookup(rp.id)
		}
		switch {
		case i < 0:
			unknown++
			continue
		case rp.err != nil:
			failed++
		default:
			delivered++
		}
		rp.done, rp.ok = c.win.remove(i), true
	}
	// Counted under c.mu, before any outcome is reported (see countLocked).
	c.ctr.delivered.Add(delivered)
	c.ctr.failed.Add(failed)
	c.ctr.unknownReplies.Add(unknown)
	c.wakeLocked()
	c.mu.Unlock()
	for k := range r.replies {
		rp := &r.replies[k]
		if !rp.ok {
			c.log.Warn("reply id matches no pending request, ignored", "id", rp.id)
			continue
		}
		if rp.done == nil {
			continue
		}
		var err error
		if rp.err != nil {
			err = fmt.Errorf("%s: error reply: %w", c.name, rp.err)
		}
		rp.done(err)
	}
	c.t.settle(int(delivered + failed))
	clear(r.replies)
	r.replies = r.replies[:0]
}
