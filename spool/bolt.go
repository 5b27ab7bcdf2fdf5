package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Options configure a store opened by Open. The zero Options are valid.
type Options struct {
	// MaxBytes bounds the size of the stored records (pending and dead);
	// an Append beyond it fails with ErrFull. 0 means no bound.
	MaxBytes int64
	// LockTimeout bounds the wait for the file's lock, held by another
	// process using the same file. 0 means one second.
	LockTimeout time.Duration
	// BeforeCommit, when set, is called by the committer before each
	// commit. It may block, and so hold every write back: tests use it
	// to keep appends between staged and durable.
	BeforeCommit func()
}

// maxBatch bounds the write requests grouped into one transaction.
const maxBatch = 4096

// maxReason bounds the failure reasons stored with an entry, in bytes.
const maxReason = 512

// reserveAhead is how far the sequences reserved in the file run ahead of
// the last one given: a sequence handed out before its record is durable
// (AppendAsync's staged) is at most the reservation already in the file,
// so that after a crash, which starts again from that reservation, no
// sequence a receiver may have seen names another record.
const reserveAhead = 1 << 20

var (
	bucketQueues = []byte("queues")
	bucketDead   = []byte("dead")
)

// Bolt is the bbolt engine of Store.
type Bolt struct {
	db     *bolt.DB
	path   string
	max    int64
	before func() // Options.BeforeCommit

	mu     sync.RWMutex // held shared while submitting; Close takes it
	order  sync.Mutex   // held while a request is submitted (and an append takes its sequences, staged)
	closed bool
	reqs   chan *request
	done   chan struct{} // the committer ended

	// The last sequence given, and the reservation in the file: every
	// sequence staged is at most this.
	seq, reserved atomic.Uint64

	// bytes counts the records stored; accepted those of the appends
	// submitted and not committed yet (MaxBytes bounds the sum).
	bytes, accepted, pending, dead atomic.Int64
	commits, appended              atomic.Uint64
}

var _ Store = (*Bolt)(nil)

// request is one write, run by the committer inside a batch's transaction.
// run returns the changes to the counters, applied if the batch commits.
type request struct {
	run      func(tx *bolt.Tx) (delta, error)
	accepted int64 // the bytes of an append, counted in Bolt.accepted until its commit
	d        delta
	err      error
	done     chan struct{}   // closed after the commit; nil when then is set
	then     func(err error) // called after the commit instead (AppendAsync, ConfirmAsync)
}

type delta struct {
	bytes, pending, dead int64
	appended             uint64
}

func (d *delta) add(o delta) {
	d.bytes += o.bytes
	d.pending += o.pending
	d.dead += o.dead
	d.appended += o.appended
}

// Open opens (or creates) the spool file at path. A file that is not a
// spool, or is damaged, is an error naming it; so is a file locked by
// another process for longer than Options.LockTimeout.
func Open(path string, opts Options) (*Bolt, error) {
	if opts.MaxBytes < 0 {
		return nil, fmt.Errorf("spool: Options.MaxBytes %d is negative", opts.MaxBytes)
	}
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = time.Second
	}
	db, err := openBolt(path, timeout)
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("spool: open %s: locked by another process (is another evstream running with this data_dir?)", path)
		}
		return nil, fmt.Errorf("spool: open %s: %w", path, err)
	}
	s := &Bolt{db: db, path: path, max: opts.MaxBytes, before: opts.BeforeCommit, reqs: make(chan *request, maxBatch), done: make(chan struct{})}
	if err := s.load(); err != nil {
		db.Close()
		return nil, err
	}
	go s.commit()
	return s, nil
}

// openBolt is bolt.Open, with its panics on some damaged files turned into
// errors. (The file that made it panic stays open until the process ends:
// bbolt gives no handle to close it. The daemon stops on this error.)
func openBolt(path string, timeout time.Duration) (db *bolt.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("the file is damaged: %v", p)
		}
	}()
	return bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
}

