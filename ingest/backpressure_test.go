package ingest_test

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/ingest"
	"github.com/evstream/evstream/internal/testnet"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/transport/stream"
)

// gatedSink is a reliable subscriber that reads every request at once but
// answers none until its gate opens: until then its destination fills up
// (MaxInFlight requests in flight, then the queue). With stall set, it
// never reads anything at all.
type gatedSink struct {
	srv    *testnet.Server
	method string
	stall  bool
	gate   chan struct{}
	once   sync.Once
	read   atomic.Int64 // requests read
}

func newGatedSink(t *testing.T, method string, stall bool) *gatedSink {
	s := &gatedSink{method: method, stall: stall, gate: make(chan struct{})}
	s.srv = testnet.Serve(t, s.serve)
	return s
}

func (s *gatedSink) open() { s.once.Do(func() { close(s.gate) }) }

func (s *gatedSink) serve(c net.Conn) {
	defer c.Close()
	if s.stall {
		<-s.gate // the test's end
		return
	}
	ids := make(chan json.RawMessage, 1<<16)
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		<-s.gate
		for id := range ids {
			if _, err := c.Write(jsonrpc.AppendResult(nil, id, json.RawMessage(`"OK"`))); err != nil {
				return
			}
		}
	}()
	defer func() { close(ids); s.open(); <-answered }()
	dec := jsonrpc.NewDecoder(c, 0)
	for first := true; ; first = false {
		b, err := dec.Next()
		if err != nil {
			return
		}
		m, err := jsonrpc.Parse(b)
		if err != nil || (first && m.Method != s.method) {
			return // not ours (another package's transport reconnecting)
		}
		s.read.Add(1)
		ids <- append(json.RawMessage(nil), m.ID...)
	}
}

// produce writes n notifications of method on one ingest connection, in
// as few writes as the kernel takes: an unpaced producer.
func produce(t *testing.T, addr, method string, n int) net.Conn {
	c := testnet.Dial(t, addr, testTimeout)
	var b []byte
	for i := range n {
		b = jsonrpc.AppendNotification(b, method, fmt.Appendf(nil, `{"n":%d}`, i))
	}
	go c.Write(b) // blocks while ingest does not read
	return c
}

// slowSetup is a registry whose tcp: destinations hold few events:
// 4 requests in flight and 16 queued.
func slowSetup(t *testing.T) *evi.Registry {
	return newRegistry(t, true, stream.Config{ReliableMode: true, MaxInFlight: 4, QueueSize: 16})
}

// TestBackpressureSlowSubscriberLosesNothing: an unpaced producer feeds a
// subscriber that confirms nothing for a while. With MaxWait, ingest stops
// reading instead of refusing: once the subscriber confirms, every event
// arrives and none is lost. Without it, the events its queue cannot hold
// are refused.
func TestBackpressureSlowSubscriberLosesNothing(t *testing.T) {
	const n, holds = 500, 4 + 16 // in flight + queued
	for _, wait := range []bool{true, false} {
		t.Run(map[bool]string{true: "max_wait", false: "no_wait"}[wait], func(t *testing.T) {
			reg := slowSetup(t)
			cfg := ingest.Config{}
			if wait {
				cfg.MaxWait = testTimeout
			}
			r := newRelay(t, reg, cfg)
			sub := newGatedSink(t, "E_SLOW", false)
			if err := reg.Subscribe("E_SLOW", "tcp:"+sub.srv.Addr(), 0); err != nil {
				t.Fatal(err)
			}
			produce(t, r.addr, "E_SLOW", n)
			if wait {
				// The destination is full and the next event waits: ingest
				// has read the events it holds and one more, no further.
				testnet.PollUntil(t, testTimeout, "ingest blocked on a full destination", func() bool {
					return r.srv.Stats().Received == holds+1 && sub.read.Load() == 4
				})
			} else {
				// Received counts an event as it is read, Raised or Failed
				// once its raise returned: wait for the last one's too.
				testnet.PollUntil(t, testTimeout, "every event read and raised", func() bool {
					st := r.srv.Stats()
					return st.Received == n && st.Raised+st.Failed == n
				})
			}
			sub.open()
			if wait {
				testnet.PollUntil(t, testTimeout, "every event delivered", func() bool { return sub.read.Load() == n })
				if st := r.srv.Stats(); st.Raised != n || st.Failed != 0 {
					t.Errorf("ingest stats %+v, want %d raised and none failed", st, n)
				}
				return
			}
			// The queue (16) took some, and the window (4) more if the
			// connect came in time; the others were refused.
			st := r.srv.Stats()
			if st.Raised < 16 || st.Raised > holds || st.Failed != n-st.Raised {
				t.Errorf("ingest stats %+v, want 16 to %d raised and the others failed (refused: queue full)", st, holds)
			}
		})
	}
}

// TestBackpressureStalledSubscriberHoldsOnce: a subscriber that reads
// nothing holds the producer for one MaxWait, then refuses at once; a
// healthy subscriber of the same event gets every event meanwhile.
func TestBackpressureStalledSubscriberHoldsOnce(t *testing.T) {
	const n, maxWait = 200, 50 * time.Millisecond
	reg := slowSetup(t)
	var mu sync.Mutex
	var waited, stalled, other int
	var over bool // the test's end: teardown fails what is left
	r := newRelay(t, reg, ingest.Config{MaxWait: maxWait, Report: func(o evi.Outcome) {
		mu.Lock()
		defer mu.Unlock()
		if o.Err == nil || over {
			return
		}
		switch msg := o.Err.Error(); {
		case strings.Contains(msg, "no room within "+maxWait.String()):
			waited++
		case strings.Contains(msg, "stalled"):
			stalled++
		default:
			other++
			t.Errorf("unexpected failure: %v", o.Err)
		}
	}})
	stuck := newGatedSink(t, "E_STALL", true)
	t.Cleanup(stuck.open)
	healthy := newSink(t, true, "E_STALL")
	for _, sock := range []string{"tcp:" + stuck.srv.Addr(), "tcp:" + healthy.addr()} {
		if err := reg.Subscribe("E_STALL", sock, 0); err != nil {
			t.Fatal(err)
		}
	}
	produce(t, r.addr, "E_STALL", n)
	healthy.wait(t, n)
	// Received counts an event when it is read, before it is raised or
	// refused: wait until every one is one or the other, and reported.
	testnet.PollUntil(t, testTimeout, "every event raised or refused", func() bool {
		st := r.srv.Stats()
		mu.Lock()
		defer mu.Unlock()
		return st.Received == n && st.Raised+st.Failed == n && int(st.Failed) == waited+stalled+other
	})
	st := r.srv.Stats()
	mu.Lock()
	defer mu.Unlock()
	over = true
	if waited != 1 || int(st.Failed) != waited+stalled || st.Raised+st.Failed != n || other != 0 {
		t.Errorf("refused after a wait %d, refused as stalled %d; ingest stats %+v; want one wait, the rest refused at once",
			waited, stalled, st)
	}
}
