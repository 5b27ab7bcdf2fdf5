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
	// Destination. Errors are *SocketError naming the socket and what is
	// wrong with it.
	Parse(socket string) (Destination, error)
	// Close releases every resource the transport holds. Pending events
	// fail with a *DeliveryError whose Reason is ReasonClosed; every Done
	// has been called, and nothing of the transport runs any more, when
	// Close returns. Close must be safe to call more than once
	// (Registry.Shutdown calls Shutdown, then Close).
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
	// Key returns the destination's canonical form: two sockets designate
	// the same subscriber exactly when their keys are equal (for "tcp:",
	// host as written, port and method; for a virtual PARALLEL socket, the
	// members in any order). The registry finds subscribers by it, and a
	// subscription store keeps it.
	Key() string
	// Send hands m over for delivery without blocking on the network.
	//
	// A non-nil error means the event was not accepted (its queue is full,
	// the destination is closed): it is a *DeliveryError (Reason
	// ReasonQueueFull or ReasonClosed), and done is never called.
	// Otherwise done, when not nil, is called exactly once, later and from
	// another goroutine, with nil when the event was delivered (in reliable
	// mode: confirmed by a reply) or with a *DeliveryError saying why not.
	//
	// Each Send is one attempt: its deadline counts from the call, however
	// long ago m was raised (a failover, a retry or a replay hands the
	// event over again).
	Send(m *Message, done Done) error
	// Close releases the destination. Events it accepted still complete
	// (or fail) and are reported.
	Close() error
}

// Connected is implemented by destinations whose events go through a
// connection that other destinations may share (the tcp: and tls:
// transports', one per host:port): Connection names it ("tcp:host:port");
// destinations that return the same name share one connection, and so one
// space of JSON-RPC ids.
type Connected interface {
	Connection() string
}

// Retrier is implemented by the Done of an at-least-once subscriber
// (Subscriber): its Spooler tells it of every failed attempt it will
// retry, for the registry's observers.
type Retrier interface {
	Retry(m *Message, err error)
}

// Done receives the outcome of one accepted Send: err is nil when the
// event was delivered, else a *DeliveryError (test with errors.As; a
// virtual destination's error wraps its members').
//
// Transports call Done from a goroutine of their own that does no I/O
// (outcomes never stall a connection), never while holding a lock, and
// never after their Close has returned. Done may call Send (a failover
// does), but must not block for long: the outcomes of a destination are
// reported one after the other, in the order the transport decided them.
type Done interface {
	Done(m *Message, err error)
}

// DoneFunc adapts a function to Done.
type DoneFunc func(m *Message, err error)

// Done calls f(m, err).
func (f DoneFunc) Done(m *Message, err error) { f(m, err) }

// TimedSender is implemented by destinations that can take the time of the
// hand-over from their caller: the Registry reads the clock once per raise
// instead of once per subscriber. now must be a time.Now reading (with its
// monotonic clock), taken just before the call.
type TimedSender interface {
	SendAt(m *Message, done Done, now time.Time) error
}

// Waiter is implemented by destinations that can tell a producer when
// they have room, so that it can slow down instead of losing events (the
// relay ingest stops reading its connection meanwhile).
type Waiter interface {
	// WaitRoom returns nil once a Send of m would not fail for lack of
	// room, or ctx's error when ctx ends first. A destination that stayed
	// full for a whole wait is marked stalled: WaitRoom then fails at once
	// with a *DeliveryError (ReasonQueueFull) until it has drained, so
	// that a stalled subscriber holds its producer once, not at every
	// event.
	WaitRoom(ctx context.Context, m *Message) error
}

// Message is one raised event, shared by every destination it is sent to.
// It must not be modified after it is handed to a Destination.
type Message struct {
	// ID identifies the raised event, unique across restarts of the
	// registry that raised it; the zero ID for a message built with
	// NewMessage. Retries and replays of the event keep it.
	ID ID
	// Event is the event raised.
	Event *Event
	// Params are its data.
	Params value.Params
	// Raised is when the event was raised (latency counts from it; the
	// delivery deadlines count from each Send).
	Raised time.Time
	// Seq is the event's sequence in the spool of an at-least-once
	// subscriber (unique in the spool, the same at every attempt), 0 for
	// an event not spooled. The transport of at-least-once subscribers
	// sends it as the JSON-RPC id.
	Seq uint64

	report func(Outcome) // the raiser's, for every subscriber; nil: none

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

// NewMessage returns a message for ev with params, raised now, with the
// zero ID: Registry.Raise builds the messages it raises, with their ID.
func NewMessage(ev *Event, params value.Params, now time.Time) *Message {
	return &Message{Event: ev, Params: params, Raised: now}
}

// Encoded returns the bytes that enc produces for m, computing them exactly
// once per key, even when many goroutines ask at the same time: an event
// raised to many destinations is encoded once. key names the encoding (for
// example a wire format and its settings, not a transport: transports that
// write the same bytes share them); callers asking for a key that is being
// computed wait for that computation instead of repeating it. Each
// distinct key is cached for the life of the message, so keys should be few.
// The returned slice is shared and must not be modified. enc must not call
// m.Encoded with the same key.
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
	// ID is the raised event's.
	ID    ID
	Event *Event
	// Socket is the subscriber's socket, printed form.
	Socket string
	// Raised is when the event was raised (Message.Raised): the outcome's
	// latency counts from it.
	Raised time.Time
	// Retry marks a failed attempt of an at-least-once subscriber's event
	// that will be tried again (Err says why): only observers are told of
	// those; the raiser's report function gets the final outcome.
	Retry bool
	// Err is nil when the event was delivered (confirmed, in reliable
	// mode), else why not: a *DeliveryError (errors.As).
	Err error
}
