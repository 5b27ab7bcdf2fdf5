package stream

import (
	"runtime"
	"sync"

	"github.com/evstream/evstream/evi"
)

// outcome is the outcome of one accepted event, to report to its Done.
type outcome struct {
	m    *evi.Message
	done evi.Done // nil: nobody asked
	err  error
}

// dispatcher runs the Done callbacks of a transport, so that no connection
// goroutine (reader, writer, timer) ever runs caller code: a Done that
// does disk work (a spool) or sends again (a failover) never stalls I/O.
//
// Outcomes travel in batches, one per write, reply burst or expiry, over
// one of a few shards; each conn always uses the same shard, so the
// outcomes of a destination are reported in the order they were decided.
// A shard's channel is bounded: a Done that blocks eventually blocks the
// connections of its shard (memory stays bounded), never the others.
type dispatcher struct {
	t      *Transport
	shards []chan []outcome
	pool   sync.Pool // *[]outcome batches
	wg     sync.WaitGroup
}

// shardQueue is how many batches may wait for a shard's goroutine.
const shardQueue = 256

func newDispatcher(t *Transport) *dispatcher {
	d := &dispatcher{t: t, shards: make([]chan []outcome, max(runtime.GOMAXPROCS(0), 1))}
	for i := range d.shards {
		ch := make(chan []outcome, shardQueue)
		d.shards[i] = ch
		d.wg.Go(func() { d.serve(ch) })
	}
	return d
}

// batch returns an empty batch to fill.
func (d *dispatcher) batch() []outcome {
	if b, ok := d.pool.Get().(*[]outcome); ok {
		return (*b)[:0]
	}
	return make([]outcome, 0, 64)
}

// report hands the outcomes of b to shard for reporting, and b to the
// dispatcher. The events must already be counted (see Counters).
func (d *dispatcher) report(shard int, b []outcome) {
	if len(b) == 0 {
		return
	}
	for i := range b {
		if b[i].done != nil {
			d.shards[shard] <- b
			return
		}
	}
	// Nobody to tell: settled now, without a trip through a goroutine.
	n := len(b)
	d.recycle(b)
	d.t.settle(n)
}

func (d *dispatcher) serve(ch chan []outcome) {
	for b := range ch {
		for i := range b {
			if o := &b[i]; o.done != nil {
				o.done.Done(o.m, o.err)
			}
		}
		n := len(b)
		d.recycle(b)
		d.t.settle(n)
	}
}

func (d *dispatcher) recycle(b []outcome) {
	clear(b)
	if cap(b) <= 4096 {
		b = b[:0]
		d.pool.Put(&b)
	}
}

// close reports what is queued and stops the shards' goroutines. Nothing
// may report after it is called.
func (d *dispatcher) close() {
	for _, ch := range d.shards {
		close(ch)
	}
	d.wg.Wait()
}
