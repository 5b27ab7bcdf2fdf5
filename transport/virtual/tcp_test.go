package virtual

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/transport/stream"
	"github.com/evstream/evstream/value"
)

// These tests run the virtual transport over the real tcp: transport and
// real loopback listeners.

// waitFor bounds every wait of these tests.
const waitFor = 5 * time.Second

// replyMode is how a receiver answers (reliable mode) or behaves.
type replyMode int32

const (
	replyOK     replyMode = iota // reply with a result
	replyError                   // reply with an error member
	replySilent                  // read, never reply
	closeAtOnce                  // accept connections and close them at once
)

// receiver is an application server on 127.0.0.1: it decodes the events
// written to it (back to back) and reports each event's sequence number
// (its one unnamed param).
type receiver struct {
	ln   net.Listener
	mode atomic.Int32
	got  chan int

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
	stop  chan struct{} // closed by close: a full got never blocks it
	once  sync.Once
}

func newReceiver(t *testing.T, mode replyMode) *receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{ln: ln, got: make(chan int, 4096), conns: map[net.Conn]struct{}{}, stop: make(chan struct{})}
	r.mode.Store(int32(mode))
	r.wg.Go(r.accept)
	t.Cleanup(r.close)
	return r
}

func (r *receiver) socket() string { return "tcp:" + r.ln.Addr().String() }

func (r *receiver) setMode(m replyMode) { r.mode.Store(int32(m)) }

func (r *receiver) accept() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		if replyMode(r.mode.Load()) == closeAtOnce {
			c.Close()
			continue
		}
		r.mu.Lock()
		if r.conns == nil { // closed: close missed c
			r.mu.Unlock()
			c.Close()
			return
		}
		r.conns[c] = struct{}{}
		r.mu.Unlock()
		r.wg.Go(func() { r.serve(c) })
	}
}

func (r *receiver) serve(c net.Conn) {
	defer func() {
		c.Close()
		r.mu.Lock()
		delete(r.conns, c)
		r.mu.Unlock()
	}()
	dec := json.NewDecoder(c)
	for {
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params []int           `json:"params"`
		}
		if err := dec.Decode(&m); err != nil {
			return
		}
		if len(m.Params) != 1 {
			panic(fmt.Sprintf("receiver: unexpected params %v", m.Params))
		}
		select {
		case r.got <- m.Params[0]:
		case <-r.stop:
			return
		}
		if m.ID == nil {
			continue
		}
		var out []byte
		switch replyMode(r.mode.Load()) {
		case replyOK:
			out = jsonrpc.AppendResult(nil, m.ID, json.RawMessage(`"OK"`))
		case replyError:
			out = jsonrpc.AppendError(nil, m.ID, &jsonrpc.Error{Code: -32000, Message: "not today"})
		case replySilent:
			continue
		case closeAtOnce:
			return
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

func (r *receiver) close() {
	r.once.Do(func() { close(r.stop) })
	r.ln.Close()
	r.mu.Lock()
	for c := range r.conns {
		c.Close()
	}
	r.conns = nil // see accept
	r.mu.Unlock()
	r.wg.Wait()
}

// next returns the sequence number of the next event received.
func (r *receiver) next(t *testing.T) int {
	t.Helper()
	select {
	case n := <-r.got:
		return n
	case <-time.After(waitFor):
		t.Fatalf("%s: no event within %v", r.socket(), waitFor)
		return -1
	}
}

// drain returns what was received so far, without waiting.
func (r *receiver) drain() []int {
	var out []int
	for {
		select {
		case n := <-r.got:
			out = append(out, n)
		default:
			return out
		}
	}
}

// deadSocket returns a tcp: socket on which nothing listens (connections
// are refused).
func deadSocket(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "tcp:" + addr
}

type tcpEnv struct {
	reg   *evi.Registry
	tcp   *stream.Transport
	vt    *Transport
	clock *clock
	seq   int
}

func newTCPEnv(t *testing.T, scfg stream.Config, vcfg Config) *tcpEnv {
	t.Helper()
	e := &tcpEnv{reg: evi.NewRegistry(evi.Config{AutoPublish: true}), clock: newClock()}
	if scfg.Timeout == 0 {
		// Generous: these tests must not fail on a loaded machine; the
		// timeout tests set their own.
		scfg.Timeout = waitFor
	}
	if scfg.BackoffMin == 0 {
		scfg.BackoffMin = 5 * time.Millisecond
		scfg.BackoffMax = 20 * time.Millisecond
	}
	var err error
	if e.tcp, err = stream.New(scfg); err != nil {
		t.Fatal(err)
	}
	if vcfg.Now == nil {
		vcfg.Now = e.clock.now
	}
	if e.vt, err = New(e.reg, vcfg); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Register(e.tcp); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Register(e.vt); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.reg.Close(); err != nil {
			t.Error(err)
		}
	})
	return e
}

