package evi

import (
	"errors"
	"fmt"
	"strconv"
)

// Errors reported by the Registry. Test for them with errors.Is: returned
// errors wrap them with the event or socket concerned.
var (
	// ErrNotPublished: the event was never published (and auto-publish is off).
	ErrNotPublished = errors.New("event not published")
	// ErrNoSubscribers: a raised event has no live subscriber.
	ErrNoSubscribers = errors.New("event has no subscribers")
	// ErrNoSubscriber: no subscriber of the event matches the socket.
	ErrNoSubscriber = errors.New("subscriber does not exist")
	// ErrBadEventName: the event name is empty, too long or has bad bytes.
	ErrBadEventName = errors.New("bad event name")
	// ErrBadSocket: the socket could not be parsed.
	ErrBadSocket = errors.New("bad socket")
	// ErrUnknownTransport: no transport handles the socket's prefix.
	ErrUnknownTransport = errors.New("unknown transport")
	// ErrNegativeExpire: a subscription asked for a negative expire.
	ErrNegativeExpire = errors.New("negative expire value")
	// ErrExpireTooLong: a subscription asked for an expire beyond MaxExpire.
	ErrExpireTooLong = errors.New("expire too long")
	// ErrClosed: the registry, transport or destination is closed.
	ErrClosed = errors.New("closed")
	// ErrQueueFull: a destination's bounded queue is full.
	ErrQueueFull = errors.New("queue full")
	// ErrTimeout: an event was not delivered (or confirmed) in time.
	ErrTimeout = errors.New("delivery timed out")
	// ErrSpoolFull: the spool of at-least-once subscribers is full: the
	// event was not accepted for them (nothing accepted before is lost).
	ErrSpoolFull = errors.New("spool full")
	// ErrForbidden: a policy forbids the destination (an address outside
	// destinations.allow, the daemon's own ingest listener).
	ErrForbidden = errors.New("destination forbidden")
	// ErrLimit: a bound of Config (MaxEvents, MaxSubscriptions) is
	// reached.
	ErrLimit = errors.New("limit reached")
	// ErrNotSpooled: the spool could not store an event for its
	// at-least-once subscribers (full, or failing): the raise is not
	// acknowledged for them.
	ErrNotSpooled = errors.New("not spooled")
	// ErrNoSpool: an at-least-once subscription without a spool (no
	// data_dir, no Config.Spooler).
	ErrNoSpool = errors.New("at-least-once delivery needs a spool")
	// ErrDeliveryChange: a subscription was refreshed with another
	// delivery policy than it has.
	ErrDeliveryChange = errors.New("delivery policy differs from the subscription's")
)

// SocketError says why a socket cannot be used: it does not parse, names
// no known transport, or its host does not resolve. errors.Is(err,
// ErrBadSocket) is true for every SocketError; Unwrap returns the cause
// (ErrUnknownTransport, a DNS error, a virtual member's SocketError...).
type SocketError struct {
	// Socket is the socket as given.
	Socket string
	// Reason says what is wrong, for a person: "port 70000 out of range
	// 1..65535".
	Reason string
	// Err is the underlying cause, or nil.
	Err error
}

// NewSocketError returns a *SocketError for socket, with the reason
// formatted as fmt.Sprintf does.
func NewSocketError(socket string, cause error, format string, args ...any) *SocketError {
	return &SocketError{Socket: socket, Reason: fmt.Sprintf(format, args...), Err: cause}
}

// Error returns `socket "SOCKET": REASON`.
func (e *SocketError) Error() string { return "socket " + strconv.Quote(e.Socket) + ": " + e.Reason }

// Unwrap returns the cause.
func (e *SocketError) Unwrap() error { return e.Err }

// Is reports whether target is ErrBadSocket.
func (e *SocketError) Is(target error) bool { return target == ErrBadSocket }

