// Package spool keeps the events of at-least-once subscribers durably
// until they are confirmed: a FIFO per queue (one queue per subscriber),
// on disk, that survives crashes of the process and of the machine
// (everything Append acknowledged has been fsync'd).
//
// A Store has the semantics a replicated log has, so that another engine
// (NATS JetStream, for scale-out) can sit behind the same interface:
// Append returns each record's sequence in the store; Read reads pending
// records from a position; Confirm removes delivered ones; Retry records a
// failed attempt; Terminate turns a record into a dead letter, which
// DeadLetters lists, Replay puts back at the tail of its queue and Purge
// removes.
//
// Open returns the default engine, go.etcd.io/bbolt: one file, one writer.
// Its writes go through one committer goroutine that groups the requests
// of concurrent callers into one transaction and one fsync (group commit):
// a lone caller is committed at once, without waiting for company, and
// many callers share each fsync. An append takes its sequences, in the
// committer's order, when it is submitted; AppendAsync can hand them to
// the caller then (staged), before the fsync, because the file reserves
// sequences ahead of those given: after a crash, none is given again.
//
// The bound on the spool's size (Options.MaxBytes) refuses new records
// with ErrFull and never drops what was accepted. A damaged file is an
// error at Open naming it.
package spool
