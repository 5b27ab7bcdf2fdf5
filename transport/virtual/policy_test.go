package virtual

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/evi/evitest"
	"github.com/evstream/evstream/internal/ratelog"
	"github.com/evstream/evstream/value"
)

// clock is a settable time source for Config.Now.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

type fakeEnv struct {
	reg   *evi.Registry
	fake  *evitest.Transport
	vt    *Transport
	clock *clock
	ev    *evi.Event
}

func newFakeEnv(t *testing.T, timeout time.Duration) *fakeEnv {
	t.Helper()
	e := &fakeEnv{reg: evi.NewRegistry(evi.Config{AutoPublish: true}), fake: evitest.New("fake"), clock: newClock()}
	var err error
	e.vt, err = New(e.reg, Config{FailoverTimeout: timeout, Now: e.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range []evi.Transport{e.fake, e.vt} {
		if err := e.reg.Register(tr); err != nil {
			t.Fatal(err)
		}
	}
	if e.ev, err = e.reg.Publish("E_TEST"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.reg.Close(); err != nil {
			t.Error(err)
		}
	})
	return e
}

func (e *fakeEnv) parse(t *testing.T, socket string) evi.Destination {
	t.Helper()
	d, err := e.vt.Parse(socket)
	if err != nil {
		t.Fatalf("Parse(%q): %v", socket, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func (e *fakeEnv) msg() *evi.Message {
	return evi.NewMessage(e.ev, value.Unnamed(value.Int(1)), time.Now())
}

// send sends one event to d and waits for its outcome.
func (e *fakeEnv) send(t *testing.T, d evi.Destination) error {
	t.Helper()
	ch := make(chan error, 1)
	called := atomic.Int32{}
	if err := d.Send(e.msg(), evi.DoneFunc(func(_ *evi.Message, err error) {
		called.Add(1)
		ch <- err
	})); err != nil {
		t.Fatalf("Send: not accepted: %v", err)
	}
	select {
	case err := <-ch:
		if n := called.Load(); n != 1 {
			t.Fatalf("done called %d times", n)
		}
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("no outcome within 5s")
		return nil
	}
}

// mustReject sends one event that d must refuse; done must never be called.
func (e *fakeEnv) mustReject(t *testing.T, d evi.Destination) error {
	t.Helper()
	err := d.Send(e.msg(), evi.DoneFunc(func(_ *evi.Message, err error) { t.Errorf("done called for a refused event: %v", err) }))
	if err == nil {
		t.Fatal("Send accepted the event, want a refusal")
	}
	e.fake.Wait() // for any stray callback
	return err
}

func wantCounts(t *testing.T, f *evitest.Transport, want map[string]int) {
	t.Helper()
	for name, n := range want {
		if got := len(f.Delivered(name)); got != n {
			t.Errorf("member %s got %d events, want %d", name, got, n)
		}
	}
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var ve *Error
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *virtual.Error", err, err)
	}
	return ve
}

func TestPolicyString(t *testing.T) {
	tests := []struct {
		p    Policy
		want string
	}{
		{Parallel, "PARALLEL"},
		{Failover, "FAILOVER"},
		{RoundRobin, "ROUND-ROBIN"},
		{Policy(9), "Policy(9)"},
	}
	for _, tc := range tests {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("Policy(%d).String() = %q, want %q", tc.p, got, tc.want)
		}
		if tc.p > RoundRobin {
			continue
		}
		p, err := ParsePolicy(tc.want)
		if err != nil || p != tc.p {
			t.Errorf("ParsePolicy(%q) = %v, %v; want %v", tc.want, p, err, tc.p)
		}
	}
}

func TestParsePolicyErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"failover", `unknown policy "failover" (policy is case-sensitive: did you mean "FAILOVER"?)`},
		{"Round-Robin", `unknown policy "Round-Robin" (policy is case-sensitive: did you mean "ROUND-ROBIN"?)`},
		{"ROUNDROBIN", `unknown policy "ROUNDROBIN" (want PARALLEL, FAILOVER or ROUND-ROBIN)`},
		{"", `unknown policy "" (want PARALLEL, FAILOVER or ROUND-ROBIN)`},
	}
	for _, tc := range tests {
		_, err := ParsePolicy(tc.in)
		if err == nil || err.Error() != tc.want {
			t.Errorf("ParsePolicy(%q) error = %v, want %s", tc.in, err, tc.want)
		}
	}
}

