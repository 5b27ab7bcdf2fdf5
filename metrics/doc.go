// Package metrics exposes evstream's counters to Prometheus.
//
// A Collector reads the counters the daemon's parts already keep — the
// evi.Registry's raise count, its published events and live subscribers,
// the event_stream transport's stream.Stats and, when ingest is on, the
// ingest.Server's Stats — at scrape time. Nothing is counted twice and the
// delivery hot path pays nothing for metrics: every value is a snapshot
// taken when Prometheus asks.
//
// NewRegistry builds a prometheus.Registry of its own holding the Collector
// and the Go runtime and process collectors. The process-wide default
// registry (prometheus.DefaultRegisterer) is never touched, so a program
// that embeds the daemon keeps its own metrics to itself. Handler serves a
// registry in the Prometheus text exposition format; the daemon mounts it
// at GET /metrics on the MI listener.
//
// Counters end in _total and use base units (bytes, seconds); per-address
// gauges of the transport carry an "address" label ("tcp:host:port"). The
// full list is in docs/MI.md, "Metrics and health".
package metrics
