package stream

// Timing tests in a testing/synctest bubble, over in-memory connections
// (internal/memnet, through the Dialer seam): the clock moves only when
// every goroutine is blocked, so timeouts, backoffs and deadlines are
// checked exactly, whatever the machine's load.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/evi/evitest"
	"github.com/evstream/evstream/internal/memnet"
	"github.com/evstream/evstream/jsonrpc"
)

// memEnv is a transport on an in-memory network, made inside a bubble.
type memEnv struct {
	t   *testing.T
	net *memnet.Network
	tr  *Transport
}

func newMemEnv(t *testing.T, cfg Config) *memEnv {
	e := &memEnv{t: t, net: &memnet.Network{}}
	cfg.Dialer = e.net
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.tr = tr
	return e
}

// serve accepts connections on addr and runs handle for each, until the
// returned stop is called (it closes the listener and the connections and
// waits for the handlers).
func (e *memEnv) serve(addr string, handle func(c net.Conn)) (stop func()) {
	ln, err := e.net.Listen(addr)
	if err != nil {
		e.t.Fatal(err)
	}
	conns := make(chan net.Conn, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return func() {
		ln.Close()
		<-done
		close(conns)
		for c := range conns {
			c.Close()
		}
	}
}

// silent reads everything and never answers.
func silent(c net.Conn) {
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

func reasonOf(err error) evi.Reason {
	var de *evi.DeliveryError
	if errors.As(err, &de) {
		return de.Reason
	}
	return 0
}

func writtenOf(err error) bool {
	var de *evi.DeliveryError
	return errors.As(err, &de) && de.Written
}

// TestSyncTimeoutPerAttempt: the deadline counts from each Send, not from
// the raise: an event raised long ago and handed over now has a whole
// timeout; events handed over at different times expire exactly one
// timeout after each, across destinations, written but unanswered.
func TestSyncTimeoutPerAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = time.Second
		e := newMemEnv(t, Config{ReliableMode: true, Timeout: timeout})
		stop := e.serve("10.0.0.1:9", silent)
		defer stop()
		defer e.tr.Close()
		a, b := parse(t, e.tr, "tcp:10.0.0.1:9/a"), parse(t, e.tr, "tcp:10.0.0.1:9/b")
		ev := event(t, "E_SYNC")
		old := evi.NewMessage(ev, seqMsg(ev, 0).Params, time.Now().Add(-time.Hour)) // raised an hour ago
		o := evitest.NewRecorder(8)
		start := time.Now()
		sends := []struct {
			d     evi.Destination
			m     *evi.Message
			after time.Duration
		}{{a, old, 0}, {b, seqMsg(ev, 1), 100 * time.Millisecond}, {a, seqMsg(ev, 2), 300 * time.Millisecond}, {b, seqMsg(ev, 3), 350 * time.Millisecond}}
		for i, s := range sends {
			time.Sleep(s.after - time.Since(start))
			if err := s.d.Send(s.m, o.Tag(i)); err != nil {
				t.Fatal(err)
			}
		}
		for i := range sends {
			r := o.Next()
			if r.Tag != i {
				t.Errorf("outcome %d is event %d's, want them in hand-over order", i, r.Tag)
			}
			if got := r.At.Sub(start); got != sends[r.Tag].after+timeout {
				t.Errorf("event %d failed at %v, want %v: one timeout after its Send", r.Tag, got, sends[r.Tag].after+timeout)
			}
			if reasonOf(r.Err) != evi.ReasonTimeout || !writtenOf(r.Err) || !errors.Is(r.Err, evi.ErrTimeout) {
				t.Errorf("event %d: %v, want a timeout, written", r.Tag, r.Err)
			}
		}
	})
}

