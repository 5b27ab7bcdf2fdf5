package delivery

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/ratelog"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/spool"
)

// stopGrace is how long a queue being closed waits for the replies to
// the requests it has in flight, so that a clean restart confirms what
// was delivered instead of sending it again.
const stopGrace = 2 * time.Second

// Confirmations are written together: when confirmBatch of them are due,
// else confirmDelay after the first, and one write at a time, without
// waiting for it (those that come in meanwhile make the next write). A
// confirmation only deletes what was delivered (one lost in a crash makes
// a duplicate, never a loss), so it can wait; each write it saves is a
// commit that appends do not wait for, and delivery goes on while it is
// made.
const (
	confirmBatch = 512
	confirmDelay = 5 * time.Millisecond
)

// queue is one at-least-once subscriber's delivery: its goroutine (run)
// owns everything but the fields marked otherwise.
type queue struct {
	e     *Engine
	store spool.Store
	name  string
	ev    *evi.Event
	dest  evi.Destination
	done  evi.Done    // the subscriber: told each confirmation and dead letter
	retry evi.Retrier // the same, told each failed attempt it retries; nil: not told

	wake      chan struct{} // cap 1: something to do
	fresh     atomic.Bool   // events were added by a write that hands none over (Replay)
	committed atomic.Uint64 // the highest sequence of an append made durable
	hold      atomic.Int32  // writes under way that add events and hand none over

	mu   sync.Mutex
	outs []outcome // reported by the transport, taken by run
	// The hand-over: the events of the appends being made durable, in
	// sequence order, for run to send without reading them back while
	// it keeps up. Those not handed over (the bounds) are read back once
	// durable: they are in the gap, from gapFrom to gapTo (when gapped),
	// and no event from it on is sent as handed over before the reads
	// have passed it.
	handed         []handed
	handedBytes    int
	gapped         bool
	gapFrom, gapTo uint64
	handOverShut   bool // run ended: nothing is handed over any more

	stop      chan struct{}
	ended     chan struct{}
	dropping  atomic.Bool // Drop, not Close: what is pending becomes dead letters
	closeOnce sync.Once

	// Read by listings and Stats.
	pending, dead atomic.Int64
}

// handed is an event handed over, and what it costs the bounds.
type handed struct {
	m    *evi.Message
	size int
}

// outcome is the transport's report of one attempt.
type outcome struct {
	m   *evi.Message
	err error
}

var _ evi.Queue = (*queue)(nil)

func newQueue(e *Engine, st spool.Store, name string, ev *evi.Event, dest evi.Destination, done evi.Done) *queue {
	q := &queue{e: e, store: st, name: name, ev: ev, dest: dest, done: done,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), ended: make(chan struct{})}
	q.retry, _ = done.(evi.Retrier)
	return q
}

// String and Key are the destination's.
func (q *queue) String() string { return q.dest.String() }
func (q *queue) Key() string    { return q.dest.Key() }

// Send spools m for this subscriber alone (the Registry spools the
// subscribers of a raise together, with Engine.Spool).
func (q *queue) Send(m *evi.Message, _ evi.Done) error { return q.e.spoolWait(m, []evi.Queue{q}) }

// Counts returns the events pending in the queue and its dead letters.
func (q *queue) Counts() (pending, dead int64) { return q.pending.Load(), q.dead.Load() }

// Close stops delivering; what the queue holds stays pending in the
// spool. It returns when the queue's goroutine has ended.
func (q *queue) Close() error {
	q.stopping()
	<-q.ended
	return nil
}

// stopping tells run to stop.
func (q *queue) stopping() { q.closeOnce.Do(func() { close(q.stop) }) }

// Drop stops delivering and makes what the queue holds dead letters.
func (q *queue) Drop() error {
	q.dropping.Store(true)
	q.Close()
	n, err := q.store.TerminateAll(q.name, "subscription ended (unsubscribed or expired)")
	if err != nil {
		return fmt.Errorf("delivery: queue of %s at %s: %w", q.ev.Name(), q.dest.Key(), err)
	}
	if n > 0 {
		q.e.deadLettered.Add(uint64(n))
		q.e.log.Warn("subscriber gone: its undelivered events are dead letters", "event", q.ev.Name(),
			"socket", ratelog.Clip(q.dest.String()), "dead_letters", n)
	}
	return nil
}

// Done receives the transport's outcome of one attempt (evi.Done).
func (q *queue) Done(m *evi.Message, err error) {
	q.mu.Lock()
	q.outs = append(q.outs, outcome{m, err})
	q.mu.Unlock()
	q.poke()
}

