// Package receiver is the application side of event_stream: a TCP server
// that accepts the streams OpenSIPS (or evstream) writes to its subscribers,
// decodes the JSON-RPC 2.0 objects written back to back on them, and hands
// every event to a Handler, the way net/http hands requests to an
// http.Handler.
//
// A subscriber registered as tcp:HOST:PORT[/METHOD] receives one JSON-RPC
// object per raised event:
//
//	{"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"ip":"192.168.2.11"}}
//
// or, when the sender runs in reliable mode, a request that must be answered
// to confirm the delivery:
//
//	{"id":915243442,"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"ip":"192.168.2.11"}}
//	reply: {"jsonrpc":"2.0","result":"OK","id":915243442}
//
// Objects may be split across reads or share one; whitespace between them
// (newline framing) is accepted too.
//
// # Handlers
//
// A Handler's ServeEvent gets a *Request (method, raw params, raw id, peer
// address, time received). Its result answers a request; its error becomes a
// JSON-RPC error reply, which the sender counts as a failed delivery. For a
// notification both are ignored. A Mux dispatches on the method:
//
//	mux := receiver.NewMux()
//	mux.HandleFunc("E_PIKE_BLOCKED", func(ctx context.Context, req *receiver.Request) (any, error) {
//		var p struct{ IP string `json:"ip"` }
//		if err := json.Unmarshal(req.Params, &p); err != nil {
//			return nil, err
//		}
//		return "OK", block(p.IP)
//	})
//	srv := &receiver.Server{Handler: mux}
//	log.Fatal(srv.ListenAndServe("127.0.0.1:8080"))
//
// A request whose method has no handler gets the JSON-RPC error -32601
// (Method not found); such a notification is dropped and logged at debug
// level.
//
// # Ordering and concurrency
//
// Events that arrive on one connection are handled one after the other, in
// the order they were sent: the sender keeps one connection per destination,
// so a handler sees a destination's events in raise order. Connections are
// served concurrently. A slow handler therefore slows down its own
// connection only; when it must not, it can hand the work to a queue of its
// own and return.
//
// A handler that must answer a request later (once the event is stored,
// after a group commit) calls Request.Defer and answers with the Responder
// it returns, from any goroutine and in any order: JSON-RPC matches
// replies by id. The connection keeps reading meanwhile, up to
// Server.MaxPendingReplies requests unanswered; at that bound it stops
// reading until one is answered.
//
// Replies are written by a separate goroutine per connection, as many as are
// queued in a single write.
//
// # Bad input
//
// Garbage (anything but a JSON object between objects, or malformed JSON)
// and objects larger than Server.MaxMessageSize cannot be skipped reliably:
// the server logs the peer, the stream offset and the reason, and closes
// that connection; other connections are not affected. A well-formed object
// that is not a valid JSON-RPC message is answered with -32600 (Invalid
// Request) when it carries an id, and dropped otherwise. Responses (objects
// with a result or an error) are ignored.
//
// # Lifecycle
//
// Serve returns ErrServerClosed after Shutdown or Close. Shutdown stops
// accepting, lets each connection handle what it has already received in
// full and write the replies (deferred ones included), then closes it;
// Close closes everything at once and cancels the handlers' contexts.
package receiver
