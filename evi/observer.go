package evi

import "time"

// Observer is told what happens in a Registry: subscriptions made,
// refreshed, removed and expired, the outcome of every delivery, and the
// failed attempts of at-least-once subscribers that will be retried
// (Outcome.Retry). The
// daemon's metrics, logs and live view are observers. Its methods must
// not block: they run on the registry's callers' goroutines (changes) and
// on the transports' outcome goroutines (outcomes).
type Observer interface {
	OnSubscription(SubscriptionChange)
	OnOutcome(Outcome)
}

// RaiseObserver is an Observer also told every event raised to at least
// one live subscriber, with how many it was raised to, once the
// subscribers were handed it (before any at-least-once spool write ends).
// OnRaise runs on the raiser's goroutine: it must be cheap and not block,
// and must not modify m.
type RaiseObserver interface {
	Observer
	OnRaise(m *Message, subscribers int)
}

// ChangeKind says what happened to a subscription.
type ChangeKind uint8

// The kinds of SubscriptionChange.
const (
	Subscribed ChangeKind = iota + 1
	Refreshed
	Unsubscribed
	Expired
)

var changeNames = [...]string{Subscribed: "subscribed", Refreshed: "refreshed", Unsubscribed: "unsubscribed", Expired: "expired"}

func (k ChangeKind) String() string {
	if int(k) < len(changeNames) && changeNames[k] != "" {
		return changeNames[k]
	}
	return "ChangeKind(" + string(rune('0'+k)) + ")"
}

// SubscriptionChange is one change of a subscription.
type SubscriptionChange struct {
	Kind  ChangeKind
	Event *Event
	// Socket is the printed form, Key the canonical one (Destination.Key).
	Socket, Key string
	// Expire is the lifetime asked for (0: never), At when it happened.
	Expire time.Duration
	At     time.Time
	// Durable reports that the subscription is kept in the registry's
	// SubscriptionStore.
	Durable bool
}

// StoredSubscription is a subscription as a SubscriptionStore keeps it.
type StoredSubscription struct {
	// Event is the event's name.
	Event string
	// Socket is the socket as printed (a virtual PARALLEL socket's members
	// in the order given), Key its canonical form, by which it is found.
	Socket, Key string
	// Expire is the lifetime asked for; Expires when it ends (zero: never).
	Expire  time.Duration
	Expires time.Time
	// Delivery is the subscription's policy.
	Delivery Delivery
}

// SubscriptionStore keeps the durable subscriptions of a Registry (those
// made with SubscribeOptions.Durable: the MI's) so that they survive a
// restart: Registry.Restore makes them again, with their remaining
// expire. Put and Delete are called as subscriptions change, under no
// registry lock; an error from Put refuses the subscription.
type SubscriptionStore interface {
	// Load returns every subscription kept.
	Load() ([]StoredSubscription, error)
	// Put keeps s, replacing the one of the same event and key.
	Put(s StoredSubscription) error
	// Delete forgets the subscription of event with key; deleting one that
	// is not kept is not an error.
	Delete(event, key string) error
}
