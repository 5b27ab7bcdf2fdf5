package spool

import (
	"errors"
	"time"
)

// Errors of a Store. Test for them with errors.Is.
var (
	// ErrFull: the spool holds Options.MaxBytes already; the records were
	// not stored (nothing stored before is dropped).
	ErrFull = errors.New("spool full")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("spool closed")
	// ErrNotFound: no pending record has that sequence in that queue.
	ErrNotFound = errors.New("no such record")
)

// Record is one event to spool for one queue.
type Record struct {
	// Queue names the FIFO: the subscriber's event and destination key.
	Queue string
	// ID is the event's identity (evi.ID's bytes): the same on every
	// attempt, so that a receiver can drop duplicates by it.
	ID [16]byte
	// Event is the event's name.
	Event string
	// Params are the event's params as they are sent (JSON).
	Params []byte
	// Raised is when the event was raised.
	Raised time.Time
}

// Entry is a stored record: pending in its queue, or a dead letter.
type Entry struct {
	Record
	// Seq is the record's sequence: unique in the store, increasing in
	// the order of Append over every queue, never reused (a replayed dead
	// letter gets a new one). Transports send it as the request id.
	Seq uint64
	// Attempts counts the failed deliveries recorded by Retry.
	Attempts int
	// Error is the last failure Retry recorded, or why Terminate made it a
	// dead letter.
	Error string
}

// Failure is what became of one delivery of a pending entry (Store.Fail).
type Failure struct {
	// Seq is the entry's.
	Seq uint64
	// Reason is why it failed (or why it ends).
	Reason string
	// Final makes it a dead letter now (a policy refused it, it is too
	// old), without counting an attempt.
	Final bool
}

// Store is a durable set of FIFO queues of records. Its methods are safe
// for concurrent use.
type Store interface {
	// Append stores recs, each at the tail of its queue, and returns
	// their sequences, in order. When it returns nil, the records are
	// durable: they survive a crash of the process or of the machine.
	// Either all of recs are stored or none (ErrFull, an I/O error).
	Append(recs ...Record) ([]uint64, error)
	// AppendAsync is Append without waiting: then is called once, with
	// what Append would return, when the records are durable (or could
	// not be stored), from the store's goroutine, or before AppendAsync
	// returns when they cannot be submitted. Records appended one after
	// the other, by one goroutine, are stored in that order.
	//
	// staged, when not nil, is called with the sequences the records get
	// once they are accepted (not refused with ErrFull), before they are
	// durable: then says later whether they became so. early reports
	// whether their sequences are theirs already, never given to another
	// record even after a crash, so that the records may be sent before
	// they are durable. Stores call staged before then, for appends in
	// sequence order (calls do not overlap), and appends commit in that
	// order; a write submitted once staged has returned (a Confirm of
	// those sequences) is applied after the append. staged and then must
	// not block, and staged must not call the store.
	AppendAsync(recs []Record, staged func(seqs []uint64, early bool), then func(seqs []uint64, err error))
	// Read returns up to max pending entries of queue, in sequence order,
	// from the first whose sequence is at least from.
	Read(queue string, from uint64, max int) ([]Entry, error)
	// Confirm removes the pending entries of queue with these sequences
	// (delivered). Sequences not pending are ignored.
	Confirm(queue string, seqs ...uint64) error
	// ConfirmAsync is Confirm without waiting: then is called once, with
	// how many entries were removed (those of seqs that were pending) or
	// why none were, when the removal is durable, from the store's
	// goroutine, or before ConfirmAsync returns when it cannot be
	// submitted. then must not block. The caller must not change seqs
	// until then is called.
	ConfirmAsync(queue string, seqs []uint64, then func(removed int, err error))
	// Retry records a failed attempt of the entry: its Attempts grows by
	// one and Error is reason. It returns the entry as stored.
	Retry(queue string, seq uint64, reason string) (Entry, error)
	// Fail records what became of entries of queue in one write: each
	// failure's entry counts one more attempt, with the failure's reason;
	// those that reach maxAttempts (0: no limit), and Final ones (which
	// count no attempt), become dead letters. It returns the dead letters
	// made. Entries no longer pending are skipped.
	Fail(queue string, fails []Failure, maxAttempts int) ([]Entry, error)
	// Terminate turns the pending entry into a dead letter, with reason.
	Terminate(queue string, seq uint64, reason string) error
	// TerminateAll turns every pending entry of queue into a dead letter,
	// with reason (its subscriber is gone), and returns how many.
	TerminateAll(queue, reason string) (int, error)
	// DeadLetters returns up to max dead letters of queue, oldest first.
	DeadLetters(queue string, max int) ([]Entry, error)
	// Replay puts the dead letters of queue back at the tail of the
	// queue, with new sequences and no attempts, and returns how many.
	Replay(queue string) (int, error)
	// Purge removes the dead letters of queue and returns how many.
	Purge(queue string) (int, error)
	// Counts returns how many entries queue holds, pending and dead.
	Counts(queue string) (pending, dead int64, err error)
	// Stats returns the store's counts.
	Stats() Stats
	// Queues returns the names of the queues that hold pending entries or
	// dead letters, sorted.
	Queues() ([]string, error)
	// Close waits for the writes under way and releases the store.
	Close() error
}

// Stats are a Store's counts.
type Stats struct {
	// Bytes is the size of the stored records, pending and dead
	// (Options.MaxBytes bounds it).
	Bytes int64
	// Pending and Dead count the entries of every queue.
	Pending, Dead int64
	// Commits counts the transactions (and fsyncs) made; Appended the
	// records stored by Append: their ratio is the group commit's batch.
	Commits, Appended uint64
}
