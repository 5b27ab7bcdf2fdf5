// Package stream is the "tcp:" transport of evstream, OpenSIPS's
// event_stream module in Go: raised events are delivered to application
// servers as JSON-RPC 2.0 objects written straight onto TCP connections.
//
// A subscriber's socket is "tcp:" host ":" port ["/" method], for example
// "tcp:127.0.0.1:8080/block_ip". The host is a DNS name, an IPv4 address, or
// an IPv6 address in brackets ("tcp:[::1]:8080", an evstream extension); it
// must resolve when the socket is parsed (subscribed) and is resolved again
// on every reconnect. The method, when given, is the JSON-RPC method called;
// otherwise the event's name is.
//
// Every event becomes one compact JSON object, byte for byte as OpenSIPS
// writes it (see package jsonrpc): a notification
//
//	{"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"ip":"192.168.2.11"}}
//
// or, in reliable mode, a request whose reply confirms delivery:
//
//	{"id":1,"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"ip":"192.168.2.11"}}
//
// Objects follow each other with no delimiter, or a newline with
// Config.Framing. The params of a raised event are encoded once, however
// many destinations it goes to; only the id and method are written per
// destination.
//
// # Connections
//
// All the subscriptions that name the same host (as written) and port share
// one connection, opened on the first event and closed as soon as the last
// of them is closed and what it queued is done. Each subscription (each
// Destination) has its own queue, bounded in events (Config.QueueSize) and
// in bytes of their encoding (Config.QueueBytes), and the transport bounds
// the bytes queued over all of them (Config.TotalBytes); in reliable mode
// each connection has a bounded window of requests awaiting a reply
// (Config.MaxInFlight). Send never blocks on the network: over a bound it
// refuses the event with a *evi.DeliveryError (evi.ReasonQueueFull), and a
// producer that would rather wait uses WaitRoom (evi.Waiter).
//
// A writer goroutine per connection runs while something is queued: it
// connects (through Config.Dialer: a *net.Dialer, a *tls.Dialer, an
// in-memory network in tests) and writes the queues out in as few writes
// as it can, the subscriptions with a backlog taking turns of up to 64
// events, so that one's backlog never delays another's live events, and
// each's events stay in order. A reader goroutine matches replies, in any
// order, to their requests (or reads and discards what the peer sends, in
// notification mode). An idle subscription holds no buffer, an address
// nobody sends to holds no goroutine, and connects to an address that
// refuses them are spaced by a capped exponential backoff per address. A
// dead, slow or never-reading destination never delays another.
//
// # Outcomes
//
// Every accepted event is reported exactly once to the done callback given
// to Send, from a dispatcher goroutine, never from a connection's reader or
// writer: a callback that does disk work or sends again does not stall
// I/O, and a destination's outcomes are reported in the order they were
// decided. The outcome is nil when the event was delivered — written, for
// notifications; confirmed by a reply without an "error" member, in
// reliable mode — or a *evi.DeliveryError saying why not and whether its
// bytes left: ReasonConnect, ReasonWrite, ReasonLost (written, the
// connection failed before the reply), ReasonErrorReply (with the reply's
// *jsonrpc.Error), ReasonTimeout (past Config.Timeout, counted from the
// Send: each hand-over of an event is an attempt with a whole timeout), or
// ReasonClosed. When connects keep failing, events sent while the next
// attempt is not due fail at once with the last connect error.
//
// Request ids are positive integers below 2^31, unique among the requests
// pending on a connection. Replies may come in any order. Replies with an id
// that matches nothing, or a null or non-numeric id, are logged and
// ignored; data that is not JSON, or a reply larger than
// Config.MaxReplySize, closes the connection. Stats counts all of it, per
// address too.
//
// Close fails everything pending (ReasonClosed) and returns when every
// outcome has been reported and nothing of the transport runs any more;
// Shutdown first waits, until its context ends, for what was accepted to
// be delivered. The package's tests run the transport contract suite
// (transport/transporttest) over TCP and over in-memory pipes.
package stream
