package stream

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/evi/evitest"
	"github.com/evstream/evstream/internal/ratelog"
	"github.com/evstream/evstream/internal/testnet"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/value"
)

// freePort returns a loopback port that refuses connections until the
// test ends.
func freePort(t testing.TB) int {
	port, _ := testnet.BoundPort(t)
	return port
}

// bigMsg returns a message with a 4 KB param, to fill socket buffers fast.
func bigMsg(ev *evi.Event) *evi.Message {
	return evi.NewMessage(ev, value.Named(value.P("blob", value.String(strings.Repeat("x", 4096)))), time.Now())
}

// TestStuckDestinationIsolated: a destination that accepts but never reads
// must not delay another; its own events fail (queue full, timeout), counted.
func TestStuckDestinationIsolated(t *testing.T) {
	for _, reliable := range []bool{false, true} {
		name := "notification"
		if reliable {
			name = "reliable"
		}
		t.Run(name, func(t *testing.T) {
			stop := make(chan struct{})
			stuck := newServer(t, func(_ int, c net.Conn) { <-stop })
			t.Cleanup(func() { close(stop) }) // runs before the server's cleanup
			good := newServer(t, fastReplier)
			if !reliable {
				var mu sync.Mutex
				var total int64
				good = newServer(t, func(_ int, c net.Conn) { discardAll(c, &total, &mu) })
			}
			const timeout = 2 * time.Second
			tr := newTransport(t, Config{ReliableMode: reliable, Timeout: timeout, QueueSize: 500, MaxInFlight: 200})
			bad := parse(t, tr, stuck.socket(""))
			ok := parse(t, tr, good.socket(""))
			ev := event(t, "E_STUCK")

			n := 4000 // 16 MB to the stuck destination: more than socket buffers hold
			if reliable {
				n = 2000 // the window and the queue hold 700
			}
			badOut, goodOut := evitest.NewRecorder(n), evitest.NewRecorder(n)
			accepted, full := 0, 0
			raised := make([]time.Time, n)
			var worst time.Duration
			for i := range n {
				m := bigMsg(ev)
				switch err := bad.Send(m, badOut.Tag(i)); {
				case err == nil:
					accepted++
				case errors.Is(err, evi.ErrQueueFull):
					full++
				default:
					t.Fatalf("send %d: %v", i, err)
				}
				if err := ok.Send(m, goodOut.Tag(i)); err != nil {
					t.Fatalf("send %d to the good destination: %v", i, err)
				}
				raised[i] = m.Raised
				if i%100 == 99 { // the good destination keeps up
					for _, r := range goodOut.Wait(t, 100, 20*time.Second) {
						if r.Err != nil {
							t.Fatalf("good destination, event %d: %v", r.Tag, r.Err)
						}
						worst = max(worst, r.At.Sub(raised[r.Tag]))
					}
				}
			}
			t.Logf("stuck destination: %d accepted, %d rejected as full; good destination: worst latency %v", accepted, full, worst)
			// Blocked behind the stuck destination, an event would wait
			// for a write deadline, which is the timeout.
			if worst >= timeout {
				t.Errorf("the good destination was delayed by %v", worst)
			}
			if full == 0 {
				t.Error("the stuck destination's queue never filled")
			}
			var failed int
			for _, r := range badOut.Wait(t, accepted, 20*time.Second) {
				if r.Err != nil {
					failed++
				}
			}
			st := tr.Stats()
			var badSt AddressStats
			for _, a := range st.Addresses {
				if a.Address == bad.String() {
					badSt = a
				}
			}
			t.Logf("stuck destination stats: %+v", badSt.Counters)
			// In notification mode the kernel's socket buffers take a few
			// MB before writes block; what does not fit fails.
			if failed == 0 || reliable && (failed != accepted || badSt.Timeouts == 0) || badSt.Overflows != uint64(full) || badSt.Failed != uint64(failed) {
				t.Errorf("stuck destination: %d failed; stats %+v", failed, badSt.Counters)
			}
		})
	}
}

