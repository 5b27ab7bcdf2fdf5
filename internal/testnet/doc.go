// Package testnet holds the loopback-network helpers that the tests of
// several evstream packages used to repeat: a loopback TCP server that runs a
// handler per connection, a TCP sink built on it that records what
// subscribers are sent, a bounded poll, a dial with a deadline, a
// goroutine-safe buffer for logs, a settable clock, and the loader of the
// golden OpenSIPS wire vectors (LoadVectors).
//
// It is test support only: import it from _test.go files, never from
// production code. Every helper takes a testing.TB, fails the test (rather
// than returning an error) when something goes wrong, and releases what it
// opened through t.Cleanup.
//
// Nothing here sleeps to synchronize. A Sink wakes its waiters on a channel
// closed whenever bytes arrive; PollUntil polls state that can only be seen
// by asking, every millisecond, bounded by the caller's timeout. Timeouts
// are always the caller's: each package keeps its own testTimeout, so moving
// a helper here changes no test's deadline.
//
// Only loopback addresses are used: servers and sinks listen on 127.0.0.1:0
// (or a loopback listener the test made, with ServeOn).
package testnet
