package virtual

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evstream/evstream/evi"
)

// member is one member socket of a virtual destination.
type member struct {
	socket string // as written in the virtual socket
	dest   evi.Destination
	// failedAt is when the member last failed to deliver (FAILOVER only),
	// in Unix nanoseconds of Transport.now; 0 while it is healthy.
	failedAt atomic.Int64
}

// destination is a parsed virtual socket.
type destination struct {
	t       *Transport
	policy  Policy
	members []member
	printed string

	next      atomic.Uint64 // ROUND-ROBIN: events sent so far
	closed    atomic.Bool
	closeOnce sync.Once
}

// String returns the socket as given, whitespace normalised to one space:
// "virtual:FAILOVER tcp:127.0.0.1:9001 tcp:127.0.0.1:9002".
func (d *destination) String() string { return d.printed }

// Match reports whether other is a virtual destination with the same policy
// and matching members: for FAILOVER and ROUND-ROBIN member by member in the
// same order; for PARALLEL, where order means nothing, in any order (as
// OpenSIPS does), each member matched once.
func (d *destination) Match(other evi.Destination) bool {
	o, ok := other.(*destination)
	if !ok || o.policy != d.policy || len(o.members) != len(d.members) {
		return false
	}
	if d.policy != Parallel {
		for i := range d.members {
			if !d.members[i].dest.Match(o.members[i].dest) {
				return false
			}
		}
		return true
	}
	used := make([]bool, len(o.members))
outer:
	for i := range d.members {
		for j := range o.members {
			if !used[j] && d.members[i].dest.Match(o.members[j].dest) {
				used[j] = true
				continue outer
			}
		}
		return false
	}
	return true
}

// Send hands m to the members as the policy says. It never blocks on the
// network: FAILOVER tries the next member from the previous member's done
// callback.
func (d *destination) Send(m *evi.Message, done func(error)) error {
	if d.closed.Load() {
		return fmt.Errorf("%s: %w", d.printed, evi.ErrClosed)
	}
	switch d.policy {
	case Parallel:
		return d.sendParallel(m, done)
	case Failover:
		return d.sendFailover(m, done)
	default:
		return d.sendRoundRobin(m, done)
	}
}

// Close closes every member destination. Events already accepted still
// complete (or fail) and are reported.
func (d *destination) Close() error {
	var err error
	d.closeOnce.Do(func() {
		d.closed.Store(true)
		d.t.forget(d)
		err = d.closeMembers()
	})
	return err
}

