// Package delivery delivers the events of at-least-once subscribers: it is
// the registry's evi.Spooler. Every event raised to such a subscriber is
// appended to its queue in a spool.Store (durably, before the raise is
// acknowledged), sent from there as a request whose JSON-RPC id is its
// spool sequence, and removed only when a reply without "error" confirms
// it.
//
// Each queue has one goroutine that owns its delivery. It keeps up to
// Config.Window requests in flight, first arrivals in raise order. After a
// failure (an error reply, a timeout, a lost or refused connection, a
// restart) it waits for every request in flight, records the failed
// attempts, backs off (exponentially, with jitter, from RetryInitial to
// RetryMax) and goes back to the oldest unconfirmed event (go-back-N): a
// retried event carries the same id, so a receiver can drop duplicates.
// An event that failed MaxAttempts times, or is older than MaxAge, becomes
// a dead letter: counted, logged, kept until it is replayed or purged.
//
// A queue that keeps up does not read its events back: an append hands
// them over as it is submitted (spool.Store.AppendAsync's staged), and the
// queue sends them while the fsync is under way. What the hand-over's
// bounds leave out (events beyond 4096 or 4 MiB a queue, 64 MiB in all), a
// Replay's events, and everything after a failure or a restart are read
// back from the store once durable, in sequence order, before any later
// event is taken from the hand-over.
//
// The backlog of a subscriber that is down lives in the store, not in
// memory: a queue reads at most a window of events at a time.
package delivery
