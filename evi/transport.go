package evi

import (
	"context"
	"sync/atomic"
	"time"
)

// Transport turns socket strings of one scheme ("tcp", "virtual") into
// Destinations. Implementations must be safe for concurrent use.
type Transport interface {
	// Scheme returns the socket prefix this transport handles, without the
	// colon: "tcp" handles "tcp:127.0.0.1:8080".
	Scheme() string
	// Parse parses a whole socket string, prefix included, into a
	// Destination. Errors name the socket and what is wrong with it.
	Parse(socket string) (Destination, error)
	// Close releases every resource the transport holds. Pending events
	// fail with an error wrapping ErrClosed.
	Close() error
}

// Shutdowner is implemented by transports that can drain before closing:
// Shutdown stops accepting events, waits until everything accepted has been
// delivered or has failed (or ctx is done, failing what is left), then closes.
type Shutdowner interface {
	Shutdown(ctx context.Context) error
}

// Destination is a parsed socket: where one subscriber's events go.
type Destination interface {
	// String returns the printed form of the socket, as listings show it.
	String() string
	// Match reports whether other designates the same subscriber socket
	// (same transport, host as written, port, method...).
	Match(other Destination) bool
	// Send hands m over for delivery without blocking on the network.
	//
	// A non-nil error means the event was not accepted (queue full,
	// destination closed); done is then never called. Otherwise done, when
	// not nil, is called exactly once, later and from another goroutine,
	// with nil when the event was delivered (in reliable mode: confirmed by
	// a reply) or with the reason it failed. done must not block.
	Send(m *Message, done func(error)) error
	// Close releases the destination. Events it accepted still complete
	// (or fail) and are reported.
	Close() error
}

// Message is one raised event, shared by every destination it is sent to.
// It must not be modified after Raise.
type Message struct {
	Event  *Event
	Params Params
	// Raised is when the event was raised; delivery deadlines count from it.
	Raised time.Time

	enc atomic.Pointer[encoding]
}

type encoding struct {
	key string
	b   []byte
}

// NewMessage returns a message for ev with params, raised now.
func NewMessage(ev *Event, params Params, now time.Time) *Message {
	return &Message{Event: ev, Params: params, Raised: now}
}

// Encoded returns the bytes that enc produces for m, computing them once per
// key: an event raised to many destinations is encoded once. key names the
// encoding (for example a transport's name and settings); a message keeps one
// cached encoding, so a different key recomputes. The returned slice is shared
// and must not be modified.
func (m *Message) Encoded(key string, enc func(*Message) []byte) []byte {
	if e := m.enc.Load(); e != nil && e.key == key {
		return e.b
	}
	e := &encoding{key: key, b: enc(m)}
	m.enc.Store(e)
	return e.b
}

// Outcome is the result of delivering one raised event to one subscriber.
type Outcome struct {
	Event  *Event
	Socket string // the subscriber's socket, printed form
	Err    error  // nil: delivered (confirmed, in reliable mode)
}
