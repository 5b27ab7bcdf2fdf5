package evitest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
)

// Mode is how a fake destination treats the events sent to it.
type Mode int

// The modes. A destination's mode is the one Set gave its name, else the
// one its name's prefix says ("reject...", "fail...", "hold..."), else
// Deliver.
const (
	// Deliver accepts the event and reports it delivered, later, from
	// another goroutine.
	Deliver Mode = iota
	// Fail accepts the event and reports ErrFake (an error reply).
	Fail
	// Reject refuses the event: Send returns a queue-full DeliveryError.
	Reject
	// Hold accepts the event and hands it to the test (Transport.Held),
	// which reports the outcome itself.
	Hold
	// Eager delivers, reporting from another goroutine before Send returns.
	Eager
	// EagerFail fails, reporting from another goroutine before Send returns.
	EagerFail
	// Full refuses events as Reject does until the test calls MakeRoom; the
	// destination is an evi.Waiter whose WaitRoom returns then.
	Full
)

// ErrFake is the cause of the failures of Fail and EagerFail.
var ErrFake = errors.New("evitest: delivery failed")

// Held is an event a Hold destination accepted: the test reports its
// outcome with Report, exactly once. Close does not wait for held events.
type Held struct {
	Name string
	Msg  *evi.Message
	done evi.Done
}

// Report reports the held event's outcome (nil: delivered).
func (h Held) Report(err error) {
	if h.done != nil {
		h.done.Done(h.Msg, err)
	}
}

// Transport is a fake evi.Transport of a scheme: its sockets are
// "SCHEME:NAME", and two sockets match when their names are equal. Every
// call is recorded. Draining adds Shutdown to it.
type Transport struct {
	scheme string

	mu          sync.Mutex
	modes       map[string]Mode
	shutdownErr error
	dests       []*Dest
	log         []string // "send NAME", "dclose NAME", "shutdown", "close", in call order
	sent        map[string][]*evi.Message
	closes      map[string]int
	closed      bool
	held        chan Held
	room        map[string]chan struct{} // Full destinations: closed by MakeRoom

	pending sync.WaitGroup // accepted events whose Done has not been called
}

// New returns a fake transport for scheme.
func New(scheme string) *Transport {
	return &Transport{
		scheme: scheme,
		modes:  map[string]Mode{},
		sent:   map[string][]*evi.Message{},
		closes: map[string]int{},
		held:   make(chan Held, 4096),
		room:   map[string]chan struct{}{},
	}
}

// MakeRoom lets the Full destinations named name accept events: they
// deliver from now on, and their waiters return.
func (t *Transport) MakeRoom(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.modes[name] = Deliver
	if ch := t.room[name]; ch != nil {
		close(ch)
		delete(t.room, name)
	}
}

func (t *Transport) roomFor(name string) chan struct{} {
	ch := t.room[name]
	if ch == nil {
		ch = make(chan struct{})
		t.room[name] = ch
	}
	return ch
}

// Set sets the mode of the destinations named name.
func (t *Transport) Set(name string, m Mode) {
	t.mu.Lock()
	t.modes[name] = m
	t.mu.Unlock()
}

// SetShutdownError makes Shutdown return err.
func (t *Transport) SetShutdownError(err error) {
	t.mu.Lock()
	t.shutdownErr = err
	t.mu.Unlock()
}

func (t *Transport) modeOf(name string) Mode {
	if m, ok := t.modes[name]; ok {
		return m
	}
	switch {
	case strings.HasPrefix(name, "reject"):
		return Reject
	case strings.HasPrefix(name, "fail"):
		return Fail
	case strings.HasPrefix(name, "hold"):
		return Hold
	}
	return Deliver
}

// Scheme returns the transport's scheme.
func (t *Transport) Scheme() string { return t.scheme }

// Parse parses "SCHEME:NAME".
func (t *Transport) Parse(socket string) (evi.Destination, error) {
	name, ok := strings.CutPrefix(socket, t.scheme+":")
	if !ok || name == "" {
		return nil, evi.NewSocketError(socket, nil, "want %s:NAME", t.scheme)
	}
	d := &Dest{t: t, name: name}
	t.mu.Lock()
	t.dests = append(t.dests, d)
	t.mu.Unlock()
	return d, nil
}

// Draining is a Transport that implements evi.Shutdowner.
type Draining struct{ *Transport }

// NewDraining returns a fake transport for scheme with a Shutdown method.
func NewDraining(scheme string) Draining { return Draining{New(scheme)} }

// Shutdown records the call, waits until every accepted event is reported,
// and returns the error SetShutdownError gave, else ctx's.
func (d Draining) Shutdown(ctx context.Context) error {
	t := d.Transport
	t.record("shutdown")
	t.pending.Wait()
	t.mu.Lock()
	err := t.shutdownErr
	t.mu.Unlock()
	if err != nil {
		return err
	}
	return ctx.Err()
}

