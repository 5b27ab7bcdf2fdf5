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
	key     string

	next      atomic.Uint64 // ROUND-ROBIN: events sent so far
	closed    atomic.Bool
	closeOnce sync.Once
}

// String returns the socket as given, whitespace normalised to one space:
// "virtual:FAILOVER tcp:127.0.0.1:9001 tcp:127.0.0.1:9002".
func (d *destination) String() string { return d.printed }

// Key returns the destination's canonical form: the policy and its
// members' keys, in the order given for FAILOVER and ROUND-ROBIN, sorted
// for PARALLEL, where order means nothing (so PARALLEL sockets match in any
// member order, one to one, as in OpenSIPS).
func (d *destination) Key() string { return d.key }

// Send hands m to the members as the policy says. It never blocks on the
// network: FAILOVER tries the next member from the previous member's done
// callback.
func (d *destination) Send(m *evi.Message, done evi.Done) error {
	if d.closed.Load() {
		return d.closedErr()
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

// closedErr is what Send returns once d or its transport is closed.
func (d *destination) closedErr() error {
	return &evi.DeliveryError{Dest: d.printed, Reason: evi.ReasonClosed, Err: errDestClosed}
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

func (d *destination) sendRoundRobin(m *evi.Message, done evi.Done) error {
	n := d.next.Add(1) - 1
	mb := &d.members[n%uint64(len(d.members))]
	if done == nil {
		if err := mb.dest.Send(m, nil); err != nil {
			return d.fail(&MemberError{Member: mb.socket, Err: err})
		}
		return nil
	}
	r := &roundRobin{mb: mb}
	if !d.t.flights.begin(&r.f, d, m, done) {
		return d.closedErr()
	}
	if err := mb.dest.Send(m, r); err != nil {
		r.f.drop()
		return d.fail(&MemberError{Member: mb.socket, Err: err})
	}
	return nil
}

// roundRobin reports the outcome of the member an event went to.
type roundRobin struct {
	f  flight
	mb *member
}

func (r *roundRobin) Done(_ *evi.Message, err error) {
	if err != nil {
		err = r.f.d.fail(&MemberError{Member: r.mb.socket, Err: err})
	}
	r.f.report(err)
}

// fail returns the policy's failure with the given member failures.
func (d *destination) fail(failed ...*MemberError) error {
	return &Error{Policy: d.policy, Members: len(d.members), Failed: failed}
}

// ---- PARALLEL ----

// parallel collects the outcomes of one event sent to every member.
type parallel struct {
	d       *destination
	f       flight
	errs    []error      // by member index; each slot written once
	pending atomic.Int64 // outcomes still expected, plus one while sending
	members []parallelMember
}

// parallelMember is the Done of one member's copy of the event.
type parallelMember struct {
	p *parallel
	i int
}

func (pm *parallelMember) Done(_ *evi.Message, err error) {
	p := pm.p
	p.errs[pm.i] = err
	if p.pending.Add(-1) == 0 {
		p.f.report(p.result())
	}
}

func (d *destination) sendParallel(m *evi.Message, done evi.Done) error {
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
	p := &parallel{d: d, errs: make([]error, n), members: make([]parallelMember, n)}
	if !d.t.flights.begin(&p.f, d, m, done) {
		return d.closedErr()
	}
	p.pending.Store(int64(n) + 1)
	rejected := 0
	for i := range d.members {
		p.members[i] = parallelMember{p: p, i: i}
		if err := d.members[i].dest.Send(m, &p.members[i]); err != nil {
			p.errs[i] = err
			rejected++
			p.pending.Add(-1)
		}
	}
	if rejected == n {
		// Not accepted anywhere: done is never called.
		p.f.drop()
		return p.result()
	}
	if p.pending.Add(-1) == 0 {
		// Every accepted member already reported: done must still be
		// called later and from another goroutine than Send's.
		p.f.reportAsync(p.result())
	}
	return nil
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
	fl     flight // tracked when someone wants the outcome (fl.done set)
	order  []int  // member indexes in the order to try; nil: socket order
	pos    int    // index into order of the member being tried
	failed []*MemberError
}

func (f *failover) member() *member {
	if f.order == nil {
		return &f.d.members[f.pos]
	}
	return &f.d.members[f.order[f.pos]]
}

func (d *destination) sendFailover(m *evi.Message, done evi.Done) error {
	f := &failover{d: d, m: m}
	if done != nil {
		if !d.t.flights.begin(&f.fl, d, m, done) {
			return d.closedErr()
		}
	}
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
	if f.tracked() {
		f.fl.drop()
	}
	return d.fail(f.failed...)
}

// try sends f.m to the members from f.pos on until one accepts it, and
// reports whether one did. After it returns true f belongs to that member's
// done callback.
func (f *failover) try() bool {
	for ; f.pos < len(f.d.members); f.pos++ {
		mb := f.member()
		err := mb.dest.Send(f.m, f)
		if err == nil {
			return true
		}
		f.d.markFailed(mb, err)
		f.failed = append(f.failed, &MemberError{Member: mb.socket, Err: err})
	}
	return false
}

// Done is the outcome of the member being tried. On a failure the event
// goes to the next member: the same message, with a whole timeout of its
// own (each Send is an attempt with its own deadline).
func (f *failover) Done(_ *evi.Message, err error) {
	mb := f.member()
	if err == nil {
		f.d.markOK(mb)
		f.finish(nil)
		return
	}
	f.d.markFailed(mb, err)
	f.failed = append(f.failed, &MemberError{Member: mb.socket, Err: err})
	f.pos++
	if f.tracked() && f.fl.over() {
		return // the transport closed: no next member
	}
	if f.pos < len(f.d.members) && f.try() {
		return
	}
	f.finish(f.d.fail(f.failed...))
}

// tracked reports whether someone wants the event's outcome.
func (f *failover) tracked() bool { return f.fl.done != nil }

// finish reports the event's outcome, when someone wants it.
func (f *failover) finish(err error) {
	if f.tracked() {
		f.fl.report(err)
	}
}