// appended tells run that a write that hands nothing over (Replay) added
// events for it.
func (q *queue) appended() {
	q.fresh.Store(true)
	q.poke()
}

// Bounds of the hand-over, per queue and over all queues. An event
// costs its params' size and messageCost. Beyond them an event is read
// back once durable instead, which only costs time.
const (
	handOverMax   = 4096
	handOverBytes = 4 << 20
	handOverTotal = 64 << 20
	messageCost   = 160
)

// stage hands m over with its sequence seq in this queue: written, being
// made durable (AppendAsync's staged, from the store's goroutine).
func (q *queue) stage(m *evi.Message, seq uint64, size int) {
	size += messageCost
	q.mu.Lock()
	switch {
	case q.handOverShut:
	case len(q.handed) >= handOverMax || q.handedBytes+size > handOverBytes || !q.e.handOver(size):
		q.widenGap(seq, seq)
	default:
		q.handed = append(q.handed, handed{&evi.Message{ID: m.ID, Event: m.Event, Params: m.Params, Raised: m.Raised, Seq: seq}, size})
		q.handedBytes += size
	}
	q.mu.Unlock()
	q.poke()
}

// durable tells run that the append of seq is durable.
func (q *queue) durable(seq uint64) {
	q.pending.Add(1)
	for c := q.committed.Load(); c < seq && !q.committed.CompareAndSwap(c, seq); c = q.committed.Load() {
	}
	q.poke()
}

// gap makes run read back the events from..to once durable, before it
// sends any from from on as handed over.
func (q *queue) gap(from, to uint64) {
	q.mu.Lock()
	q.widenGap(from, to)
	q.mu.Unlock()
}

// widenGap is gap, with q.mu held.
func (q *queue) widenGap(from, to uint64) {
	if !q.gapped {
		q.gapped, q.gapFrom, q.gapTo = true, from, to
		return
	}
	q.gapFrom, q.gapTo = min(q.gapFrom, from), max(q.gapTo, to)
}

// gapAt returns where the gap from s.cursor on starts, if there is one
// (forgetting one the reads have passed); q.mu is held.
func (q *queue) gapAt(s *sender) (uint64, bool) {
	if q.gapped && q.gapTo < s.cursor {
		q.gapped = false
	}
	return max(q.gapFrom, s.cursor), q.gapped
}

// mustRead reports whether the store may hold events from s.cursor on
// that were not handed over and are durable: a Replay's, or those beyond
// the hand-over's bounds.
func (q *queue) mustRead(s *sender) bool {
	if q.fresh.Swap(false) {
		return true
	}
	q.mu.Lock()
	from, gap := q.gapAt(s)
	q.mu.Unlock()
	return gap && q.committed.Load() >= from
}

// withdraw takes back the event seq, handed over, whose append failed:
// it is not sent unless it was already.
func (q *queue) withdraw(seq uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := len(q.handed) - 1; i >= 0; i-- {
		if h := q.handed[i]; h.m.Seq == seq {
			q.handed = slices.Delete(q.handed, i, i+1)
			q.handedBytes -= h.size
			q.e.handOver(-h.size)
			return
		}
	}
}

// takeHanded returns up to max events handed over, the next ones to send
// from s.cursor on, up to the gap. It forgets those below s.cursor (sent,
// or read back).
func (q *queue) takeHanded(s *sender, max int) []*evi.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	i := 0
	for i < len(q.handed) && q.handed[i].m.Seq < s.cursor {
		i++
	}
	q.drop(i)
	// Checked after the events are seen: a Replay or an append not
	// handed over that came before them has set these by now.
	if len(q.handed) == 0 || q.hold.Load() > 0 || q.fresh.Load() {
		return nil
	}
	from, gap := q.gapAt(s)
	n := 0
	for n < min(max, len(q.handed)) && (!gap || q.handed[n].m.Seq < from) {
		n++
	}
	if n == 0 {
		return nil
	}
	out := s.take[:0]
	for _, h := range q.handed[:n] {
		out = append(out, h.m)
	}
	q.drop(n)
	s.take = out
	return out
}

// endHandOver forgets the events handed over (they are in the store) and
// takes no more.
func (q *queue) endHandOver() {
	q.mu.Lock()
	q.handOverShut = true
	q.drop(len(q.handed))
	q.mu.Unlock()
}