// TestSyncBackoff: a refused connect fails what is queued (ReasonConnect,
// not written); events sent before the next attempt fail at once without a
// connect; attempts are spaced by a doubling, capped, jittered backoff.
func TestSyncBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const bmin, bmax = 100 * time.Millisecond, 400 * time.Millisecond
		e := newMemEnv(t, Config{BackoffMin: bmin, BackoffMax: bmax})
		defer e.tr.Close()
		d := parse(t, e.tr, "tcp:10.0.0.2:9") // nothing listens: refused
		ev := event(t, "E_SYNC")
		o := evitest.NewRecorder(1)
		var attempts []time.Time
		start := time.Now()
		for len(attempts) < 5 {
			before := e.tr.Stats().ConnectFailures
			if err := d.Send(seqMsg(ev, 0), o.Tag(0)); err != nil {
				t.Fatal(err)
			}
			r := o.Next()
			if reasonOf(r.Err) != evi.ReasonConnect || writtenOf(r.Err) || !strings.Contains(r.Err.Error(), "refused") {
				t.Fatalf("outcome %v, want a refused connect, not written", r.Err)
			}
			if e.tr.Stats().ConnectFailures > before {
				attempts = append(attempts, time.Now())
			} else if !strings.Contains(r.Err.Error(), "next attempt in") {
				t.Fatalf("failed without an attempt: %v, want the backoff's error", r.Err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		want := []time.Duration{bmin, 2 * bmin, 4 * bmin, bmax}
		for i := 1; i < len(attempts); i++ {
			gap, w := attempts[i].Sub(attempts[i-1]), want[i-1]
			// ±20 % of jitter, and the 10 ms steps of the loop.
			if gap < w*8/10 || gap > w*12/10+10*time.Millisecond {
				t.Errorf("attempt %d came %v after the previous one, want %v ±20%%", i, gap, w)
			}
		}
		if st := e.tr.Stats().Addresses[0]; st.State != StateBackoff || st.NextAttempt <= 0 || !strings.Contains(st.LastError, "refused") {
			t.Errorf("address %+v, want backing off with the next attempt due", st)
		}
		// The live view's listing says the same.
		if cs := e.tr.Connections(); len(cs) != 1 || cs[0].Address != "tcp:10.0.0.2:9" || cs[0].State != StateBackoff ||
			cs[0].NextAttempt <= 0 || !strings.Contains(cs[0].LastError, "refused") || cs[0].Failed == 0 || cs[0].Subscriptions != 1 {
			t.Errorf("Connections() = %+v, want the address backing off", cs)
		}
		_ = start
	})
}

// TestSyncConnectHangs: while a connect hangs, queued events fail at their
// deadline, not written; Close does not wait for the connect.
func TestSyncConnectHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newMemEnv(t, Config{ReliableMode: true, Timeout: time.Second, ConnectTimeout: time.Hour})
		ln, err := e.net.Listen("10.0.0.3:9") // never accepts
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		d := parse(t, e.tr, "tcp:10.0.0.3:9")
		ev := event(t, "E_SYNC")
		o := evitest.NewRecorder(3)
		start := time.Now()
		for i := range 3 {
			if err := d.Send(seqMsg(ev, i), o.Tag(i)); err != nil {
				t.Fatal(err)
			}
		}
		for range 3 {
			r := o.Next()
			if got := r.At.Sub(start); got != time.Second || reasonOf(r.Err) != evi.ReasonTimeout || writtenOf(r.Err) {
				t.Errorf("event %d: %v at %v, want a timeout at 1s, not written", r.Tag, r.Err, got)
			}
		}
		closed := time.Now()
		e.tr.Close()
		if took := time.Since(closed); took != 0 {
			t.Errorf("Close took %v of the clock: it waited for the connect", took)
		}
	})
}

// TestSyncNothingAfterClose: once Close returns, no outcome comes, however
// long one waits: the expiry timer is stopped and accounted for.
func TestSyncNothingAfterClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newMemEnv(t, Config{ReliableMode: true, Timeout: time.Minute})
		stop := e.serve("10.0.0.4:9", silent)
		defer stop()
		d := parse(t, e.tr, "tcp:10.0.0.4:9")
		o := evitest.NewRecorder(10)
		for i := range 10 {
			d.Send(seqMsg(event(t, "E_SYNC"), i), o.Tag(i))
		}
		synctest.Wait() // written, awaiting replies, the timer armed
		e.tr.Close()
		if o.Pending() != 10 {
			t.Fatalf("%d outcomes when Close returned, want all 10", o.Pending())
		}
		for range 10 {
			if r := o.Next(); reasonOf(r.Err) != evi.ReasonClosed || !writtenOf(r.Err) {
				t.Errorf("event %d: %v, want closed, written", r.Tag, r.Err)
			}
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if o.Pending() != 0 {
			t.Errorf("%d outcomes after Close", o.Pending())
		}
	})
}

