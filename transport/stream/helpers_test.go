package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/testnet"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/value"
)

// testServer is a real loopback TCP server, a testnet.Server whose handler gets each connection's rank
// (0 for the first).
type testServer struct{ *testnet.Server }

func newServer(t testing.TB, handle func(n int, c net.Conn)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return newServerOn(t, ln, handle)
}

// newServerOn serves ln, a loopback listener the test made.
func newServerOn(t testing.TB, ln net.Listener, handle func(n int, c net.Conn)) *testServer {
	return &testServer{testnet.ServeOn(t, ln, handle)}
}

// socket returns "tcp:" + the server's address + suffix.
func (s *testServer) socket(suffix string) string { return "tcp:" + s.Addr() + suffix }

func (s *testServer) port() int { return s.Port() }

// newTransport returns a transport closed at cleanup. Unless the test sets
// one, the timeout is long: machines running tests can be very loaded, and
// only the tests about timeouts want them short.
func newTransport(t testing.TB, cfg Config) *Transport {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 20 * time.Second
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func parse(t testing.TB, tr *Transport, socket string) evi.Destination {
	t.Helper()
	d, err := tr.Parse(socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

var testRegistry = evi.NewRegistry(evi.Config{})

func event(t testing.TB, name string) *evi.Event {
	t.Helper()
	ev, err := testRegistry.Publish(name)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// seqMsg returns a message of ev with the named param "n": i.
func seqMsg(ev *evi.Event, i int) *evi.Message {
	return evi.NewMessage(ev, value.Named(value.P("n", value.Int(int64(i)))), time.Now())
}

// request is a decoded JSON-RPC request or notification.
type request struct {
	ID     *int64          `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	raw    []byte
}

// readRequests decodes objects from c and sends them on out until c fails.
func readRequests(c net.Conn, out chan<- request) error {
	dec := jsonrpc.NewDecoder(c, 0)
	for {
		b, err := dec.Next()
		if err != nil {
			return err
		}
		var r request
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		r.raw = bytes.Clone(b)
		out <- r
	}
}

// replyOK returns the success reply to id.
func replyOK(id int64) []byte {
	return []byte(`{"jsonrpc":"2.0","result":"ok","id":` + strconv.FormatInt(id, 10) + `}`)
}

// paramN returns the "n" of a request made by seqMsg.
func paramN(t testing.TB, r request) int {
	var p struct{ N int }
	if err := json.Unmarshal(r.Params, &p); err != nil {
		t.Errorf("params %s: %v", r.Params, err)
	}
	return p.N
}

// countingReader reads and counts bytes until c fails.
func discardAll(c net.Conn, total *int64, mu *sync.Mutex) {
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		mu.Lock()
		*total += int64(n)
		mu.Unlock()
		if err != nil {
			return
		}
	}
}

func isTimeout(err error) bool { return errors.Is(err, evi.ErrTimeout) }

var _ = io.EOF

func itoa(i int) string { return strconv.Itoa(i) }

// gate is a Dialer (a real one, to loopback) whose connections' writes
// block until the gate opens: a test holds the writer in a write while it
// queues events. entered is closed when the first write starts.
type gate struct {
	open, entered chan struct{}
	once          sync.Once
}

func newGate() *gate { return &gate{open: make(chan struct{}), entered: make(chan struct{})} }

func (g *gate) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &gatedConn{Conn: c, g: g}, nil
}

// release opens the gate; writes go through from now on.
func (g *gate) release() {
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

type gatedConn struct {
	net.Conn
	g *gate
}

func (c *gatedConn) Write(b []byte) (int, error) {
	c.g.once.Do(func() { close(c.g.entered) })
	<-c.g.open
	return c.Conn.Write(b)
}
