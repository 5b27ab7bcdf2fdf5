package stream

import (
	"math/bits"

	"github.com/evstream/evstream/evi"
)

// window holds the requests written (or about to be written) on a
// connection and awaiting a reply, in reliable mode. It is guarded by the
// conn's mutex.
//
// Each request occupies a slot of a fixed arena; its JSON-RPC id, minus
// one, holds the slot's index in its low bits and the slot's generation in
// its high bits, so ids are positive, below 2^31, unique among pending
// requests, and a reply is matched to its request with no map. A fresh
// connection's first ids are 1, 2, 3...; a slot's generation wraps after
// 2^31/MaxInFlight uses.
//
// With Config.SeqIDs the ids are the events' sequences (evi.Message.Seq),
// found through a map instead.
//
// The requests of one destination are also linked in the order they were
// sent, which is the order they were handed over and so of their
// deadlines: the destination's oldest request is the head of its list.
type window struct {
	slots  []slot
	free   []int32 // stack of free slot indices
	shift  uint    // bits of the slot index in an id
	maxGen int64
	n      int
	bySeq  map[int64]int32 // Config.SeqIDs: the slot of each pending id
}

type slot struct {
	dest     *destination
	m        *evi.Message
	done     evi.Done
	deadline int64
	id       int64 // 0 when free
	gen      int64
	written  bool  // its bytes may have left (set before the write)
	prev     int32 // the destination's list
	next     int32
}

// newWindow returns a window of size slots (1 <= size <= MaxMaxInFlight);
// seqIDs makes the ids the events' sequences.
func newWindow(size int, seqIDs bool) *window {
	shift := uint(bits.Len(uint(size - 1)))
	w := &window{
		slots:  make([]slot, 1<<shift),
		free:   make([]int32, size),
		shift:  shift,
		maxGen: 1<<(31-shift) - 1,
	}
	if seqIDs {
		w.bySeq = make(map[int64]int32, size)
	}
	for i := range w.free {
		w.free[i] = int32(size - 1 - i) // pop 0 first
	}
	return w
}

// room returns how many slots are free.
func (w *window) room() int { return len(w.free) }

// add registers a request of d and returns its id. The window must not be
// full.
func (w *window) add(d *destination, it *item) int64 {
	i := w.free[len(w.free)-1]
	w.free = w.free[:len(w.free)-1]
	s := &w.slots[i]
	s.gen++
	if s.gen > w.maxGen {
		s.gen = 1
	}
	s.id = ((s.gen-1)<<w.shift | int64(i)) + 1
	if w.bySeq != nil {
		// A sequence pending twice (never, from a spool) leaves the older
		// request unmatched: it times out.
		s.id = int64(it.m.Seq)
		w.bySeq[s.id] = i
	}
	s.dest, s.m, s.done, s.deadline, s.written = d, it.m, it.done, it.deadline, false
	s.next = -1
	s.prev = d.ifTail
	if d.ifTail >= 0 {
		w.slots[d.ifTail].next = i
	} else {
		d.ifHead = i
	}
	d.ifTail = i
	d.inflight++
	w.n++
	return s.id
}

// lookup returns the slot of the pending request id, or -1.
func (w *window) lookup(id int64) int32 {
	if w.bySeq != nil {
		if i, ok := w.bySeq[id]; ok {
			return i
		}
		return -1
	}
	if id <= 0 || id >= 1<<31 {
		return -1
	}
	i := (id - 1) & (1<<w.shift - 1)
	if w.slots[i].id != id {
		return -1
	}
	return int32(i)
}

// remove frees slot i and returns its request, as an outcome to report.
func (w *window) remove(i int32, err error) outcome {
	s := &w.slots[i]
	d := s.dest
	if s.prev >= 0 {
		w.slots[s.prev].next = s.next
	} else {
		d.ifHead = s.next
	}
	if s.next >= 0 {
		w.slots[s.next].prev = s.prev
	} else {
		d.ifTail = s.prev
	}
	d.inflight--
	o := outcome{m: s.m, done: s.done, err: err}
	if w.bySeq != nil && w.bySeq[s.id] == i {
		delete(w.bySeq, s.id)
	}
	s.dest, s.m, s.done, s.id = nil, nil, nil, 0
	w.free = append(w.free, i)
	w.n--
	return o
}
