// Package loadgen is the load-generation engine behind `evstream bench`: it
// drives a real evstream daemon with real subscribers over loopback TCP and
// measures throughput, latency and loss.
//
// A Scenario names how events are raised (Path: the Go API in this
// process, the MI's raise_event over HTTP, or the relay's ingest listener),
// the daemon's event_stream Mode (notifications, or reliable requests that
// the subscribers answer), the number of subscribers, and its bounds: a
// duration and/or a count of events, an optional fixed rate, and a drain
// time. Run starts a daemon in the process (or reaches a running one at a
// URL), subscribes one Sink per subscriber, raises from several workers,
// waits for the deliveries, tears everything down and returns a Result.
//
// Every event carries two named params: "s", a sequence number, and "t",
// the raise time in unix nanoseconds. A Sink records, for every event it
// receives, the latency (its clock at receipt minus t) in a Histogram and
// counts the events; with AtLeastOnce it also keeps a bitmap of the
// sequence numbers, so that lost and duplicated deliveries are counted
// exactly and a lost one fails the scenario.
//
// A Sink reads either with loadgen's own lean counting reader (one pass
// over each object, no allocation, replies batched), so that the sender
// under test dominates the cost, or with a real receiver.Server, to measure
// what an application built on package receiver pays.
//
// Raising "as fast as possible" is closed-loop: a worker waits while more
// than Window deliveries per subscriber are in flight (raised, not yet
// received), so that the daemon's bounded queues never overflow and the
// throughput measured is the sustainable one. With a Rate the workers pace
// themselves on a schedule instead; latency is best measured that way.
//
// Histogram is a log-bucketed (HDR-style) histogram with a relative
// precision of 1/128, usable on its own.
package loadgen
