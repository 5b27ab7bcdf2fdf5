package receiver_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evstream/evstream/internal/testnet"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/receiver"
)

// testTimeout bounds every wait in the tests.
const testTimeout = 30 * time.Second

// vector is one line of the golden OpenSIPS wire captures.
type vector = testnet.Vector

func loadVectors(t testing.TB) []vector { return testnet.LoadVectors(t, testnet.VectorsFile) }

// event is what a recording handler saw.
type event struct {
	method string
	params string
	id     string
	peer   string
}

// recorder is a Handler that records every event on a channel and answers
// requests with "OK".
type recorder struct {
	ch chan event
}

func newRecorder(n int) *recorder { return &recorder{ch: make(chan event, n)} }

func (r *recorder) ServeEvent(ctx context.Context, req *receiver.Request) (any, error) {
	if req.Received.IsZero() || req.RemoteAddr == nil {
		return nil, errors.New("request without Received or RemoteAddr")
	}
	r.ch <- event{method: req.Method, params: string(req.Params), id: string(req.ID), peer: req.RemoteAddr.String()}
	return "OK", nil
}

func (r *recorder) next(t testing.TB) event {
	t.Helper()
	select {
	case e := <-r.ch:
		return e
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting for an event")
		return event{}
	}
}

// logBuffer collects log output safely from several goroutines; waitLog
// waits for lines in it.
type logBuffer struct{ testnet.Buffer }

// waitLog polls the log until it contains every one of want.
func (l *logBuffer) waitLog(t testing.TB, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		s := l.String()
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(s, w)
		}
		if ok {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("log never contained %q; log:\n%s", want, s)
		}
		time.Sleep(time.Millisecond) // polling with a bounded deadline
	}
}

// ourPeers holds the local addresses of the connections the tests dialed.
//
// Tests of other packages running at the same time may connect to our
// servers (a transport reconnecting to a port it used to own); serve drops
// their events so that they cannot disturb ours.
var ourPeers sync.Map

// serve starts srv on a loopback port and returns its address. Cleanup
// closes it and checks that Serve returned ErrServerClosed. Only events from
// connections made with dial reach srv.Handler.
func serve(t testing.TB, srv *receiver.Server) string {
	t.Helper()
	h := srv.Handler
	srv.Handler = receiver.HandlerFunc(func(ctx context.Context, req *receiver.Request) (any, error) {
		if _, ok := ourPeers.Load(req.RemoteAddr.String()); !ok {
			return nil, errors.New("not a connection of this test")
		}
		return h.ServeEvent(ctx, req)
	})
	return serveUnfiltered(t, srv)
}

// serveUnfiltered is serve without the filter, for benchmarks.
func serveUnfiltered(t testing.TB, srv *receiver.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, srv, ln)
	return ln.Addr().String()
}

// serveOn runs srv.Serve(ln) until the test ends, then closes srv and
// checks that Serve returned ErrServerClosed.
func serveOn(t testing.TB, srv *receiver.Server, ln net.Listener) {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-errc; !errors.Is(err, receiver.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
}

func dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c := testnet.Dial(t, addr, testTimeout)
	ourPeers.Store(c.LocalAddr().String(), true)
	return c.(*net.TCPConn)
}

func write(t testing.TB, c net.Conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// readReplies reads n back-to-back replies from c.
func readReplies(t testing.TB, dec *jsonrpc.Decoder, n int) []string {
	t.Helper()
	var out []string
	for range n {
		b, err := dec.Next()
		if err != nil {
			t.Fatalf("reading reply %d of %d: %v", len(out)+1, n, err)
		}
		out = append(out, string(b))
	}
	return out
}

// expectClosed checks that the server closes c: a read returns EOF (or a
// reset), not a timeout.
func expectClosed(t testing.TB, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(testTimeout))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after %v", testTimeout)
		}
		return
	}
}
