package stream

import "math/bits"

// window holds the requests written (or about to be written) on a
// connection and awaiting a reply, in reliable mode. It is guarded by the
// conn's mutex.
//
// Each request occupies a slot of a fixed arena; its JSON-RPC id, minus
// one, holds the slot's index in its low bits and the slot's generation in
// its high bits, so ids are positive, below 2^31, unique among pending
// requests, and a reply is matched to its request with no map. A fresh
// connection's first ids are 1, 2, 3...; a slot's generation wraps after
// 2^31/MaxInFlight uses. Slots are also linked in the
// order requests were sent, which is deadline order (every request has the
// same timeout), so the oldest request is always at the head.
type window struct {
	slots  []slot
	free   []int32 // stack of free slot indices
	shift  uint    // bits of the slot index in an id
	maxGen int64
	head   int32 // oldest pending, -1 when empty
	tail   int32 // newest pending, -1 when empty
	n      int
}

type slot struct {
	done     func(error)
	deadline int64
	id       int64 // 0 when free
	gen      int64
	prev     int32
	next     int32
}

// newWindow returns a window of size slots (1 <= size <= MaxMaxInFlight).
func newWindow(size int) *window {
	shift := uint(bits.Len(uint(size - 1)))
	w := &window{
		slots:  make([]slot, 1<<shift),
		free:   make([]int32, size),
		shift:  shift,
		maxGen: 1<<(31-shift) - 1,
		head:   -1,
		tail:   -1,
	}
	for i := range w.free {
		w.free[i] = int32(size - 1 - i) // pop 0 first
	}
	return w
}

// full reports whether no slot is free.
func (w *window) full() bool { return len(w.free) == 0 }

// add registers a request and returns its id. The window must not be full.
func (w *window) add(done func(error), deadline int64) int64 {
	i := w.free[len(w.free)-1]
	w.free = w.free[:len(w.free)-1]
	s := &w.slots[i]
	s.gen++
	if s.gen > w.maxGen {
		s.gen = 1
	}
	s.id = ((s.gen-1)<<w.shift | int64(i)) + 1
	s.done = done
	s.deadline = deadline
	s.next = -1
	s.prev = w.tail
	if w.tail >= 0 {
		w.slots[w.tail].next = i
	} else {
		w.head = i
	}
	w.tail = i
	w.n++
	return s.id
}

// lookup returns the slot of the pending request id, or -1.
func (w *window) lookup(id int64) int32 {
	if id <= 0 || id >= 1<<31 {
		return -1
	}
	i := (id - 1) & (1<<w.shift - 1)
	if w.slots[i].id != id {
		return -1
	}
	return int32(i)
}

// remove frees slot i and returns its done callback.
func (w *window) remove(i int32) func(error) {
	s := &w.slots[i]
	if s.prev >= 0 {
		w.slots[s.prev].next = s.next
	} else {
		w.head = s.next
	}
	if s.next >= 0 {
		w.slots[s.next].prev = s.prev
	} else {
		w.tail = s.prev
	}
	done := s.done
	s.done, s.id = nil, 0
	w.free = append(w.free, i)
	w.n--
	return done
}

// oldest returns the deadline of the oldest pending request, and false when
// none is pending.
func (w *window) oldest() (int64, bool) {
	if w.head < 0 {
		return 0, false
	}
	return w.slots[w.head].deadline, true
}
