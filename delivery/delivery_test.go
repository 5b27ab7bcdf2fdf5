package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evstream/evstream/delivery"
	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/rpcsink"
	"github.com/evstream/evstream/spool"
	"github.com/evstream/evstream/transport/transporttest"
	"github.com/evstream/evstream/value"
)

// TestDeliverInOrder: every event arrives once, in raise order, as a
// request whose id is unique; the spool is empty once they are confirmed.
func TestDeliverInOrder(t *testing.T) {
	r := newRig(t, "", delivery.Config{})
	s := rpcsink.New(t, "")
	r.subscribe("E_A", s.Socket("a"))
	const n = 1000
	// The queue's first look at the store may find the first event there
	// already: it reads it back. From then on it is running.
	r.raise("E_A", 0)
	eventually(t, "the first event confirmed", func() bool { p, _ := pendingOf(t, r, "E_A", s.Socket("a")); return p == 0 })
	for i := 1; i < n; i++ {
		r.raise("E_A", i)
	}
	eventually(t, "every event confirmed", func() bool { p, _ := pendingOf(t, r, "E_A", s.Socket("a")); return p == 0 })
	if dups := checkFirstArrivals(t, s.Got(), n); dups != 0 {
		t.Fatalf("%d duplicates without any failure", dups)
	}
	st := r.eng.Stats()
	if st.Spooled != n || st.Confirmed != n || st.Retried != 0 || st.Store.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
	// Sent as they were written: none read back from the store (but the
	// first, perhaps).
	if st.ReadBack > 1 {
		t.Fatalf("%d events read back from the spool for a subscriber that kept up", st.ReadBack)
	}
}

// raiseAsync raises events from..to-1 of event without waiting, from one
// goroutine (so they are spooled in that order), and returns a function
// that waits for their acknowledgements.
func (r *rig) raiseAsync(event string, from, to int) (wait func()) {
	r.t.Helper()
	var wg sync.WaitGroup
	wg.Add(to - from)
	for i := from; i < to; i++ {
		r.reg.RaiseAsync(context.Background(), time.Minute, event, params(i), nil, func(n int, err error) {
			defer wg.Done()
			if err != nil || n != 1 {
				r.t.Errorf("raise %d: %d accepted, %v", i, n, err)
			}
		})
	}
	return wg.Wait
}

// TestReadBack: events beyond the hand-over's bounds (6000 raised while
// the subscriber is down), events raised while the backlog is read back,
// and retries mixed in: every event arrives, first arrivals in raise
// order, and the backlog was read back from the store.
func TestReadBack(t *testing.T) {
	r := newRig(t, "", delivery.Config{Window: 32})
	s := rpcsink.New(t, "")
	s.Down()
	sock := s.Socket("a")
	r.subscribe("E_A", sock)
	const n = 12000
	r.raiseAsync("E_A", 0, n/2)()
	s.SetFail(func(a rpcsink.Arrival, nth int) bool { return nth%997 == 13 })
	s.Up()
	r.raiseAsync("E_A", n/2, n)()
	eventually(t, "every event confirmed", func() bool { p, _ := pendingOf(t, r, "E_A", sock); return p == 0 })
	checkFirstArrivals(t, s.Got(), n)
	if st := r.eng.Stats(); st.ReadBack < n/2-4096 || st.Confirmed != n {
		t.Fatalf("stats %+v: want the backlog read back, every event confirmed", st)
	}
	eventually(t, "nothing held in the hand-over", func() bool { return r.eng.Stats().HandOverBytes == 0 })
}

