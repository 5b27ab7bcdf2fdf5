// Package virtual is the "virtual:" transport of evstream, OpenSIPS's
// event_virtual: one subscriber socket that stands for several member
// sockets of other transports, with a policy that says how events are spread
// over them.
//
//	virtual:FAILOVER tcp:127.0.0.1:9001 tcp:127.0.0.1:9002
//	virtual:PARALLEL tcp:10.0.0.1:8080/log tcp:10.0.0.2:8080/log
//	virtual:ROUND-ROBIN tcp:w1:9000 tcp:w2:9000 tcp:w3:9000
//
// The policy is PARALLEL, FAILOVER or ROUND-ROBIN, uppercase. Members are
// separated by spaces or tabs, are written in their own transport's syntax
// and are parsed, when the virtual socket is, by the Registry given to New
// (so a bad member fails the subscription at once). At least one member is
// needed, and a member cannot itself be virtual. The whole virtual socket is
// one subscriber with one expire; its printed form is the socket as given
// with the whitespace normalised to single spaces.
//
// PARALLEL sends every event to every member; the event is delivered when
// every member delivered it. FAILOVER tries the members in order, one at a
// time, until one delivers; a member that failed is tried last for the
// next Config.FailoverTimeout (30 s by default), and an event is tried on
// every member before it is given up. ROUND-ROBIN sends each event to the
// next member in turn, exactly, and does not retry elsewhere.
//
// Delivery is never waited for: a FAILOVER event moves to the next member
// from the previous member's done callback. The virtual subscriber's outcome
// is reported through its own done callback (evi.Outcome for the raiser):
// nil, or an *Error listing every member's failure (errors.Is sees each
// member's error, for example evi.ErrTimeout). What counts as a member
// failure is the member transport's business: for "tcp:" in reliable mode, a
// missing or error reply; in notification mode, a failed connect or write.
//
// The differences from OpenSIPS are in docs/VIRTUAL.md.
package virtual