// TestSyncTypedErrors: each way of failing says whether the bytes left:
// an error reply and a connection lost after the write are written, a
// write into a connection that the peer closed is not.
func TestSyncTypedErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newMemEnv(t, Config{ReliableMode: true, Timeout: time.Minute})
		defer e.tr.Close()
		ev := event(t, "E_SYNC")
		errorReply := e.serve("10.0.0.5:9", func(c net.Conn) {
			dec := jsonrpc.NewDecoder(c, 0)
			for {
				b, err := dec.Next()
				if err != nil {
					return
				}
				m, _ := jsonrpc.Parse(b)
				c.Write(jsonrpc.AppendError(nil, m.ID, &jsonrpc.Error{Code: 500, Message: "nope"}))
			}
		})
		defer errorReply()
		readThenClose := e.serve("10.0.0.6:9", func(c net.Conn) {
			dec := jsonrpc.NewDecoder(c, 0)
			dec.Next() // read one request, then hang up
		})
		defer readThenClose()
		o := evitest.NewRecorder(2)
		parse(t, e.tr, "tcp:10.0.0.5:9").Send(seqMsg(ev, 0), o.Tag(0))
		r := o.Next()
		var je *jsonrpc.Error
		if reasonOf(r.Err) != evi.ReasonErrorReply || !writtenOf(r.Err) || !errors.As(r.Err, &je) || je.Code != 500 {
			t.Errorf("error reply: %v, want ReasonErrorReply, written, the reply's error", r.Err)
		}
		parse(t, e.tr, "tcp:10.0.0.6:9").Send(seqMsg(ev, 1), o.Tag(1))
		r = o.Next()
		if reasonOf(r.Err) != evi.ReasonLost || !writtenOf(r.Err) {
			t.Errorf("peer closed after reading: %v, want ReasonLost, written", r.Err)
		}
		var de *evi.DeliveryError
		if !errors.As(r.Err, &de) || !de.Retryable() || de.Dest != "tcp:10.0.0.6:9" {
			t.Errorf("DeliveryError %+v: want the destination, retryable", de)
		}
	})
}

// TestSyncDeadDestinationsCheap: 2,000 subscribers whose addresses refuse
// connects, and one healthy subscriber, get an event every 100 ms for 10
// s. Each dead address is tried a few times (its backoff doubles), not at
// every event; the others' events fail at once, without a connect; the
// healthy subscriber gets every event when it is sent, never held up.
func TestSyncDeadDestinationsCheap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const dead, raises = 2000, 100
		e := newMemEnv(t, Config{}) // default backoff: 100 ms doubling to 5 s
		got := make(chan time.Time, raises)
		stop := e.serve("10.1.0.1:9", func(c net.Conn) {
			dec := jsonrpc.NewDecoder(c, 0)
			for {
				if _, err := dec.Next(); err != nil {
					return
				}
				got <- time.Now()
			}
		})
		defer stop()
		defer e.tr.Close()
		healthy := parse(t, e.tr, "tcp:10.1.0.1:9")
		dests := make([]evi.Destination, dead)
		for i := range dests {
			dests[i] = parse(t, e.tr, fmt.Sprintf("tcp:10.2.%d.%d:9", i/250, i%250))
		}
		ev := event(t, "E_SYNC")
		outcomes := make(chan error, dead*raises)
		onDead := evi.DoneFunc(func(_ *evi.Message, err error) { outcomes <- err })
		for i := range raises {
			sent := time.Now()
			m := seqMsg(ev, i)
			if err := healthy.Send(m, nil); err != nil {
				t.Fatal(err)
			}
			for _, d := range dests {
				if err := d.Send(m, onDead); err != nil {
					t.Fatal(err)
				}
			}
			if at := <-got; !at.Equal(sent) {
				t.Fatalf("event %d reached the healthy subscriber %v after it was sent", i, at.Sub(sent))
			}
			time.Sleep(100 * time.Millisecond)
		}
		for range dead * raises {
			if err := <-outcomes; reasonOf(err) != evi.ReasonConnect || writtenOf(err) {
				t.Fatalf("dead destination: %v, want a connect failure, not written", err)
			}
		}
		// Attempts at 0, ~0.1, 0.3, 0.7, 1.5, 3.1, 6.3 s and the 5 s cap:
		// at most 9 per address in 10 s with the jitter, not 100.
		t.Logf("connect attempts: %d", e.tr.Stats().ConnectFailures)
		if n := e.tr.Stats().ConnectFailures; n < dead || n > 9*dead {
			t.Errorf("%d connect attempts to %d dead addresses over %d events, want %d to %d", n, dead, raises, dead, 9*dead)
		}
		for _, d := range dests {
			d.Close()
		}
	})
}

