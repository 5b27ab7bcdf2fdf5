package evi_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/testnet"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeTransport is a test double of the evi.Transport contract for the
// scheme "fake". Its sockets are "fake:NAME"; two sockets match when their
// names are equal. Destinations accept an event unless their name starts
// with "reject" (Send then fails with ErrQueueFull), and complete accepted
// events later from another goroutine, with an error when their name starts
// with "fail". Every call is recorded.
type fakeTransport struct {
	scheme string
	// shutdownErr, when set, is what Shutdown returns.
	shutdownErr error

	mu        sync.Mutex
	dests     []*fakeDest
	log       []string // "send NAME", "dclose NAME", "shutdown", "close", in call order
	closes    int
	shutdowns int
	closed    bool

	pending sync.WaitGroup // done callbacks not yet called
}

func newFake(scheme string) *fakeTransport { return &fakeTransport{scheme: scheme} }

func (t *fakeTransport) Scheme() string { return t.scheme }

func (t *fakeTransport) Parse(socket string) (evi.Destination, error) {
	name, ok := strings.CutPrefix(socket, t.scheme+":")
	if !ok || name == "" {
		return nil, evi.NewSocketError(socket, nil, "want %s:NAME", t.scheme)
	}
	d := &fakeDest{t: t, name: name}
	t.mu.Lock()
	t.dests = append(t.dests, d)
	t.mu.Unlock()
	return d, nil
}

func (t *fakeTransport) shutdown(ctx context.Context) error {
	t.mu.Lock()
	t.shutdowns++
	t.log = append(t.log, "shutdown")
	t.mu.Unlock()
	t.pending.Wait()
	if t.shutdownErr != nil {
		return t.shutdownErr
	}
	return ctx.Err()
}

func (t *fakeTransport) Close() error {
	t.mu.Lock()
	t.closes++
	t.closed = true
	t.log = append(t.log, "close")
	t.mu.Unlock()
	t.pending.Wait() // every accepted event is reported before Close returns
	return nil
}

func (t *fakeTransport) record(s string) {
	t.mu.Lock()
	t.log = append(t.log, s)
	t.mu.Unlock()
}

// calls returns a copy of the call log.
func (t *fakeTransport) calls() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.log...)
}

// sends returns the names the events were sent to, in order.
func (t *fakeTransport) sends() []string {
	var out []string
	for _, c := range t.calls() {
		if name, ok := strings.CutPrefix(c, "send "); ok {
			out = append(out, name)
		}
	}
	return out
}

// allDests returns every destination Parse made, in order.
func (t *fakeTransport) allDests() []*fakeDest {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*fakeDest(nil), t.dests...)
}

type fakeDest struct {
	t    *fakeTransport
	name string

	mu     sync.Mutex
	msgs   []*evi.Message
	closes int
}

func (d *fakeDest) String() string { return d.t.scheme + ":" + d.name }

func (d *fakeDest) Match(o evi.Destination) bool {
	od, ok := o.(*fakeDest)
	return ok && od.t == d.t && od.name == d.name
}

func (d *fakeDest) Send(m *evi.Message, done func(error)) error {
	d.mu.Lock()
	closed := d.closes > 0
	if !closed {
		d.msgs = append(d.msgs, m)
	}
	d.mu.Unlock()
	d.t.record("send " + d.name)
	if closed {
		return fmt.Errorf("%s: %w", d, evi.ErrClosed)
	}
	if strings.HasPrefix(d.name, "reject") {
		return fmt.Errorf("%s: %w", d, evi.ErrQueueFull)
	}
	var res error
	if strings.HasPrefix(d.name, "fail") {
		res = fmt.Errorf("%s: %w", d, evi.ErrTimeout)
	}
	if done != nil {
		d.t.pending.Add(1)
		go func() {
			defer d.t.pending.Done()
			done(res)
		}()
	}
	return nil
}

func (d *fakeDest) Close() error {
	d.mu.Lock()
	d.closes++
	d.mu.Unlock()
	d.t.record("dclose " + d.name)
	return nil
}

func (d *fakeDest) closeCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closes
}

func (d *fakeDest) messages() []*evi.Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*evi.Message(nil), d.msgs...)
}

// clock is a controllable Config.Now.
type clock = testnet.Clock

func newClock() *clock { return testnet.NewClock(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)) }

func newTestRegistry(t testing.TB, cfg evi.Config) (*evi.Registry, *fakeTransport, *clock) {
	t.Helper()
	c := newClock()
	if cfg.Now == nil {
		cfg.Now = c.Now
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = time.Hour
	}
	r := evi.NewRegistry(cfg)
	t.Cleanup(func() { r.Close() })
	ft := newFake("fake")
	if err := r.Register(ft); err != nil {
		t.Fatal(err)
	}
	return r, ft, c
}

// sockets returns the printed sockets of a listing.
func sockets(infos []evi.SubscriberInfo) []string {
	out := make([]string, len(infos))
	for i, s := range infos {
		out[i] = s.Socket
	}
	return out
}

// outcomes collects reported outcomes.
type outcomes struct {
	mu   sync.Mutex
	list []evi.Outcome
	ch   chan evi.Outcome
}

func newOutcomes(capacity int) *outcomes { return &outcomes{ch: make(chan evi.Outcome, capacity)} }

func (o *outcomes) report(out evi.Outcome) {
	o.mu.Lock()
	o.list = append(o.list, out)
	o.mu.Unlock()
	o.ch <- out
}

func (o *outcomes) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.list)
}

// wait returns n outcomes, failing the test if they do not all arrive in time.
func (o *outcomes) wait(t testing.TB, n int) []evi.Outcome {
	t.Helper()
	deadline := time.After(5 * time.Second)
	var got []evi.Outcome
	for len(got) < n {
		select {
		case out := <-o.ch:
			got = append(got, out)
		case <-deadline:
			t.Fatalf("got %d outcomes, want %d", len(got), n)
		}
	}
	return got
}

// errorsOf unwraps a joined error into its parts (nil: none).
func errorsOf(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
