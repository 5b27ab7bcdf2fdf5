package transporttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/testnet"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/receiver"
	"github.com/evstream/evstream/value"
)

// Kind is how a peer treats the events sent to it.
type Kind int

// The kinds of peers.
const (
	// Accept reads every event and confirms every request.
	Accept Kind = iota
	// Reject reads every event and answers every request with an error
	// reply.
	Reject
	// Silent reads every event and never answers a request.
	Silent
	// Refuse is an address where nobody listens: connects are refused.
	Refuse
)

var kindNames = [...]string{Accept: "accept", Reject: "reject", Silent: "silent", Refuse: "refuse"}

func (k Kind) String() string { return kindNames[k] }

// Peer is a subscriber the harness started: the socket that designates it,
// and what it received.
type Peer struct {
	// Socket is the socket of the transport under test that delivers to
	// the peer: "tcp:127.0.0.1:PORT", "virtual:ROUND-ROBIN tcp:...".
	Socket string
	// Received returns the "n" params of the events the peer read, in the
	// order it read them; nil for a Refuse peer.
	Received func() []int
}

// Harness tells Run how to make the transport under test and its peers.
type Harness struct {
	// Reliable says the transport confirms events with replies: the
	// checks of error replies and reply timeouts run only then.
	Reliable bool
	// Synctest runs every check inside a testing/synctest bubble (New and
	// Peer are called inside it): the timing checks are then exact. Only
	// for transports on an in-memory network; real sockets do not block
	// durably.
	Synctest bool
	// New returns a fresh transport whose attempts time out after timeout.
	// Run closes it (more than once: Close must be idempotent).
	New func(t *testing.T, timeout time.Duration) evi.Transport
	// Peer starts a peer of kind k for the transport that New made last.
	Peer func(t *testing.T, k Kind) Peer
}

// The timeouts the checks use. In real time the upper bounds are
// generous: the suite must pass on a machine that is fully loaded.
const (
	shortTimeout = 300 * time.Millisecond
	longTimeout  = time.Minute
	waitBound    = 2 * time.Minute
)

// Run runs the contract checks on the transport h makes, each as a
// subtest.
func Run(t *testing.T, h Harness) {
	checks := []struct {
		name     string
		reliable bool // reliable mode only
		run      func(*testing.T, Harness)
	}{
		{"Delivered", false, checkDelivered},
		{"OrderPerSubscriber", false, checkOrder},
		{"ConcurrentSenders", false, checkConcurrent},
		{"ConnectRefused", false, checkRefused},
		{"ErrorReply", true, checkErrorReply},
		{"ReplyTimeout", true, checkReplyTimeout},
		{"CloseFailsPending", true, checkClosePending},
		{"NothingAfterClose", false, checkNothingAfterClose},
		{"DestinationClose", false, checkDestClose},
		{"ParseErrors", false, checkParseErrors},
	}
	for _, c := range checks {
		if c.reliable && !h.Reliable {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			if h.Synctest {
				synctest.Test(t, func(t *testing.T) { c.run(t, h) })
				return
			}
			c.run(t, h)
		})
	}
}

