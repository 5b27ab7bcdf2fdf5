package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/evstream/evstream/jsonrpc"
)

// Defaults used for the zero fields of a Config.
const (
	// DefaultTimeout is OpenSIPS's event_stream default timeout (1000 ms).
	DefaultTimeout = time.Second
	// DefaultQueueSize bounds the events waiting to be written, per
	// destination (subscription).
	DefaultQueueSize = 1 << 16
	// DefaultQueueBytes bounds the bytes of the events waiting to be
	// written, per destination (subscription): 16 MiB.
	DefaultQueueBytes = 16 << 20
	// DefaultTotalBytes bounds the bytes of the events waiting to be
	// written over the whole transport: 256 MiB.
	DefaultTotalBytes = 256 << 20
	// DefaultMaxInFlight bounds the requests awaiting a reply, per
	// connection (reliable mode).
	DefaultMaxInFlight = 4096
	// DefaultBackoffMin is the wait before the first reconnect attempt after
	// a failed connect.
	DefaultBackoffMin = 100 * time.Millisecond
	// DefaultBackoffMax caps the wait between reconnect attempts.
	DefaultBackoffMax = 5 * time.Second
	// DefaultMaxReplySize bounds one reply (reliable mode); a larger reply
	// closes the connection.
	DefaultMaxReplySize = 1 << 20
	// DefaultConnectTimeout bounds one connect attempt.
	DefaultConnectTimeout = 3 * time.Second
	// DefaultResolveTimeout bounds the DNS lookup done when a socket is
	// parsed (subscribed).
	DefaultResolveTimeout = 2 * time.Second
)

// Limits checked by Config.Validate.
const (
	// MaxMaxInFlight is the largest MaxInFlight accepted.
	MaxMaxInFlight = 1 << 20
)

// Dialer opens the connections of a Transport: a *net.Dialer by default;
// a *tls.Dialer for "tls:", an in-memory network in tests, or a dialer that
// checks the address it resolved against an allow-list.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Resolver checks, when a socket is parsed, that its host resolves:
// net.DefaultResolver by default.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Config configures a Transport. Zero fields take the Default values, so the
// zero Config is OpenSIPS's default event_stream setup (notifications,
// 1000 ms timeout, no event_param, no framing) on "tcp:".
type Config struct {
	// Scheme is the socket prefix the transport handles, without the
	// colon; "" means "tcp". A transport that writes the same stream
	// through another kind of connection (TLS) is a Transport with its own
	// Scheme and Dialer.
	Scheme string
	// ReliableMode sends every event as a JSON-RPC request and reports it
	// delivered only when a reply without an "error" member arrives
	// (OpenSIPS's reliable_mode). Off: notifications, delivered when written.
	ReliableMode bool
	// SeqIDs sends every event as a request whose JSON-RPC id is its
	// evi.Message.Seq (ReliableMode is implied): an event handed over
	// again (a retry, after a restart too) carries the same id, so that a
	// receiver can drop duplicates by it. Sequences must be unique among
	// the events pending on a connection, as a spool's are; an event with
	// Seq 0 is refused (ReasonRejected). An event that times out before
	// it is written keeps the later ones of its socket back: those queued
	// fail unwritten too, and Send refuses more (ReasonTimeout) until
	// nothing of the socket is pending, so that its retry arrives before
	// them (at-least-once first arrivals stay in order). The transport of
	// at-least-once subscribers has it; a subscriber's own config does not
	// set it.
	SeqIDs bool
	// Timeout bounds each attempt, counted from the Send that hands the
	// event over (not from the raise, so that an event handed over again
	// by a failover, a retry or a replay has a whole timeout): in reliable
	// mode until the reply, in notification mode until the bytes are
	// written. An event past it fails with ReasonTimeout. 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// EventParam, when set, adds the event's name to the params under this
	// name (first key, or first element of an unnamed list); OpenSIPS's
	// event_param.
	EventParam string
	// Framing is what follows each JSON object on the wire: nothing
	// (OpenSIPS) or a newline (an evstream extension).
	Framing jsonrpc.Framing
	// QueueSize bounds the events waiting to be written, per destination;
	// beyond it Send refuses with ReasonQueueFull. 0 means
	// DefaultQueueSize.
	QueueSize int
	// QueueBytes bounds the bytes of the events waiting to be written, per
	// destination (an event counts its encoded size); beyond it Send
	// refuses with ReasonQueueFull. 0 means DefaultQueueBytes.
	QueueBytes int
	// TotalBytes bounds the bytes waiting to be written over every
	// destination of the transport together. 0 means DefaultTotalBytes.
	TotalBytes int64
	// MaxInFlight bounds the requests written and awaiting a reply, per
	// connection (reliable mode); when it is reached, events wait in their
	// queues. 0 means DefaultMaxInFlight.
	MaxInFlight int
	// MaxReplySize bounds one reply, in bytes (reliable mode); a larger one
	// closes the connection. 0 means DefaultMaxReplySize.
	MaxReplySize int
	// BackoffMin is the wait after a failed connect before the next attempt
	// to the same address; it doubles with every consecutive failure up to
	// BackoffMax, with ±20 % of jitter. Events sent while waiting fail at
	// once with the last connect error, without a connect. 0 means
	// DefaultBackoffMin.
	BackoffMin time.Duration
	// BackoffMax caps the wait between connect attempts. 0 means
	// DefaultBackoffMax.
	BackoffMax time.Duration
	// ConnectTimeout bounds one connect attempt (DNS lookup included). 0
	// means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// ResolveTimeout bounds the DNS lookup Parse does to check that a
	// subscribed host resolves. 0 means DefaultResolveTimeout.
	ResolveTimeout time.Duration
	// Dialer opens the connections; nil means a *net.Dialer. The address
	// it gets is "host:port" as the socket wrote it: resolving it is the
	// dialer's job, at every connect.
	Dialer Dialer
	// Resolver checks that a socket's host resolves when the socket is
	// parsed; nil means net.DefaultResolver. IP addresses are not looked up.
	Resolver Resolver
	// Check, when set, is asked whether a socket's host and port may be
	// used when the socket is parsed (subscribed): its error refuses the
	// socket (a *evi.SocketError saying why). A Dialer that enforces the
	// same policy at every connect makes its refusals errors.Is
	// evi.ErrForbidden: they fail with ReasonRefused.
	Check func(ctx context.Context, host string, port int) error
	// Logger receives the transport's logs; nil discards them. The lines a
	// peer can cause are rate-limited.
	Logger *slog.Logger
}