func TestNewConfig(t *testing.T) {
	reg := evi.NewRegistry(evi.Config{})
	defer reg.Close()
	if _, err := New(nil, Config{}); err == nil {
		t.Error("New(nil registry) succeeded")
	}
	if _, err := New(reg, Config{FailoverTimeout: -time.Second}); err == nil {
		t.Error("New with a negative FailoverTimeout succeeded")
	}
	tr, err := New(reg, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.FailoverTimeout() != DefaultFailoverTimeout || tr.Scheme() != "virtual" {
		t.Errorf("zero Config: timeout %v scheme %q", tr.FailoverTimeout(), tr.Scheme())
	}
}

func TestParallel(t *testing.T) {
	tests := []struct {
		name    string
		modes   map[string]evitest.Mode
		wantErr string
		got     map[string]int
	}{
		{"all deliver", nil, "", map[string]int{"a": 1, "b": 1, "c": 1}},
		{"one fails", map[string]evitest.Mode{"b": evitest.Fail},
			"virtual PARALLEL: 1 of 3 members failed: fake:b: fake:b: evitest: delivery failed",
			map[string]int{"a": 1, "b": 0, "c": 1}},
		{"one refuses", map[string]evitest.Mode{"a": evitest.Reject},
			"virtual PARALLEL: 1 of 3 members failed: fake:a: fake:a: queue full",
			map[string]int{"a": 0, "b": 1, "c": 1}},
		{"two fail", map[string]evitest.Mode{"a": evitest.Fail, "c": evitest.Reject},
			"virtual PARALLEL: 2 of 3 members failed: fake:a: fake:a: evitest: delivery failed; fake:c: fake:c: queue full",
			map[string]int{"a": 0, "b": 1, "c": 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newFakeEnv(t, 0)
			for n, m := range tc.modes {
				e.fake.Set(n, m)
			}
			d := e.parse(t, "virtual:PARALLEL fake:a fake:b fake:c")
			err := e.send(t, d)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("outcome %v, want success", err)
				}
			} else {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("outcome %v\nwant %s", err, tc.wantErr)
				}
				ve := asError(t, err)
				if ve.Policy != Parallel || ve.Members != 3 {
					t.Errorf("Error = %+v", ve)
				}
			}
			e.fake.Wait()
			wantCounts(t, e.fake, tc.got)
		})
	}
}

func TestParallelErrorsIs(t *testing.T) {
	e := newFakeEnv(t, 0)
	e.fake.Set("a", evitest.Fail)
	e.fake.Set("b", evitest.Reject)
	err := e.send(t, e.parse(t, "virtual:PARALLEL fake:a fake:b fake:c"))
	if !errors.Is(err, evitest.ErrFake) || !errors.Is(err, evi.ErrQueueFull) {
		t.Errorf("errors.Is does not see the members' errors in %v", err)
	}
	var me *MemberError
	if !errors.As(err, &me) || me.Member != "fake:a" {
		t.Errorf("errors.As MemberError = %+v", me)
	}
}

func TestParallelAllRefuse(t *testing.T) {
	e := newFakeEnv(t, 0)
	e.fake.Set("a", evitest.Reject)
	e.fake.Set("b", evitest.Reject)
	d := e.parse(t, "virtual:PARALLEL fake:a fake:b")
	err := e.mustReject(t, d)
	want := "virtual PARALLEL: 2 of 2 members failed: fake:a: fake:a: queue full; fake:b: fake:b: queue full"
	if err.Error() != want || !errors.Is(err, evi.ErrQueueFull) {
		t.Errorf("Send error %v\nwant %s", err, want)
	}
	// Without a done callback too.
	if err := d.Send(e.msg(), nil); err == nil || err.Error() != want {
		t.Errorf("Send(nil done) error %v\nwant %s", err, want)
	}
}

func TestParallelNilDone(t *testing.T) {
	e := newFakeEnv(t, 0)
	e.fake.Set("b", evitest.Reject)
	d := e.parse(t, "virtual:PARALLEL fake:a fake:b fake:c")
	for range 5 {
		if err := d.Send(e.msg(), nil); err != nil {
			t.Fatal(err)
		}
	}
	wantCounts(t, e.fake, map[string]int{"a": 5, "b": 0, "c": 5})
}

