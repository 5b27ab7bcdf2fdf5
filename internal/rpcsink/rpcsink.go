// Package rpcsink is a test receiver of at-least-once deliveries: a
// receiver.Server on loopback that records the id and the param "n" of
// every request, answers "ok", or an error reply while told to fail, and
// can go down and come back on the same address.
package rpcsink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/evstream/evstream/receiver"
)

// Arrival is one request read: its JSON-RPC id (0 for a notification) and
// its param "n".
type Arrival struct {
	ID int64
	N  int
}

// Sink records what arrives on its address, across restarts.
type Sink struct {
	t    testing.TB
	addr string

	mu       sync.Mutex
	srv      *receiver.Server
	arrivals []Arrival
	fail     func(a Arrival, nth int) bool
}

// New starts a Sink on addr ("" or "127.0.0.1:0": a free port). It is
// closed at the end of the test.
func New(t testing.TB, addr string) *Sink {
	t.Helper()
	s := &Sink{t: t, addr: addr}
	if s.addr == "" {
		s.addr = "127.0.0.1:0"
	}
	s.Up()
	t.Cleanup(s.Down)
	return s
}

// Addr is the sink's host:port.
func (s *Sink) Addr() string { return s.addr }

// Socket is tcp:ADDR/method.
func (s *Sink) Socket(method string) string { return "tcp:" + s.addr + "/" + method }

// Up listens again on the sink's address (after Down).
func (s *Sink) Up() {
	s.t.Helper()
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatalf("rpcsink: listen on %s: %v", s.addr, err)
	}
	srv := &receiver.Server{Handler: receiver.HandlerFunc(s.serve)}
	s.mu.Lock()
	s.addr, s.srv = ln.Addr().String(), srv
	s.mu.Unlock()
	go srv.Serve(ln)
}

// Down closes the listener and every connection: the subscriber is down.
func (s *Sink) Down() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

func (s *Sink) serve(_ context.Context, req *receiver.Request) (any, error) {
	var p struct{ N int }
	if err := json.Unmarshal(req.Params, &p); err != nil {
		s.t.Errorf("rpcsink: params %s: %v", req.Params, err)
	}
	var id int64
	if req.ID != nil {
		if err := json.Unmarshal(req.ID, &id); err != nil {
			s.t.Errorf("rpcsink: request id %s is not a number: %v", req.ID, err)
		}
	}
	a := Arrival{ID: id, N: p.N}
	s.mu.Lock()
	s.arrivals = append(s.arrivals, a)
	fail := s.fail != nil && s.fail(a, len(s.arrivals)-1)
	s.mu.Unlock()
	if fail {
		return nil, errors.New("not now")
	}
	return "ok", nil
}

// SetFail makes the sink answer an error to the requests for which f
// (given the arrival and its rank among all arrivals) is true; nil: none.
func (s *Sink) SetFail(f func(a Arrival, nth int) bool) {
	s.mu.Lock()
	s.fail = f
	s.mu.Unlock()
}

// Got returns the arrivals so far.
func (s *Sink) Got() []Arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Arrival(nil), s.arrivals...)
}

// Check checks at-least-once delivery of got: every event of want (the n
// of each acknowledged event) arrived; first arrivals are in increasing
// order of n; every arrival of an event has the same id, and no two
// events share one. It returns the events that arrived (first arrivals)
// and the duplicates.
func Check(got []Arrival, want []int) (firsts, dups int, err error) {
	ids := map[int]int64{}
	owner := map[int64]int{}
	last := -1
	for _, a := range got {
		if id, seen := ids[a.N]; seen {
			if id != a.ID {
				return firsts, dups, fmt.Errorf("event %d arrived with id %d, earlier with %d", a.N, a.ID, id)
			}
			dups++
			continue
		}
		if a.N <= last {
			return firsts, dups, fmt.Errorf("first arrival of event %d after that of event %d", a.N, last)
		}
		if o, taken := owner[a.ID]; taken {
			return firsts, dups, fmt.Errorf("events %d and %d share the id %d", o, a.N, a.ID)
		}
		ids[a.N], owner[a.ID], last = a.ID, a.N, a.N
		firsts++
	}
	for _, n := range want {
		if _, ok := ids[n]; !ok {
			return firsts, dups, fmt.Errorf("acknowledged event %d never arrived (%d arrived)", n, firsts)
		}
	}
	return firsts, dups, nil
}
