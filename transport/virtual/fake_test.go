package virtual

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/evstream/evstream/evi"
)

// fakeTransport is a test double of the evi contract for the policy logic
// (the real-socket tests use the tcp transport): "fake:NAME" sockets whose
// behaviour the test sets per name. Outcomes are reported from another
// goroutine, as the contract says.
type fakeTransport struct {
	mu      sync.Mutex
	modes   map[string]fakeMode
	got     map[string][]string // name -> event names delivered, in order
	tries   map[string]int      // name -> Send calls
	held    chan heldSend       // mode hold: the test decides the outcome
	wg      sync.WaitGroup
	closed  bool
	nclosed map[string]int
}

type fakeMode int

const (
	fakeOK        fakeMode = iota // delivered
	fakeFail                      // accepted, then fails
	fakeReject                    // not accepted (Send error)
	fakeHold                      // accepted, outcome decided by the test via held
	fakeEager                     // delivered, reported (from another goroutine) before Send returns
	fakeEagerFail                 // failed, reported (from another goroutine) before Send returns
)

type heldSend struct {
	name string
	m    *evi.Message
	done func(error)
}

var errFake = errors.New("fake delivery failed")

func newFake() *fakeTransport {
	return &fakeTransport{
		modes:   map[string]fakeMode{},
		got:     map[string][]string{},
		tries:   map[string]int{},
		held:    make(chan heldSend, 1024),
		nclosed: map[string]int{},
	}
}

func (f *fakeTransport) set(name string, m fakeMode) {
	f.mu.Lock()
	f.modes[name] = m
	f.mu.Unlock()
}

func (f *fakeTransport) delivered(name string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got[name]...)
}

func (f *fakeTransport) triesOf(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tries[name]
}

func (f *fakeTransport) closes(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nclosed[name]
}

func (f *fakeTransport) Scheme() string { return "fake" }

func (f *fakeTransport) Parse(socket string) (evi.Destination, error) {
	name, ok := strings.CutPrefix(socket, "fake:")
	if !ok || name == "" || strings.ContainsAny(name, ":") {
		return nil, evi.NewSocketError(socket, nil, "want fake:NAME")
	}
	return &fakeDest{f: f, name: name}, nil
}

func (f *fakeTransport) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.wg.Wait()
	return nil
}

type fakeDest struct {
	f    *fakeTransport
	name string
}

func (d *fakeDest) String() string { return "fake:" + d.name }

func (d *fakeDest) Match(o evi.Destination) bool {
	od, ok := o.(*fakeDest)
	return ok && od.name == d.name
}

func (d *fakeDest) Close() error {
	d.f.mu.Lock()
	d.f.nclosed[d.name]++
	d.f.mu.Unlock()
	return nil
}

func (d *fakeDest) Send(m *evi.Message, done func(error)) error {
	f := d.f
	f.mu.Lock()
	f.tries[d.name]++
	mode := f.modes[d.name]
	if mode == fakeReject {
		f.mu.Unlock()
		return fmt.Errorf("fake:%s: %w", d.name, evi.ErrQueueFull)
	}
	if mode == fakeOK || mode == fakeEager {
		f.got[d.name] = append(f.got[d.name], m.Event.Name())
	}
	f.mu.Unlock()
	if mode == fakeHold {
		f.held <- heldSend{name: d.name, m: m, done: done}
		return nil
	}
	var err error
	if mode == fakeFail || mode == fakeEagerFail {
		err = fmt.Errorf("fake:%s: %w", d.name, errFake)
	}
	if done != nil && (mode == fakeEager || mode == fakeEagerFail) {
		reported := make(chan struct{})
		go func() {
			defer close(reported)
			done(err)
		}()
		<-reported
		return nil
	}
	if done != nil {
		f.wg.Go(func() { done(err) })
	}
	return nil
}