// TestHandOverWhileCommitsWait: with the store's commits held back,
// events handed over are sent before they are durable; those beyond the
// hand-over's bounds (20 KB events: about 200 fit) wait until they are
// durable and are read back, and events handed over after them wait for
// them: first arrivals stay in raise order and none is skipped.
func TestHandOverWhileCommitsWait(t *testing.T) {
	g := &gate{}
	r := newRigStore(t, "", delivery.Config{Window: 16}, spool.Options{BeforeCommit: g.wait})
	s := rpcsink.New(t, "")
	sock := s.Socket("a")
	r.subscribe("E_A", sock)
	pad := strings.Repeat("x", 20000)
	raise := func(from, to int) {
		for i := from; i < to; i++ {
			p := value.Named(value.P("n", value.Int(int64(i))), value.P("pad", value.String(pad)))
			r.reg.RaiseAsync(context.Background(), time.Minute, "E_A", p, nil, func(n int, err error) {
				if err != nil || n != 1 {
					t.Errorf("raise %d: %d accepted, %v", i, n, err)
				}
			})
		}
	}
	g.hold()
	raise(0, 400)
	eventually(t, "events sent before they are durable", func() bool { return len(s.Got()) >= 100 })
	raise(400, 600)                    // handed over again, behind those not handed over
	time.Sleep(100 * time.Millisecond) // (lets a queue that would skip them do so)
	if p, _ := pendingOf(t, r, "E_A", sock); p != 0 {
		t.Fatalf("%d pending while no commit was made", p)
	}
	g.release()
	eventually(t, "every event confirmed", func() bool { p, _ := pendingOf(t, r, "E_A", sock); return p == 0 && r.eng.Stats().Confirmed == 600 })
	checkFirstArrivals(t, s.Got(), 600)
	if st := r.eng.Stats(); st.ReadBack == 0 {
		t.Fatalf("stats %+v: nothing read back", st)
	}
}

// TestRetryWhileCommitsWait: an event sent before it was durable that
// fails is sent again once it is durable, read back (it is no longer
// handed over).
func TestRetryWhileCommitsWait(t *testing.T) {
	g := &gate{}
	r := newRigStore(t, "", delivery.Config{Window: 16}, spool.Options{BeforeCommit: g.wait})
	s := rpcsink.New(t, "")
	var failed atomic.Bool
	s.SetFail(func(a rpcsink.Arrival, _ int) bool { return a.N == 50 && failed.CompareAndSwap(false, true) })
	sock := s.Socket("a")
	r.subscribe("E_A", sock)
	g.hold()
	wait := r.raiseAsync("E_A", 0, 200)
	eventually(t, "event 50 sent before it is durable, and failed", failed.Load)
	time.Sleep(50 * time.Millisecond) // the retry round (5 ms away) starts
	g.release()
	wait()
	eventually(t, "every event confirmed", func() bool { p, _ := pendingOf(t, r, "E_A", sock); return p == 0 && r.eng.Stats().Confirmed == 200 })
	if dups := checkFirstArrivals(t, s.Got(), 200); dups == 0 {
		t.Fatal("event 50 failed and was not sent again")
	}
}

// TestReplayWhileRaising: dead letters replayed while events are raised
// and sent as they are written are delivered too: the replay's events
// are read back, not skipped.
func TestReplayWhileRaising(t *testing.T) {
	r := newRig(t, "", delivery.Config{MaxAttempts: 2})
	s := rpcsink.New(t, "")
	s.SetFail(func(a rpcsink.Arrival, _ int) bool { return a.N%100 == 7 })
	sock := s.Socket("a")
	r.subscribe("E_A", sock)
	r.raiseAsync("E_A", 0, 1000)()
	eventually(t, "the failing events dead", func() bool { p, d := pendingOf(t, r, "E_A", sock); return p == 0 && d == 10 })
	s.SetFail(nil)
	for round := range 5 {
		wait := r.raiseAsync("E_A", 1000+round*1000, 2000+round*1000)
		if _, err := r.eng.Replay("E_A", sock); err != nil {
			t.Fatal(err)
		}
		wait()
	}
	eventually(t, "everything delivered, the dead letters too", func() bool { p, d := pendingOf(t, r, "E_A", sock); return p == 0 && d == 0 })
	// (A replayed event has a new id: rpcsink.Check would refuse it.)
	seen := map[int]bool{}
	for _, a := range s.Got() {
		seen[a.N] = true
	}
	if len(seen) != 6000 {
		t.Fatalf("%d events arrived, want 6000", len(seen))
	}
}

