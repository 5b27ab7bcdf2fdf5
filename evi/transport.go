package evi

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evstream/evstream/value"
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
	// fail with an error wrapping ErrClosed. Close must be safe to call more
	// than once (Registry.Shutdown calls Shutdown, then Close).
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
	Params value.Params
	// Raised is when the event was raised; delivery deadlines count from it.
	Raised time.Time

	mu  sync.Mutex               // serialises adding to enc
	enc atomic.Pointer[encoding] // every key asked for, newest first
}

// encoding is one cached encoding of a Message. key and next never change
// once the node is published in Message.enc; b is written once, under once.
type encoding struct {
	key  string
	next *encoding
	once sync.Once
	b    []byte
}

// NewMessage returns a message for ev with params, raised now.
func NewMessage(ev *Event, params value.Params, now time.Time) *Message {
	return &Message{Event: ev, Params: params, Raised: now}
}

// Encoded returns the bytes that enc produces for m, computing them exactly
// once per key, even when many goroutines ask at the same time: an event
// raised to many destinations is encoded once. key names the encoding (for
// example a transport's name and settings); callers asking for a key that is
// being computed wait for that computation instead of repeating it. Each
// distinct key is cached for the life of the message, so keys should be few
// (one per transport configuration). The returned slice is shared and must
// not be modified. enc must not call m.Encoded with the same key.
func (m *Message) Encoded(key string, enc func(*Message) []byte) []byte {
	e := m.lookup(key)
	if e == nil {
		m.mu.Lock()
		if e = m.lookup(key); e == nil {
			e = &encoding{key: key, next: m.enc.Load()}
			m.enc.Store(e)
		}
		m.mu.Unlock()
	}
	e.once.Do(func() { e.b = enc(m) })
	return e.b
}

// lookup returns the cached encoding for key, or nil.
func (m *Message) lookup(key string) *encoding {
	for e := m.enc.Load(); e != nil; e = e.next {
		if e.key == key {
			return e
		}
	}
	return nil
}

// Outcome is the result of delivering one raised event to one subscriber.
type Outcome struct {
	Event  *Event
	Socket string // the subscriber's socket, printed form
	Err    error  // nil: delivered (confirmed, in reliable mode)
}
