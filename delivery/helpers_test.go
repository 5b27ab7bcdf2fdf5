package delivery_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/evstream/evstream/delivery"
	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/receiver"
	"github.com/evstream/evstream/spool"
	"github.com/evstream/evstream/transport/stream"
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
	cfg.Open = func() (spool.Store, error) { return spool.Open(path, spool.Options{}) }
	cfg.Parse = r.hidden.ParseSocket
	if cfg.RetryInitial == 0 {
		cfg.RetryInitial, cfg.RetryMax = 5*time.Millisecond, 20*time.Millisecond
	}
	if r.eng, err = delivery.New(cfg); err != nil {
		t.Fatal(err)
	}
	r.reg = evi.NewRegistry(evi.Config{AutoPublish: true, Spooler: r.eng})
	r.reg.Register(mustStream(t))
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

func (r *rig) raise(event string, n int) {
	r.t.Helper()
	if _, err := r.reg.Raise(event, params(n), nil); err != nil {
		r.t.Fatalf("raise %d: %v", n, err)
	}
}

// arrival is one request a sink read.
type arrival struct {
	id int64
	n  int
}

// sink is a receiver that records every request and answers it with an
// error while fail says so.
type sink struct {
	t    *testing.T
	addr string
	srv  *receiver.Server

	mu       sync.Mutex
	arrivals []arrival
	fail     func(a arrival, nth int) bool
	changed  chan struct{}
}

func newSink(t *testing.T, addr string) *sink {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{t: t, addr: ln.Addr().String(), changed: make(chan struct{}, 1)}
	s.srv = &receiver.Server{Handler: receiver.HandlerFunc(s.serve)}
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

func (s *sink) socket(method string) string { return "tcp:" + s.addr + "/" + method }

func (s *sink) serve(_ context.Context, req *receiver.Request) (any, error) {
	var p struct{ N int }
	if err := json.Unmarshal(req.Params, &p); err != nil {
		s.t.Errorf("params %s: %v", req.Params, err)
	}
	var id int64 // 0: a notification
	if req.ID != nil {
		if err := json.Unmarshal(req.ID, &id); err != nil {
			s.t.Errorf("request id %s is not a number: %v", req.ID, err)
		}
	}
	a := arrival{id: id, n: p.N}
	s.mu.Lock()
	s.arrivals = append(s.arrivals, a)
	fail := s.fail != nil && s.fail(a, len(s.arrivals)-1)
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	if fail {
		return nil, errors.New("not now")
	}
	return "ok", nil
}

func (s *sink) setFail(f func(a arrival, nth int) bool) {
	s.mu.Lock()
	s.fail = f
	s.mu.Unlock()
}

func (s *sink) got() []arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]arrival(nil), s.arrivals...)
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
// arrivals in raise order, and that every arrival of an event carries the
// same id (ids distinct between events). It returns the duplicates.
func checkFirstArrivals(t *testing.T, got []arrival, n int) int {
	t.Helper()
	ids := map[int]int64{}
	owner := map[int64]int{}
	next, dups := 0, 0
	for _, a := range got {
		if id, seen := ids[a.n]; seen {
			if id != a.id {
				t.Fatalf("event %d arrived with id %d, earlier with %d", a.n, a.id, id)
			}
			dups++
			continue
		}
		if a.n != next {
			t.Fatalf("first arrival of event %d came when %d was next", a.n, next)
		}
		if o, taken := owner[a.id]; taken {
			t.Fatalf("events %d and %d share id %d", o, a.n, a.id)
		}
		ids[a.n], owner[a.id] = a.id, a.n
		next++
	}
	if next != n {
		t.Fatalf("%d events arrived, want %d", next, n)
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

func describe(got []arrival) string {
	if len(got) > 20 {
		return fmt.Sprintf("%v ... (%d)", got[:20], len(got))
	}
	return fmt.Sprint(got)
}