// TestSyncLastCloseRetiresAtOnce: closing the last subscription of an
// address releases its connection and its writer at once, without the
// idle writer's linger: a subscriber that unsubscribes is disconnected
// now, not seconds later.
func TestSyncLastCloseRetiresAtOnce(t *testing.T) {
	for _, reliable := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			e := newMemEnv(t, Config{ReliableMode: reliable})
			stop := e.serve("127.0.0.1:9", answerAll)
			defer stop()
			defer e.tr.Close()
			d := parse(t, e.tr, "tcp:127.0.0.1:9")
			o := evitest.NewRecorder(1)
			if err := d.Send(seqMsg(event(t, "E_SYNC"), 0), o.Tag(0)); err != nil {
				t.Fatal(err)
			}
			if r := o.Next(); r.Err != nil {
				t.Fatal(r.Err)
			}
			start := time.Now()
			d.Close()
			synctest.Wait()
			if n := len(e.tr.Stats().Addresses); n != 0 {
				t.Fatalf("reliable %v: %d addresses after the last Close, want none", reliable, n)
			}
			if took := time.Since(start); took != 0 {
				t.Fatalf("reliable %v: retired after %v of the clock, want at once", reliable, took)
			}
		})
	}
}

// answerAll confirms every request it reads.
func answerAll(c net.Conn) {
	dec := jsonrpc.NewDecoder(c, 0)
	for {
		b, err := dec.Next()
		if err != nil {
			return
		}
		var r struct{ ID *int64 }
		if json.Unmarshal(b, &r) == nil && r.ID != nil {
			if _, err := c.Write(replyOK(*r.ID)); err != nil {
				return
			}
		}
	}
}

// TestSyncSeqIDsKeepBack: with SeqIDs (at-least-once), an event that
// expires before it is written keeps the later events of its socket back:
// they fail unwritten instead of being written once the connection comes,
// so that its retry cannot arrive after them. Once nothing of the socket
// is pending, the next event goes.
func TestSyncSeqIDsKeepBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = time.Second
		e := newMemEnv(t, Config{SeqIDs: true, Timeout: timeout, ConnectTimeout: 10 * time.Second})
		ln, err := e.net.Listen("10.0.0.1:9")
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan int64, 8)
		served := make(chan struct{})
		go func() {
			defer close(served)
			time.Sleep(1500 * time.Millisecond) // until then the connect hangs
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			reqs := make(chan request, 8)
			go func() { readRequests(c, reqs); close(reqs) }()
			for r := range reqs {
				got <- *r.ID
				c.Write(replyOK(*r.ID))
			}
		}()
		d := parse(t, e.tr, "tcp:10.0.0.1:9/a")
		ev := event(t, "E_KEEP")
		o := evitest.NewRecorder(8)
		send := func(seq int) {
			m := seqMsg(ev, seq)
			m.Seq = uint64(seq)
			if err := d.Send(m, o.Tag(seq)); err != nil {
				t.Fatalf("Send %d: %v", seq, err)
			}
		}
		send(1)
		time.Sleep(800 * time.Millisecond)
		send(2) // its own deadline is 1.8 s; the connection comes at 1.5 s
		for _, want := range []int{1, 2} {
			r := o.Next()
			if r.Tag != want || reasonOf(r.Err) != evi.ReasonTimeout || writtenOf(r.Err) {
				t.Fatalf("outcome %+v, want event %d failed unwritten (timeout)", r, want)
			}
			if at := r.At.Sub(time.Unix(946684800, 0)); at != timeout {
				t.Errorf("event %d failed at %v, want %v: with the first", want, at, timeout)
			}
		}
		time.Sleep(200 * time.Millisecond)
		send(3) // nothing pending any more: it goes
		if r := o.Next(); r.Tag != 3 || r.Err != nil {
			t.Fatalf("outcome %+v, want event 3 delivered", r)
		}
		if id := <-got; id != 3 {
			t.Fatalf("the receiver got request %d first, want 3: an event kept back was written", id)
		}
		e.tr.Close()
		ln.Close()
		<-served
	})
}