// TestParallelHeld checks that the outcome waits for the slowest member.
func TestParallelHeld(t *testing.T) {
	e := newFakeEnv(t, 0)
	e.fake.Set("a", evitest.Hold)
	e.fake.Set("b", evitest.Hold)
	d := e.parse(t, "virtual:PARALLEL fake:a fake:b")
	out := make(chan error, 1)
	if err := d.Send(e.msg(), evi.DoneFunc(func(_ *evi.Message, err error) { out <- err })); err != nil {
		t.Fatal(err)
	}
	h1, h2 := recv(t, e.fake.Held()), recv(t, e.fake.Held())
	go h2.Report(nil)
	select {
	case err := <-out:
		t.Fatalf("outcome %v before every member reported", err)
	default:
	}
	go h1.Report(evitest.ErrFake)
	if err := recv(t, out); !errors.Is(err, evitest.ErrFake) {
		t.Fatalf("outcome %v, want the held member's failure", err)
	}
}

func TestFailoverPrimaryFails(t *testing.T) {
	e := newFakeEnv(t, 10*time.Second)
	e.fake.Set("a", evitest.Fail)
	d := e.parse(t, "virtual:FAILOVER fake:a fake:b")

	if err := e.send(t, d); err != nil {
		t.Fatalf("event 1: %v", err)
	}
	if n := e.fake.Tries("a"); n != 1 {
		t.Fatalf("primary tried %d times, want 1", n)
	}
	// Within failover_timeout the primary is skipped.
	e.clock.advance(9 * time.Second)
	if err := e.send(t, d); err != nil {
		t.Fatalf("event 2: %v", err)
	}
	if n := e.fake.Tries("a"); n != 1 {
		t.Fatalf("primary tried %d times within failover_timeout, want 1", n)
	}
	// After it, the primary is tried first again, and takes over once it
	// delivers.
	e.fake.Set("a", evitest.Deliver)
	e.clock.advance(time.Second)
	for i := range 3 {
		if err := e.send(t, d); err != nil {
			t.Fatalf("event %d: %v", i+3, err)
		}
	}
	wantCounts(t, e.fake, map[string]int{"a": 3, "b": 2})
}