// load creates the buckets, reserves the sequences to give, and counts
// what the file holds, reading every record: a damaged one is an error
// naming the file, queue and sequence.
func (s *Bolt) load() (err error) {
	defer func() {
		// bbolt panics on some kinds of damaged pages.
		if p := recover(); p != nil {
			err = fmt.Errorf("spool: %s is damaged: %v", s.path, p)
		}
	}()
	if err := s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketQueues, bucketDead} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		// Sequences start after the last reservation: the last one
		// given before a crash may have been staged, never stored.
		qb := tx.Bucket(bucketQueues)
		s.seq.Store(qb.Sequence())
		s.reserved.Store(qb.Sequence() + reserveAhead)
		return qb.SetSequence(s.reserved.Load())
	}); err != nil {
		return fmt.Errorf("spool: %s: %w", s.path, err)
	}
	return s.db.View(func(tx *bolt.Tx) error {
		for _, top := range [][]byte{bucketQueues, bucketDead} {
			err := tx.Bucket(top).ForEachBucket(func(q []byte) error {
				return tx.Bucket(top).Bucket(q).ForEach(func(k, v []byte) error {
					if len(k) != 8 {
						return fmt.Errorf("spool: %s is damaged: queue %q has a key of %d bytes", s.path, q, len(k))
					}
					if _, err := decode(v); err != nil {
						return fmt.Errorf("spool: %s is damaged: queue %q, record %d: %w", s.path, q, binary.BigEndian.Uint64(k), err)
					}
					s.bytes.Add(int64(len(v)))
					if string(top) == string(bucketDead) {
						s.dead.Add(1)
					} else {
						s.pending.Add(1)
					}
					return nil
				})
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// commit is the committer goroutine: it runs the requests in batches, one
// transaction (and fsync) each, until Close.
func (s *Bolt) commit() {
	defer close(s.done)
	batch := make([]*request, 0, maxBatch)
	for r := range s.reqs {
		batch = append(batch[:0], r)
	more:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		s.runBatch(batch)
	}
}

// errRerun rolls a batch's transaction back: a request failed after it
// may have written, so the others run again without it.
var errRerun = errors.New("spool: rerun the batch")

// refusal reports whether err is a request's refusal made before it
// wrote anything (so the transaction can go on without it).
func refusal(err error) bool { return errors.Is(err, ErrNotFound) }

// runBatch runs the requests of batch in one transaction. A refused
// request wrote nothing; after any other failure of a request the
// transaction is rolled back and run again without it, so that no
// request's writes are half applied. An error of the transaction fails
// the requests it ran.
func (s *Bolt) runBatch(batch []*request) {
	var total delta
	failed := make([]bool, len(batch))
	var err error
	for {
		total = delta{}
		err = s.transact(func(tx *bolt.Tx) error {
			for i, r := range batch {
				if failed[i] {
					continue
				}
				r.d, r.err = r.run(tx)
				switch {
				case r.err == nil:
					total.add(r.d)
				case refusal(r.err):
				default:
					failed[i] = true
					return errRerun
				}
			}
			return nil
		})
		if err != errRerun {
			break
		}
	}
	if err == nil {
		s.commits.Add(1)
		s.bytes.Add(total.bytes)
		s.pending.Add(total.pending)
		s.dead.Add(total.dead)
		s.appended.Add(total.appended)
	}
	for _, r := range batch {
		s.accepted.Add(-r.accepted) // stored (in bytes now) or failed
	}
	for i, r := range batch {
		if err != nil && !failed[i] {
			r.err = fmt.Errorf("spool: commit to %s: %w", s.path, err)
		}
		if r.then != nil {
			r.then(r.err)
		} else {
			close(r.done)
		}
	}
}

// transact runs fn in a write transaction and commits it unless fn
// fails (bolt.DB.Update). When the sequences given come within half of
// reserveAhead of the reservation, the transaction writes the next one;
// it is the one staging goes by once committed.
func (s *Bolt) transact(fn func(tx *bolt.Tx) error) (err error) {
	tx, err := s.db.Begin(true)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	var reserving uint64
	if given := s.seq.Load(); given+reserveAhead/2 > s.reserved.Load() {
		reserving = given + reserveAhead
		if err := tx.Bucket(bucketQueues).SetSequence(reserving); err != nil {
			return err
		}
	}
	if s.before != nil {
		s.before()
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if reserving > 0 {
		s.reserved.Store(reserving)
	}
	return nil
}

// nextSeqs gives the next n sequences of the store, the first returned:
// one counter for every queue, so that a sequence names one record of
// the whole store (a transport sends it as the request id, unique among
// the requests of a connection whichever queues share it).
func (s *Bolt) nextSeqs(n int) uint64 { return s.seq.Add(uint64(n)) - uint64(n) + 1 }

// write submits run to the committer and waits for its batch's commit.
func (s *Bolt) write(run func(tx *bolt.Tx) (delta, error)) error {
	r := &request{run: run, done: make(chan struct{})}
	if err := s.submit(r); err != nil {
		return err
	}
	<-r.done
	return r.err
}

// submit hands r to the committer (waiting while its queue is full).
//
// Every request is submitted under s.order, the lock an append holds
// while it is staged: a write about records staged (a confirmation of an
// event sent before it was durable) reaches the committer after their
// append, never before.
func (s *Bolt) submit(r *request) error { return s.submitWith(r, nil) }

// submitWith is submit, running prepare first under s.order (where an
// append takes its sequences and is staged); when prepare fails, nothing
// is submitted.
func (s *Bolt) submitWith(r *request, prepare func() error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	s.order.Lock()
	defer s.order.Unlock()
	if prepare != nil {
		if err := prepare(); err != nil {
			return err
		}
	}
	s.reqs <- r
	return nil
}

// Append stores recs durably; see Store.
func (s *Bolt) Append(recs ...Record) ([]uint64, error) {
	var seqs []uint64
	var err error
	done := make(chan struct{})
	s.AppendAsync(recs, nil, func(q []uint64, e error) { seqs, err = q, e; close(done) })
	<-done
	return seqs, err
}

// AppendAsync is Append without waiting; see Store. The records take
// their sequences, and are checked against MaxBytes, when they are
// submitted: staged is called then, before AppendAsync returns.
func (s *Bolt) AppendAsync(recs []Record, staged func(seqs []uint64, early bool), then func(seqs []uint64, err error)) {
	if len(recs) == 0 {
		then(nil, nil)
		return
	}
	vals := make([][]byte, len(recs))
	var size int64
	for i := range recs {
		if q := recs[i].Queue; q == "" || len(q) > bolt.MaxKeySize {
			then(nil, fmt.Errorf("spool: Append: record %d: queue name of %d bytes, want 1 to %d", i, len(q), bolt.MaxKeySize))
			return
		}
		vals[i] = encode(Entry{Record: recs[i]})
		size += int64(len(vals[i]))
	}
	seqs := make([]uint64, len(recs))
	r := &request{accepted: size, run: func(tx *bolt.Tx) (delta, error) {
		for i := range recs {
			b, err := queueBucket(tx, bucketQueues, recs[i].Queue, true)
			if err != nil {
				return delta{}, err
			}
			if err := b.Put(key(seqs[i]), vals[i]); err != nil {
				return delta{}, err
			}
		}
		return delta{bytes: size, pending: int64(len(recs)), appended: uint64(len(recs))}, nil
	}}
	r.then = func(err error) {
		if err != nil {
			then(nil, err)
			return
		}
		then(seqs, nil)
	}
	if err := s.submitAppend(r, seqs, staged); err != nil {
		then(nil, err)
	}
}

// submitAppend checks the append r against MaxBytes, gives it its
// sequences (in seqs), stages it and hands it to the committer: the
// sequences are given in the order of the committer's queue, so that
// appends commit in sequence order.
func (s *Bolt) submitAppend(r *request, seqs []uint64, staged func(seqs []uint64, early bool)) error {
	return s.submitWith(r, func() error {
		if s.max > 0 {
			if used := s.bytes.Load() + s.accepted.Load(); used+r.accepted > s.max {
				return fmt.Errorf("spool: %d bytes for %d records, %d left of %d: %w", r.accepted, len(seqs), max(s.max-used, 0), s.max, ErrFull)
			}
		}
		s.accepted.Add(r.accepted)
		first := s.nextSeqs(len(seqs))
		for i := range seqs {
			seqs[i] = first + uint64(i)
		}
		if staged != nil {
			staged(seqs, seqs[len(seqs)-1] <= s.reserved.Load())
		}
		return nil
	})
}

// Read returns pending entries of queue from seq from on; see Store.
func (s *Bolt) Read(queue string, from uint64, max int) ([]Entry, error) {
	return s.list(bucketQueues, queue, from, max)
}

// DeadLetters returns dead letters of queue, oldest first; see Store.
func (s *Bolt) DeadLetters(queue string, max int) ([]Entry, error) {
	return s.list(bucketDead, queue, 0, max)
}

func (s *Bolt) list(top []byte, queue string, from uint64, max int) ([]Entry, error) {
	var out []Entry
	err := s.view(func(tx *bolt.Tx) error {
		b, _ := queueBucket(tx, top, queue, false)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(key(from)); k != nil && len(out) < max; k, v = c.Next() {
			e, err := decode(v)
			if err != nil {
				return fmt.Errorf("spool: %s: queue %q, record %d: %w", s.path, queue, binary.BigEndian.Uint64(k), err)
			}
			e.Queue, e.Seq = queue, binary.BigEndian.Uint64(k)
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

func (s *Bolt) view(fn func(tx *bolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return s.db.View(fn)
}

// Confirm removes delivered entries; see Store.
func (s *Bolt) Confirm(queue string, seqs ...uint64) error {
	done := make(chan error, 1)
	s.ConfirmAsync(queue, seqs, func(_ int, err error) { done <- err })
	return <-done
}

// ConfirmAsync is Confirm without waiting; see Store.
func (s *Bolt) ConfirmAsync(queue string, seqs []uint64, then func(removed int, err error)) {
	if len(seqs) == 0 {
		then(0, nil)
		return
	}
	r := &request{run: s.confirmRun(queue, seqs)}
	r.then = func(err error) {
		if err != nil {
			then(0, err)
			return
		}
		then(int(-r.d.pending), nil)
	}
	if err := s.submit(r); err != nil {
		then(0, err)
	}
}

// confirmRun returns the write that removes the entries seqs of queue.
func (s *Bolt) confirmRun(queue string, seqs []uint64) func(tx *bolt.Tx) (delta, error) {
	return func(tx *bolt.Tx) (delta, error) {
		b, _ := queueBucket(tx, bucketQueues, queue, false)
		if b == nil {
			return delta{}, nil
		}
		var d delta
		// One cursor, positioned by Seek for every key (never moved with
		// Next after a Delete: that skips a key).
		c := b.Cursor()
		var k [8]byte
		for _, seq := range seqs {
			binary.BigEndian.PutUint64(k[:], seq)
			got, v := c.Seek(k[:])
			if got == nil || binary.BigEndian.Uint64(got) != seq {
				continue
			}
			d.bytes -= int64(len(v))
			d.pending--
			if err := c.Delete(); err != nil {
				return delta{}, err
			}
		}
		return d, nil
	}
}

// Retry records a failed attempt; see Store.
func (s *Bolt) Retry(queue string, seq uint64, reason string) (Entry, error) {
	var out Entry
	err := s.write(func(tx *bolt.Tx) (delta, error) {
		b, e, old, err := s.pendingEntry(tx, queue, seq)
		if err != nil {
			return delta{}, err
		}
		e.Attempts++
		e.Error = clip(reason)
		v := encode(e)
		if err := b.Put(key(seq), v); err != nil {
			return delta{}, err
		}
		out = e
		return delta{bytes: int64(len(v) - len(old))}, nil
	})
	return out, err
}

// Fail records failed attempts, making dead letters; see Store.
func (s *Bolt) Fail(queue string, fails []Failure, maxAttempts int) ([]Entry, error) {
	if len(fails) == 0 {
		return nil, nil
	}
	var dead []Entry
	err := s.write(func(tx *bolt.Tx) (delta, error) {
		dead = dead[:0]
		b, _ := queueBucket(tx, bucketQueues, queue, false)
		if b == nil {
			return delta{}, nil
		}
		var db *bolt.Bucket
		var d delta
		for _, f := range fails {
			k := key(f.Seq)
			old := b.Get(k)
			if old == nil {
				continue
			}
			e, err := decode(old)
			if err != nil {
				return delta{}, fmt.Errorf("spool: %s: queue %q, record %d: %w", s.path, queue, f.Seq, err)
			}
			e.Queue, e.Seq = queue, f.Seq
			if !f.Final {
				e.Attempts++
			}
			e.Error = clip(f.Reason)
			v := encode(e)
			d.bytes += int64(len(v) - len(old))
			if !f.Final && (maxAttempts <= 0 || e.Attempts < maxAttempts) {
				if err := b.Put(k, v); err != nil {
					return delta{}, err
				}
				continue
			}
			if db == nil {
				if db, err = queueBucket(tx, bucketDead, queue, true); err != nil {
					return delta{}, err
				}
			}
			if err := db.Put(k, v); err != nil {
				return delta{}, err
			}
			if err := b.Delete(k); err != nil {
				return delta{}, err
			}
			d.pending--
			d.dead++
			dead = append(dead, e)
		}
		return d, nil
	})
	if err != nil {
		return nil, err
	}
	return dead, nil
}

// Terminate makes the entry a dead letter; see Store.
func (s *Bolt) Terminate(queue string, seq uint64, reason string) error {
	return s.write(func(tx *bolt.Tx) (delta, error) {
		b, e, old, err := s.pendingEntry(tx, queue, seq)
		if err != nil {
			return delta{}, err
		}
		dead, err := queueBucket(tx, bucketDead, queue, true)
		if err != nil {
			return delta{}, err
		}
		e.Error = clip(reason)
		v := encode(e)
		if err := dead.Put(key(seq), v); err != nil {
			return delta{}, err
		}
		if err := b.Delete(key(seq)); err != nil {
			return delta{}, err
		}
		return delta{bytes: int64(len(v) - len(old)), pending: -1, dead: 1}, nil
	})
}

// TerminateAll makes every pending entry of queue a dead letter; see Store.
func (s *Bolt) TerminateAll(queue, reason string) (int, error) {
	return s.moveAll(queue, bucketQueues, bucketDead, func(tx *bolt.Tx, k []byte, e *Entry) ([]byte, error) {
		e.Error = clip(reason)
		return k, nil
	})
}

// moveAll moves every entry of queue from the top bucket from to the top
// bucket to (pending to dead, or back), in one write: change edits each
// entry and returns its key in to. It returns how many moved.
func (s *Bolt) moveAll(queue string, from, to []byte, change func(tx *bolt.Tx, k []byte, e *Entry) ([]byte, error)) (int, error) {
	n := 0
	err := s.write(func(tx *bolt.Tx) (delta, error) {
		n = 0
		src, _ := queueBucket(tx, from, queue, false)
		if src == nil {
			return delta{}, nil
		}
		dst, err := queueBucket(tx, to, queue, true)
		if err != nil {
			return delta{}, err
		}
		var d delta
		err = src.ForEach(func(k, v []byte) error {
			e, err := decode(v)
			if err != nil {
				return fmt.Errorf("spool: %s: queue %q, record %d: %w", s.path, queue, binary.BigEndian.Uint64(k), err)
			}
			nk, err := change(tx, k, &e)
			if err != nil {
				return err
			}
			nv := encode(e)
			n++
			d.bytes += int64(len(nv) - len(v))
			return dst.Put(nk, nv)
		})
		if err != nil {
			return delta{}, err
		}
		if string(from) == string(bucketQueues) {
			d.pending, d.dead = -int64(n), int64(n)
		} else {
			d.pending, d.dead = int64(n), -int64(n)
		}
		// The whole bucket at once: no deleting under the cursor.
		return d, tx.Bucket(from).DeleteBucket([]byte(queue))
	})
	return n, err
}

// pendingEntry returns the bucket of queue, its entry seq and the stored
// bytes, or ErrNotFound.
func (s *Bolt) pendingEntry(tx *bolt.Tx, queue string, seq uint64) (*bolt.Bucket, Entry, []byte, error) {
	b, _ := queueBucket(tx, bucketQueues, queue, false)
	var v []byte
	if b != nil {
		v = b.Get(key(seq))
	}
	if v == nil {
		return nil, Entry{}, nil, fmt.Errorf("spool: queue %q, record %d: %w", queue, seq, ErrNotFound)
	}
	e, err := decode(v)
	if err != nil {
		return nil, Entry{}, nil, fmt.Errorf("spool: %s: queue %q, record %d: %w", s.path, queue, seq, err)
	}
	e.Queue, e.Seq = queue, seq
	return b, e, v, nil
}

// Replay puts the dead letters back at the tail of the queue, with new
// sequences and no attempts; see Store.
func (s *Bolt) Replay(queue string) (int, error) {
	return s.moveAll(queue, bucketDead, bucketQueues, func(tx *bolt.Tx, _ []byte, e *Entry) ([]byte, error) {
		e.Attempts, e.Error = 0, ""
		return key(s.nextSeqs(1)), nil
	})
}

// Purge removes the dead letters of queue; see Store.
func (s *Bolt) Purge(queue string) (int, error) {
	n := 0
	err := s.write(func(tx *bolt.Tx) (delta, error) {
		n = 0
		dead, _ := queueBucket(tx, bucketDead, queue, false)
		if dead == nil {
			return delta{}, nil
		}
		var d delta
		dead.ForEach(func(_, v []byte) error {
			n++
			d.bytes -= int64(len(v))
			d.dead--
			return nil
		})
		return d, tx.Bucket(bucketDead).DeleteBucket([]byte(queue))
	})
	return n, err
}

// Queues returns the queues holding entries; see Store.
func (s *Bolt) Queues() ([]string, error) {
	var out []string
	err := s.view(func(tx *bolt.Tx) error {
		for _, top := range [][]byte{bucketQueues, bucketDead} {
			tb := tx.Bucket(top)
			tb.ForEachBucket(func(q []byte) error {
				if k, _ := tb.Bucket(q).Cursor().First(); k != nil && !slices.Contains(out, string(q)) {
					out = append(out, string(q))
				}
				return nil
			})
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}

// Counts returns the entries of queue, pending and dead; see Store.
func (s *Bolt) Counts(queue string) (pending, dead int64, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		if b, _ := queueBucket(tx, bucketQueues, queue, false); b != nil {
			pending = int64(b.Stats().KeyN)
		}
		if b, _ := queueBucket(tx, bucketDead, queue, false); b != nil {
			dead = int64(b.Stats().KeyN)
		}
		return nil
	})
	return pending, dead, err
}

// Stats returns the store's counts.
func (s *Bolt) Stats() Stats {
	return Stats{Bytes: s.bytes.Load(), Pending: s.pending.Load(), Dead: s.dead.Load(),
		Commits: s.commits.Load(), Appended: s.appended.Load()}
}

// Close waits for the writes under way, stops the committer and closes
// the file. It is safe to call more than once.
func (s *Bolt) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.mu.Unlock()
	<-s.done
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("spool: close %s: %w", s.path, err)
	}
	return nil
}

// queueBucket returns the bucket of queue under top, created when create
// is set (else nil when there is none).
func queueBucket(tx *bolt.Tx, top []byte, queue string, create bool) (*bolt.Bucket, error) {
	tb := tx.Bucket(top)
	if !create {
		return tb.Bucket([]byte(queue)), nil
	}
	return tb.CreateBucketIfNotExists([]byte(queue))
}

func key(seq uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq) }

func clip(s string) string {
	if len(s) > maxReason {
		return s[:maxReason]
	}
	return s
}