func (e *tcpEnv) subscribe(t *testing.T, socket string) {
	t.Helper()
	if err := e.reg.Subscribe("E_X", socket, 0); err != nil {
		t.Fatalf("subscribe %q: %v", socket, err)
	}
}

// raise raises E_X with the next sequence number to its one subscriber
// and returns that number and the outcome.
func (e *tcpEnv) raise(t *testing.T) (int, evi.Outcome) {
	t.Helper()
	seq := e.seq
	e.seq++
	out := make(chan evi.Outcome, 2)
	n, err := e.reg.Raise("E_X", value.Unnamed(value.Int(int64(seq))), func(o evi.Outcome) { out <- o })
	if err != nil && n != 0 {
		t.Fatalf("raise: %d accepted, error %v", n, err)
	}
	select {
	case o := <-out:
		return seq, o
	case <-time.After(waitFor):
		t.Fatalf("raise %d: no outcome within %v", seq, waitFor)
		return seq, evi.Outcome{}
	}
}

// deliver raises one event that must succeed and returns its number.
func (e *tcpEnv) deliver(t *testing.T) int {
	t.Helper()
	seq, o := e.raise(t)
	if o.Err != nil {
		t.Fatalf("event %d to %s: %v", seq, o.Socket, o.Err)
	}
	return seq
}

func wantEvent(t *testing.T, r *receiver, seq int) {
	t.Helper()
	if got := r.next(t); got != seq {
		t.Fatalf("%s received event %d, want %d", r.socket(), got, seq)
	}
}

// wantNothing checks that r received no event so far, but those allowed.
func wantNothing(t *testing.T, r *receiver, allowed ...int) {
	t.Helper()
	got := slices.DeleteFunc(r.drain(), func(n int) bool { return slices.Contains(allowed, n) })
	if len(got) > 0 {
		t.Fatalf("%s received events %v, want none", r.socket(), got)
	}
}