// NameError says why a name cannot be an event name. errors.Is(err,
// ErrBadEventName) is true for it.
type NameError struct {
	// Name is the name as given.
	Name string
	// Reason says what is wrong, naming the name (clipped when long).
	Reason string
}

func (e *NameError) Error() string { return e.Reason }

// Is reports whether target is ErrBadEventName.
func (e *NameError) Is(target error) bool { return target == ErrBadEventName }

// Reason says why a delivery failed, as a *DeliveryError reports it.
type Reason uint8

// The reasons of a *DeliveryError.
const (
	// ReasonQueueFull: the destination's queue was full; Send refused the
	// event (it was never accepted).
	ReasonQueueFull Reason = iota + 1
	// ReasonConnect: the destination could not be reached (connect refused
	// or timed out, no route, the name does not resolve, the TLS handshake
	// failed), or connects keep failing and the next attempt is not due
	// yet. The bytes never left.
	ReasonConnect
	// ReasonWrite: the connection failed while the event was being
	// written.
	ReasonWrite
	// ReasonLost: the event was written, and the connection was lost
	// before a reply came (reliable mode).
	ReasonLost
	// ReasonErrorReply: the receiver answered with an error (Err is the
	// *jsonrpc.Error, or what the reply carried).
	ReasonErrorReply
	// ReasonTimeout: the deadline of the attempt passed, before the event
	// was written (notifications) or answered (requests).
	ReasonTimeout
	// ReasonClosed: the destination or its transport was closed first.
	ReasonClosed
	// ReasonRefused: a policy forbids the delivery (an address outside
	// an allow-list); retrying does not help until the policy changes.
	ReasonRefused
	// ReasonSpoolFull: the spool of at-least-once subscribers was full;
	// the event was not accepted for this subscriber.
	ReasonSpoolFull
)

var reasonNames = [...]string{
	ReasonQueueFull: "queue full", ReasonConnect: "connect", ReasonWrite: "write", ReasonLost: "lost",
	ReasonErrorReply: "error reply", ReasonTimeout: "timeout", ReasonClosed: "closed", ReasonRefused: "refused",
	ReasonSpoolFull: "spool full",
}

// String returns the reason's name: "timeout", "error reply"...
func (r Reason) String() string {
	if int(r) < len(reasonNames) && reasonNames[r] != "" {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// DeliveryError is why one event did not reach one destination: the
// destination, the reason, whether the event's bytes left (the receiver
// may then have acted on it, so that sending it again can make a
// duplicate), and the underlying cause. Transports report every failure
// as one; errors.Is(err, ErrTimeout), ErrClosed and ErrQueueFull follow
// the reason (and ErrSpoolFull).
type DeliveryError struct {
	// Dest is the destination (its address, "tcp:127.0.0.1:8080").
	Dest string
	// Reason says what failed.
	Reason Reason
	// Written reports that (some of) the event's bytes were written.
	Written bool
	// Err is the cause: a network error, the *jsonrpc.Error of an error
	// reply, ErrTimeout... Its text is the error's detail.
	Err error
}

// Error returns "DEST: CAUSE".
func (e *DeliveryError) Error() string {
	if e.Err == nil {
		return e.Dest + ": " + e.Reason.String()
	}
	return e.Dest + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *DeliveryError) Unwrap() error { return e.Err }

// Is matches the sentinel errors of the reasons: ErrTimeout, ErrClosed,
// ErrQueueFull.
func (e *DeliveryError) Is(target error) bool {
	switch target {
	case ErrTimeout:
		return e.Reason == ReasonTimeout
	case ErrClosed:
		return e.Reason == ReasonClosed
	case ErrQueueFull:
		return e.Reason == ReasonQueueFull
	case ErrSpoolFull:
		return e.Reason == ReasonSpoolFull
	}
	return false
}

// Retryable reports whether sending the event again later makes sense:
// everything but a refusal by policy. A failure with Written true may have
// reached the receiver; sending it again may make a duplicate.
func (e *DeliveryError) Retryable() bool { return e.Reason != ReasonRefused }