func TestConnectRefused(t *testing.T) {
	port := freePort(t)
	tr := newTransport(t, Config{Timeout: 5 * time.Second})
	d := parse(t, tr, "tcp:127.0.0.1:"+itoa(port))
	o := evitest.NewRecorder(1)
	start := time.Now()
	if err := d.Send(seqMsg(event(t, "E_REFUSED"), 1), o.Tag(1)); err != nil {
		t.Fatal(err)
	}
	r := o.Wait(t, 1, 20*time.Second)[0]
	if r.Err == nil || !strings.Contains(r.Err.Error(), "refused") || isTimeout(r.Err) {
		t.Fatalf("result %v, want connection refused", r.Err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("refusal reported after %v", took)
	}
	if st := tr.Stats(); st.ConnectFailures != 1 || st.Failed != 1 {
		t.Errorf("stats %+v", st.Counters)
	}
}

// TestBackoff: while connects keep failing, attempts are spaced by a
// doubling backoff capped at BackoffMax, events in between fail at once
// with the last connect error, and a listener coming back is reached.
func TestBackoff(t *testing.T) {
	port, listen := testnet.BoundPort(t)
	const bmin, bmax = 2 * time.Millisecond, 16 * time.Millisecond
	tr := newTransport(t, Config{BackoffMin: bmin, BackoffMax: bmax})
	d := parse(t, tr, "tcp:127.0.0.1:"+itoa(port))
	ev := event(t, "E_BACKOFF")
	var sawBackoff []time.Duration
	fastFails := 0
	deadline := time.Now().Add(5 * time.Second)
	for tr.Stats().ConnectFailures < 8 {
		if time.Now().After(deadline) {
			t.Fatal("connects were not retried")
		}
		o := evitest.NewRecorder(1)
		if err := d.Send(seqMsg(ev, 1), o.Tag(1)); err != nil {
			t.Fatal(err)
		}
		r := o.Wait(t, 1, 20*time.Second)[0]
		if r.Err == nil || !strings.Contains(r.Err.Error(), "refused") {
			t.Fatalf("result %v, want the connect error", r.Err)
		}
		if strings.Contains(r.Err.Error(), "not connected, next attempt in") {
			fastFails++
		}
		b := tr.Stats().Addresses[0].Backoff
		if len(sawBackoff) == 0 || sawBackoff[len(sawBackoff)-1] != b {
			sawBackoff = append(sawBackoff, b)
		}
	}
	want := []time.Duration{2 * time.Millisecond, 4 * time.Millisecond, 8 * time.Millisecond, 16 * time.Millisecond}
	if len(sawBackoff) != len(want) {
		t.Fatalf("backoffs %v, want %v", sawBackoff, want)
	}
	for i := range want {
		if sawBackoff[i] != want[i] {
			t.Fatalf("backoffs %v, want %v", sawBackoff, want)
		}
	}
	if fastFails == 0 {
		t.Error("no event failed fast during the backoff")
	}
	a := tr.Stats().Addresses[0]
	if !strings.Contains(a.LastError, "refused") || a.Connected {
		t.Errorf("address stats %+v", a)
	}

	// The destination comes back.
	ln := listen()
	var mu sync.Mutex
	var total int64
	newServerOn(t, ln, func(_ int, c net.Conn) { discardAll(c, &total, &mu) })
	testnet.PollUntil(t, 20*time.Second, "a successful reconnect", func() bool {
		o := evitest.NewRecorder(1)
		d.Send(seqMsg(ev, 2), o.Tag(2))
		return o.Wait(t, 1, 20*time.Second)[0].Err == nil
	})
	if a := tr.Stats().Addresses[0]; a.Backoff != 0 || a.LastError != "" || !a.Connected {
		t.Errorf("after reconnecting: %+v", a)
	}
}

func TestLocalhost(t *testing.T) {
	srv := rpcServer(t, replyAtOnce)
	tr := newTransport(t, Config{ReliableMode: true})
	d := parse(t, tr, "tcp:localhost:"+itoa(srv.port()))
	o := evitest.NewRecorder(3)
	sendN(t, d, event(t, "E_LOCAL"), 0, 3, o)
	allOK(t, o.Wait(t, 3, 20*time.Second))
}

func TestIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	srv := newServerOn(t, ln, replyAtOnceConn)
	tr := newTransport(t, Config{ReliableMode: true})
	d := parse(t, tr, "tcp:[::1]:"+itoa(srv.port())+"/m")
	if d.String() != "tcp:[::1]:"+itoa(srv.port())+"/m" {
		t.Errorf("String() = %q", d.String())
	}
	o := evitest.NewRecorder(2)
	sendN(t, d, event(t, "E_V6"), 0, 2, o)
	allOK(t, o.Wait(t, 2, 20*time.Second))
}