// Wait waits until every accepted event (but the held ones) is reported,
// the failovers they cause included.
func (t *Transport) Wait() { t.pending.Wait() }

// Close records the call and waits until every accepted event is reported.
func (t *Transport) Close() error {
	t.mu.Lock()
	t.closed = true
	t.log = append(t.log, "close")
	t.mu.Unlock()
	t.pending.Wait()
	return nil
}

func (t *Transport) record(s string) {
	t.mu.Lock()
	t.log = append(t.log, s)
	t.mu.Unlock()
}

// Calls returns the call log: "send NAME", "dclose NAME", "shutdown",
// "close", in call order.
func (t *Transport) Calls() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.log...)
}

// Sends returns the names the events were sent to, in order (refused ones
// included).
func (t *Transport) Sends() []string {
	var out []string
	for _, c := range t.Calls() {
		if name, ok := strings.CutPrefix(c, "send "); ok {
			out = append(out, name)
		}
	}
	return out
}

// Messages returns the events the destinations named name accepted, in
// order.
func (t *Transport) Messages(name string) []*evi.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*evi.Message(nil), t.sent[name]...)
}

// Delivered returns the names of the events sent to name that were (or are
// to be) reported delivered, in order.
func (t *Transport) Delivered(name string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, m := range t.sent[name] {
		out = append(out, m.Event.Name())
	}
	return out
}

// Tries returns how many times Send was called for name.
func (t *Transport) Tries(name string) int {
	n := 0
	for _, s := range t.Sends() {
		if s == name {
			n++
		}
	}
	return n
}

// Closes returns how many times destinations named name were closed.
func (t *Transport) Closes(name string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closes[name]
}

// Dests returns every destination Parse made, in order.
func (t *Transport) Dests() []*Dest {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*Dest(nil), t.dests...)
}

// Held returns the events Hold destinations accepted, in order.
func (t *Transport) Held() <-chan Held { return t.held }

// Dest is a fake destination.
type Dest struct {
	t      *Transport
	name   string
	mu     sync.Mutex
	closes int
}

// Name returns the destination's name (the socket without its scheme).
func (d *Dest) Name() string { return d.name }

// String returns "SCHEME:NAME".
func (d *Dest) String() string { return d.t.scheme + ":" + d.name }

// Key returns "SCHEME:NAME".
func (d *Dest) Key() string { return d.String() }

// CloseCount returns how many times this destination was closed.
func (d *Dest) CloseCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closes
}

// Send records the event and treats it as the destination's mode says.
func (d *Dest) Send(m *evi.Message, done evi.Done) error {
	t := d.t
	d.mu.Lock()
	closed := d.closes > 0
	d.mu.Unlock()
	t.mu.Lock()
	t.log = append(t.log, "send "+d.name)
	mode := t.modeOf(d.name)
	if closed || t.closed {
		t.mu.Unlock()
		return &evi.DeliveryError{Dest: d.String(), Reason: evi.ReasonClosed, Err: evi.ErrClosed}
	}
	if mode == Reject || mode == Full {
		t.mu.Unlock()
		return &evi.DeliveryError{Dest: d.String(), Reason: evi.ReasonQueueFull, Err: errors.New("queue full")}
	}
	if mode == Deliver || mode == Eager || mode == Hold {
		t.sent[d.name] = append(t.sent[d.name], m)
	}
	if mode == Hold {
		t.mu.Unlock()
		t.held <- Held{Name: d.name, Msg: m, done: done}
		return nil
	}
	t.pending.Add(1)
	t.mu.Unlock()
	var err error
	if mode == Fail || mode == EagerFail {
		err = &evi.DeliveryError{Dest: d.String(), Reason: evi.ReasonErrorReply, Written: true, Err: ErrFake}
	}
	report := func() {
		defer t.pending.Done()
		if done != nil {
			done.Done(m, err)
		}
	}
	if mode == Eager || mode == EagerFail {
		reported := make(chan struct{})
		go func() {
			defer close(reported)
			report()
		}()
		<-reported
		return nil
	}
	go report()
	return nil
}

