package transport

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/jsonrpc"
)

// Plugin describes a transport that the daemon can build from its config.
type Plugin struct {
	// Scheme is the socket prefix the transport handles, without the
	// colon ("tcp"); get_statistics names its statistics "SCHEME:name".
	Scheme string
	// Section is the config file's section that configures it
	// ("event_stream").
	Section string
	// Subsystem names its Prometheus metrics: evstream_SUBSYSTEM_name.
	Subsystem string
	// NewSettings returns the section's settings at their defaults: a
	// pointer to a struct whose fields have yaml tags, into which the
	// section of the file is decoded (strictly: unknown keys are errors).
	NewSettings func() Settings
	// New builds the transport from settings that validated.
	New func(env Env, s Settings) (evi.Transport, error)
	// Order is where the transport comes in listings and in the daemon's
	// construction (lower first; then by scheme). Transports whose sockets
	// name other sockets (virtual:) come after those they name.
	Order int
}

// Settings is a transport's config section.
type Settings interface {
	// Validate returns every problem of the settings, each an error naming
	// the key (relative to the section) when it is a *FieldError.
	Validate() []error
}

// FieldError is a problem with one key of a transport's section; the
// daemon adds the section and the file's line.
type FieldError struct {
	// Field is the key's path within the section ("timeout").
	Field string
	// Msg says what is wrong.
	Msg string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Errorf returns a *FieldError for field.
func Errorf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Env is what the daemon gives a transport it builds.
type Env struct {
	// Registry is the daemon's registry: transports whose sockets name
	// other sockets (virtual:) parse them with it.
	Registry *evi.Registry
	// Logger receives the transport's logs.
	Logger *slog.Logger
	// Dialer, when set, opens the transports' connections (the daemon's
	// allow-list: destinations.allow and its own listeners), and Check
	// says at subscribe time whether a host and port may be used; a
	// transport of host:port sockets uses both.
	Dialer interface {
		DialContext(ctx context.Context, network, address string) (net.Conn, error)
	}
	Check func(ctx context.Context, host string, port int) error
	// Sections are the settings of every registered transport, by
	// section: a transport that shares another's settings (tls: writes
	// event_stream's wire, with event_stream's timeout and queues) reads
	// them here.
	Sections map[string]Settings
	// SeqIDs asks for the transport of at-least-once subscribers: events
	// go as requests whose id is their spool sequence (evi.Message.Seq),
	// whatever the section says about reliable mode. The daemon builds
	// every transport twice when it has a data_dir: once for at-most-once
	// subscribers, once (with SeqIDs) for at-least-once ones; a transport
	// whose sockets name others (virtual:) gets the registry of the
	// SeqIDs ones.
	SeqIDs bool
}

var (
	mu      sync.Mutex
	plugins = map[string]Plugin{} // by scheme
)

// Register makes p known to the daemon. It panics when the scheme or the
// section is taken, or a field is missing: that is a program's bug.
func Register(p Plugin) {
	mu.Lock()
	defer mu.Unlock()
	if p.Scheme == "" || p.Section == "" || p.Subsystem == "" || p.NewSettings == nil || p.New == nil {
		panic(fmt.Sprintf("transport: Register %q: Scheme, Section, Subsystem, NewSettings and New are required", p.Scheme))
	}
	for _, q := range plugins {
		if q.Scheme == p.Scheme || q.Section == p.Section {
			panic(fmt.Sprintf("transport: Register %q (section %q): taken by %q (section %q)", p.Scheme, p.Section, q.Scheme, q.Section))
		}
	}
	plugins[p.Scheme] = p
}

// Plugins returns the registered transports, by Order then scheme.
func Plugins() []Plugin {
	mu.Lock()
	defer mu.Unlock()
	out := make([]Plugin, 0, len(plugins))
	for _, p := range plugins {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Plugin) int {
		return cmp.Or(cmp.Compare(a.Order, b.Order), strings.Compare(a.Scheme, b.Scheme))
	})
	return out
}

// Stat is one statistic of a transport: a single value, or, when Labels
// is set, a family of series (one per address, say).
type Stat struct {
	// Name is the statistic's name: get_statistics shows it as
	// "SCHEME:Name".
	Name string
	// Metric is its Prometheus name under the plugin's Subsystem, without
	// the "_total" of counters; "" means Name.
	Metric string
	// Help says what it counts.
	Help string
	// Counter marks a cumulative count (a Prometheus counter, "_total"
	// appended); otherwise it is a gauge.
	Counter bool
	// Value is its value when Labels is empty.
	Value float64
	// Labels, when set, name the labels of the family's series, and
	// Series holds them (possibly none); only /metrics shows those,
	// get_statistics does not.
	Labels []string
	Series []Series
}

// Series is one series of a labelled Stat.
type Series struct {
	// Values are the label values, in the order of Stat.Labels.
	Values []string
	// Value is the series' value.
	Value float64
}

// StatsReporter is implemented by transports that count what they do.
// Statistics returns the same statistics, in the same order, at every
// call (only the series of labelled ones come and go): /metrics describes
// them from the first call.
type StatsReporter interface {
	Statistics() []Stat
}

// Drainer is implemented by transports that can say how many events they
// hold and what became of the others: the daemon logs them at shutdown.
type Drainer interface {
	Drain() DrainCounts
}

// DrainCounts are a transport's delivery counts.
type DrainCounts struct {
	// Pending events are accepted and not yet delivered or failed.
	Pending int64
	// Delivered, Failed and Timeouts are cumulative.
	Delivered, Failed, Timeouts uint64
}

// Command is an MI command a transport adds.
type Command struct {
	// Name is the command's name, Summary what it does, Params its param
	// lists (each in positional order; each extends the previous one).
	Name, Summary string
	Params        [][]string
	// Run runs it with the params given (by name, whichever way the caller
	// gave them) and returns the JSON result, or the error to answer with
	// (a *jsonrpc.Error chooses the code).
	Run func(params map[string]json.RawMessage) (json.RawMessage, *jsonrpc.Error)
}

// Commander is implemented by transports with MI commands of their own.
type Commander interface {
	Commands() []Command
}

// Connection is the state of one connection a transport keeps to an
// address, shared by the destinations that name it.
type Connection struct {
	// Address names it as a socket does, without a path ("tcp:host:port"):
	// a destination's socket is the address, or starts with it and "/".
	Address string
	// State is "idle", "connecting", "connected" or "backoff".
	State string
	// NextAttempt is how long until the next connect attempt is allowed
	// (backoff; 0: at the next event to send).
	NextAttempt time.Duration
	// Subscriptions is how many destinations use it.
	Subscriptions int
	// Queued events wait to be written (QueuedBytes their bytes);
	// InFlight requests await their reply.
	Queued, QueuedBytes, InFlight int
	// LastError is the last connect error; empty once connected.
	LastError string
	// Delivered and Failed are cumulative counts of its events.
	Delivered, Failed uint64
}

// ConnectionReporter is implemented by transports that keep connections
// to addresses: the live view shows them.
type ConnectionReporter interface {
	Connections() []Connection
}
