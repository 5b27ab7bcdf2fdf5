package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/evi/evitest"
	"github.com/evstream/evstream/internal/testnet"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/value"
)

// recorder is a test server that records every byte received, per
// connection, and never writes.
type recorder struct {
	*testServer
	mu   sync.Mutex
	data [][]byte // per connection
}

func newRecorder(t testing.TB) *recorder {
	r := &recorder{}
	r.testServer = newServer(t, func(n int, c net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			k, err := c.Read(buf)
			r.mu.Lock()
			for len(r.data) <= n {
				r.data = append(r.data, nil)
			}
			r.data[n] = append(r.data[n], buf[:k]...)
			r.mu.Unlock()
			if err != nil {
				return
			}
		}
	})
	return r
}

// bytes returns everything received, all connections in order.
func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Join(r.data, nil)
}

// waitN waits until n JSON objects were received.
func (r *recorder) waitN(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	testnet.PollUntil(t, timeout, fmt.Sprintf("%d events", n), func() bool {
		return bytes.Count(r.bytes(), []byte(`{"jsonrpc"`)) >= n
	})
}

// waitFor waits until exactly want was received (or more arrived).
func (r *recorder) waitFor(t testing.TB, want []byte) {
	t.Helper()
	testnet.PollUntil(t, 20*time.Second, fmt.Sprintf("%d bytes", len(want)), func() bool { return len(r.bytes()) >= len(want) })
	if got := r.bytes(); !bytes.Equal(got, want) {
		t.Fatalf("received bytes differ\n got %q\nwant %q", got, want)
	}
}

