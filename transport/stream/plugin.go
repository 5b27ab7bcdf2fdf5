package stream

import (
	"log/slog"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/transport"
)

// Section is the config file's section of the "tcp:" transport.
const Section = "event_stream"

// Ranges of the settings, checked by Settings.Validate.
const (
	// MaxTimeoutMS is the longest timeout: one hour.
	MaxTimeoutMS = 3_600_000
	// MaxQueueSize is the largest queue_size.
	MaxQueueSize = 1 << 24
	// MinQueueBytes and MaxQueueBytes bound queue_bytes: 4 KiB to 1 GiB.
	MinQueueBytes = 4 << 10
	MaxQueueBytes = 1 << 30
	// MaxTotalBytes bounds total_queue_bytes: 64 GiB.
	MaxTotalBytes = 64 << 30
)

func init() {
	transport.Register(transport.Plugin{
		Scheme:      Scheme,
		Section:     Section,
		Subsystem:   "stream",
		NewSettings: func() transport.Settings { s := DefaultSettings(); return &s },
		New: func(env transport.Env, s transport.Settings) (evi.Transport, error) {
			cfg := s.(*Settings).Config(env.Logger)
			cfg.SeqIDs = env.SeqIDs
			cfg.Check = env.Check
			if env.Dialer != nil {
				cfg.Dialer = env.Dialer
			}
			return New(cfg)
		},
	})
}

// Settings are the "event_stream" section of the config file: OpenSIPS's
// event_stream module parameters, evstream's framing extension and the
// bounds of the queues. Config turns them into a Config.
type Settings struct {
	// ReliableMode sends events as requests and waits for the replies.
	ReliableMode bool `yaml:"reliable_mode"`
	// Timeout is in milliseconds: each attempt, from the hand-over to the
	// reply (reliable mode) or to the bytes written (notifications).
	Timeout int `yaml:"timeout"`
	// EventParam, when set, adds the event's name to the params under this
	// name.
	EventParam string `yaml:"event_param"`
	// Framing is what follows each object on the wire: none or newline.
	Framing string `yaml:"framing"`
	// QueueSize bounds the events waiting, per subscription.
	QueueSize int `yaml:"queue_size"`
	// QueueBytes bounds the bytes waiting, per subscription.
	QueueBytes int `yaml:"queue_bytes"`
	// TotalQueueBytes bounds the bytes waiting over every subscription.
	TotalQueueBytes int64 `yaml:"total_queue_bytes"`
}

// DefaultSettings returns the section's defaults.
func DefaultSettings() Settings {
	return Settings{
		Timeout:         int(DefaultTimeout / time.Millisecond),
		Framing:         jsonrpc.FramingNone.String(),
		QueueSize:       DefaultQueueSize,
		QueueBytes:      DefaultQueueBytes,
		TotalQueueBytes: DefaultTotalBytes,
	}
}

// Validate returns every problem of s, each a *transport.FieldError.
func (s *Settings) Validate() []error {
	var errs []error
	inRange := func(field string, v, lo, hi int64, unit string) {
		if v < lo || v > hi {
			errs = append(errs, transport.Errorf(field, "%d is out of range: want %d to %d %s", v, lo, hi, unit))
		}
	}
	inRange("timeout", int64(s.Timeout), 1, MaxTimeoutMS, "milliseconds (1 hour)")
	if _, err := jsonrpc.ParseFraming(s.Framing); err != nil {
		errs = append(errs, transport.Errorf("framing", "%q is not a framing (want none or newline)", s.Framing))
	}
	inRange("queue_size", int64(s.QueueSize), 1, MaxQueueSize, "events")
	inRange("queue_bytes", int64(s.QueueBytes), MinQueueBytes, MaxQueueBytes, "bytes (4 KiB to 1 GiB)")
	inRange("total_queue_bytes", s.TotalQueueBytes, int64(max(s.QueueBytes, MinQueueBytes)), MaxTotalBytes, "bytes (at least queue_bytes, at most 64 GiB)")
	return errs
}

// Config returns the transport's Config for s (validated), logging to
// logger.
func (s *Settings) Config(logger *slog.Logger) Config {
	framing, _ := jsonrpc.ParseFraming(s.Framing)
	cfg := DefaultConfig()
	cfg.ReliableMode = s.ReliableMode
	cfg.Timeout = time.Duration(s.Timeout) * time.Millisecond
	cfg.EventParam = s.EventParam
	cfg.Framing = framing
	cfg.QueueSize = s.QueueSize
	cfg.QueueBytes = s.QueueBytes
	cfg.TotalBytes = s.TotalQueueBytes
	cfg.Logger = logger
	return cfg
}