// DefaultConfig returns a Config with every default spelled out.
func DefaultConfig() Config {
	return Config{
		Scheme:         Scheme,
		Timeout:        DefaultTimeout,
		QueueSize:      DefaultQueueSize,
		QueueBytes:     DefaultQueueBytes,
		TotalBytes:     DefaultTotalBytes,
		MaxInFlight:    DefaultMaxInFlight,
		MaxReplySize:   DefaultMaxReplySize,
		BackoffMin:     DefaultBackoffMin,
		BackoffMax:     DefaultBackoffMax,
		ConnectTimeout: DefaultConnectTimeout,
		ResolveTimeout: DefaultResolveTimeout,
	}
}

// Validate reports every bad field of c, by name. Zero fields are valid
// (they take defaults).
func (c Config) Validate() error {
	var errs []error
	neg := func(name string, v int64) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("stream config: %s is negative (%d)", name, v))
		}
	}
	neg("Timeout", int64(c.Timeout))
	neg("QueueSize", int64(c.QueueSize))
	neg("QueueBytes", int64(c.QueueBytes))
	neg("TotalBytes", c.TotalBytes)
	neg("MaxInFlight", int64(c.MaxInFlight))
	neg("MaxReplySize", int64(c.MaxReplySize))
	neg("BackoffMin", int64(c.BackoffMin))
	neg("BackoffMax", int64(c.BackoffMax))
	neg("ConnectTimeout", int64(c.ConnectTimeout))
	neg("ResolveTimeout", int64(c.ResolveTimeout))
	if c.MaxInFlight > MaxMaxInFlight {
		errs = append(errs, fmt.Errorf("stream config: MaxInFlight %d is above %d", c.MaxInFlight, MaxMaxInFlight))
	}
	if c.Framing != jsonrpc.FramingNone && c.Framing != jsonrpc.FramingNewline {
		errs = append(errs, fmt.Errorf("stream config: Framing %d is not a known framing", c.Framing))
	}
	if len(errs) == 0 {
		d := c.withDefaults()
		if d.BackoffMin > d.BackoffMax {
			errs = append(errs, fmt.Errorf("stream config: BackoffMin %v is above BackoffMax %v", d.BackoffMin, d.BackoffMax))
		}
		if int64(d.QueueBytes) > d.TotalBytes {
			errs = append(errs, fmt.Errorf("stream config: QueueBytes %d is above TotalBytes %d", d.QueueBytes, d.TotalBytes))
		}
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	set := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	seti := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	if c.Scheme == "" {
		c.Scheme = d.Scheme
	}
	set(&c.Timeout, d.Timeout)
	set(&c.BackoffMin, d.BackoffMin)
	set(&c.BackoffMax, d.BackoffMax)
	set(&c.ConnectTimeout, d.ConnectTimeout)
	set(&c.ResolveTimeout, d.ResolveTimeout)
	seti(&c.QueueSize, d.QueueSize)
	seti(&c.QueueBytes, d.QueueBytes)
	seti(&c.MaxInFlight, d.MaxInFlight)
	seti(&c.MaxReplySize, d.MaxReplySize)
	if c.TotalBytes == 0 {
		c.TotalBytes = d.TotalBytes
	}
	if c.Dialer == nil {
		c.Dialer = &net.Dialer{}
	}
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
