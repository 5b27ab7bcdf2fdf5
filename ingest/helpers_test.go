package ingest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/evstream/evstream/internal/testnet"
	"github.com/evstream/evstream/jsonrpc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait in the tests.
const testTimeout = 30 * time.Second

// vector is one line of the golden OpenSIPS wire captures.
type vector = testnet.Vector

func loadVectors(t testing.TB) []vector { return testnet.LoadVectors(t, testnet.VectorsFile) }

// withoutID removes a leading `"id":N,` member, so that a request and a
// notification of the same event compare equal.
func withoutID(b []byte) []byte {
	if !bytes.HasPrefix(b, []byte(`{"id":`)) {
		return b
	}
	i := bytes.IndexByte(b, ',')
	return append([]byte{'{'}, b[i+1:]...)
}

// sink is a subscriber: a loopback listener that records every object it
// receives, in order, and, when reliable, answers each request with "OK".
//
// Tests of other packages running at the same time may connect to a sink
// (a transport reconnecting to a port it used to own that the sink now
// has): a connection whose first object's method is not one the sink
// expects is closed and ignored.
type sink struct {
	srv      *testnet.Server
	reliable bool
	methods  map[string]bool

	mu      sync.Mutex
	objs    [][]byte
	changed chan struct{} // closed and replaced when objs grows
}

func newSink(t testing.TB, reliable bool, methods ...string) *sink {
	t.Helper()
	s := &sink{reliable: reliable, methods: map[string]bool{}, changed: make(chan struct{})}
	for _, m := range methods {
		s.methods[m] = true
	}
	s.srv = testnet.Serve(t, s.read)
	return s
}

func (s *sink) addr() string { return s.srv.Addr() }

func (s *sink) read(c net.Conn) {
	defer c.Close()
	dec := jsonrpc.NewDecoder(c, 0)
	for first := true; ; first = false {
		b, err := dec.Next()
		if err != nil {
			return
		}
		m, err := jsonrpc.Parse(b)
		if first && (err != nil || !s.methods[m.Method]) {
			return // not ours
		}
		if s.reliable {
			if err == nil && m.ID != nil {
				if _, err := c.Write(jsonrpc.AppendResult(nil, m.ID, json.RawMessage(`"OK"`))); err != nil {
					return
				}
			}
		}
		s.mu.Lock()
		s.objs = append(s.objs, bytes.Clone(b))
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
	}
}

// wait returns the first n objects once they have arrived.
func (s *sink) wait(t testing.TB, n int) [][]byte {
	t.Helper()
	deadline := time.NewTimer(testTimeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		objs, changed := s.objs, s.changed
		s.mu.Unlock()
		if len(objs) >= n {
			return objs[:n]
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("sink %s: %d objects after %v, want %d", s.addr(), len(objs), testTimeout, n)
		}
	}
}

// count returns how many objects arrived so far.
func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.objs)
}

// serveOn starts srv's Serve on a loopback listener and returns the address;
// cleanup closes it.
func serveOn(t testing.TB, serve func(net.Listener) error, closeFn func() error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- serve(ln) }()
	t.Cleanup(func() {
		closeFn()
		if err := <-errc; err == nil || !errors.Is(err, errServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return ln.Addr().String()
}
