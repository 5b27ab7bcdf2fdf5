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

	wake  chan struct{} // cap 1: something to do
	fresh atomic.Bool   // events were appended since run last read

	mu   sync.Mutex
	outs []outcome // reported by the transport, taken by run

	stop      chan struct{}
	ended     chan struct{}
	dropping  atomic.Bool // Drop, not Close: what is pending becomes dead letters
	closeOnce sync.Once

	// Read by listings and Stats.
	pending, dead atomic.Int64
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

// appended tells run that the spool holds new events for it.
func (q *queue) appended() {
	q.fresh.Store(true)
	q.poke()
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

// fill sends events from the store until the window is full.
func (q *queue) fill(s *sender) {
	cfg := &q.e.cfg
	if q.fresh.Swap(false) {
		s.more = true
	}
	for s.more {
		room := cfg.Window - len(s.inflight)
		if s.probe {
			room = 1 - len(s.inflight)
		}
		if room <= 0 {
			return
		}
		list, err := q.store.Read(q.name, s.cursor, room)
		if err != nil {
			q.e.log.Error("spool: cannot read", "event", q.ev.Name(), "socket", ratelog.Clip(q.dest.String()), "err", err)
			s.backoff = min(max(2*s.backoff, cfg.RetryInitial), cfg.RetryMax)
			s.timer = time.NewTimer(jitter(s.backoff))
			return
		}
		if len(list) < room {
			s.more = false
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
			m := q.message(en)
			s.inflight[en.Seq] = struct{}{}
			if err := q.dest.Send(m, q); err != nil {
				delete(s.inflight, en.Seq)
				s.failed = append(s.failed, spool.Failure{Seq: en.Seq, Reason: err.Error()})
				s.errs[en.Seq] = outcome{m, err}
				break
			}
		}
		if len(old) > 0 {
			q.expire(old)
		}
		if len(s.failed) > 0 {
			if len(s.inflight) == 0 {
				q.retryRound(s)
			}
			return
		}
	}
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
