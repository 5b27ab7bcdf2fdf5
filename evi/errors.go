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