func TestTCPFailover(t *testing.T) {
	tests := []struct {
		name     string
		reliable bool
		timeout  time.Duration
		primary  func(t *testing.T) (socket string, r *receiver)
		wantErr  error // what the primary's failure wraps, checked when both fail
	}{
		{"connection refused/notification", false, 0,
			func(t *testing.T) (string, *receiver) { return deadSocket(t), nil }, nil},
		{"connection refused/reliable", true, 0,
			func(t *testing.T) (string, *receiver) { return deadSocket(t), nil }, nil},
		{"peer closes at once/reliable", true, 0,
			func(t *testing.T) (string, *receiver) { r := newReceiver(t, closeAtOnce); return r.socket(), nil }, nil},
		{"error reply/reliable", true, 0,
			func(t *testing.T) (string, *receiver) { r := newReceiver(t, replyError); return r.socket(), r },
			&jsonrpc.Error{}},
		{"no reply/reliable", true, 2 * time.Second,
			func(t *testing.T) (string, *receiver) { r := newReceiver(t, replySilent); return r.socket(), r },
			evi.ErrTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTCPEnv(t, stream.Config{ReliableMode: tc.reliable, Timeout: tc.timeout}, Config{})
			psock, prim := tc.primary(t)
			backup := newReceiver(t, replyOK)
			e.subscribe(t, "virtual:FAILOVER "+psock+" "+backup.socket())

			first := e.deliver(t)
			wantEvent(t, backup, first)
			if prim != nil && tc.timeout == 0 {
				wantEvent(t, prim, first) // it got it, and failed it
			}
			// The primary is now skipped: later events go straight to the
			// backup (the primary would have been tried first).
			for range 3 {
				seq := e.deliver(t)
				wantEvent(t, backup, seq)
			}
			if prim != nil {
				// A silent primary may or may not have got the first event
				// before it timed out (the tcp transport fails events still
				// queued at their deadline), and may read it late.
				wantNothing(t, prim, first)
			}

			// When the backup fails too, the outcome names both.
			backup.setMode(replyError)
			if !tc.reliable {
				// Notification mode: only a dead backup fails.
				backup.close()
			}
			deadline := time.Now().Add(waitFor)
			var (
				seq int
				o   evi.Outcome
			)
			for {
				e.clock.advance(DefaultFailoverTimeout) // the primary first again
				seq, o = e.raise(t)
				// In notification mode an event written before the tcp
				// transport sees the peer gone counts as delivered (inherent
				// to notifications): poll until one fails.
				if o.Err != nil || tc.reliable || time.Now().After(deadline) {
					break
				}
			}
			var ve *Error
			if !errors.As(o.Err, &ve) || ve.Policy != Failover || len(ve.Failed) != 2 {
				t.Fatalf("event %d with both members failing: %v", seq, o.Err)
			}
			if ve.Failed[0].Member != psock || ve.Failed[1].Member != backup.socket() {
				t.Errorf("failures in order %s, %s; want %s, %s", ve.Failed[0].Member, ve.Failed[1].Member, psock, backup.socket())
			}
			if tc.wantErr != nil {
				if je := (*jsonrpc.Error)(nil); errors.As(tc.wantErr, &je) {
					if !errors.As(ve.Failed[0].Err, &je) || je.Message != "not today" {
						t.Errorf("primary failure %v is not the error reply", ve.Failed[0].Err)
					}
				} else if !errors.Is(ve.Failed[0], tc.wantErr) {
					t.Errorf("primary failure %v does not wrap %v", ve.Failed[0].Err, tc.wantErr)
				}
			}
			if o.Socket != "virtual:FAILOVER "+psock+" "+backup.socket() {
				t.Errorf("outcome socket %q", o.Socket)
			}
		})
	}
}

// TestTCPFailoverBothSilent: each member gets its own full timeout.
func TestTCPFailoverBothSilent(t *testing.T) {
	e := newTCPEnv(t, stream.Config{ReliableMode: true, Timeout: 100 * time.Millisecond}, Config{})
	a, b := newReceiver(t, replySilent), newReceiver(t, replySilent)
	e.subscribe(t, "virtual:FAILOVER "+a.socket()+" "+b.socket())
	start := time.Now()
	_, o := e.raise(t)
	took := time.Since(start)
	// Whether a and b read the event before their timeouts depends on the
	// machine's load: not checked.
	var ve *Error
	if !errors.As(o.Err, &ve) || len(ve.Failed) != 2 || !errors.Is(ve.Failed[0], evi.ErrTimeout) || !errors.Is(ve.Failed[1], evi.ErrTimeout) {
		t.Fatalf("outcome %v, want two timeouts", o.Err)
	}
	if took < 200*time.Millisecond {
		t.Errorf("two 100ms timeouts took %v: the backup did not get a full timeout", took)
	}
}

