package metrics

import (
	"cmp"
	"log/slog"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/ingest"
	"github.com/evstream/evstream/transport"
)

// Namespace prefixes every metric name of the Collector.
const Namespace = "evstream"

// Sources are the parts whose counters a Collector reads. Registry is
// required; each transport that reports statistics is one of Transports;
// Ingest is nil when ingest is off, and its metrics are then not exposed.
type Sources struct {
	Registry   *evi.Registry
	Transports []TransportSource
	Ingest     *ingest.Server
}

// TransportSource is a transport's statistics, exposed as
// evstream_SUBSYSTEM_NAME (counters with "_total").
type TransportSource struct {
	Subsystem string
	Stats     transport.StatsReporter
}

// desc builds a metric description in the evstream namespace.
func desc(subsystem, name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, subsystem, name), help, labels, nil)
}

var (
	raisedDesc      = desc("events", "raised_total", "Events raised to at least one live subscriber.")
	publishedDesc   = desc("events", "published", "Events published in the registry.")
	subscribersDesc = desc("", "subscribers", "Live (not expired) subscribers over every published event.")

	ingestReceivedDesc = desc("ingest", "received_total", "Events read by the ingest listener.")
	ingestRaisedDesc   = desc("ingest", "raised_total", "Ingested events accepted by every live subscriber.")
	ingestNoSubsDesc   = desc("ingest", "no_subscribers_total", "Ingested events dropped because nobody subscribed.")
	ingestRejectedDesc = desc("ingest", "rejected_total", "Ingested events not raised: bad params, bad or unpublished event name.")
	ingestFailedDesc   = desc("ingest", "failed_total", "Ingested events refused by at least one subscriber, or raised after the registry closed.")
	ingestRefusedDesc  = desc("ingest", "refused_connections_total", "Ingest connections closed at once: source not in ingest.allow.")
)

// Collector is a prometheus.Collector over Sources: it reads their
// counters at each scrape. The transports' metrics are described by the
// transports themselves (transport.Stat), so the Collector knows no
// transport. It is safe for concurrent use.
type Collector struct {
	src Sources

	mu    sync.Mutex
	descs map[string]*prometheus.Desc // transports' metrics, by subsystem and name
}

// NewCollector returns a Collector over src. It panics when src.Registry
// is nil: that is a wiring bug, not a runtime condition.
func NewCollector(src Sources) *Collector {
	if src.Registry == nil {
		panic("metrics: NewCollector: Sources.Registry is required")
	}
	return &Collector{src: src, descs: map[string]*prometheus.Desc{}}
}

// Describe sends the descriptions of every metric: the fixed ones and the
// transports' (read from their statistics).
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{raisedDesc, publishedDesc, subscribersDesc} {
		ch <- d
	}
	for _, t := range c.src.Transports {
		for _, s := range t.Stats.Statistics() {
			d, _ := c.statDesc(t.Subsystem, s)
			ch <- d
		}
	}
	if c.src.Ingest != nil {
		for _, d := range []*prometheus.Desc{ingestReceivedDesc, ingestRaisedDesc, ingestNoSubsDesc, ingestRejectedDesc, ingestFailedDesc, ingestRefusedDesc} {
			ch <- d
		}
	}
}

// statDesc returns the description of a transport's statistic, made once.
func (c *Collector) statDesc(subsystem string, s transport.Stat) (*prometheus.Desc, prometheus.ValueType) {
	name := cmp.Or(s.Metric, s.Name)
	kind := prometheus.GaugeValue
	if s.Counter {
		name += "_total"
		kind = prometheus.CounterValue
	}
	key := subsystem + "\x00" + name
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.descs[key]
	if d == nil {
		d = desc(subsystem, name, s.Help, s.Labels...)
		c.descs[key] = d
	}
	return d, kind
}

// Collect sends a snapshot of the sources' counters.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}

	reg := c.src.Registry
	counter(raisedDesc, reg.Raised())
	gauge(publishedDesc, float64(len(reg.Events())))
	gauge(subscribersDesc, float64(reg.SubscriberCount()))

	for _, t := range c.src.Transports {
		for _, s := range t.Stats.Statistics() {
			d, kind := c.statDesc(t.Subsystem, s)
			if len(s.Labels) == 0 {
				ch <- prometheus.MustNewConstMetric(d, kind, s.Value)
				continue
			}
			for _, series := range s.Series {
				ch <- prometheus.MustNewConstMetric(d, kind, series.Value, series.Values...)
			}
		}
	}

	if c.src.Ingest != nil {
		is := c.src.Ingest.Stats()
		counter(ingestReceivedDesc, is.Received)
		counter(ingestRaisedDesc, is.Raised)
		counter(ingestNoSubsDesc, is.NoSubscribers)
		counter(ingestRejectedDesc, is.Rejected)
		counter(ingestFailedDesc, is.Failed)
		counter(ingestRefusedDesc, is.Refused)
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