func (d *destination) closeMembers() error {
	var errs []error
	for i := range d.members {
		if err := d.members[i].dest.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: close member %s: %w", d.printed, d.members[i].socket, err))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(errs...)
}

// ---- ROUND-ROBIN ----

func (d *destination) sendRoundRobin(m *evi.Message, done func(error)) error {
	n := d.next.Add(1) - 1
	mb := &d.members[n%uint64(len(d.members))]
	var cb func(error)
	if done != nil {
		cb = func(err error) {
			if err != nil {
				err = d.fail(&MemberError{Member: mb.socket, Err: err})
			}
			done(err)
		}
	}
	if err := mb.dest.Send(m, cb); err != nil {
		return d.fail(&MemberError{Member: mb.socket, Err: err})
	}
	return nil
}

// fail returns the policy's failure with the given member failures.
func (d *destination) fail(failed ...*MemberError) error {
	return &Error{Policy: d.policy, Members: len(d.members), Failed: failed}
}

// ---- PARALLEL ----

// parallel collects the outcomes of one event sent to every member.
type parallel struct {
	d       *destination
	done    func(error)
	errs    []error      // by member index; each slot written once
	pending atomic.Int64 // outcomes still expected, plus one while sending
}

func (d *destination) sendParallel(m *evi.Message, done func(error)) error {
	n := len(d.members)
	if done == nil {
		// Nobody wants the outcome: no bookkeeping.
		accepted := 0
		var errs []*MemberError
		for i := range d.members {
			if err := d.members[i].dest.Send(m, nil); err != nil {
				errs = append(errs, &MemberError{Member: d.members[i].socket, Err: err})
				continue
			}
			accepted++
		}
		if accepted == 0 {
			return d.fail(errs...)
		}
		return nil
	}
	p := &parallel{d: d, done: done, errs: make([]error, n)}
	p.pending.Store(int64(n) + 1)
	rejected := 0
	for i := range d.members {
		if err := d.members[i].dest.Send(m, p.member(i)); err != nil {
			p.errs[i] = err
			rejected++
			p.pending.Add(-1)
		}
	}
	if rejected == n {
		// Not accepted anywhere: done is never called.
		return p.result()
	}
	if p.pending.Add(-1) == 0 {
		// Every accepted member already reported: done must still be
		// called later and from another goroutine than Send's.
		go p.done(p.result())
	}
	return nil
}

func (p *parallel) member(i int) func(error) {
	return func(err error) {
		p.errs[i] = err
		if p.pending.Add(-1) == 0 {
			p.done(p.result())
		}
	}
}

// result is nil when every member delivered, else the failures.
func (p *parallel) result() error {
	var failed []*MemberError
	for i, err := range p.errs {
		if err != nil {
			failed = append(failed, &MemberError{Member: p.d.members[i].socket, Err: err})
		}
	}
	if failed == nil {
		return nil
	}
	return p.d.fail(failed...)
}

// ---- FAILOVER ----

// healthy reports whether mb is to be tried in its turn at now: it has not
// failed, or failed at least timeout ago.
func (mb *member) healthy(now int64, timeout time.Duration) bool {
	f := mb.failedAt.Load()
	return f == 0 || now-f >= int64(timeout)
}

func (d *destination) nowNanos() int64 {
	n := d.t.now().UnixNano()
	if n == 0 {
		n = 1 // 0 means healthy
	}
	return n
}

// markFailed records that mb failed now; it is then skipped for the
// failover timeout.
func (d *destination) markFailed(mb *member, err error) {
	now := d.nowNanos()
	prev := mb.failedAt.Swap(now)
	if prev == 0 || now-prev >= int64(d.t.timeout) {
		d.t.log.Warn("virtual member failed, skipping it", "socket", d.printed, "member", mb.socket,
			"error", err, "for", d.t.timeout)
	}
}

// markOK records that mb delivered.
func (d *destination) markOK(mb *member) {
	if mb.failedAt.Load() != 0 && mb.failedAt.Swap(0) != 0 {
		d.t.log.Info("virtual member recovered", "socket", d.printed, "member", mb.socket)
	}
}

// failover is one event making its way through the members. Only one
// attempt is in flight at a time; the fields are handed from one attempt to
// the next through the member's done callback, which happens after Send.
type failover struct {
	d      *destination
	m      *evi.Message
	done   func(error)
	order  []int // member indexes in the order to try; nil: socket order
	pos    int   // index into order of the member being tried
	failed []*MemberError
}

func (f *failover) member() *member {
	if f.order == nil {
		return &f.d.members[f.pos]
	}
	return &f.d.members[f.order[f.pos]]
}

func (d *destination) sendFailover(m *evi.Message, done func(error)) error {
	f := &failover{d: d, m: m, done: done}
	// Healthy members first, in socket order; then the skipped ones, in
	// socket order, so an event is never dropped while a member is left.
	// The clock is read only when some member is marked.
	marked := false
	for i := range d.members {
		if d.members[i].failedAt.Load() != 0 {
			marked = true
			break
		}
	}
	skipped := 0
	var now int64
	if marked {
		now = d.nowNanos()
		for i := range d.members {
			if !d.members[i].healthy(now, d.t.timeout) {
				skipped++
			}
		}
	}
	if skipped > 0 {
		f.order = make([]int, 0, len(d.members))
		for i := range d.members {
			if d.members[i].healthy(now, d.t.timeout) {
				f.order = append(f.order, i)
			}
		}
		for i := range d.members {
			if !d.members[i].healthy(now, d.t.timeout) {
				f.order = append(f.order, i)
			}
		}
	}
	if f.try() {
		return nil
	}
	// Every member refused it at once: not accepted, done is never called.
	return d.fail(f.failed...)
}

// try sends f.m to the members from f.pos on until one accepts it, and
// reports whether one did. After it returns true f belongs to that member's
// done callback.
func (f *failover) try() bool {
	for ; f.pos < len(f.d.members); f.pos++ {
		mb := f.member()
		err := mb.dest.Send(f.m, f.result)
		if err == nil {
			return true
		}
		f.d.markFailed(mb, err)
		f.failed = append(f.failed, &MemberError{Member: mb.socket, Err: err})
	}
	return false
}

// result is the done callback of the member being tried.
func (f *failover) result(err error) {
	mb := f.member()
	if err == nil {
		f.d.markOK(mb)
		if f.done != nil {
			f.done(nil)
		}
		return
	}
	f.d.markFailed(mb, err)
	f.failed = append(f.failed, &MemberError{Member: mb.socket, Err: err})
	f.pos++
	if f.pos < len(f.d.members) {
		// The next member gets a full delivery deadline of its own: the
		// message is raised anew, now.
		f.m = evi.NewMessage(f.m.Event, f.m.Params, time.Now())
		if f.try() {
			return
		}
	}
	if f.done != nil {
		f.done(f.d.fail(f.failed...))
	}
}