// TestTCPFailoverRecovery: after failover_timeout the primary is tried
// first again; a primary that came back takes the events back.
func TestTCPFailoverRecovery(t *testing.T) {
	t.Run("error reply then OK", func(t *testing.T) {
		e := newTCPEnv(t, stream.Config{ReliableMode: true}, Config{FailoverTimeout: 10 * time.Second})
		prim, backup := newReceiver(t, replyError), newReceiver(t, replyOK)
		e.subscribe(t, "virtual:FAILOVER "+prim.socket()+" "+backup.socket())

		seq := e.deliver(t)
		wantEvent(t, prim, seq)
		wantEvent(t, backup, seq)
		prim.setMode(replyOK)

		e.clock.advance(10*time.Second - time.Nanosecond)
		seq = e.deliver(t)
		wantEvent(t, backup, seq)
		wantNothing(t, prim) // still skipped

		e.clock.advance(time.Nanosecond)
		for range 3 {
			seq = e.deliver(t)
			wantEvent(t, prim, seq)
		}
		wantNothing(t, backup)
	})
	t.Run("down then listening", func(t *testing.T) {
		e := newTCPEnv(t, stream.Config{}, Config{FailoverTimeout: 10 * time.Second})
		psock := deadSocket(t)
		backup := newReceiver(t, replyOK)
		e.subscribe(t, "virtual:FAILOVER "+psock+" "+backup.socket())
		wantEvent(t, backup, e.deliver(t))

		// The primary comes back on its port.
		ln, err := net.Listen("tcp", psock[len("tcp:"):])
		if err != nil {
			t.Skipf("cannot listen again on %s: %v", psock, err)
		}
		prim := &receiver{ln: ln, got: make(chan int, 4096), conns: map[net.Conn]struct{}{}, stop: make(chan struct{})}
		prim.wg.Go(prim.accept)
		t.Cleanup(prim.close)

		// Each round lets failover_timeout pass; the tcp transport may still
		// be backing off from the refused connects for a few rounds.
		deadline := time.Now().Add(waitFor)
		for {
			e.clock.advance(10 * time.Second)
			seq := e.deliver(t)
			select {
			case got := <-prim.got:
				if got != seq {
					t.Fatalf("primary received %d, want %d", got, seq)
				}
				wantEvent(t, prim, e.deliver(t)) // and keeps them
				return
			case got := <-backup.got:
				if got != seq {
					t.Fatalf("backup received %d, want %d", got, seq)
				}
			case <-time.After(waitFor):
				t.Fatalf("event %d reached no receiver", seq)
			}
			if time.Now().After(deadline) {
				t.Fatal("the primary never took the events back")
			}
		}
	})
}

