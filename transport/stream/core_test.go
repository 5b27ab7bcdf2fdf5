package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/evi/evitest"
	"github.com/evstream/evstream/internal/testnet"
	"github.com/evstream/evstream/value"
)

// TestFairness: a destination with a backlog (a replay, say) does not
// hold the live events of another destination on the same connection
// behind it: they leave within the first batch; each destination's own
// events keep their order.
func TestFairness(t *testing.T) {
	rec := newRecorder(t)
	g := newGate()
	defer g.release()
	tr := newTransport(t, Config{Dialer: g})
	backlog, live := parse(t, tr, rec.socket("/backlog")), parse(t, tr, rec.socket("/live"))
	ev := event(t, "E_FAIR")
	if err := backlog.Send(seqMsg(ev, -1), nil); err != nil {
		t.Fatal(err)
	}
	<-g.entered // the writer is held in its first write: the rest queues
	const n = 5000
	o := evitest.NewRecorder(n + 1)
	sendN(t, backlog, ev, 0, n, o)
	if err := live.Send(seqMsg(ev, 0), o.Tag(n)); err != nil {
		t.Fatal(err)
	}
	g.release()
	allOK(t, o.Wait(t, n+1, 20*time.Second))
	rec.waitN(t, n+2, 20*time.Second) // written is not yet read
	got := rec.bytes()
	pos := bytes.Index(got, []byte(`"method":"live"`))
	before := bytes.Count(got[:max(pos, 0)], []byte(`"method":"backlog"`))
	if pos < 0 || before > 2*turnItems {
		t.Fatalf("the live event came after %d of the backlog's %d events, want within the first %d", before, n+1, 2*turnItems)
	}
	// The backlog's own order is intact.
	last := -2
	for _, obj := range bytes.SplitAfter(got, []byte("}}")) {
		var i int
		if _, err := fmt.Sscanf(string(obj), `{"jsonrpc":"2.0","method":"backlog","params":{"n":%d}}`, &i); err != nil {
			continue
		}
		if i != last+1 {
			t.Fatalf("backlog event %d after %d", i, last)
		}
		last = i
	}
	if last != n-1 {
		t.Fatalf("last backlog event %d, want %d", last, n-1)
	}
}

// TestQueueBoundedInBytes: a destination's queue holds at most QueueBytes
// (one event bigger than that is accepted into an empty queue), the
// transport's queues together at most TotalBytes; a refusal says which.
func TestQueueBoundedInBytes(t *testing.T) {
	rec := newRecorder(t)
	g := newGate()
	defer g.release()
	const per, total = 1 << 20, 5 << 19 // c fills half its own bound: the total comes first
	tr := newTransport(t, Config{Dialer: g, QueueBytes: per, TotalBytes: total})
	a, b, c := parse(t, tr, rec.socket("/a")), parse(t, tr, rec.socket("/b")), parse(t, tr, rec.socket("/c"))
	ev := event(t, "E_BYTES")
	big := func() *evi.Message {
		return evi.NewMessage(ev, value.Unnamed(value.String(strings.Repeat("x", 100<<10))), time.Now())
	}
	a.Send(big(), nil)
	<-g.entered
	accepted := 0
	var err error
	for err == nil {
		if err = a.Send(big(), nil); err == nil {
			accepted++
		}
	}
	if accepted < 8 || accepted > 10 || !errors.Is(err, evi.ErrQueueFull) || !strings.Contains(err.Error(), "bytes queued for the destination") {
		t.Fatalf("accepted %d events of 100 KiB under a 1 MiB bound, then %v", accepted, err)
	}
	if st := tr.Stats(); st.QueuedBytes > per || st.Addresses[0].QueuedBytes > per {
		t.Fatalf("queued %d bytes (%d for the address), bound %d", st.QueuedBytes, st.Addresses[0].QueuedBytes, per)
	}
	// The transport's bound: b fills up to it, c gets nothing more.
	for err = nil; err == nil; {
		err = b.Send(big(), nil)
	}
	for err = nil; err == nil; {
		err = c.Send(big(), nil)
	}
	if !strings.Contains(err.Error(), "TotalBytes") {
		t.Fatalf("refusal %v, want the transport's bound", err)
	}
	if st := tr.Stats(); st.QueuedBytes > total {
		t.Fatalf("queued %d bytes, transport bound %d", st.QueuedBytes, total)
	}
}