// Serve runs a JSON-RPC receiver of kind k (not Refuse) on ln until the
// test ends, and returns what it received, as Peer.Received does.
func Serve(t *testing.T, ln net.Listener, k Kind) (received func() []int) {
	if k == Refuse {
		t.Fatal("transporttest: Serve: a Refuse peer has no listener")
	}
	var (
		mu   sync.Mutex
		got  []int
		held []*receiver.Responder
	)
	srv := &receiver.Server{Handler: receiver.HandlerFunc(func(_ context.Context, req *receiver.Request) (any, error) {
		var p struct{ N int }
		if err := json.Unmarshal(req.Params, &p); err != nil {
			t.Errorf("transporttest: peer got params %s: %v", req.Params, err)
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, p.N)
		switch k {
		case Reject:
			return nil, &jsonrpc.Error{Code: -32000, Message: fmt.Sprintf("rejected %d", p.N)}
		case Silent:
			if !req.IsNotification() {
				held = append(held, req.Defer()) // never answered
			}
		}
		return "ok", nil
	})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, receiver.ErrServerClosed) {
			t.Errorf("transporttest: peer: %v", err)
		}
	})
	return func() []int {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// TCPPeer starts a JSON-RPC receiver of kind k on loopback TCP and
// returns its address ("127.0.0.1:PORT") and what it received. For a
// Refuse peer the address is a port bound but not listening (connects are
// refused) and received is nil. The harnesses of the stream transports,
// and of virtual sockets over them, make their peers with it.
func TCPPeer(t *testing.T, k Kind) (addr string, received func() []int) {
	if k == Refuse {
		port, _ := testnet.BoundPort(t)
		return fmt.Sprintf("127.0.0.1:%d", port), nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln.Addr().String(), Serve(t, ln, k)
}

// env is one check's transport, event and outcomes.
type env struct {
	t   *testing.T
	h   Harness
	tr  evi.Transport
	ev  *evi.Event
	out chan outcome

	closed atomic.Bool  // the transport's Close returned
	late   atomic.Int64 // outcomes reported after it
	mu     sync.Mutex
	calls  map[*evi.Message]int
}

type outcome struct {
	m   *evi.Message
	err error
	at  time.Time
}

func newEnv(t *testing.T, h Harness, timeout time.Duration) *env {
	reg := evi.NewRegistry(evi.Config{})
	t.Cleanup(func() { reg.Close() })
	ev, err := reg.Publish("E_CONTRACT")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, h: h, tr: h.New(t, timeout), ev: ev, out: make(chan outcome, 1<<14), calls: map[*evi.Message]int{}}
	t.Cleanup(func() { e.closeTransport() })
	return e
}

func (e *env) closeTransport() {
	if err := e.tr.Close(); err != nil {
		e.t.Errorf("Close: %v", err)
	}
	e.closed.Store(true)
}

// Done records an outcome, checking it is the message's first and that
// the transport was not closed yet.
func (e *env) Done(m *evi.Message, err error) {
	if e.closed.Load() && e.late.Add(1) == 1 {
		e.t.Errorf("Done(%v) called after the transport's Close returned (reported once)", params(m))
	}
	e.mu.Lock()
	e.calls[m]++
	n := e.calls[m]
	e.mu.Unlock()
	if n > 1 {
		e.t.Errorf("Done called %d times for the event %v", n, params(m))
	}
	select {
	case e.out <- outcome{m, err, time.Now()}:
	default:
		e.t.Errorf("too many outcomes")
	}
}

// params prints m's params ("n=5") for the failure messages.
func params(m *evi.Message) string {
	if m.Params.Len() == 0 {
		return "(no params)"
	}
	p := m.Params.At(0)
	return p.Name + "=" + p.Value.String()
}

func (e *env) msg(n int) *evi.Message {
	return evi.NewMessage(e.ev, value.Named(value.P("n", value.Int(int64(n)))), time.Now())
}

func (e *env) parse(socket string) evi.Destination {
	d, err := e.tr.Parse(socket)
	if err != nil {
		e.t.Fatalf("Parse(%q): %v", socket, err)
	}
	return d
}

func (e *env) send(d evi.Destination, m *evi.Message) {
	if err := d.Send(m, e); err != nil {
		e.t.Fatalf("Send(%v) to %s: %v", params(m), d, err)
	}
}

// wait returns the next n outcomes.
func (e *env) wait(n int) []outcome {
	e.t.Helper()
	got := make([]outcome, 0, n)
	timer := time.NewTimer(waitBound)
	defer timer.Stop()
	for len(got) < n {
		select {
		case o := <-e.out:
			got = append(got, o)
		case <-timer.C:
			e.t.Fatalf("%d outcomes of %d after %v", len(got), n, waitBound)
		}
	}
	return got
}

// noMore checks that no outcome is left once the transport is closed.
func (e *env) noMore() {
	e.t.Helper()
	select {
	case o := <-e.out:
		e.t.Errorf("an unexpected outcome: %v, %v", params(o.m), o.err)
	default:
	}
}

// received waits until the peer has received n events (or the bound
// passed) and returns what it received.
func received(p Peer, n int) []int {
	deadline := time.Now().Add(waitBound)
	for {
		got := p.Received()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// eventually waits until the peer has received want.
func eventually(t *testing.T, p Peer, want []int) {
	t.Helper()
	if got := received(p, len(want)); !slices.Equal(got, want) {
		t.Fatalf("the peer received %v, want %v", clip(got), clip(want))
	}
}

// allDelivered waits for the next n outcomes and checks that each is a
// delivery.
func (e *env) allDelivered(n int) {
	e.t.Helper()
	for _, o := range e.wait(n) {
		if o.err != nil {
			e.t.Fatalf("event %v: %v, want delivered", params(o.m), o.err)
		}
	}
}

func clip(s []int) string {
	if len(s) > 20 {
		return fmt.Sprintf("%v ... (%d)", s[:20], len(s))
	}
	return fmt.Sprint(s)
}

func seq(from, to int) []int {
	s := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

// deliveryError returns err's *evi.DeliveryError, failing the test when it
// has none.
func deliveryError(t *testing.T, err error) *evi.DeliveryError {
	t.Helper()
	var de *evi.DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *evi.DeliveryError", err, err)
	}
	return de
}

// checkDelivered: events sent to an accepting peer are reported delivered
// (nil), once each, and the peer gets them.
func checkDelivered(t *testing.T, h Harness) {
	e := newEnv(t, h, longTimeout)
	p := h.Peer(t, Accept)
	d := e.parse(p.Socket)
	for i := range 100 {
		e.send(d, e.msg(i))
	}
	e.allDelivered(100)
	eventually(t, p, seq(0, 100))
	e.closeTransport()
	e.noMore()
}

// checkOrder: three subscribers, events interleaved between them; each
// gets its own in the order sent.
func checkOrder(t *testing.T, h Harness) {
	e := newEnv(t, h, longTimeout)
	const subs, n = 3, 300
	peers := make([]Peer, subs)
	dests := make([]evi.Destination, subs)
	for i := range peers {
		peers[i] = h.Peer(t, Accept)
		dests[i] = e.parse(peers[i].Socket)
	}
	for i := range n {
		for s := range subs {
			e.send(dests[s], e.msg(s*n+i))
		}
	}
	e.allDelivered(subs * n)
	for s, p := range peers {
		eventually(t, p, seq(s*n, s*n+n))
	}
}

// checkConcurrent: four goroutines send to one destination at once; every
// event is reported once and each goroutine's events arrive in its order.
func checkConcurrent(t *testing.T, h Harness) {
	e := newEnv(t, h, longTimeout)
	p := h.Peer(t, Accept)
	d := e.parse(p.Socket)
	const senders, n = 4, 250
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range n {
				if err := d.Send(e.msg(s*n+i), e); err != nil {
					t.Errorf("Send: %v", err)
				}
			}
		})
	}
	wg.Wait()
	e.allDelivered(senders * n)
	got := received(p, senders*n)
	if len(got) != senders*n {
		t.Fatalf("the peer received %d events, want %d", len(got), senders*n)
	}
	last := make([]int, senders)
	for i := range last {
		last[i] = -1
	}
	for _, v := range got {
		s, i := v/n, v%n
		if i <= last[s] {
			t.Fatalf("sender %d: event %d arrived after %d", s, i, last[s])
		}
		last[s] = i
	}
}