// Statistics returns the transport's counters and gauges: the totals
// (get_statistics "tcp:sent"...; /metrics evstream_stream_sent_total...)
// and, for /metrics, a series per address.
func (t *Transport) Statistics() []transport.Stat {
	s := t.Stats()
	counter := func(name, metric, help string, v uint64) transport.Stat {
		return transport.Stat{Name: name, Metric: metric, Help: help, Counter: true, Value: float64(v)}
	}
	gauge := func(name, help string, v float64) transport.Stat {
		return transport.Stat{Name: name, Help: help, Value: v}
	}
	perAddress := func(name, help string, v func(AddressStats) float64) transport.Stat {
		st := transport.Stat{Name: name, Help: help, Labels: []string{"address"},
			Series: make([]transport.Series, len(s.Addresses))}
		for i, a := range s.Addresses {
			st.Series[i] = transport.Series{Values: []string{a.Address}, Value: v(a)}
		}
		return st
	}
	return []transport.Stat{
		counter("sent", "", "Events accepted by the event_stream (tcp:) transport.", s.Sent),
		counter("delivered", "", "Accepted events delivered: written (notification mode) or confirmed by a reply without error (reliable mode).", s.Delivered),
		counter("failed", "", "Accepted events that failed, timeouts included.", s.Failed),
		counter("timeouts", "", "Accepted events that failed past their deadline.", s.Timeouts),
		counter("overflows", "", "Events refused because a queue was full (not in sent).", s.Overflows),
		gauge("pending", "Accepted events not completed yet (queued or awaiting a reply).", float64(s.Pending)),
		gauge("addresses", "Destination addresses in use.", float64(len(s.Addresses))),
		gauge("queued_bytes", "Bytes waiting in the queues, over every destination.", float64(s.QueuedBytes)),
		counter("connects", "", "Successful connects to destinations.", s.Connects),
		counter("reconnects", "", "Connects after the first one to an address.", s.Reconnects),
		counter("connect_failures", "", "Failed connect attempts.", s.ConnectFailures),
		counter("unknown_replies", "", "Replies ignored because their id matched no pending request.", s.UnknownReplies),
		counter("bad_replies", "", "Data from a destination that was not a JSON-RPC response.", s.BadReplies),
		counter("bytes_written", "written_bytes", "Bytes written to destination connections.", s.BytesWritten),
		counter("writes", "", "Write calls on destination connections (several events per write when coalesced).", s.Writes),
		perAddress("address_subscriptions", "Open destinations sharing the address's connection.",
			func(a AddressStats) float64 { return float64(a.Subscriptions) }),
		perAddress("address_connected", "Connections to the address that are up: 1 or 0 for each transport instance (the daemon's at-most-once and at-least-once subscribers connect separately).",
			func(a AddressStats) float64 {
				if a.Connected {
					return 1
				}
				return 0
			}),
		perAddress("address_queued", "Events waiting to be written to the address.",
			func(a AddressStats) float64 { return float64(a.Queued) }),
		perAddress("address_in_flight", "Requests to the address awaiting a reply (reliable mode).",
			func(a AddressStats) float64 { return float64(a.InFlight) }),
		perAddress("address_backoff_seconds", "Current wait between connect attempts to the address; 0 after a successful connect.",
			func(a AddressStats) float64 { return a.Backoff.Seconds() }),
	}
}

// Drain returns the counts the daemon logs when it shuts down.
func (t *Transport) Drain() transport.DrainCounts {
	s := t.Stats()
	return transport.DrainCounts{Pending: s.Pending, Delivered: s.Delivered, Failed: s.Failed, Timeouts: s.Timeouts}
}

// Connections returns the state of every address's connection, for the
// live view (transport.ConnectionReporter).
func (t *Transport) Connections() []transport.Connection {
	s := t.Stats()
	out := make([]transport.Connection, len(s.Addresses))
	for i, a := range s.Addresses {
		out[i] = transport.Connection{
			Address: a.Address, State: a.State, NextAttempt: a.NextAttempt, Subscriptions: a.Subscriptions,
			Queued: a.Queued, QueuedBytes: a.QueuedBytes, InFlight: a.InFlight, LastError: a.LastError,
			Delivered: a.Delivered, Failed: a.Failed,
		}
	}
	return out
}
