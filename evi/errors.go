package evi

import "errors"

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