// drop forgets the first n events handed over.
func (q *queue) drop(n int) {
	if n == 0 {
		return
	}
	size := 0
	for _, h := range q.handed[:n] {
		size += h.size
	}
	clear(q.handed[:n])
	q.handed = q.handed[n:]
	q.handedBytes -= size
	q.e.handOver(-size)
}

func (q *queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// sender is run's state.
type sender struct {
	cursor   uint64                  // the next Read starts here
	more     bool                    // the store may hold unsent events from cursor
	inflight map[uint64]struct{}     // sent, outcome not in
	failed   []spool.Failure         // attempts failed since the last retry round
	errs     map[uint64]outcome      // their events and errors, for dead letters and the subscriber's observers
	seqs     []uint64                // confirm's buffer
	probe    bool                    // after a failure: one event in flight until one is confirmed
	backoff  time.Duration           // the last wait, 0 after a success
	timer    *time.Timer             // the wait before the next round, nil: none
	flushAt  *time.Timer             // when the confirmations are due, nil: none due
	spare    []outcome               // q.outs' other buffer
	takenTo  uint64                  // the highest sequence taken from the hand-over
	take     []*evi.Message          // takeHanded's buffer
	msgs     map[uint64]*evi.Message // confirmed by their subscriber, by sequence: to remove from the spool, then report
	removing map[uint64]*evi.Message // the same, being removed by the write under way
	removed  chan removal            // that write's result; nil: none under way
}

// removal is the result of a write of confirmations.
type removal struct {
	n   int // entries removed
	err error
}

// run delivers the queue until Close.
func (q *queue) run() {
	defer close(q.ended)
	defer q.e.detach(q)
	defer q.endHandOver()
	s := &sender{more: true, inflight: make(map[uint64]struct{}), errs: make(map[uint64]outcome),
		msgs: make(map[uint64]*evi.Message), removing: make(map[uint64]*evi.Message)}
	defer func() {
		if s.timer != nil {
			s.timer.Stop()
		}
		if s.flushAt != nil {
			s.flushAt.Stop()
		}
	}()
	for {
		q.settle(s)
		if s.timer == nil && len(s.failed) == 0 {
			q.fill(s)
		}
		var retry, flush <-chan time.Time
		if s.timer != nil {
			retry = s.timer.C
		}
		if s.flushAt != nil {
			flush = s.flushAt.C
		}
		select {
		case <-q.wake:
		case <-retry:
			s.timer = nil
		case <-flush:
			s.flushAt = nil
			q.confirm(s)
		case r := <-s.removed:
			q.confirmed(s, r)
		case <-q.stop:
			q.finish(s)
			return
		}
	}
}

// settle takes the outcomes reported, confirms the delivered events in
// one write, and once every request in flight has its outcome, records
// the failed attempts and schedules the next round.
func (q *queue) settle(s *sender) {
	q.mu.Lock()
	outs := q.outs
	q.outs = s.spare[:0]
	q.mu.Unlock()
	for _, o := range outs {
		seq := o.m.Seq
		if _, ok := s.inflight[seq]; !ok {
			continue // an attempt of an earlier round, already settled
		}
		delete(s.inflight, seq)
		if o.err == nil {
			s.msgs[seq] = o.m
			s.probe, s.backoff = false, 0 // it is up: open the window
			continue
		}
		f := spool.Failure{Seq: seq, Reason: o.err.Error()}
		var de *evi.DeliveryError
		if errors.As(o.err, &de) && !de.Retryable() {
			f.Final = true // a policy refuses it: retrying will not help
		}
		s.failed = append(s.failed, f)
		s.errs[seq] = o
	}
	clear(outs)
	s.spare = outs
	q.confirmDue(s)
	if len(s.failed) > 0 && len(s.inflight) == 0 {
		q.retryRound(s)
	}
}

// confirmDue starts the write of the confirmations when confirmBatch of
// them are due, else sets the timer that starts it.
func (q *queue) confirmDue(s *sender) {
	switch {
	case len(s.msgs) >= confirmBatch:
		q.confirm(s)
	case len(s.msgs) > 0 && s.flushAt == nil:
		s.flushAt = time.NewTimer(confirmDelay)
	}
}

// confirm starts the write that removes the delivered events from the
// spool, unless one is under way (confirmed starts the next).
func (q *queue) confirm(s *sender) {
	if s.removed != nil || len(s.msgs) == 0 {
		return
	}
	if s.flushAt != nil {
		s.flushAt.Stop()
		s.flushAt = nil
	}
	s.seqs = s.seqs[:0]
	for seq := range s.msgs {
		s.seqs = append(s.seqs, seq)
	}
	slices.Sort(s.seqs) // in key order, for the store's cursor
	s.msgs, s.removing = s.removing, s.msgs
	removed := make(chan removal, 1)
	s.removed = removed
	q.store.ConfirmAsync(q.name, s.seqs, func(n int, err error) {
		removed <- removal{n, err}
		q.poke()
	})
}

// confirmed takes the result of the write confirm started: it counts and
// reports the events it removed, and sees to those confirmed meanwhile.
func (q *queue) confirmed(s *sender, r removal) {
	s.removed = nil
	if r.err != nil {
		// They stay pending: sent again after a restart (a duplicate
		// with the same id), never lost.
		q.e.log.Error("spool: cannot confirm delivered events", "event", q.ev.Name(),
			"socket", ratelog.Clip(q.dest.String()), "n", len(s.seqs), "err", r.err)
	}
	// Those not removed were never stored (their write failed after
	// they were sent) or failed to be removed: not counted.
	q.pending.Add(-int64(r.n))
	q.e.confirmed.Add(uint64(r.n))
	for _, seq := range s.seqs {
		q.done.Done(s.removing[seq], nil)
	}
	clear(s.removing)
	if s.flushAt == nil {
		// Those confirmed meanwhile are due: their timer fired during the
		// write (settle sets one whenever some are confirmed).
		q.confirm(s)
		return
	}
	q.confirmDue(s)
}

// confirmAll writes every confirmation due and waits for the writes.
func (q *queue) confirmAll(s *sender) {
	for s.removed != nil || len(s.msgs) > 0 {
		if s.removed == nil {
			q.confirm(s)
		}
		q.confirmed(s, <-s.removed)
	}
}

// retryRound records the failed attempts (dead letters at MaxAttempts),
// and waits before going back to the oldest unconfirmed event.
func (q *queue) retryRound(s *sender) {
	cfg := &q.e.cfg
	dead, err := q.store.Fail(q.name, s.failed, cfg.MaxAttempts)
	if err != nil {
		q.e.log.Error("spool: cannot record failed attempts", "event", q.ev.Name(),
			"socket", ratelog.Clip(q.dest.String()), "n", len(s.failed), "err", err)
	}
	q.e.retried.Add(uint64(len(s.failed) - len(dead)))
	first := s.errs[s.failed[0].Seq].err
	for _, d := range dead {
		q.deadLetter(d, s.errs[d.Seq].err)
		delete(s.errs, d.Seq)
	}
	if q.retry != nil { // the others will be tried again
		for _, f := range s.failed {
			if o, ok := s.errs[f.Seq]; ok {
				q.retry.Retry(o.m, o.err)
			}
		}
	}
	if len(dead) < len(s.failed) {
		q.e.log.Warn("at-least-once delivery failed; retrying", "event", q.ev.Name(),
			"socket", ratelog.Clip(q.dest.String()), "failed", len(s.failed), "err", first)
	}
	s.failed = s.failed[:0]
	clear(s.errs)
	s.backoff = min(max(2*s.backoff, cfg.RetryInitial), cfg.RetryMax)
	s.timer = time.NewTimer(jitter(s.backoff))
	s.cursor, s.more, s.probe = 0, true, true
	// Those sent as handed over are read back, not taken from the
	// hand-over again. (They are durable by now: the Fail above was
	// written after their appends. The store does not promise that.)
	q.gap(0, s.takenTo)
}

// deadLetter counts, logs and reports an event that became a dead letter.
func (q *queue) deadLetter(d spool.Entry, cause error) {
	q.pending.Add(-1)
	q.dead.Add(1)
	q.e.deadLettered.Add(1)
	q.e.log.Warn("at-least-once event is a dead letter", "event", q.ev.Name(),
		"socket", ratelog.Clip(q.dest.String()), "seq", d.Seq, "attempts", d.Attempts, "reason", d.Error)
	if cause == nil {
		cause = errors.New(d.Error)
	}
	q.done.Done(q.message(d), fmt.Errorf("dead letter after %d attempts: %w", d.Attempts, cause))
}

// fill sends events until the window is full: read back from the store
// while it may hold unsent ones (a backlog, a retry, a restart, a
// Replay), else as they are handed over.
func (q *queue) fill(s *sender) {
	cfg := &q.e.cfg
	for {
		room := cfg.Window - len(s.inflight)
		if s.probe {
			room = 1 - len(s.inflight)
		}
		if room <= 0 {
			return
		}
		if !s.more && q.mustRead(s) {
			s.more = true
		}
		if !s.more {
			ms := q.takeHanded(s, room)
			if len(ms) == 0 {
				return
			}
			s.takenTo = ms[len(ms)-1].Seq // those a failure leaves unsent too
			// Being made durable now: as old as their raise, which is
			// now (max_age is checked when they are read back).
			for _, m := range ms {
				if !q.send(s, m) {
					break
				}
			}
			clear(ms)
		} else if !q.readBack(s, room) {
			return
		}
		if len(s.failed) > 0 {
			if len(s.inflight) == 0 {
				q.retryRound(s)
			}
			return
		}
	}
}

// readBack sends up to room events read from the store from s.cursor on.
// It returns false when the store cannot be read.
func (q *queue) readBack(s *sender, room int) bool {
	cfg := &q.e.cfg
	upTo := q.committed.Load() // every append up to it is durable: in the Read
	list, err := q.store.Read(q.name, s.cursor, room)
	if err != nil {
		q.e.log.Error("spool: cannot read", "event", q.ev.Name(), "socket", ratelog.Clip(q.dest.String()), "err", err)
		s.backoff = min(max(2*s.backoff, cfg.RetryInitial), cfg.RetryMax)
		s.timer = time.NewTimer(jitter(s.backoff))
		return false
	}
	var old []spool.Failure
	for _, en := range list {
		s.cursor = en.Seq + 1
		if s.msgs[en.Seq] != nil || s.removing[en.Seq] != nil {
			continue // confirmed, the write of it is due or under way
		}
		if cfg.MaxAge > 0 && time.Since(en.Raised) > cfg.MaxAge {
			old = append(old, spool.Failure{Seq: en.Seq, Reason: fmt.Sprintf("older than max_age (%v)", cfg.MaxAge), Final: true})
			continue
		}
		q.e.readBack.Add(1)
		if !q.send(s, q.message(en)) {
			break
		}
	}
	if len(list) < room && len(s.failed) == 0 {
		// All there was: nothing up to upTo is left unsent.
		s.more = false
		s.cursor = max(s.cursor, upTo+1)
	}
	if len(old) > 0 {
		q.expire(old)
	}
	return true
}

// send sends m, in flight from now on; it returns false when the
// destination refused it (a failed attempt).
func (q *queue) send(s *sender, m *evi.Message) bool {
	s.cursor = max(s.cursor, m.Seq+1)
	s.inflight[m.Seq] = struct{}{}
	if err := q.dest.Send(m, q); err != nil {
		delete(s.inflight, m.Seq)
		s.failed = append(s.failed, spool.Failure{Seq: m.Seq, Reason: err.Error()})
		s.errs[m.Seq] = outcome{m, err}
		return false
	}
	return true
}

// expire makes the events older than MaxAge dead letters.
func (q *queue) expire(old []spool.Failure) {
	dead, err := q.store.Fail(q.name, old, 0)
	if err != nil {
		q.e.log.Error("spool: cannot make old events dead letters", "event", q.ev.Name(), "err", err)
		return
	}
	for _, d := range dead {
		q.deadLetter(d, nil)
	}
}

// message rebuilds the event of a spooled entry, to send it.
func (q *queue) message(en spool.Entry) *evi.Message {
	_, params, err := jsonrpc.DecodeEventParamsLazy(en.Params, "")
	if err != nil {
		// Stored by Spool from valid params: only a damaged file gets here.
		q.e.log.Error("spool: an event's params do not decode; sent without them", "event", q.ev.Name(), "seq", en.Seq, "err", err)
	}
	return &evi.Message{ID: evi.IDFromBytes(en.ID), Event: q.ev, Params: params, Raised: en.Raised, Seq: en.Seq}
}

// finish ends run: it waits a little for the outcomes of the requests in
// flight and confirms the delivered ones, then closes the destination.
func (q *queue) finish(s *sender) {
	if len(s.inflight) > 0 && !q.dropping.Load() {
		grace := time.NewTimer(stopGrace)
		defer grace.Stop()
		for len(s.inflight) > 0 {
			select {
			case <-q.wake:
				q.settle(s)
				continue
			case <-grace.C:
			}
			break
		}
	}
	q.confirmAll(s) // what was delivered is not sent again
	q.dest.Close()
}

// jitter returns d ±20 %.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}
