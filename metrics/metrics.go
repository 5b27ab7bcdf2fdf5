package metrics

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/ingest"
	"github.com/evstream/evstream/transport/stream"
)

// Namespace prefixes every metric name of the Collector.
const Namespace = "evstream"

// Sources are the parts whose counters a Collector reads. Registry and
// Stream are required; Ingest is nil when ingest is off, and its metrics
// are then not exposed.
type Sources struct {
	Registry *evi.Registry
	Stream   *stream.Transport
	Ingest   *ingest.Server
}

// desc builds a metric description in the evstream namespace.
func desc(subsystem, name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, subsystem, name), help, labels, nil)
}

// counterDesc pairs a counter description with the stream.Counters field
// it reads.
type counterDesc struct {
	desc  *prometheus.Desc
	value func(stream.Counters) uint64
}

var (
	raisedDesc      = desc("events", "raised_total", "Events raised to at least one live subscriber.")
	publishedDesc   = desc("events", "published", "Events published in the registry.")
	subscribersDesc = desc("", "subscribers", "Live (not expired) subscribers over every published event.")

	streamCounters = []counterDesc{
		{desc("stream", "sent_total", "Events accepted by the event_stream (tcp:) transport."), func(c stream.Counters) uint64 { return c.Sent }},
		{desc("stream", "delivered_total", "Accepted events delivered: written (notification mode) or confirmed by a reply without error (reliable mode)."), func(c stream.Counters) uint64 { return c.Delivered }},
		{desc("stream", "failed_total", "Accepted events that failed, timeouts included."), func(c stream.Counters) uint64 { return c.Failed }},
		{desc("stream", "timeouts_total", "Accepted events that failed past the deadline."), func(c stream.Counters) uint64 { return c.Timeouts }},
		{desc("stream", "overflows_total", "Events refused because the destination's queue was full (not in sent)."), func(c stream.Counters) uint64 { return c.Overflows }},
		{desc("stream", "connects_total", "Successful connects to destinations."), func(c stream.Counters) uint64 { return c.Connects }},
		{desc("stream", "reconnects_total", "Connects after the first one to an address."), func(c stream.Counters) uint64 { return c.Reconnects }},
		{desc("stream", "connect_failures_total", "Failed connect attempts."), func(c stream.Counters) uint64 { return c.ConnectFailures }},
		{desc("stream", "unknown_replies_total", "Replies ignored because their id matched no pending request."), func(c stream.Counters) uint64 { return c.UnknownReplies }},
		{desc("stream", "bad_replies_total", "Data from a destination that was not a JSON-RPC response."), func(c stream.Counters) uint64 { return c.BadReplies }},
		{desc("stream", "written_bytes_total", "Bytes written to destination connections."), func(c stream.Counters) uint64 { return c.BytesWritten }},
		{desc("stream", "writes_total", "Write calls on destination connections (several events per write when coalesced)."), func(c stream.Counters) uint64 { return c.Writes }},
	}
	pendingDesc       = desc("stream", "pending", "Accepted events not completed yet (queued or awaiting a reply).")
	addrSubsDesc      = desc("stream", "address_subscriptions", "Open destinations sharing the address's connection.", "address")
	addrConnectedDesc = desc("stream", "address_connected", "1 when a connection to the address is up, else 0.", "address")
	addrQueuedDesc    = desc("stream", "address_queued", "Events waiting to be written to the address.", "address")
	addrInFlightDesc  = desc("stream", "address_in_flight", "Requests to the address awaiting a reply (reliable mode).", "address")
	addrBackoffDesc   = desc("stream", "address_backoff_seconds", "Current wait between connect attempts to the address; 0 after a successful connect.", "address")

	ingestReceivedDesc = desc("ingest", "received_total", "Events read by the ingest listener.")
	ingestRaisedDesc   = desc("ingest", "raised_total", "Ingested events accepted by every live subscriber.")
	ingestNoSubsDesc   = desc("ingest", "no_subscribers_total", "Ingested events dropped because nobody subscribed.")
	ingestRejectedDesc = desc("ingest", "rejected_total", "Ingested events not raised: bad params, bad or unpublished event name.")
	ingestFailedDesc   = desc("ingest", "failed_total", "Ingested events refused by at least one subscriber, or raised after the registry closed.")
)

// Collector is a prometheus.Collector over Sources: it reads their
// counters at each scrape. It is safe for concurrent use.
type Collector struct {
	src Sources
}

// NewCollector returns a Collector over src. It panics when src.Registry
// or src.Stream is nil: that is a wiring bug, not a runtime condition.
func NewCollector(src Sources) *Collector {
	if src.Registry == nil || src.Stream == nil {
		panic("metrics: NewCollector: Sources.Registry and Sources.Stream are required")
	}
	return &Collector{src: src}
}

// Describe sends the description of every metric Collect sends.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{raisedDesc, publishedDesc, subscribersDesc, pendingDesc,
		addrSubsDesc, addrConnectedDesc, addrQueuedDesc, addrInFlightDesc, addrBackoffDesc} {
		ch <- d
	}
	for _, cd := range streamCounters {
		ch <- cd.desc
	}
	if c.src.Ingest != nil {
		for _, d := range []*prometheus.Desc{ingestReceivedDesc, ingestRaisedDesc, ingestNoSubsDesc, ingestRejectedDesc, ingestFailedDesc} {
			ch <- d
		}
	}
}

// Collect sends a snapshot of the sources' counters.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}

	reg := c.src.Registry
	counter(raisedDesc, reg.Raised())
	gauge(publishedDesc, float64(len(reg.Events())))
	gauge(subscribersDesc, float64(reg.SubscriberCount()))

	s := c.src.Stream.Stats()
	for _, cd := range streamCounters {
		counter(cd.desc, cd.value(s.Counters))
	}
	gauge(pendingDesc, float64(s.Pending))
	for _, a := range s.Addresses {
		connected := 0.0
		if a.Connected {
			connected = 1
		}
		gauge(addrSubsDesc, float64(a.Subscriptions), a.Address)
		gauge(addrConnectedDesc, connected, a.Address)
		gauge(addrQueuedDesc, float64(a.Queued), a.Address)
		gauge(addrInFlightDesc, float64(a.InFlight), a.Address)
		gauge(addrBackoffDesc, a.Backoff.Seconds(), a.Address)
	}

	if c.src.Ingest != nil {
		is := c.src.Ingest.Stats()
		counter(ingestReceivedDesc, is.Received)
		counter(ingestRaisedDesc, is.Raised)
		counter(ingestNoSubsDesc, is.NoSubscribers)
		counter(ingestRejectedDesc, is.Rejected)
		counter(ingestFailedDesc, is.Failed)
	}
}

// NewRegistry returns a registry of its own (never the global default)
// holding a Collector over src and the Go runtime and process collectors.
func NewRegistry(src Sources) *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(
		NewCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return r
}

// Handler serves reg's metrics in the Prometheus exposition format
// (negotiated; text by default). Errors while gathering are logged to
// logger (nil discards them) and the metrics that could be gathered are
// still served.
func Handler(reg *prometheus.Registry, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}