func TestNotifyGolden(t *testing.T) {
	pike := event(t, "E_PIKE_BLOCKED")
	mine := event(t, "E_MY_EVENT")
	bare := event(t, "E_X")
	named := value.Named(value.P("ip", value.String("192.168.2.11")))
	unnamed := value.Unnamed(value.Int(3), value.Int(5))
	tricky := value.Named(value.P("s", value.String("a\"b\\c\n</>&\x01é")), value.P("nil", value.Null()), value.P("port", value.Int(5060)))
	now := time.Now()

	// OpenSIPS defaults: no event_param, objects back to back. Two
	// subscriptions to one address share its connection.
	plain := newRecorder(t)
	tr := newTransport(t, Config{})
	byEvent := parse(t, tr, plain.socket(""))
	byMethod := parse(t, tr, plain.socket("/block_ip"))

	// event_param and newline framing (extensions).
	framed := newRecorder(t)
	tr2 := newTransport(t, Config{EventParam: "opensips_event", Framing: jsonrpc.FramingNewline})
	handle := parse(t, tr2, framed.socket("/handle_cmd"))
	byEvent2 := parse(t, tr2, framed.socket(""))

	sends := []struct {
		d evi.Destination
		m *evi.Message
	}{
		{byEvent, evi.NewMessage(pike, named, now)},
		{byMethod, evi.NewMessage(pike, named, now)},
		{byEvent, evi.NewMessage(mine, unnamed, now)},
		{byEvent, evi.NewMessage(bare, value.Params{}, now)},
		{byEvent, evi.NewMessage(bare, tricky, now)},
		{handle, evi.NewMessage(pike, named, now)},
		{byEvent2, evi.NewMessage(mine, unnamed, now)},
		{byEvent2, evi.NewMessage(bare, value.Params{}, now)},
	}
	o := evitest.NewRecorder(len(sends))
	for i, s := range sends {
		if err := s.d.Send(s.m, o.Tag(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range o.Wait(t, len(sends), 5*time.Second) {
		if r.Err != nil {
			t.Errorf("event %d: %v", r.Tag, r.Err)
		}
	}
	plain.waitFor(t, []byte(`{"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"ip":"192.168.2.11"}}`+
		`{"jsonrpc":"2.0","method":"block_ip","params":{"ip":"192.168.2.11"}}`+
		`{"jsonrpc":"2.0","method":"E_MY_EVENT","params":[3,5]}`+
		`{"jsonrpc":"2.0","method":"E_X"}`+
		`{"jsonrpc":"2.0","method":"E_X","params":{"s":"a\"b\\c\n</>&\u0001é","nil":null,"port":5060}}`))
	framed.waitFor(t, []byte(`{"jsonrpc":"2.0","method":"handle_cmd","params":{"opensips_event":"E_PIKE_BLOCKED","ip":"192.168.2.11"}}`+"\n"+
		`{"jsonrpc":"2.0","method":"E_MY_EVENT","params":["E_MY_EVENT",3,5]}`+"\n"+
		`{"jsonrpc":"2.0","method":"E_X","params":{"opensips_event":"E_X"}}`+"\n"))

	st := tr.Stats()
	if st.Sent != 5 || st.Delivered != 5 || st.Failed != 0 || st.Connects != 1 || len(st.Addresses) != 1 || st.Addresses[0].Subscriptions != 2 {
		t.Errorf("stats %+v: want 5 sent and delivered on one connection shared by 2 subscriptions", st)
	}
}

// TestNotifyThroughRegistry goes the realistic way: a Registry with the
// transport registered, Subscribe and Raise.
func TestNotifyThroughRegistry(t *testing.T) {
	rec := newRecorder(t)
	tr, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	reg := evi.NewRegistry(evi.Config{AutoPublish: true})
	defer reg.Close() // closes the transport too
	if err := reg.Register(tr); err != nil {
		t.Fatal(err)
	}
	if err := reg.Subscribe("E_REG", rec.socket("/m1"), 0); err != nil {
		t.Fatal(err)
	}
	if err := reg.Subscribe("E_REG", rec.socket(""), 0); err != nil {
		t.Fatal(err)
	}
	if err := reg.Subscribe("E_REG", "tcp:127.0.0.1:0", 0); !errors.Is(err, evi.ErrBadSocket) {
		t.Fatalf("bad socket subscribed: %v", err)
	}
	got := make(chan evi.Outcome, 2)
	n, err := reg.Raise("E_REG", value.Unnamed(value.String("x")), func(o evi.Outcome) { got <- o })
	if n != 2 || err != nil {
		t.Fatalf("Raise = %d, %v", n, err)
	}
	for range 2 {
		select {
		case o := <-got:
			if o.Err != nil {
				t.Errorf("%s: %v", o.Socket, o.Err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no result")
		}
	}
	// Newest subscriber first.
	rec.waitFor(t, []byte(`{"jsonrpc":"2.0","method":"E_REG","params":["x"]}{"jsonrpc":"2.0","method":"m1","params":["x"]}`))
	if st := tr.Stats(); st.Connects != 1 {
		t.Errorf("%d connects, want one shared connection", st.Connects)
	}
}

// TestNotifyOrder sends many events and checks that they arrive complete
// and in raise order, with a custom method, event_param and newline framing.
func TestNotifyOrder(t *testing.T) {
	const n = 10000
	got := make(chan []request, 1)
	srv := newServer(t, func(_ int, c net.Conn) {
		var reqs []request
		out := make(chan request, n)
		readRequests(c, out)
		close(out)
		for r := range out {
			reqs = append(reqs, r)
		}
		got <- reqs
	})
	tr := newTransport(t, Config{EventParam: "ev", Framing: jsonrpc.FramingNewline})
	d := parse(t, tr, srv.socket("/handle"))
	ev := event(t, "E_ORDER")
	o := evitest.NewRecorder(n)
	for i := range n {
		if err := d.Send(seqMsg(ev, i), o.Tag(i)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	for _, r := range o.Wait(t, n, 20*time.Second) {
		if r.Err != nil {
			t.Fatalf("event %d: %v", r.Tag, r.Err)
		}
	}
	d.Close() // the last subscription: the connection closes once drained
	var reqs []request
	select {
	case reqs = <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("the connection was not closed after its last destination")
	}
	if len(reqs) != n {
		t.Fatalf("received %d events, want %d", len(reqs), n)
	}
	for i, r := range reqs {
		want := fmt.Sprintf(`{"jsonrpc":"2.0","method":"handle","params":{"ev":"E_ORDER","n":%d}}`, i)
		if string(r.raw) != want || r.ID != nil {
			t.Fatalf("event %d: got %s, want %s", i, r.raw, want)
		}
	}
	st := tr.Stats()
	if st.Delivered != n || st.Pending != 0 || len(st.Addresses) != 0 {
		t.Errorf("stats %+v", st)
	}
	t.Logf("%d events in %d writes (%d bytes)", n, st.Writes, st.BytesWritten)
	if st.Writes >= n {
		t.Errorf("%d writes for %d events: no coalescing", st.Writes, n)
	}
}

// TestNotifyCoalescing holds the writer (in a done callback) while a burst
// is queued, and checks that the burst leaves in a few large writes.
func TestNotifyCoalescing(t *testing.T) {
	const n = 5000
	rec := newRecorder(t)
	g := newGate()
	defer g.release()
	tr := newTransport(t, Config{Dialer: g})
	d := parse(t, tr, rec.socket(""))
	ev := event(t, "E_COAL")
	if err := d.Send(seqMsg(ev, 0), nil); err != nil {
		t.Fatal(err)
	}
	<-g.entered // the writer is in its first write
	o := evitest.NewRecorder(n)
	var want bytes.Buffer
	want.WriteString(`{"jsonrpc":"2.0","method":"E_COAL","params":{"n":0}}`)
	for i := 1; i <= n; i++ {
		if err := d.Send(seqMsg(ev, i), o.Tag(i)); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&want, `{"jsonrpc":"2.0","method":"E_COAL","params":{"n":%d}}`, i)
	}
	g.release()
	o.Wait(t, n, 20*time.Second)
	rec.waitFor(t, want.Bytes())
	st := tr.Stats()
	maxWrites := uint64(1 + (want.Len()+chunkSize-1)/chunkSize + 1)
	t.Logf("%d events in %d writes (%d bytes)", n+1, st.Writes, st.BytesWritten)
	if st.Writes > maxWrites {
		t.Errorf("%d writes for a burst of %d events (%d bytes), want at most %d", st.Writes, n, want.Len(), maxWrites)
	}
	if st.BytesWritten != uint64(want.Len()) {
		t.Errorf("BytesWritten %d, want %d", st.BytesWritten, want.Len())
	}
}

// TestNotifyPeerWrites checks that bytes a peer sends in notification mode
// are read and ignored: the peer never blocks writing them.
func TestNotifyPeerWrites(t *testing.T) {
	wrote := make(chan error, 1)
	var mu sync.Mutex
	var total int64
	srv := newServer(t, func(_ int, c net.Conn) {
		go func() {
			junk := bytes.Repeat([]byte("junk "), 1<<20) // 5 MB, more than socket buffers
			_, err := c.Write(junk)
			wrote <- err
		}()
		discardAll(c, &total, &mu)
	})
	tr := newTransport(t, Config{})
	d := parse(t, tr, srv.socket(""))
	ev := event(t, "E_JUNK")
	o := evitest.NewRecorder(1)
	if err := d.Send(seqMsg(ev, 1), o.Tag(1)); err != nil {
		t.Fatal(err)
	}
	if r := o.Wait(t, 1, 20*time.Second)[0]; r.Err != nil {
		t.Fatal(r.Err)
	}
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the peer's writes were not read")
	}
	o2 := evitest.NewRecorder(1)
	if err := d.Send(seqMsg(ev, 2), o2.Tag(2)); err != nil {
		t.Fatal(err)
	}
	if r := o2.Wait(t, 1, 20*time.Second)[0]; r.Err != nil {
		t.Fatal(r.Err)
	}
}

// TestNotifyPeerCloses: the peer closes the connection; the next event
// reconnects.
func TestNotifyPeerCloses(t *testing.T) {
	got := make(chan request, 10)
	srv := newServer(t, func(n int, c net.Conn) {
		if n == 0 {
			dec := jsonrpc.NewDecoder(c, 0)
			if b, err := dec.Next(); err == nil {
				var r request
				json.Unmarshal(b, &r)
				got <- r
			}
			return // closes
		}
		readRequests(c, got)
	})
	tr := newTransport(t, Config{})
	d := parse(t, tr, srv.socket(""))
	ev := event(t, "E_CLOSE")
	o := evitest.NewRecorder(1)
	d.Send(seqMsg(ev, 1), o.Tag(1))
	if r := o.Wait(t, 1, 20*time.Second)[0]; r.Err != nil {
		t.Fatal(r.Err)
	}
	<-got
	testnet.PollUntil(t, 20*time.Second, "the close to be noticed", func() bool {
		st := tr.Stats()
		return len(st.Addresses) == 1 && !st.Addresses[0].Connected
	})
	o = evitest.NewRecorder(1)
	d.Send(seqMsg(ev, 2), o.Tag(2))
	if r := o.Wait(t, 1, 20*time.Second)[0]; r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := <-got; paramN(t, r) != 2 {
		t.Fatalf("got %s", r.raw)
	}
	if st := tr.Stats(); st.Reconnects != 1 || st.Connects != 2 {
		t.Errorf("stats %+v: want one reconnect", st.Counters)
	}
}
