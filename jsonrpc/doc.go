// Package jsonrpc is evstream's JSON-RPC 2.0 layer for streams: a compact
// encoder that writes events byte for byte as OpenSIPS's event_stream module
// does, a streaming decoder for objects written back to back on a TCP
// connection, and parsers for the messages and replies that travel on it.
//
// # Encoding
//
// The Append functions write into a caller's buffer, without reflection and
// without encoding/json, so that encoding an event costs a few hundred
// nanoseconds and no allocation when the buffer is reused. An event is
// encoded in two steps, so that the params of an event raised to many
// subscribers are encoded once and only the per-subscriber parts (id and
// method) are written again:
//
//	params := jsonrpc.AppendParams(nil, ev.Params, eventParam, ev.Name)
//	msg = jsonrpc.AppendNotification(msg[:0], method, params)  // notification mode
//	msg = jsonrpc.AppendRequest(msg[:0], id, method, params)   // reliable mode
//
// which gives, as OpenSIPS writes it, compact and with keys in this order:
//
//	{"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"ip":"192.168.2.11"}}
//	{"id":915243442,"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"ip":"192.168.2.11"}}
//
// Strings are escaped as OpenSIPS escapes them (see AppendString), except
// that NUL bytes and invalid UTF-8, which OpenSIPS writes raw, are escaped or
// replaced so that the stream is always valid JSON. A Framing says what
// separates objects: nothing (FramingNone, as OpenSIPS) or a newline
// (FramingNewline).
//
// # Decoding
//
// A Decoder splits a byte stream into JSON objects. No delimiter is needed;
// whitespace between objects is skipped, so both framings are read. It
// enforces a size limit (DefaultMaxMessageSize unless told otherwise) and
// reports garbage as a *SyntaxError carrying the stream offset.
//
// Parse turns one object into a Message (request, notification or
// response) and checks it against the JSON-RPC 2.0 specification, in one
// validating pass. A Parser does the same for a connection's reader, on
// the objects a Decoder returns: it does not validate them again or copy
// them, and reuses its Message and the last method name, so that it does
// not allocate for a stream of the same event.
// ParseResponse is the allocation-free fast path a sender in reliable mode
// uses for every reply: it extracts only the integer id and the error
// member. AppendResult and AppendError write replies in OpenSIPS's key order;
// CodeOf picks the error code for a message that could not be parsed.
package jsonrpc
