package delivery_test

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/evstream/evstream/delivery"
	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/rpcsink"
	"github.com/evstream/evstream/spool"
	"github.com/evstream/evstream/transport/stream"
	"github.com/evstream/evstream/transport/virtual"
	"github.com/evstream/evstream/value"
)

// rig is a registry whose at-least-once subscribers are delivered by an
// Engine over a spool file on disk and a SeqIDs stream transport, as the
// daemon wires them.
type rig struct {
	t      *testing.T
	path   string
	reg    *evi.Registry
	eng    *delivery.Engine
	hidden *evi.Registry // the transports of at-least-once subscribers
}

func newRig(t *testing.T, path string, cfg delivery.Config) *rig {
	t.Helper()
	return newRigStore(t, path, cfg, spool.Options{})
}

// newRigStore is newRig with the store's options.
func newRigStore(t *testing.T, path string, cfg delivery.Config, opts spool.Options) *rig {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "spool.db")
	}
	r := &rig{t: t, path: path}
	r.hidden = evi.NewRegistry(evi.Config{})
	seqTr, err := stream.New(stream.Config{SeqIDs: true, Timeout: 5 * time.Second, BackoffMin: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r.hidden.Register(seqTr)
	r.hidden.Register(mustVirtual(t, r.hidden))
	cfg.Open = func() (spool.Store, error) { return spool.Open(path, opts) }
	cfg.Parse = r.hidden.ParseSocket
	if cfg.RetryInitial == 0 {
		cfg.RetryInitial, cfg.RetryMax = 5*time.Millisecond, 20*time.Millisecond
	}
	if r.eng, err = delivery.New(cfg); err != nil {
		t.Fatal(err)
	}
	r.reg = evi.NewRegistry(evi.Config{AutoPublish: true, Spooler: r.eng})
	r.reg.Register(mustStream(t))
	r.reg.Register(mustVirtual(t, r.reg))
	t.Cleanup(r.close)
	return r
}

// close stops everything, in the daemon's order: the registry (its
// queues stop), the engine (the store), the hidden transports.
func (r *rig) close() {
	r.reg.Close()
	r.eng.Close()
	r.hidden.Close()
}

func (r *rig) subscribe(event, socket string) {
	r.t.Helper()
	if err := r.reg.SubscribeWith(event, socket, evi.SubscribeOptions{Delivery: evi.AtLeastOnce}); err != nil {
		r.t.Fatal(err)
	}
}

func params(n int) value.Params { return value.Named(value.P("n", value.Int(int64(n)))) }

func mustStream(t *testing.T) *stream.Transport {
	tr, err := stream.New(stream.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func mustVirtual(t *testing.T, reg *evi.Registry) *virtual.Transport {
	tr, err := virtual.New(reg, virtual.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func (r *rig) raise(event string, n int) {
	r.t.Helper()
	if _, err := r.reg.Raise(event, params(n), nil); err != nil {
		r.t.Fatalf("raise %d: %v", n, err)
	}
}

// gate holds a store's commits back (spool.Options.BeforeCommit = wait)
// from hold to release.
type gate struct {
	mu   sync.Mutex
	shut chan struct{} // nil: open
}

func (g *gate) wait() {
	g.mu.Lock()
	ch := g.shut
	g.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

func (g *gate) hold() {
	g.mu.Lock()
	g.shut = make(chan struct{})
	g.mu.Unlock()
}

func (g *gate) release() {
	g.mu.Lock()
	if g.shut != nil {
		close(g.shut)
		g.shut = nil
	}
	g.mu.Unlock()
}

// eventually waits (generously) until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkFirstArrivals checks that every event 0..n-1 arrived, first
// arrivals in raise order, each event with one id of its own; it returns
// the duplicates.
func checkFirstArrivals(t *testing.T, got []rpcsink.Arrival, n int) int {
	t.Helper()
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	firsts, dups, err := rpcsink.Check(got, want)
	if err != nil {
		t.Fatal(err)
	}
	if firsts != n {
		t.Fatalf("%d events arrived, want %d", firsts, n)
	}
	return dups
}

func pendingOf(t *testing.T, r *rig, event, socket string) (int64, int64) {
	t.Helper()
	info, err := r.reg.Subscriber(event, socket)
	if err != nil {
		t.Fatal(err)
	}
	return info.Pending, info.DeadLetters
}
