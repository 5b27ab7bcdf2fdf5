package evi

import "fmt"

// Delivery is a subscription's delivery policy.
type Delivery uint8

// The delivery policies.
const (
	// AtMostOnce hands each event to the subscriber's destination once:
	// an event that fails is reported and gone (OpenSIPS's behaviour, the
	// default).
	AtMostOnce Delivery = iota
	// AtLeastOnce keeps each event in a durable spool (Config.Spooler)
	// from before the raise is acknowledged until the subscriber confirms
	// it, sending it again after failures and restarts, until it becomes
	// a dead letter.
	AtLeastOnce
)

var deliveryNames = [...]string{AtMostOnce: "at-most-once", AtLeastOnce: "at-least-once"}

// String returns the policy's name, as the config and the MI spell it:
// "at-most-once" or "at-least-once".
func (d Delivery) String() string {
	if int(d) < len(deliveryNames) {
		return deliveryNames[d]
	}
	return fmt.Sprintf("Delivery(%d)", uint8(d))
}

// ParseDelivery returns the policy named s ("at-most-once" or
// "at-least-once"); the error names s and the choices.
func ParseDelivery(s string) (Delivery, error) {
	for d, name := range deliveryNames {
		if s == name {
			return Delivery(d), nil
		}
	}
	return 0, fmt.Errorf("delivery %q: want at-most-once or at-least-once", s)
}

// Spooler delivers the events of at-least-once subscribers: it keeps each
// event in a durable queue per subscriber until the subscriber confirms
// it. The Registry gives it the events of those subscribers (Spool)
// instead of sending them itself.
type Spooler interface {
	// Attach returns the queue of the at-least-once subscriber of ev at
	// socket, which it parses with transports of its own (they send
	// requests, whatever at-most-once subscribers get), and starts
	// delivering what the spool holds for it. done receives the outcome
	// of every event of the queue: nil when the subscriber confirmed it,
	// else the error of its last attempt when it became a dead letter.
	// A queue is attached once at a time: the Registry serialises Attach.
	Attach(ev *Event, socket string, done Done) (Queue, error)
	// Spool stores m in every queue of qs (queues Attach returned) in one
	// durable write, without waiting for it: then is called once, with
	// nil when m is durable in every queue (acknowledged: it will be
	// confirmed by each, or become a dead letter), else with why m is in
	// none of them (a full spool is a *DeliveryError with
	// ReasonSpoolFull). Events spooled one after the other by one
	// goroutine are stored, and delivered, in that order. then may be
	// called before Spool returns, and must not block.
	Spool(m *Message, qs []Queue, then func(error))
}

// Queue is an at-least-once subscriber's queue in a Spooler, and the
// subscriber's Destination: Send spools one event for it alone.
type Queue interface {
	Destination
	// Counts returns how many events the queue holds (pending) and how
	// many of its events are dead letters.
	Counts() (pending, dead int64)
	// Drop is Close for a subscriber that is gone (unsubscribed,
	// expired): the events it holds become dead letters, kept until they
	// are replayed or purged. Close alone keeps them pending, for the
	// next Attach (a restart).
	Drop() error
}
