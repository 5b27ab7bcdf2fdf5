// Package mi is evstream's management interface: OpenSIPS's MI commands
// for the Event Interface, served as JSON-RPC 2.0 over HTTP the way
// OpenSIPS's mi_http module serves them, so that tools written for
// OpenSIPS (opensips-cli -x mi, scripts POSTing JSON) work unchanged.
//
// A Handler is an http.Handler: the daemon mounts it at /mi. Each POST
// carries one JSON-RPC request; params go by position (an array) or by name
// (an object). A request is answered with HTTP 200 and a JSON-RPC response
// whose members come in OpenSIPS's order:
//
//	{"jsonrpc":"2.0","result":"OK","id":1}
//	{"jsonrpc":"2.0","error":{"code":400,"message":"Bad parameter value","data":"tcp:127.0.0.1:70000: port 70000 out of range 1..65535"},"id":1}
//	{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"Negative expire value"},"id":1}
//
// A request without an id (a notification) is run and answered with HTTP
// 204 and no body. Malformed JSON is -32700, a body that is not a request
// (or a batch) -32600, an unknown command -32601, params that fit none of
// the command's param lists -32602 "Too few or too many parameters".
//
// The OpenSIPS commands keep OpenSIPS's shapes exactly: event_subscribe
// (event, socket, [expire]: 3600 s by default, 0 unsubscribes),
// events_list, subscribers_list ([event, [socket]]) and raise_event
// (event, [params]). evstream adds event_publish, event_unsubscribe,
// get_statistics, which and version. Where OpenSIPS answers a generic
// error (400 Bad parameter value, Bad Params) and only logs why, the error
// also carries the reason as data. Commands describes every command (for
// help texts); docs/MI.md with examples and the table of errors.
//
// raise_event never waits for delivery: it hands the event to the
// registry, which queues it for each subscriber, and answers. Delivery
// outcomes go to Options.Report.
package mi
