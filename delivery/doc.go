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
// The backlog of a subscriber that is down lives in the store, not in
// memory: a queue reads at most a window of events at a time.
package delivery
