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
// one connection, opened on the first event and closed when the last of
// them is closed and its queue is drained. Each connection has a bounded
// queue (Config.QueueSize) and, in reliable mode, a bounded window of
// requests awaiting a reply (Config.MaxInFlight): Send never blocks on the
// network, and fails with evi.ErrQueueFull instead of growing without
// bound. A writer goroutine per connection connects and writes whatever is
// queued in as few writes as it can; a reader goroutine matches replies, in
// any order, to their requests (or reads and discards what the peer sends,
// in notification mode). A dead, slow or never-reading destination never
// delays another.
//
// # Outcomes
//
// Every accepted event is reported exactly once to the done callback given
// to Send: nil when delivered — written, for notifications; confirmed by a
// reply without an "error" member, in reliable mode — or the reason it
// failed: evi.ErrTimeout past Config.Timeout (counted from the raise), the
// reply's *jsonrpc.Error, the connect or connection error, evi.ErrClosed.
// A broken connection fails everything awaiting a reply on it; the next
// event reconnects. When connects keep failing, attempts are spaced by a
// capped exponential backoff and events sent meanwhile fail at once with
// the last connect error.
//
// Request ids are positive integers below 2^31, unique among the requests
// pending on a connection. Replies may come in any order. Replies with an id
// that matches nothing, or a null or non-numeric id, are logged and
// ignored; data that is not JSON, or a reply larger than
// Config.MaxReplySize, closes the connection. Stats counts all of it, per
// address too.
//
// Close fails everything pending with evi.ErrClosed; Shutdown first waits,
// until its context ends, for what was accepted to be delivered.
package stream