func TestFailoverPrimaryRefuses(t *testing.T) {
	e := newFakeEnv(t, 0)
	e.fake.Set("a", evitest.Reject)
	d := e.parse(t, "virtual:FAILOVER fake:a fake:b fake:c")
	for range 3 {
		if err := e.send(t, d); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.fake.Tries("a"); n != 1 {
		t.Errorf("refusing primary tried %d times, want 1 (then skipped)", n)
	}
	wantCounts(t, e.fake, map[string]int{"a": 0, "b": 3, "c": 0})
}

func TestFailoverAllFail(t *testing.T) {
	e := newFakeEnv(t, 0)
	e.fake.Set("a", evitest.Fail)
	e.fake.Set("b", evitest.Reject)
	e.fake.Set("c", evitest.Fail)
	d := e.parse(t, "virtual:FAILOVER fake:a fake:b fake:c")
	err := e.send(t, d)
	want := "virtual FAILOVER: all 3 members failed: fake:a: fake:a: evitest: delivery failed; fake:b: fake:b: queue full; fake:c: fake:c: evitest: delivery failed"
	if err == nil || err.Error() != want {
		t.Fatalf("outcome %v\nwant %s", err, want)
	}
	ve := asError(t, err)
	if ve.Policy != Failover || ve.Members != 3 || len(ve.Failed) != 3 {
		t.Errorf("Error = %+v", ve)
	}

	// Every member is now marked failed: the next event still tries them
	// all, in socket order, and is delivered by the first that works.
	e.fake.Set("b", evitest.Deliver)
	if err := e.send(t, d); err != nil {
		t.Fatalf("event with every member marked: %v", err)
	}
	if a, c := e.fake.Tries("a"), e.fake.Tries("c"); a != 2 || c != 1 {
		t.Errorf("tries a=%d c=%d, want 2 and 1", a, c)
	}
	wantCounts(t, e.fake, map[string]int{"b": 1})
}

func TestFailoverOneMember(t *testing.T) {
	e := newFakeEnv(t, 0)
	e.fake.Set("a", evitest.Fail)
	d := e.parse(t, "virtual:FAILOVER fake:a")
	err := e.send(t, d)
	if want := "virtual FAILOVER: the only member failed: fake:a: fake:a: evitest: delivery failed"; err == nil || err.Error() != want {
		t.Fatalf("outcome %v, want %s", err, want)
	}
	e.fake.Set("a", evitest.Deliver)
	if err := e.send(t, d); err != nil {
		t.Fatalf("a marked only member must still be tried: %v", err)
	}
}

// TestFailoverSkippedGoLast: a marked member is tried after the healthy
// ones, not never.
func TestFailoverSkippedGoLast(t *testing.T) {
	e := newFakeEnv(t, 0)
	e.fake.Set("a", evitest.Fail)
	d := e.parse(t, "virtual:FAILOVER fake:a fake:b")
	if err := e.send(t, d); err != nil { // a fails, marked; b delivers
		t.Fatal(err)
	}
	e.fake.Set("a", evitest.Deliver)
	e.fake.Set("b", evitest.Fail)
	if err := e.send(t, d); err != nil { // b fails, then marked a delivers
		t.Fatal(err)
	}
	wantCounts(t, e.fake, map[string]int{"a": 1, "b": 1})
	if b := e.fake.Tries("b"); b != 2 {
		t.Errorf("b tried %d times, want 2", b)
	}
}

func TestFailoverAllRefuse(t *testing.T) {
	e := newFakeEnv(t, 0)
	e.fake.Set("a", evitest.Reject)
	e.fake.Set("b", evitest.Reject)
	err := e.mustReject(t, e.parse(t, "virtual:FAILOVER fake:a fake:b"))
	if want := "virtual FAILOVER: all 2 members failed: fake:a: fake:a: queue full; fake:b: fake:b: queue full"; err.Error() != want {
		t.Errorf("Send error %v\nwant %s", err, want)
	}
}

// TestFailoverSequential: one attempt at a time; the next member is tried
// only once the previous one reported, with the same message (the same
// event ID; its Send gives it a whole timeout).
func TestFailoverSequential(t *testing.T) {
	e := newFakeEnv(t, 0)
	e.fake.Set("a", evitest.Hold)
	e.fake.Set("b", evitest.Hold)
	d := e.parse(t, "virtual:FAILOVER fake:a fake:b")
	m := e.msg()
	out := make(chan error, 1)
	if err := d.Send(m, evi.DoneFunc(func(_ *evi.Message, err error) { out <- err })); err != nil {
		t.Fatal(err)
	}
	h := recv(t, e.fake.Held())
	if h.Name != "a" || h.Msg != m {
		t.Fatalf("first attempt went to %s (same message: %v)", h.Name, h.Msg == m)
	}
	if n := e.fake.Tries("b"); n != 0 {
		t.Fatalf("backup tried %d times while the primary is pending", n)
	}
	go h.Report(evi.ErrTimeout)
	h = recv(t, e.fake.Held())
	if h.Name != "b" || h.Msg != m {
		t.Fatalf("second attempt: member %s, same message %v", h.Name, h.Msg == m)
	}
	go h.Report(nil)
	if err := recv(t, out); err != nil {
		t.Fatalf("outcome %v", err)
	}
}

func TestFailoverNilDone(t *testing.T) {
	e := newFakeEnv(t, 0)
	e.fake.Set("a", evitest.Fail)
	d := e.parse(t, "virtual:FAILOVER fake:a fake:b")
	if err := d.Send(e.msg(), nil); err != nil {
		t.Fatal(err)
	}
	e.fake.Wait()
	wantCounts(t, e.fake, map[string]int{"a": 0, "b": 1})
}

func TestRoundRobinExact(t *testing.T) {
	e := newFakeEnv(t, 0)
	d := e.parse(t, "virtual:ROUND-ROBIN fake:a fake:b fake:c")
	const workers, per = 4, 75 // 300 events
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range per {
				if err := d.Send(e.msg(), nil); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	e.fake.Wait()
	wantCounts(t, e.fake, map[string]int{"a": 100, "b": 100, "c": 100})
}

func TestRoundRobinOrder(t *testing.T) {
	e := newFakeEnv(t, 0)
	d := e.parse(t, "virtual:ROUND-ROBIN fake:a fake:b fake:c")
	for range 7 {
		if err := e.send(t, d); err != nil {
			t.Fatal(err)
		}
	}
	wantCounts(t, e.fake, map[string]int{"a": 3, "b": 2, "c": 2})
}

func TestRoundRobinFailure(t *testing.T) {
	e := newFakeEnv(t, 0)
	e.fake.Set("b", evitest.Fail)
	e.fake.Set("c", evitest.Reject)
	d := e.parse(t, "virtual:ROUND-ROBIN fake:a fake:b fake:c")
	if err := e.send(t, d); err != nil {
		t.Fatalf("event to a: %v", err)
	}
	err := e.send(t, d)
	if want := "virtual ROUND-ROBIN: member fake:b: fake:b: evitest: delivery failed"; err == nil || err.Error() != want {
		t.Fatalf("event to b: %v, want %s", err, want)
	}
	err = e.mustReject(t, d)
	if want := "virtual ROUND-ROBIN: member fake:c: fake:c: queue full"; err.Error() != want || !errors.Is(err, evi.ErrQueueFull) {
		t.Fatalf("event to c: %v, want %s", err, want)
	}
	// No failover: the failed events were not sent elsewhere.
	wantCounts(t, e.fake, map[string]int{"a": 1, "b": 0, "c": 0})
}

// TestKey: two virtual sockets designate the same subscriber exactly when
// their keys are equal: the same policy and members, in order for FAILOVER
// and ROUND-ROBIN, in any order (one to one) for PARALLEL.
func TestKey(t *testing.T) {
	e := newFakeEnv(t, 0)
	tests := []struct {
		a, b string
		want bool
	}{
		{"virtual:FAILOVER fake:a fake:b", "virtual:FAILOVER  fake:a\tfake:b ", true},
		{"virtual:FAILOVER fake:a fake:b", "virtual:FAILOVER fake:b fake:a", false},
		{"virtual:ROUND-ROBIN fake:a fake:b", "virtual:ROUND-ROBIN fake:b fake:a", false},
		{"virtual:PARALLEL fake:a fake:b", "virtual:PARALLEL fake:b fake:a", true},
		{"virtual:PARALLEL fake:a fake:a fake:b", "virtual:PARALLEL fake:a fake:b fake:b", false},
		{"virtual:PARALLEL fake:a fake:a fake:b", "virtual:PARALLEL fake:a fake:b fake:a", true},
		{"virtual:PARALLEL fake:a fake:b", "virtual:FAILOVER fake:a fake:b", false},
		{"virtual:FAILOVER fake:a fake:b", "virtual:FAILOVER fake:a", false},
		{"virtual:FAILOVER fake:a", "virtual:FAILOVER fake:a fake:a", false},
	}
	for _, tc := range tests {
		a, b := e.parse(t, tc.a), e.parse(t, tc.b)
		if got := a.Key() == b.Key(); got != tc.want {
			t.Errorf("%q and %q: keys %q and %q, want same = %v", tc.a, tc.b, a.Key(), b.Key(), tc.want)
		}
	}
	f, _ := e.fake.Parse("fake:a")
	if e.parse(t, "virtual:FAILOVER fake:a").Key() == f.Key() {
		t.Error("a virtual destination has a fake one's key")
	}
}

func TestClose(t *testing.T) {
	e := newFakeEnv(t, 0)
	d, err := e.vt.Parse("virtual:PARALLEL fake:a fake:b")
	if err != nil {
		t.Fatal(err)
	}
	d2, err := e.vt.Parse("virtual:FAILOVER fake:c")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d.Close() // idempotent
	if e.fake.Closes("a") != 1 || e.fake.Closes("b") != 1 {
		t.Errorf("members closed a=%d b=%d times, want once each", e.fake.Closes("a"), e.fake.Closes("b"))
	}
	if err := d.Send(e.msg(), nil); !errors.Is(err, evi.ErrClosed) {
		t.Errorf("Send after Close: %v, want ErrClosed", err)
	}
	// Closing the transport closes what is still open.
	if err := e.vt.Close(); err != nil {
		t.Fatal(err)
	}
	if e.fake.Closes("c") != 1 {
		t.Errorf("transport Close closed member c %d times, want 1", e.fake.Closes("c"))
	}
	if err := d2.Send(e.msg(), nil); !errors.Is(err, evi.ErrClosed) {
		t.Errorf("Send after transport Close: %v, want ErrClosed", err)
	}
	if _, err := e.vt.Parse("virtual:FAILOVER fake:a"); !errors.Is(err, evi.ErrClosed) {
		t.Errorf("Parse after Close: %v, want ErrClosed", err)
	}
}

// TestDoneNeverInline: the virtual destination never calls its done
// callback from inside Send (the caller may hold a lock that done takes),
// even when members report before their Send returns. (A member whose Send
// waits for its own done to return, as evitest.Eager does, is only used where
// that done is the virtual destination's bookkeeping, not the caller's.)
func TestDoneNeverInline(t *testing.T) {
	tests := []struct {
		socket  string
		modes   map[string]evitest.Mode
		wantErr bool
	}{
		{"virtual:PARALLEL fake:a fake:b", map[string]evitest.Mode{"a": evitest.Eager, "b": evitest.Eager}, false},
		{"virtual:PARALLEL fake:a fake:b", map[string]evitest.Mode{"a": evitest.Eager, "b": evitest.Reject}, true},
		{"virtual:PARALLEL fake:a fake:b", map[string]evitest.Mode{"a": evitest.EagerFail, "b": evitest.Eager}, true},
		{"virtual:FAILOVER fake:a fake:b", map[string]evitest.Mode{"a": evitest.EagerFail, "b": evitest.Deliver}, false},
		{"virtual:FAILOVER fake:a fake:b", map[string]evitest.Mode{"a": evitest.EagerFail, "b": evitest.Fail}, true},
	}
	for _, tc := range tests {
		e := newFakeEnv(t, 0)
		for n, m := range tc.modes {
			e.fake.Set(n, m)
		}
		d := e.parse(t, tc.socket)
		var mu sync.Mutex
		out := make(chan error, 1)
		done := evi.DoneFunc(func(_ *evi.Message, err error) {
			mu.Lock() // deadlocks if called from inside Send below
			mu.Unlock()
			out <- err
		})
		returned := make(chan error, 1)
		mu.Lock()
		go func() { returned <- d.Send(e.msg(), done) }()
		select {
		case err := <-returned:
			mu.Unlock()
			if err != nil {
				t.Fatalf("%s %v: Send: %v", tc.socket, tc.modes, err)
			}
		case <-time.After(waitFor):
			t.Fatalf("%s %v: Send did not return: done was called inline", tc.socket, tc.modes)
		}
		select {
		case err := <-out:
			if (err != nil) != tc.wantErr {
				t.Errorf("%s %v: outcome %v, want error %v", tc.socket, tc.modes, err, tc.wantErr)
			}
		case <-time.After(waitFor):
			t.Fatalf("%s %v: no outcome", tc.socket, tc.modes)
		}
	}
}

// logRecorder is a slog.Handler that keeps the messages it gets.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, r.Level.String()+" "+r.Message)
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }
func (l *logRecorder) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.msgs)
}

func TestFailoverLogs(t *testing.T) {
	rec := &logRecorder{}
	e := newFakeEnv(t, 10*time.Second)
	e.vt.log = ratelog.New(slog.New(rec), 0, 0)
	e.fake.Set("a", evitest.Fail)
	e.fake.Set("b", evitest.Fail)
	d := e.parse(t, "virtual:FAILOVER fake:a fake:b")
	e.send(t, d) // a and b fail: one warning each
	e.send(t, d) // both fail again, still marked: no new warning
	e.fake.Set("a", evitest.Deliver)
	e.send(t, d) // a delivers: recovered
	want := []string{
		"WARN virtual member failed, skipping it",
		"WARN virtual member failed, skipping it",
		"INFO virtual member recovered",
	}
	if got := rec.all(); !slices.Equal(got, want) {
		t.Errorf("logs %q\nwant %q", got, want)
	}
}

// recv receives from ch, bounded by waitFor.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("nothing received within %v", waitFor)
		var zero T
		return zero
	}
}