// WaitRoom returns once the destination is not Full, or ctx's error.
func (d *Dest) WaitRoom(ctx context.Context, _ *evi.Message) error {
	t := d.t
	t.mu.Lock()
	if t.modeOf(d.name) != Full {
		t.mu.Unlock()
		return nil
	}
	ch := t.roomFor(d.name)
	t.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close records the call; the destination refuses events afterwards.
func (d *Dest) Close() error {
	d.mu.Lock()
	d.closes++
	d.mu.Unlock()
	d.t.mu.Lock()
	d.t.closes[d.name]++
	d.t.log = append(d.t.log, "dclose "+d.name)
	d.t.mu.Unlock()
	return nil
}

// Record is one outcome a Recorder saw.
type Record struct {
	// Msg is the event (nil for an outcome given to Report).
	Msg *evi.Message
	// Outcome is the outcome (for Done, built from Msg and Err).
	Outcome evi.Outcome
	// Err is the outcome's error.
	Err error
	// At is when it was reported.
	At time.Time
	// Tag is the tag of the Done it came through (Recorder.Tag), else 0.
	Tag int
}

// Recorder collects outcomes, reported to it as an evi.Done or with its
// Report method (a Registry's report function), for a test to wait on.
type Recorder struct {
	ch    chan Record
	total atomic.Int64
}

// NewRecorder returns a Recorder that holds up to capacity outcomes not yet
// waited for; more block the reporter.
func NewRecorder(capacity int) *Recorder { return &Recorder{ch: make(chan Record, capacity)} }

// Done implements evi.Done.
func (r *Recorder) Done(m *evi.Message, err error) {
	r.total.Add(1)
	r.ch <- Record{Msg: m, Outcome: evi.Outcome{ID: m.ID, Event: m.Event, Err: err}, Err: err, At: time.Now()}
}

// Tag returns an evi.Done that records each outcome with tag: for tests
// that tell their sends apart by a number.
func (r *Recorder) Tag(tag int) evi.Done {
	return evi.DoneFunc(func(m *evi.Message, err error) {
		r.total.Add(1)
		r.ch <- Record{Msg: m, Outcome: evi.Outcome{ID: m.ID, Event: m.Event, Err: err}, Err: err, At: time.Now(), Tag: tag}
	})
}

// Next waits for the next outcome (forever: for tests under
// testing/synctest, where a wait that cannot end is reported).
func (r *Recorder) Next() Record { return <-r.ch }

// Report receives a registry's outcome.
func (r *Recorder) Report(o evi.Outcome) {
	r.total.Add(1)
	r.ch <- Record{Outcome: o, Err: o.Err, At: time.Now()}
}

// Wait returns the next n outcomes, in the order reported, failing the
// test if they do not all arrive within timeout.
func (r *Recorder) Wait(t testing.TB, n int, timeout time.Duration) []Record {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	out := make([]Record, 0, n)
	for len(out) < n {
		select {
		case rec := <-r.ch:
			out = append(out, rec)
		case <-deadline.C:
			t.Fatalf("got %d outcomes of %d after %v", len(out), n, timeout)
		}
	}
	return out
}

// None checks that no outcome arrives within d.
func (r *Recorder) None(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case rec := <-r.ch:
		t.Fatalf("unexpected outcome %+v", rec)
	case <-time.After(d):
	}
}

// Pending returns how many outcomes arrived that were not waited for.
func (r *Recorder) Pending() int { return len(r.ch) }

// Total returns how many outcomes were reported so far.
func (r *Recorder) Total() int { return int(r.total.Load()) }

// Nop is the cheapest fake transport, for benchmarks: its destinations
// ("SCHEME:NAME") accept every event, and one goroutine reports them
// delivered, in order.
type Nop struct {
	scheme string
	dones  chan nopDone
	wg     sync.WaitGroup
}

type nopDone struct {
	m    *evi.Message
	done evi.Done
}

// NewNop returns a Nop transport for scheme. Close it.
func NewNop(scheme string) *Nop {
	t := &Nop{scheme: scheme, dones: make(chan nopDone, 4096)}
	t.wg.Go(func() {
		for d := range t.dones {
			d.done.Done(d.m, nil)
		}
	})
	return t
}

// Scheme returns the scheme.
func (t *Nop) Scheme() string { return t.scheme }

// Parse parses "SCHEME:NAME".
func (t *Nop) Parse(socket string) (evi.Destination, error) {
	name, ok := strings.CutPrefix(socket, t.scheme+":")
	if !ok {
		return nil, evi.NewSocketError(socket, nil, "want %s:NAME", t.scheme)
	}
	return nopDest{t: t, key: t.scheme + ":" + name}, nil
}

// Close stops the reporting goroutine once it reported everything.
func (t *Nop) Close() error {
	close(t.dones)
	t.wg.Wait()
	return nil
}

type nopDest struct {
	t   *Nop
	key string
}

func (d nopDest) String() string { return d.key }
func (d nopDest) Key() string    { return d.key }
func (d nopDest) Close() error   { return nil }

func (d nopDest) Send(m *evi.Message, done evi.Done) error {
	if done != nil {
		d.t.dones <- nopDone{m, done}
	}
	return nil
}
