package stream

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/evstream/evstream/jsonrpc"
)

// Defaults used for the zero fields of a Config.
const (
	// DefaultTimeout is OpenSIPS's event_stream default timeout (1000 ms).
	DefaultTimeout = time.Second
	// DefaultQueueSize bounds the events waiting to be written, per
	// destination address.
	DefaultQueueSize = 1 << 16
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

// Config configures a Transport. Zero fields take the Default values, so the
// zero Config is OpenSIPS's default event_stream setup (notifications,
// 1000 ms timeout, no event_param, no framing).
type Config struct {
	// ReliableMode sends every event as a JSON-RPC request and reports it
	// delivered only when a reply without an "error" member arrives
	// (OpenSIPS's reliable_mode). Off: notifications, delivered when written.
	ReliableMode bool
	// Timeout is, in reliable mode, the longest time from raise to reply;
	// in notification mode, from raise until the bytes are written. An event
	// past it fails with evi.ErrTimeout. 0 means DefaultTimeout.
	Timeout time.Duration
	// EventParam, when set, adds the event's name to the params under this
	// name (first key, or first element of an unnamed list); OpenSIPS's
	// event_param.
	EventParam string
	// Framing is what follows each JSON object on the wire: nothing
	// (OpenSIPS) or a newline (an evstream extension).
	Framing jsonrpc.Framing
	// QueueSize bounds the events waiting to be written, per destination
	// address; beyond it Send fails with evi.ErrQueueFull. 0 means
	// DefaultQueueSize.
	QueueSize int
	// MaxInFlight bounds the requests written and awaiting a reply, per
	// connection (reliable mode); when it is reached, events wait in the
	// queue. 0 means DefaultMaxInFlight.
	MaxInFlight int
	// MaxReplySize bounds one reply, in bytes (reliable mode); a larger one
	// closes the connection. 0 means DefaultMaxReplySize.
	MaxReplySize int
	// BackoffMin is the wait after a failed connect before the next attempt;
	// it doubles with every consecutive failure up to BackoffMax. Events sent
	// while waiting fail at once with the last connect error. 0 means
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
	// Logger receives the transport's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns a Config with every default spelled out.
func DefaultConfig() Config {
	return Config{
		Timeout:        DefaultTimeout,
		QueueSize:      DefaultQueueSize,
		MaxInFlight:    DefaultMaxInFlight,
		MaxReplySize:   DefaultMaxReplySize,
		BackoffMin:     DefaultBackoffMin,
		BackoffMax:     DefaultBackoffMax,
		ConnectTimeout: DefaultConnectTimeout,
		ResolveTimeout: DefaultResolveTimeout,
	}
}

// Validate reports the first bad field of c, by name. Zero fields are valid
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
	set(&c.Timeout, d.Timeout)
	set(&c.BackoffMin, d.BackoffMin)
	set(&c.BackoffMax, d.BackoffMax)
	set(&c.ConnectTimeout, d.ConnectTimeout)
	set(&c.ResolveTimeout, d.ResolveTimeout)
	seti(&c.QueueSize, d.QueueSize)
	seti(&c.MaxInFlight, d.MaxInFlight)
	seti(&c.MaxReplySize, d.MaxReplySize)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