// checkRefused: with nobody listening, an event fails with ReasonConnect,
// its bytes never left, and a retry makes sense.
func checkRefused(t *testing.T, h Harness) {
	e := newEnv(t, h, longTimeout)
	p := h.Peer(t, Refuse)
	d := e.parse(p.Socket)
	e.send(d, e.msg(1))
	o := e.wait(1)[0]
	de := deliveryError(t, o.err)
	if de.Reason != evi.ReasonConnect || de.Written || !de.Retryable() {
		t.Fatalf("refused connect: %+v (reason %v), want reason connect, not written, retryable", de, de.Reason)
	}
}

// checkErrorReply: a request answered with an error fails with
// ReasonErrorReply, written.
func checkErrorReply(t *testing.T, h Harness) {
	e := newEnv(t, h, longTimeout)
	p := h.Peer(t, Reject)
	d := e.parse(p.Socket)
	e.send(d, e.msg(1))
	e.send(d, e.msg(2))
	for _, o := range e.wait(2) {
		de := deliveryError(t, o.err)
		if de.Reason != evi.ReasonErrorReply || !de.Written {
			t.Fatalf("error reply: %+v (reason %v), want reason error reply, written", de, de.Reason)
		}
	}
	eventually(t, p, []int{1, 2})
}

// checkReplyTimeout: a request never answered fails with ReasonTimeout
// (errors.Is ErrTimeout), written, not before the timeout counted from
// the Send, and not much after it.
func checkReplyTimeout(t *testing.T, h Harness) {
	e := newEnv(t, h, shortTimeout)
	p := h.Peer(t, Silent)
	d := e.parse(p.Socket)
	// An old event: the deadline counts from the Send, not the raise.
	m := e.msg(1)
	m.Raised = time.Now().Add(-time.Hour)
	start := time.Now()
	e.send(d, m)
	o := e.wait(1)[0]
	de := deliveryError(t, o.err)
	if de.Reason != evi.ReasonTimeout || !errors.Is(o.err, evi.ErrTimeout) || !de.Written {
		t.Fatalf("unanswered request: %+v (reason %v), want reason timeout, written", de, de.Reason)
	}
	took := o.at.Sub(start)
	upper := waitBound / 2
	if h.Synctest {
		upper = shortTimeout + shortTimeout/2 // the fake clock is exact
	}
	if took < shortTimeout || took > upper {
		t.Fatalf("the timeout came after %v, want %v (at most %v)", took, shortTimeout, upper)
	}
	eventually(t, p, []int{1})
}