func TestTCPRoundRobin(t *testing.T) {
	e := newTCPEnv(t, stream.Config{ReliableMode: true}, Config{})
	rs := []*receiver{newReceiver(t, replyOK), newReceiver(t, replyOK), newReceiver(t, replyOK)}
	e.subscribe(t, "virtual:ROUND-ROBIN "+rs[0].socket()+"\t"+rs[1].socket()+"  "+rs[2].socket())

	// Sequential: event i goes to member i mod 3.
	for i := range 9 {
		wantEvent(t, rs[i%3], e.deliver(t))
	}

	// Concurrent: the rotation stays exact.
	const workers, per = 4, 150 // 600 events, 200 per member
	ev := e.reg.Lookup("E_X")
	var failed atomic.Int64
	var outcomes sync.WaitGroup
	var raisers sync.WaitGroup
	for w := range workers {
		raisers.Go(func() {
			for i := range per {
				outcomes.Add(1)
				_, err := e.reg.RaiseEvent(ev, value.Unnamed(value.Int(int64(1000+w*per+i))), func(o evi.Outcome) {
					if o.Err != nil {
						failed.Add(1)
					}
					outcomes.Done()
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	raisers.Wait()
	waitGroup(t, &outcomes)
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d events failed", n)
	}
	var all []int
	for k, r := range rs {
		got := r.drain()
		if len(got) != workers*per/3 {
			t.Errorf("member %d received %d events, want %d", k, len(got), workers*per/3)
		}
		all = append(all, got...)
	}
	slices.Sort(all)
	for i, n := range all {
		if n != 1000+i {
			t.Fatalf("events received %v..., want each of 1000..%d once", all[:min(len(all), 10)], 1000+workers*per-1)
		}
	}
}

// waitGroup waits for wg, bounded.
func waitGroup(t *testing.T, wg *sync.WaitGroup) {
	t.Helper()
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(waitFor):
		t.Fatal("outcomes missing")
	}
}

func TestTCPParallelDeadMember(t *testing.T) {
	for _, reliable := range []bool{false, true} {
		t.Run("reliable="+strconv.FormatBool(reliable), func(t *testing.T) {
			e := newTCPEnv(t, stream.Config{ReliableMode: reliable}, Config{})
			a, c := newReceiver(t, replyOK), newReceiver(t, replyOK)
			dead := deadSocket(t)
			e.subscribe(t, "virtual:PARALLEL "+a.socket()+" "+dead+" "+c.socket())
			for range 5 {
				seq, o := e.raise(t)
				var ve *Error
				if !errors.As(o.Err, &ve) || ve.Policy != Parallel || ve.Members != 3 ||
					len(ve.Failed) != 1 || ve.Failed[0].Member != dead {
					t.Fatalf("event %d: outcome %v, want the dead member's failure only", seq, o.Err)
				}
				wantEvent(t, a, seq)
				wantEvent(t, c, seq)
			}
		})
	}
}

func TestTCPParallelAllDeliver(t *testing.T) {
	e := newTCPEnv(t, stream.Config{ReliableMode: true}, Config{})
	a, b := newReceiver(t, replyOK), newReceiver(t, replyOK)
	e.subscribe(t, "virtual:PARALLEL "+a.socket()+" "+b.socket())
	for range 3 {
		seq := e.deliver(t)
		wantEvent(t, a, seq)
		wantEvent(t, b, seq)
	}
}

// TestTCPEndToEnd goes through the Registry exactly as the MI and the
// config do.
func TestTCPEndToEnd(t *testing.T) {
	e := newTCPEnv(t, stream.Config{}, Config{})
	p1 := deadSocket(t)
	r2 := newReceiver(t, replyOK)
	socket := "virtual:FAILOVER " + p1 + " " + r2.socket()
	if err := e.reg.Subscribe("E_X", socket, 0); err != nil {
		t.Fatal(err)
	}
	// Subscribing again refreshes: still one subscriber.
	if err := e.reg.Subscribe("E_X", "virtual:FAILOVER  "+p1+"\t"+r2.socket(), time.Hour); err != nil {
		t.Fatal(err)
	}
	subs, err := e.reg.Subscribers("E_X")
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 1 || subs[0].Socket != socket || subs[0].Expire != time.Hour {
		t.Fatalf("subscribers %+v, want one %q expiring in 1h", subs, socket)
	}
	out := make(chan evi.Outcome, 1)
	n, err := e.reg.Raise("E_X", value.Unnamed(value.Int(42)), func(o evi.Outcome) { out <- o })
	if n != 1 || err != nil {
		t.Fatalf("Raise = %d, %v", n, err)
	}
	select {
	case o := <-out:
		if o.Err != nil || o.Socket != socket || o.Event.Name() != "E_X" {
			t.Fatalf("outcome %+v", o)
		}
	case <-time.After(waitFor):
		t.Fatal("no outcome")
	}
	wantEvent(t, r2, 42)
	if err := e.reg.Unsubscribe("E_X", socket); err != nil {
		t.Fatal(err)
	}
}

func TestTCPParseErrors(t *testing.T) {
	e := newTCPEnv(t, stream.Config{}, Config{})
	memberErr := func(s string) string {
		_, err := e.tcp.Parse(s)
		if err == nil {
			t.Fatalf("tcp Parse(%q) succeeded", s)
		}
		return err.Error()
	}
	tests := []struct{ in, want string }{
		{"virtual:failover tcp:127.0.0.1:9001 tcp:127.0.0.1:9002",
			`socket "virtual:failover tcp:127.0.0.1:9001 tcp:127.0.0.1:9002": unknown policy "failover" (policy is case-sensitive: did you mean "FAILOVER"?)`},
		{"virtual:FAILOVER",
			`socket "virtual:FAILOVER": no members (want e.g. virtual:FAILOVER tcp:host:port ...)`},
		{"virtual:PARALLEL tcp:127.0.0.1:9001 virtual:FAILOVER",
			`socket "virtual:PARALLEL tcp:127.0.0.1:9001 virtual:FAILOVER": member 2 "virtual:FAILOVER": a virtual socket cannot be a member of another`},
		{"virtual:FAILOVER tcp:127.0.0.1:9001 tcp:127.0.0.1:0",
			`socket "virtual:FAILOVER tcp:127.0.0.1:9001 tcp:127.0.0.1:0": member 2: ` + memberErr("tcp:127.0.0.1:0")},
		{"virtual:ROUND-ROBIN tcp:127.0.0.1",
			`socket "virtual:ROUND-ROBIN tcp:127.0.0.1": member 1: ` + memberErr("tcp:127.0.0.1")},
		{"virtual:ROUND-ROBIN tcp:127.0.0.1:70000",
			`socket "virtual:ROUND-ROBIN tcp:127.0.0.1:70000": member 1: ` + memberErr("tcp:127.0.0.1:70000")},
		{"virtual:PARALLEL udp:127.0.0.1:9001",
			`socket "virtual:PARALLEL udp:127.0.0.1:9001": member 1: socket "udp:127.0.0.1:9001": unknown transport "udp" (want tcp:, virtual:)`},
	}
	for _, tc := range tests {
		err := e.reg.Subscribe("E_X", tc.in, 0)
		if err == nil {
			t.Errorf("Subscribe(%q) succeeded", tc.in)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("Subscribe(%q) error\n got %s\nwant %s", tc.in, err, tc.want)
		}
		if !errors.Is(err, evi.ErrBadSocket) {
			t.Errorf("Subscribe(%q) error does not wrap evi.ErrBadSocket", tc.in)
		}
	}
	if subs, _ := e.reg.Subscribers("E_X"); len(subs) != 0 {
		t.Errorf("bad sockets left subscribers: %+v", subs)
	}
}

// TestMembersBound: a virtual socket of more than MaxMembers members is
// refused (one raise would become that many sends).
func TestMembersBound(t *testing.T) {
	tr := newTCPEnv(t, stream.Config{}, Config{}).vt
	socket := func(n int) string {
		return "virtual:PARALLEL" + strings.Repeat(" tcp:127.0.0.1:9", n)
	}
	d, err := tr.Parse(socket(MaxMembers))
	if err != nil {
		t.Fatalf("at the bound: %v", err)
	}
	d.Close()
	if _, err := tr.Parse(socket(MaxMembers + 1)); err == nil || !strings.Contains(err.Error(), "more than 64") {
		t.Fatalf("beyond the bound: %v", err)
	}
}

// TestSeqIDsParallelSharedConnection: with at-least-once members (SeqIDs:
// a request's id is the event's spool sequence), a PARALLEL socket whose
// members share a connection is refused, naming them: each event would go
// twice on it with one id. Members on different addresses, FAILOVER and
// ROUND-ROBIN (one member at a time), and at-most-once members are fine.
func TestSeqIDsParallelSharedConnection(t *testing.T) {
	a, b := "tcp:127.0.0.1:9001", "tcp:127.0.0.1:9002"
	for _, c := range []struct {
		seqIDs bool
		socket string
		bad    string // the error's text; "": parses
	}{
		{true, "virtual:PARALLEL " + a + "/x " + a + "/y", "members 1 and 2 share the connection " + a},
		{true, "virtual:PARALLEL " + b + " " + a + "/x " + a, "members 2 and 3 share the connection " + a},
		{true, "virtual:PARALLEL " + a + " " + b, ""},
		{true, "virtual:FAILOVER " + a + "/x " + a + "/y", ""},
		{true, "virtual:ROUND-ROBIN " + a + "/x " + a + "/y", ""},
		{false, "virtual:PARALLEL " + a + "/x " + a + "/y", ""},
	} {
		t.Run(fmt.Sprintf("%v %s", c.seqIDs, c.socket), func(t *testing.T) {
			e := newTCPEnv(t, stream.Config{SeqIDs: c.seqIDs}, Config{SeqIDs: c.seqIDs})
			d, err := e.vt.Parse(c.socket)
			if c.bad == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				d.Close()
				return
			}
			var se *evi.SocketError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), c.bad) || !strings.Contains(err.Error(), "at-most-once") {
				t.Fatalf("Parse = %v, want a socket error saying %q", err, c.bad)
			}
			if n := len(e.tcp.Stats().Addresses); n != 0 {
				t.Errorf("%d addresses left open by the refused socket", n)
			}
		})
	}
}