// TestFailuresThenRecovery: a subscriber that answers errors, then times
// out, then is down for a while, gets every event in the end: first
// arrivals in raise order, a retried event with the same id.
func TestFailuresThenRecovery(t *testing.T) {
	r := newRig(t, "", delivery.Config{Window: 64})
	s := rpcsink.New(t, "")
	s.SetFail(func(a rpcsink.Arrival, nth int) bool { return nth%7 == 3 || nth < 20 })
	r.subscribe("E_A", s.Socket("a"))
	const n = 1000
	for i := range n / 2 {
		r.raise("E_A", i)
	}
	eventually(t, "half delivered", func() bool { p, _ := pendingOf(t, r, "E_A", s.Socket("a")); return p == 0 })
	// Down: nothing listens on the port for a while; events keep coming.
	s.Down()
	for i := n / 2; i < n; i++ {
		r.raise("E_A", i)
	}
	time.Sleep(50 * time.Millisecond)
	s.Up()
	eventually(t, "all delivered after the restart of the subscriber", func() bool {
		p, _ := pendingOf(t, r, "E_A", s.Socket("a"))
		return p == 0
	})
	dups := checkFirstArrivals(t, s.Got(), n)
	if dups == 0 {
		t.Fatal("no duplicates although attempts failed")
	}
	if st := r.eng.Stats(); st.Retried == 0 || st.DeadLettered != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestDeadLetterAndReplay: an event that fails MaxAttempts times becomes a
// dead letter (counted, listed with its attempts and error); the next
// events go on; a replay delivers it.
func TestDeadLetterAndReplay(t *testing.T) {
	r := newRig(t, "", delivery.Config{MaxAttempts: 3})
	s := rpcsink.New(t, "")
	s.SetFail(func(a rpcsink.Arrival, _ int) bool { return a.N == 1 })
	sock := s.Socket("a")
	r.subscribe("E_A", sock)
	for i := range 4 {
		r.raise("E_A", i)
	}
	eventually(t, "event 1 dead, the others delivered", func() bool {
		p, d := pendingOf(t, r, "E_A", sock)
		return p == 0 && d == 1
	})
	dead, err := r.eng.DeadLetters("E_A", "", 10)
	if err != nil || len(dead) != 1 || dead[0].Attempts != 3 || dead[0].Socket != sock || string(dead[0].Params) != `{"n":1}` {
		t.Fatalf("dead letters %+v, %v", dead, err)
	}
	if st := r.eng.Stats(); st.DeadLettered != 1 || st.Retried != 2 {
		t.Fatalf("stats %+v", st)
	}
	s.SetFail(nil)
	if n, err := r.eng.Replay("E_A", sock); err != nil || n != 1 {
		t.Fatalf("Replay = %d, %v", n, err)
	}
	eventually(t, "the replayed event delivered", func() bool {
		p, d := pendingOf(t, r, "E_A", sock)
		return p == 0 && d == 0
	})
	got := s.Got()
	if last := got[len(got)-1]; last.N != 1 {
		t.Fatalf("last arrival %+v, want the replayed event 1", last)
	}
}

// TestUnsubscribeKeepsDeadLetters: unsubscribing a subscriber that is
// down makes what it holds dead letters, which can be purged.
func TestUnsubscribeKeepsDeadLetters(t *testing.T) {
	r := newRig(t, "", delivery.Config{})
	s := rpcsink.New(t, "")
	s.Down() // down
	sock := s.Socket("a")
	r.subscribe("E_A", sock)
	for i := range 5 {
		r.raise("E_A", i)
	}
	if err := r.reg.Unsubscribe("E_A", sock); err != nil {
		t.Fatal(err)
	}
	if b := r.eng.Stats().HandOverBytes; b != 0 {
		t.Fatalf("the queue ended holding %d bytes handed over", b)
	}
	dead, err := r.eng.DeadLetters("E_A", sock, 100)
	if err != nil || len(dead) != 5 || !strings.HasPrefix(dead[0].Error, "subscription ended") {
		t.Fatalf("dead letters %+v, %v", dead, err)
	}
	if n, err := r.eng.Purge("E_A", ""); err != nil || n != 5 {
		t.Fatalf("Purge = %d, %v", n, err)
	}
	if st := r.eng.Stats(); st.Store.Pending != 0 || st.Store.Dead != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestRestartDeliversWhatWasPending: what a subscriber that was down did
// not confirm is delivered by the next life of the process, from the
// same file.
func TestRestartDeliversWhatWasPending(t *testing.T) {
	r := newRig(t, "", delivery.Config{})
	s := rpcsink.New(t, "")
	s.Down()
	sock := s.Socket("a")
	r.subscribe("E_A", sock)
	for i := range 100 {
		r.raise("E_A", i)
	}
	r.close()

	r2 := newRig(t, r.path, delivery.Config{})
	s.Up()
	r2.subscribe("E_A", sock) // config subscriptions are made again at start
	eventually(t, "the backlog delivered", func() bool { p, _ := pendingOf(t, r2, "E_A", sock); return p == 0 })
	checkFirstArrivals(t, s.Got(), 100)
}

// TestSpoolFull: a full spool refuses at-least-once events with
// ErrSpoolFull; at-most-once subscribers of the event still get them, and
// nothing accepted before is lost.
func TestSpoolFull(t *testing.T) {
	path := t.TempDir() + "/spool.db"
	r := newRig(t, path, delivery.Config{})
	r.eng.Close()
	// A rig whose store is small.
	small, err := delivery.New(delivery.Config{
		Open:  func() (spool.Store, error) { return spool.Open(path, spool.Options{MaxBytes: 2000}) },
		Parse: r.hidden.ParseSocket,
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := evi.NewRegistry(evi.Config{AutoPublish: true, Spooler: small})
	defer func() { reg.Close(); small.Close() }()
	reg.Register(mustStream(t))
	down := rpcsink.New(t, "")
	down.Down()
	if err := reg.SubscribeWith("E_A", down.Socket("a"), evi.SubscribeOptions{Delivery: evi.AtLeastOnce}); err != nil {
		t.Fatal(err)
	}
	live := rpcsink.New(t, "")
	if err := reg.Subscribe("E_A", live.Socket("b"), 0); err != nil {
		t.Fatal(err)
	}
	accepted := 0
	var full error
	for i := 0; full == nil; i++ {
		n, err := reg.Raise("E_A", params(i), nil)
		if err != nil {
			full = err
			if n != 1 {
				t.Fatalf("spool full: %d accepted, want the at-most-once subscriber's 1", n)
			}
			break
		}
		accepted++
	}
	if !errors.Is(full, evi.ErrSpoolFull) {
		t.Fatalf("the refusal %v is not ErrSpoolFull", full)
	}
	info, _ := reg.Subscriber("E_A", down.Socket("a"))
	if info.Pending != int64(accepted) {
		t.Fatalf("%d pending, %d accepted", info.Pending, accepted)
	}
	eventually(t, "the at-most-once subscriber got every event", func() bool { return len(live.Got()) == accepted+1 })
}

// TestVirtualGroup: an at-least-once virtual:FAILOVER group confirms an
// event when a member confirms it: with the first member down, every
// event reaches the second, in order, and nothing stays pending.
func TestVirtualGroup(t *testing.T) {
	r := newRig(t, "", delivery.Config{})
	down, up := rpcsink.New(t, ""), rpcsink.New(t, "")
	down.Down()
	sock := "virtual:FAILOVER " + down.Socket("v") + " " + up.Socket("v")
	r.subscribe("E_V", sock)
	const n = 200
	for i := range n {
		r.raise("E_V", i)
	}
	eventually(t, "every event confirmed through the group", func() bool { p, _ := pendingOf(t, r, "E_V", sock); return p == 0 })
	checkFirstArrivals(t, up.Got(), n)
}

// TestStopTogether: at shutdown the queues of subscribers that never
// answer wait for their requests in flight together (Engine.Stop), not
// one grace period after another.
func TestStopTogether(t *testing.T) {
	r := newRig(t, "", delivery.Config{})
	const subs = 5
	for i := range subs {
		addr, _ := transporttest.TCPPeer(t, transporttest.Silent)
		r.subscribe("E_S", fmt.Sprintf("tcp:%s/s%d", addr, i))
	}
	r.raise("E_S", 1)
	start := time.Now()
	r.eng.Stop()
	r.close()
	// Together: one grace period (2 s); one by one: five (10 s).
	if took := time.Since(start); took > 8*time.Second {
		t.Fatalf("closing %d silent subscribers took %v", subs, took)
	}
}