// TestWaitRoom: a producer that waits gets in when the queue drains; a
// destination that stayed full for a whole wait is stalled: later waits
// fail at once, until it has drained.
func TestWaitRoom(t *testing.T) {
	rec := newRecorder(t)
	g := newGate()
	defer g.release()
	tr := newTransport(t, Config{Dialer: g, QueueSize: 4})
	d := parse(t, tr, rec.socket(""))
	w := d.(evi.Waiter)
	ev := event(t, "E_WAIT")
	d.Send(seqMsg(ev, 0), nil)
	<-g.entered
	for i := range 4 {
		if err := d.Send(seqMsg(ev, i+1), nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := w.WaitRoom(ctx, seqMsg(ev, 9)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitRoom on a held queue = %v, want the deadline", err)
	}
	// Stalled: the next wait fails at once, whatever its deadline.
	start := time.Now()
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Hour)
	defer cancel2()
	if err := w.WaitRoom(ctx2, seqMsg(ev, 9)); !errors.Is(err, evi.ErrQueueFull) || !strings.Contains(err.Error(), "stalled") || time.Since(start) > time.Minute {
		t.Fatalf("WaitRoom on a stalled destination = %v after %v, want a refusal at once", err, time.Since(start))
	}
	// Drained, it takes events again, and a wait returns at once.
	g.release()
	ctx3, cancel3 := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel3()
	for {
		if err := w.WaitRoom(ctx3, seqMsg(ev, 9)); err == nil {
			break
		} else if !errors.Is(err, evi.ErrQueueFull) {
			t.Fatalf("WaitRoom after the drain: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	if err := d.Send(seqMsg(ev, 9), nil); err != nil {
		t.Fatalf("Send after the drain: %v", err)
	}
}

// TestWaitRoomWakes: a waiter blocked on a full queue returns as soon as
// the writer takes events, before its deadline.
func TestWaitRoomWakes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newMemEnv(t, Config{QueueSize: 2})
		block := make(chan struct{})
		stop := e.serve("10.0.1.1:9", func(c net.Conn) { <-block; silent(c) })
		defer stop()
		defer e.tr.Close()
		d := parse(t, e.tr, "tcp:10.0.1.1:9")
		ev := event(t, "E_WAIT")
		for i := range 3 { // one in the writer's hands (a pipe write blocks), two queued
			d.Send(seqMsg(ev, i), nil)
			synctest.Wait()
		}
		if err := d.Send(seqMsg(ev, 3), nil); !errors.Is(err, evi.ErrQueueFull) {
			t.Fatalf("Send on the full queue: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		start := time.Now()
		res := make(chan error, 1)
		go func() { res <- d.(evi.Waiter).WaitRoom(ctx, seqMsg(ev, 3)) }()
		time.Sleep(time.Second)
		close(block) // the peer reads: the writer takes the queue
		if err := <-res; err != nil || time.Since(start) != time.Second {
			t.Fatalf("WaitRoom = %v after %v, want nil as soon as the peer read (1s)", err, time.Since(start))
		}
	})
}

// TestOutcomesDoNotStallIO: a Done that blocks holds the outcomes, not the
// connection: the events keep being written meanwhile.
func TestOutcomesDoNotStallIO(t *testing.T) {
	rec := newRecorder(t)
	tr := newTransport(t, Config{})
	d := parse(t, tr, rec.socket(""))
	ev := event(t, "E_SLOWDONE")
	release := make(chan struct{})
	var reported atomic.Int64
	slow := evi.DoneFunc(func(*evi.Message, error) { <-release; reported.Add(1) })
	const n = 100
	for i := range n {
		if err := d.Send(seqMsg(ev, i), slow); err != nil {
			t.Fatal(err)
		}
	}
	rec.waitN(t, n, 20*time.Second) // every event reached the peer
	if got := reported.Load(); got != 0 {
		t.Fatalf("%d outcomes reported while the first Done blocks", got)
	}
	close(release)
	for reported.Load() < n {
		time.Sleep(time.Millisecond)
	}
}

// TestIdleDestinationsAreCheap: subscribed destinations that never send
// cost no goroutine and little memory; dead ones, once their events have
// failed, neither.
func TestIdleDestinationsAreCheap(t *testing.T) {
	tr := newTransport(t, Config{BackoffMin: time.Hour, BackoffMax: time.Hour})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	const n = 10000
	dests := make([]evi.Destination, n)
	for i := range n {
		// Distinct addresses, never dialled (nothing is sent to them).
		dests[i] = parse(t, tr, fmt.Sprintf("tcp:127.0.0.1:%d", 1+i))
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	per := int64(after.HeapInuse-before.HeapInuse) / n
	t.Logf("%d bytes of heap per idle destination (%d destinations)", per, n)
	if per > 4<<10 {
		t.Errorf("%d bytes of heap per idle destination, want at most 4 KiB", per)
	}
	if g := runtime.NumGoroutine(); g > goroutines+4 {
		t.Errorf("%d goroutines for %d idle destinations (%d before)", g, n, goroutines)
	}
	// Dead: a send each fails (refused: bound ports nobody listens on),
	// then the address backs off and holds no goroutine.
	o := evitest.NewRecorder(100)
	for i := range 100 {
		port, _ := testnet.BoundPort(t)
		dead := parse(t, tr, fmt.Sprintf("tcp:127.0.0.1:%d", port))
		defer dead.Close()
		dead.Send(seqMsg(event(t, "E_IDLE"), i), o.Tag(i))
	}
	for _, r := range o.Wait(t, 100, 20*time.Second) {
		if reasonOf(r.Err) != evi.ReasonConnect {
			t.Fatalf("dead destination: %v, want a connect failure", r.Err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for runtime.NumGoroutine() > goroutines+4 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left by 100 dead destinations (%d before)", runtime.NumGoroutine(), goroutines)
		}
		time.Sleep(time.Millisecond)
	}
	for _, d := range dests {
		d.Close()
	}
}
