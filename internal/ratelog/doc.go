// Package ratelog bounds the log lines that input or a peer can trigger.
//
// A Logger wraps an slog.Logger. Each message (the msg argument, which must
// be a constant: it is the key) gets at most Burst lines per Window; the
// lines beyond are counted, not written, and once the window ends — whether
// or not another line comes — one line with the same message reports how
// many were suppressed, with the attributes of the last one under "last":
//
//	level=WARN msg="connect failed" address=tcp:10.0.0.9:8080 err="connection refused"
//	...
//	level=WARN msg="connect failed" suppressed=2271 last.address=tcp:10.0.0.7:8080 last.err="connection refused"
//
// Close writes the counts still pending and stops the timers: after it
// returns, the Logger runs nothing more.
//
// Clip shortens a value a peer chose (an event name, a socket, a message)
// before it is logged, so that one line stays a line.
package ratelog