// checkClosePending: Close fails the events still waiting for a reply
// with ReasonClosed, before it returns.
func checkClosePending(t *testing.T, h Harness) {
	e := newEnv(t, h, longTimeout)
	p := h.Peer(t, Silent)
	d := e.parse(p.Socket)
	for i := range 10 {
		e.send(d, e.msg(i))
	}
	eventually(t, p, seq(0, 10)) // written, unanswered
	e.closeTransport()
	for _, o := range e.wait(10) {
		de := deliveryError(t, o.err)
		if de.Reason != evi.ReasonClosed || !errors.Is(o.err, evi.ErrClosed) {
			t.Fatalf("pending at Close: %+v (reason %v), want reason closed", de, de.Reason)
		}
	}
	e.noMore()
}

// checkNothingAfterClose: Close returns only when every accepted event has
// been reported; after it, Send and Parse refuse with ErrClosed and no
// Done is called (env.Done checks).
func checkNothingAfterClose(t *testing.T, h Harness) {
	e := newEnv(t, h, longTimeout)
	kind := Accept
	if h.Reliable {
		kind = Silent
	}
	p := h.Peer(t, kind)
	d := e.parse(p.Socket)
	const n = 200
	for i := range n {
		e.send(d, e.msg(i))
	}
	e.closeTransport()
	if len(e.out) != n {
		t.Fatalf("%d outcomes when Close returned, want all %d", len(e.out), n)
	}
	e.wait(n)
	err := d.Send(e.msg(n), e)
	if err == nil || !errors.Is(err, evi.ErrClosed) {
		t.Fatalf("Send after Close: %v, want an error wrapping ErrClosed", err)
	}
	deliveryError(t, err)
	if _, err := e.tr.Parse(p.Socket); !errors.Is(err, evi.ErrClosed) {
		t.Fatalf("Parse after Close: %v, want an error wrapping ErrClosed", err)
	}
	e.closeTransport() // twice: no error, no outcome
	time.Sleep(10 * time.Millisecond)
	e.noMore()
}

// checkDestClose: events a destination accepted still complete after its
// Close; Send after it refuses with ErrClosed.
func checkDestClose(t *testing.T, h Harness) {
	e := newEnv(t, h, longTimeout)
	p := h.Peer(t, Accept)
	d := e.parse(p.Socket)
	for i := range 50 {
		e.send(d, e.msg(i))
	}
	if err := d.Close(); err != nil {
		t.Fatalf("destination Close: %v", err)
	}
	for _, o := range e.wait(50) {
		if o.err != nil {
			de := deliveryError(t, o.err)
			if de.Reason != evi.ReasonClosed {
				t.Fatalf("event %v: %v (reason %v), want delivered or closed", params(o.m), o.err, de.Reason)
			}
		}
	}
	if err := d.Send(e.msg(50), e); !errors.Is(err, evi.ErrClosed) {
		t.Fatalf("Send after the destination's Close: %v, want ErrClosed", err)
	}
}

// checkParseErrors: a socket of another scheme, or garbage, is a
// *evi.SocketError naming the socket.
func checkParseErrors(t *testing.T, h Harness) {
	e := newEnv(t, h, longTimeout)
	for _, bad := range []string{"", e.tr.Scheme() + ":", "nosuchscheme:1.2.3.4:5", e.tr.Scheme() + ":\x00garbage"} {
		_, err := e.tr.Parse(bad)
		var se *evi.SocketError
		if !errors.As(err, &se) || !errors.Is(err, evi.ErrBadSocket) || se.Socket != bad {
			t.Errorf("Parse(%q): %v, want a *evi.SocketError for it", bad, err)
		}
	}
}