// replyAtOnceConn is a reliable server handler replying to every request.
func replyAtOnceConn(n int, c net.Conn) {
	out := make(chan request, 16)
	go func() {
		for r := range out {
			c.Write(replyOK(*r.ID))
		}
	}()
	readRequests(c, out)
	close(out)
}

// TestQueueOverflow: a full queue rejects with ErrQueueFull, counted; the
// queued events still go out.
func TestQueueOverflow(t *testing.T) {
	rec := newRecorder(t)
	const size = 10
	var logs testnet.Buffer
	g := newGate()
	defer g.release()
	tr := newTransport(t, Config{QueueSize: size, Dialer: g, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	d := parse(t, tr, rec.socket(""))
	ev := event(t, "E_FULL")
	d.Send(seqMsg(ev, 0), nil)
	<-g.entered // the writer is in a write: the queue fills
	o := evitest.NewRecorder(size)
	sendN(t, d, ev, 1, size, o)
	err := d.Send(seqMsg(ev, 99), o.Tag(99))
	if !errors.Is(err, evi.ErrQueueFull) || !strings.Contains(err.Error(), rec.socket("")) {
		t.Fatalf("Send on a full queue: %v", err)
	}
	if st := tr.Stats(); st.Overflows != 1 || st.Sent != size+1 || st.Addresses[0].Queued != size {
		t.Errorf("stats %+v", st)
	}
	start := time.Now()
	for i := range 1000 {
		if err := d.Send(seqMsg(ev, 100+i), nil); !errors.Is(err, evi.ErrQueueFull) {
			t.Fatalf("Send on a full queue: %v", err)
		}
	}
	windows := 1 + int(time.Since(start)/ratelog.DefaultWindow) // however loaded the machine
	if st := tr.Stats(); st.Overflows != 1001 {
		t.Errorf("%d overflows counted, want 1001", st.Overflows)
	}
	if n := strings.Count(logs.String(), "queue full"); n < 1 || n > ratelog.DefaultBurst*windows {
		t.Errorf("%d log lines for 1001 overflows in %d windows, want 1 to %d (rate-limited):\n%s",
			n, windows, ratelog.DefaultBurst*windows, logs.String())
	}
	g.release()
	allOK(t, o.Wait(t, size, 20*time.Second))
	o.None(t, 20*time.Millisecond)
}

// TestShutdownDrainsReliable: Shutdown waits for the replies to everything
// accepted.
func TestShutdownDrainsReliable(t *testing.T) {
	const n = 3000
	srv := newServer(t, fastReplier)
	tr, err := New(Config{ReliableMode: true, Timeout: 20 * time.Second, MaxInFlight: 100})
	if err != nil {
		t.Fatal(err)
	}
	d, err := tr.Parse(srv.socket(""))
	if err != nil {
		t.Fatal(err)
	}
	o := evitest.NewRecorder(n)
	sendN(t, d, event(t, "E_DRAIN"), 0, n, o)
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if o.Pending() != n {
		t.Fatalf("%d outcomes when Shutdown returned, want %d", o.Pending(), n)
	}
	allOK(t, o.Wait(t, n, time.Second))
	if st := tr.Stats(); st.Delivered != n || st.Pending != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestShutdownDrains: Shutdown waits until a slow but reading receiver has
// everything; Send fails meanwhile.
func TestShutdownDrains(t *testing.T) {
	const n = 300
	var mu sync.Mutex
	var total int64
	srv := newServer(t, func(_ int, c net.Conn) {
		buf := make([]byte, 16<<10)
		for {
			k, err := c.Read(buf)
			mu.Lock()
			total += int64(k)
			mu.Unlock()
			if err != nil {
				return
			}
			time.Sleep(200 * time.Microsecond) // a slow reader (pacing, not synchronisation)
		}
	})
	tr, err := New(Config{Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	d, err := tr.Parse(srv.socket(""))
	if err != nil {
		t.Fatal(err)
	}
	ev := event(t, "E_DRAIN")
	o := evitest.NewRecorder(n)
	for i := range n {
		if err := d.Send(bigMsg(ev), o.Tag(i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if o.Pending() != n {
		t.Fatalf("%d outcomes when Shutdown returned, want %d", o.Pending(), n)
	}
	allOK(t, o.Wait(t, n, time.Second))
	if err := d.Send(bigMsg(ev), nil); !errors.Is(err, evi.ErrClosed) {
		t.Errorf("Send after Shutdown: %v", err)
	}
	st := tr.Stats()
	testnet.PollUntil(t, 20*time.Second, "all bytes received", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return total == int64(st.BytesWritten)
	})
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestShutdownDeadline: when ctx ends first, what is left fails with
// ErrClosed and Shutdown says how many.
func TestShutdownDeadline(t *testing.T) {
	srv := rpcServer(t, func(int) func(net.Conn, request) { return func(net.Conn, request) {} })
	tr := newTransport(t, Config{ReliableMode: true, Timeout: time.Minute})
	d := parse(t, tr, srv.socket(""))
	o := evitest.NewRecorder(10)
	sendN(t, d, event(t, "E_SD"), 0, 10, o)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := tr.Shutdown(ctx)
	var se *ShutdownError
	if !errors.As(err, &se) || se.Failed != 10 || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, evi.ErrClosed) {
		t.Fatalf("Shutdown = %v, want 10 failed past the deadline", err)
	}
	for _, r := range o.Wait(t, 10, time.Second) {
		if !errors.Is(r.Err, evi.ErrClosed) {
			t.Errorf("event %d: %v", r.Tag, r.Err)
		}
	}
}

// TestCloseFailsPending: Close fails queued and in-flight events with
// ErrClosed, at once; later sends and parses fail with ErrClosed.
func TestCloseFailsPending(t *testing.T) {
	for _, reliable := range []bool{false, true} {
		stop := make(chan struct{})
		t.Cleanup(func() {
			select {
			case <-stop:
			default:
				close(stop) // the test failed before it did
			}
		})
		srv := newServer(t, func(_ int, c net.Conn) { <-stop }) // never reads
		tr, err := New(Config{ReliableMode: reliable, Timeout: time.Minute, QueueSize: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		d, err := tr.Parse(srv.socket(""))
		if err != nil {
			t.Fatal(err)
		}
		const n = 3000 // 12 MB: some are written, some stuck in a write, some queued
		o := evitest.NewRecorder(n)
		ev := event(t, "E_CLOSE")
		for i := range n {
			if err := d.Send(bigMsg(ev), o.Tag(i)); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		tr.Close()
		if took := time.Since(start); took > time.Second {
			t.Errorf("Close took %v", took)
		}
		var closed int
		for _, r := range o.Wait(t, n, time.Second) {
			if errors.Is(r.Err, evi.ErrClosed) {
				closed++
			} else if reliable || r.Err != nil {
				t.Fatalf("event %d: %v", r.Tag, r.Err)
			}
		}
		if closed == 0 {
			t.Error("nothing failed with ErrClosed")
		}
		if err := d.Send(bigMsg(ev), nil); !errors.Is(err, evi.ErrClosed) {
			t.Errorf("Send after Close: %v", err)
		}
		if _, err := tr.Parse(srv.socket("")); !errors.Is(err, evi.ErrClosed) {
			t.Errorf("Parse after Close: %v", err)
		}
		if err := tr.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		close(stop)
	}
}

// TestSharedConnection: subscriptions to one address share a connection,
// closed when the last one is closed.
func TestSharedConnection(t *testing.T) {
	closed := make(chan struct{})
	got := make(chan request, 10)
	srv := newServer(t, func(_ int, c net.Conn) {
		readRequests(c, got)
		close(closed)
	})
	tr := newTransport(t, Config{})
	a := parse(t, tr, srv.socket("/a"))
	b := parse(t, tr, srv.socket("/b"))
	ev := event(t, "E_SHARED")
	o := evitest.NewRecorder(2)
	a.Send(seqMsg(ev, 1), o.Tag(1))
	b.Send(seqMsg(ev, 2), o.Tag(2))
	allOK(t, o.Wait(t, 2, 20*time.Second))
	if r1, r2 := <-got, <-got; r1.Method != "a" || r2.Method != "b" {
		t.Errorf("methods %q %q", r1.Method, r2.Method)
	}
	a.Close()
	a.Close() // idempotent
	if err := a.Send(seqMsg(ev, 3), nil); !errors.Is(err, evi.ErrClosed) {
		t.Errorf("Send on a closed destination: %v", err)
	}
	select {
	case <-closed:
		t.Fatal("the connection closed while a subscription still uses it")
	default:
	}
	o = evitest.NewRecorder(1)
	b.Send(seqMsg(ev, 4), o.Tag(4))
	allOK(t, o.Wait(t, 1, 20*time.Second))
	b.Close()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("the connection stayed open after its last subscription closed")
	}
	testnet.PollUntil(t, 20*time.Second, "the address to go", func() bool { return len(tr.Stats().Addresses) == 0 })
	if st := tr.Stats(); st.Sent != 3 || st.Delivered != 3 || st.Connects != 1 {
		t.Errorf("stats after retiring: %+v", st.Counters)
	}
	if srvAccepts := srv.Accepted(); srvAccepts != 1 {
		t.Errorf("%d connections accepted, want 1", srvAccepts)
	}
}

// TestNoFDLeak counts this process's file descriptors around connect,
// reconnect and close cycles.
func TestNoFDLeak(t *testing.T) {
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("no /proc/self/fd: %v", err)
		}
		return len(ents)
	}
	cycle := func(reliable bool) {
		var srv *testServer
		if reliable {
			srv = rpcServer(t, func(n int) func(net.Conn, request) {
				if n == 0 { // garbage: the connection is torn down
					return func(c net.Conn, r request) { c.Write([]byte("garbage")) }
				}
				return replyAtOnce(n)
			})
		} else {
			var mu sync.Mutex
			var total int64
			srv = newServer(t, func(_ int, c net.Conn) { discardAll(c, &total, &mu) })
		}
		tr, err := New(Config{ReliableMode: reliable})
		if err != nil {
			t.Fatal(err)
		}
		d, err := tr.Parse(srv.socket(""))
		if err != nil {
			t.Fatal(err)
		}
		port, listen := testnet.BoundPort(t)
		refused, _ := tr.Parse("tcp:127.0.0.1:" + itoa(port))
		ev := event(t, "E_FD")
		o := evitest.NewRecorder(20)
		sendN(t, d, ev, 0, 10, o)
		sendN(t, refused, ev, 10, 10, o)
		o.Wait(t, 20, 20*time.Second)
		o = evitest.NewRecorder(5)
		sendN(t, d, ev, 0, 5, o)
		o.Wait(t, 5, 20*time.Second)
		d.Close()
		tr.Close()
		srv.Close()
		listen().Close() // releases the bound socket
	}
	cycle(true) // warm up whatever the runtime opens once (epoll, ...)
	before := fds()
	for range 5 {
		cycle(true)
		cycle(false)
	}
	if !waitFDs(fds, before) {
		ents, _ := os.ReadDir("/proc/self/fd")
		for _, e := range ents {
			l, _ := os.Readlink("/proc/self/fd/" + e.Name())
			t.Logf("fd %s -> %s", e.Name(), l)
		}
		t.Fatalf("%d file descriptors open, %d before", fds(), before)
	}
}

func waitFDs(fds func() int, before int) bool {
	deadline := time.Now().Add(5 * time.Second)
	for fds() > before {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// fastReplier is a reliable-mode server handler that replies at once,
// reading only each request's id.
func fastReplier(_ int, c net.Conn) {
	dec := jsonrpc.NewDecoder(c, 0)
	for {
		b, err := dec.Next()
		if err != nil {
			return
		}
		r, err := jsonrpc.ParseResponse(b) // reads the id of any object
		if err != nil || !r.HasID {
			return
		}
		if _, err := c.Write(replyOK(r.ID)); err != nil {
			return
		}
	}
}

// hangingPort returns a loopback port whose connects hang: a socket listens
// on it with the smallest backlog, never accepts, and the backlog is full.
func hangingPort(t *testing.T) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "hanging")
	t.Cleanup(func() { f.Close() })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := "127.0.0.1:" + itoa(sa.(*syscall.SockaddrInet4).Port)
	// Fill the accept queue until a connect hangs.
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return sa.(*syscall.SockaddrInet4).Port
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("cannot make a connect hang on this system")
	return 0
}

// TestConnectHangs: while a connect hangs, events fail at their deadline
// and other destinations are not delayed.
func TestConnectHangs(t *testing.T) {
	port := hangingPort(t)
	good := newServer(t, fastReplier)
	// The hanging connect would last a minute; events fail at their 2 s
	// deadline, long before it. Bounds are orders, not speeds: the good
	// destination is done before the first hung event fails, and nothing
	// waits for the connect.
	const timeout = 2 * time.Second
	const connectTimeout = time.Minute
	tr := newTransport(t, Config{ReliableMode: true, Timeout: timeout, ConnectTimeout: connectTimeout})
	hung := parse(t, tr, "tcp:127.0.0.1:"+itoa(port))
	ok := parse(t, tr, good.socket(""))
	ev := event(t, "E_HANG")
	ho, gd := evitest.NewRecorder(3), evitest.NewRecorder(3)
	start := time.Now()
	sendN(t, hung, ev, 0, 3, ho)
	sendN(t, ok, ev, 0, 3, gd)
	goodOut := gd.Wait(t, 3, 20*time.Second)
	allOK(t, goodOut)
	hungOut := ho.Wait(t, 3, 20*time.Second)
	for _, r := range hungOut {
		if !isTimeout(r.Err) {
			t.Errorf("event %d: %v, want ErrTimeout", r.Tag, r.Err)
		}
		if took := r.At.Sub(start); took < timeout || took > connectTimeout/2 {
			t.Errorf("event %d failed after %v, want after its %v deadline and long before the connect gives up", r.Tag, took, timeout)
		}
	}
	for _, g := range goodOut {
		if !g.At.Before(hungOut[0].At) {
			t.Errorf("the good destination's event %d was delivered after the hung one failed: delayed by it", g.Tag)
		}
	}
	// Close does not wait for the hanging connect.
	start = time.Now()
	tr.Close()
	if took := time.Since(start); took > connectTimeout/2 {
		t.Errorf("Close took %v: it waited for the connect", took)
	}
}

// TestReconnectStormLogsBounded: a peer that accepts and closes every
// connection at once makes the transport reconnect for every event; the
// "connection lost" and "reconnected" lines stay a few per second, with a
// count of those suppressed (it used to log a WARN and an INFO per
// reconnect: 13.7 MB in 30 s).
func TestReconnectStormLogsBounded(t *testing.T) {
	srv := newServer(t, func(int, net.Conn) {}) // the handler returns: the connection closes
	var logs testnet.Buffer
	tr := newTransport(t, Config{ReliableMode: true, Logger: logs.Logger(), BackoffMin: time.Millisecond, BackoffMax: time.Millisecond})
	d := parse(t, tr, srv.socket(""))
	ev := event(t, "E_STORM")
	const n = 300
	start := time.Now()
	o := evitest.NewRecorder(n)
	for i := range n {
		if err := d.Send(seqMsg(ev, i), o.Tag(i)); err != nil {
			t.Fatal(err)
		}
		o.Wait(t, 1, 20*time.Second) // one at a time: each one reconnects
	}
	windows := 1 + int(time.Since(start)/ratelog.DefaultWindow)
	if st := tr.Stats(); st.Reconnects < n/2 {
		t.Fatalf("%d reconnects for %d events: the storm did not happen", st.Reconnects, n)
	}
	limit := (ratelog.DefaultBurst + 1) * windows
	for _, msg := range []string{`msg="connection lost"`, `msg=reconnected`} {
		if got := strings.Count(logs.String(), msg); got > limit {
			t.Errorf("%d lines %s for %d reconnects in %d windows, want at most %d", got, msg, n, windows, limit)
		}
	}
}
