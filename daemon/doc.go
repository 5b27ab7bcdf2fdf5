// Package daemon wires evstream's parts from a Config into a running
// daemon: the evi Registry, the tcp: (event_stream) and virtual:
// (event_virtual) transports, the MI served over HTTP at /mi, and the
// optional ingest listener that relays JSON-RPC events received over TCP.
//
// The Config mirrors the YAML config file key for key (docs/CONFIG.md, and the
// commented examples/evstream.yaml). LoadConfig reads a file over
// DefaultConfig strictly: unknown keys, duplicate keys and values of the
// wrong type are errors, and every error names the file, the line and the
// field's YAML path:
//
//	evstream.yaml:7: event_stream.timeout: must be a positive number of milliseconds, got -5
//
// The life cycle is New (validate and build, bind nothing), Start (bind the
// listeners first, so that an address in use is a startup error; publish
// the configured events; make the configured subscriptions, which never
// expire unless they say so; then serve) and Shutdown (stop accepting MI
// and ingest requests, deliver the events already queued until the
// context's deadline, log what could not be sent).
//
// Delivery failures of events raised over the MI are logged at warn level
// with the event, the socket and the reason, at most a few per second: a
// dead subscriber cannot flood the log; the lines suppressed are counted in
// the next one.
//
// The MI listener also serves GET /metrics, the Prometheus metrics of
// package metrics (from a registry of the daemon's own, never the global
// default), and GET /healthz, which answers 200 "ok" while the daemon
// serves and 503 once Shutdown has begun.
package daemon
