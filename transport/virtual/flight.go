package virtual

import (
	"errors"
	"sync"

	"github.com/evstream/evstream/evi"
)

// The causes of the closed errors: errTransportClosed for the events
// pending when the transport closed, errDestClosed for a Send after Close.
var (
	errTransportClosed = errors.New("virtual transport closed")
	errDestClosed      = errors.New("virtual destination closed")
)

// flight is one accepted event whose outcome is still to be reported. The
// transport tracks it, so that Close can fail it (the members outlive the
// virtual transport: the registry owns them) and report nothing after. It
// is embedded in the policy's state of the event: tracking allocates
// nothing and costs two pointer writes under flights.mu.
type flight struct {
	d          *destination
	m          *evi.Message
	done       evi.Done
	prev, next *flight // in flights.head's list while pending
	reported   bool    // set by whoever reports first: the policy or Close
}

// flights is a transport's pending flights.
type flights struct {
	mu        sync.Mutex
	head      *flight
	closed    bool
	reporting sync.WaitGroup // reports under way; Close waits for them
}

// begin starts tracking f, an event m for d whose outcome goes to done. It
// returns false when the transport is closed.
func (fs *flights) begin(f *flight, d *destination, m *evi.Message, done evi.Done) bool {
	f.d, f.m, f.done = d, m, done
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.closed {
		return false
	}
	f.next = fs.head
	if fs.head != nil {
		fs.head.prev = f
	}
	fs.head = f
	return true
}

// unlinkLocked removes f from the list.
func (fs *flights) unlinkLocked(f *flight) {
	if f.prev != nil {
		f.prev.next = f.next
	} else {
		fs.head = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	}
	f.prev, f.next = nil, nil
}

// drop forgets a flight that was not accepted after all (every member
// refused it at once): its done is never called.
func (f *flight) drop() {
	fs := &f.d.t.flights
	fs.mu.Lock()
	if !f.reported {
		f.reported = true
		fs.unlinkLocked(f)
	}
	fs.mu.Unlock()
}

// claim marks f reported and counts the report under way, unless it was
// reported already. The count is taken under the lock, so before Close's
// Wait.
func (f *flight) claim() bool {
	fs := &f.d.t.flights
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f.reported {
		return false
	}
	f.reported = true
	fs.unlinkLocked(f)
	fs.reporting.Add(1)
	return true
}

// report reports err as f's outcome, unless Close reported it already (a
// member's outcome that comes after Close is dropped).
func (f *flight) report(err error) {
	if f.claim() {
		defer f.d.t.flights.reporting.Done()
		f.done.Done(f.m, err)
	}
}

// reportAsync is report from a goroutine of its own, which Close waits
// for.
func (f *flight) reportAsync(err error) {
	if f.claim() {
		go func() {
			defer f.d.t.flights.reporting.Done()
			f.done.Done(f.m, err)
		}()
	}
}

// over reports whether f's outcome was reported: a FAILOVER chain stops
// trying members then.
func (f *flight) over() bool {
	fs := &f.d.t.flights
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return f.reported
}

// close refuses new flights, fails every pending one (ReasonClosed), and
// waits for the reports under way.
func (fs *flights) close() {
	fs.mu.Lock()
	fs.closed = true
	var pending []*flight
	for f := fs.head; f != nil; {
		next := f.next
		f.reported, f.prev, f.next = true, nil, nil
		pending = append(pending, f)
		f = next
	}
	fs.head = nil
	fs.reporting.Add(len(pending))
	fs.mu.Unlock()
	for _, f := range pending {
		// Written: a member may have written it before the close.
		f.done.Done(f.m, &evi.DeliveryError{Dest: f.d.printed, Reason: evi.ReasonClosed, Written: true, Err: errTransportClosed})
		fs.reporting.Done()
	}
	fs.reporting.Wait()
}
