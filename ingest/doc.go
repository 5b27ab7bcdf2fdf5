// Package ingest lets evstream receive events the way an application server
// does, and raise them again to its own subscribers: it makes evstream a
// fan-out hub behind a real OpenSIPS.
//
//	# opensips.cfg: one connection from OpenSIPS to evstream
//	subscribe_event("E_PIKE_BLOCKED", "tcp:evstream-host:9000");
//
//	# evstream: many subscribers, each with its own queue, reliable mode...
//	evstream mi event_subscribe E_PIKE_BLOCKED tcp:10.0.0.5:8080
//
// A Server is a receiver.Server whose handler converts each event's JSON
// params into value.Params (jsonrpc.DecodeEventParams) and raises it in an evi.Registry,
// under its JSON-RPC method or, with Config.EventParam, under the name the
// params carry (OpenSIPS's event_param, taken out of the params). Raising
// never publishes an event: an unknown one has no subscribers (480) when the
// registry auto-publishes, and is not registered (404) when it does not.
//
// The conversion keeps the order of the params and the kinds OpenSIPS uses
// (integers, strings, null), so that what the subscribers receive is byte
// for byte what OpenSIPS would have sent them directly: a notification
// relayed to a subscriber with the same method and event_param comes out
// identical to what came in.
//
// Events from one connection are raised in the order they arrive. A request
// (OpenSIPS's reliable mode) is answered as soon as the event has been
// accepted for delivery by every live subscriber — queued, not yet
// delivered — with the number of subscribers as the result:
//
//	{"jsonrpc":"2.0","result":3,"id":915243442}
//
// or with an error when it could not be: 480 Temporarily Unavailable (no
// subscriber), 404 Event not registered (auto-publish off), 400 Bad event
// name, -32602 Invalid params (an object member with an empty name), 503
// Not Accepted (a subscriber's queue is full, or a destination is closed;
// data {"accepted":N,"reason":"..."}).
// OpenSIPS then counts the event as failed, and event_virtual can fail over.
// Notifications are raised and forgotten; Stats counts every outcome.
package ingest
