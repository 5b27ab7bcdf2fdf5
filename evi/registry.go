package evi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evstream/evstream/internal/ratelog"
	"github.com/evstream/evstream/value"
)

// MaxEventNameLen is the longest event name accepted, in bytes.
const MaxEventNameLen = 64

// MaxExpire is the longest subscription expire accepted: 2^31-1 seconds,
// as OpenSIPS keeps it in a 32-bit int.
const MaxExpire = math.MaxInt32 * time.Second

// DefaultSweepInterval is how often expired subscribers are removed.
const DefaultSweepInterval = time.Second

// Event is a published event. Events are never unpublished.
type Event struct {
	name string
	id   int
	subs atomic.Pointer[subList] // what Raise reads, without a lock
	alo  atomic.Int32            // its at-least-once subscribers

	byKey map[string]*Subscriber // guarded by Registry.mu
}

// Name returns the event's name.
func (e *Event) Name() string { return e.name }

// ID returns the event's sequential id (the first published event has id 0).
func (e *Event) ID() int { return e.id }

func (e *Event) String() string { return e.name }

// AtLeastOnce reports whether the event has at-least-once subscribers:
// raising it then waits for (or, with RaiseAsync, acknowledges after) a
// durable write.
func (e *Event) AtLeastOnce() bool { return e.alo.Load() > 0 }

// subList holds an event's subscribers, oldest first, for readers that take
// no lock. Writers (under Registry.mu) append in place: they fill subs[n]
// and then publish n+1, so a reader that loaded n sees n complete
// elements; a full array, or a removal, makes a new subList. Subscribing is
// therefore O(1) (amortized), however many subscribers the event has.
type subList struct {
	subs []*Subscriber // len is the capacity; subs[:n] are live
	n    atomic.Int64
}

func (l *subList) all() []*Subscriber { return l.subs[:l.n.Load()] }

// Subscriber is one subscription of an Event. It is the Done of every event
// sent to its destination: it reports outcomes to the raiser and the
// observers without allocating.
type Subscriber struct {
	event   *Event
	dest    Destination
	timed   TimedSender // dest, when it is one (asserted once, not per raise)
	socket  string      // Dest.String(), computed once
	key     string      // Dest.Key()
	durable atomic.Bool
	reg     *Registry

	// delivery is the subscription's policy; queue is its destination
	// when it is at-least-once (its events go to the Spooler).
	delivery Delivery
	queue    Queue

	// start (unix nanoseconds) and expire (nanoseconds, 0: never) change
	// when the subscription is refreshed.
	start, expire atomic.Int64
}

// Event returns the event subscribed to.
func (s *Subscriber) Event() *Event { return s.event }

// Dest returns the subscriber's destination.
func (s *Subscriber) Dest() Destination { return s.dest }

// Socket returns the printed form of the subscriber's socket.
func (s *Subscriber) Socket() string { return s.socket }

// Key returns the canonical form of the subscriber's socket.
func (s *Subscriber) Key() string { return s.key }

// Delivery returns the subscription's delivery policy.
func (s *Subscriber) Delivery() Delivery { return s.delivery }

// release closes the destination of a subscriber that is gone: an
// at-least-once queue is dropped (what it holds becomes dead letters).
func (s *Subscriber) release() {
	if s.queue != nil {
		if err := s.queue.Drop(); err != nil {
			s.reg.log.Error("spool: cannot keep the events of a subscriber that is gone", "event", s.event.name, "socket", ratelog.Clip(s.socket), "err", err)
		}
		return
	}
	s.dest.Close()
}

// Expire returns the subscription's lifetime; 0 means it never expires.
func (s *Subscriber) Expire() time.Duration { return time.Duration(s.expire.Load()) }

// Start returns when it was subscribed or last refreshed.
func (s *Subscriber) Start() time.Time { return time.Unix(0, s.start.Load()) }

// Expired reports whether s has expired at now.
func (s *Subscriber) Expired(now time.Time) bool { return s.expiredAt(now.UnixNano()) }

// expiredAt is Expired at now in Unix nanoseconds.
func (s *Subscriber) expiredAt(now int64) bool {
	e := s.expire.Load()
	return e > 0 && now-s.start.Load() >= e
}

// Done reports the outcome of one event sent to s: to the raiser's report
// function and to the registry's observers.
func (s *Subscriber) Done(m *Message, err error) {
	if m.report == nil && len(s.reg.cfg.Observers) == 0 {
		return
	}
	o := Outcome{ID: m.ID, Event: s.event, Socket: s.socket, Raised: m.Raised, Err: err}
	if m.report != nil {
		m.report(o)
	}
	for _, ob := range s.reg.cfg.Observers {
		ob.OnOutcome(o)
	}
}

// Retry tells the registry's observers of a failed attempt of m that will
// be tried again (Outcome.Retry; evi.Retrier). The raiser's report
// function is not told: it gets the event's final outcome from Done.
func (s *Subscriber) Retry(m *Message, err error) {
	if len(s.reg.cfg.Observers) == 0 {
		return
	}
	o := Outcome{ID: m.ID, Event: s.event, Socket: s.socket, Raised: m.Raised, Err: err, Retry: true}
	for _, ob := range s.reg.cfg.Observers {
		ob.OnOutcome(o)
	}
}

// SubscriberInfo describes a live subscriber for listings.
type SubscriberInfo struct {
	// Socket is the printed form, Key the canonical one.
	Socket, Key string
	// Expire is the lifetime asked for; 0 means never.
	Expire time.Duration
	// TTL is the time left (meaningless when Expire is 0).
	TTL time.Duration
	// Durable reports that it is kept in the SubscriptionStore.
	Durable bool
	// Delivery is its policy; Pending and DeadLetters count the events
	// its spool queue holds and its dead letters (at-least-once only).
	Delivery             Delivery
	Pending, DeadLetters int64
}

// Config configures a Registry. The zero Config is valid.
type Config struct {
	// AutoPublish publishes unknown events when they are subscribed to.
	// Raising never publishes: raising an unknown event then fails with
	// ErrNoSubscribers, so a typo raised a million times leaves no trace.
	// Off gives OpenSIPS's strict behaviour (ErrNotPublished).
	AutoPublish bool
	// Logger receives the registry's logs; nil discards them.
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// SweepInterval is how often expired subscribers are removed and their
	// destinations closed; 0 means DefaultSweepInterval.
	SweepInterval time.Duration
	// Store, when set, keeps the durable subscriptions (SubscribeOptions
	// .Durable) so that Restore can make them again after a restart.
	Store SubscriptionStore
	// Observers are told every subscription change and delivery outcome.
	Observers []Observer
	// MaxEvents bounds the published events, MaxSubscriptions the
	// subscribers over every event; 0 means no bound. At a bound,
	// publishing or subscribing anew fails with ErrLimit (refreshing a
	// subscription still works).
	MaxEvents, MaxSubscriptions int
	// Spooler, when set, delivers the events of at-least-once subscribers
	// (SubscribeOptions.Delivery); without it they are refused with
	// ErrNoSpool.
	Spooler Spooler
}

// Registry holds the published events, their subscribers and the transports.
type Registry struct {
	cfg Config
	log *ratelog.Logger // subscribe and expiry lines: MI callers cause them
	now func() time.Time
	ids *idSource
	// raiseObs are the Observers that are RaiseObservers.
	raiseObs []RaiseObserver

	mu         sync.RWMutex // guards the maps, every Event.byKey and every subList write
	events     map[string]*Event
	order      []*Event
	transports map[string]Transport
	attachMu   sync.Mutex // one Spooler.Attach at a time
	closed     bool
	isClosed   atomic.Bool

	stop chan struct{}
	done chan struct{}

	raised  atomic.Uint64
	nsubs   int           // subscribers over every event; guarded by mu
	refused atomic.Uint64 // publishes and subscriptions refused at a limit
}

// NewRegistry returns a Registry with no transports; add them with Register.
// Call Close to stop it.
func NewRegistry(cfg Config) *Registry {
	r := &Registry{
		cfg:        cfg,
		log:        ratelog.New(cfg.Logger, 20, time.Second),
		now:        cfg.Now,
		ids:        newIDSource(),
		events:     make(map[string]*Event),
		transports: make(map[string]Transport),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	if r.now == nil {
		r.now = time.Now
	}
	for _, o := range cfg.Observers {
		if ro, ok := o.(RaiseObserver); ok {
			r.raiseObs = append(r.raiseObs, ro)
		}
	}
	iv := cfg.SweepInterval
	if iv <= 0 {
		iv = DefaultSweepInterval
	}
	go r.sweeper(iv)
	return r
}

// Register adds a transport. Registering a second transport for the same
// scheme is an error.
func (r *Registry) Register(t Transport) error {
	s := t.Scheme()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("evi: register transport %q: %w", s, ErrClosed)
	}
	if s == "" || strings.ContainsAny(s, ": \t") {
		return fmt.Errorf("evi: register transport: bad scheme %q", s)
	}
	if _, dup := r.transports[s]; dup {
		return fmt.Errorf("evi: register transport: scheme %q already registered", s)
	}
	r.transports[s] = t
	return nil
}

// Transport returns the transport of scheme, or nil.
func (r *Registry) Transport(scheme string) Transport {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.transports[scheme]
}

// ParseSocket parses socket with the transport its prefix names.
func (r *Registry) ParseSocket(socket string) (Destination, error) {
	scheme, _, ok := strings.Cut(socket, ":")
	if !ok || scheme == "" {
		return nil, NewSocketError(socket, nil, "no transport prefix (want e.g. tcp:host:port)")
	}
	r.mu.RLock()
	t := r.transports[scheme]
	var known []string
	if t == nil {
		for s := range r.transports {
			known = append(known, s+":")
		}
	}
	r.mu.RUnlock()
	if t == nil {
		slices.Sort(known)
		return nil, NewSocketError(socket, ErrUnknownTransport, "unknown transport %q (want %s)", scheme, strings.Join(known, ", "))
	}
	return t.Parse(socket)
}

// ValidateEventName reports why name cannot be an event name, or nil.
func ValidateEventName(name string) error {
	if name == "" {
		return &NameError{Name: name, Reason: "event name is empty"}
	}
	if len(name) > MaxEventNameLen {
		return &NameError{Name: name, Reason: fmt.Sprintf("event name %.20q... is %d bytes, longer than %d", name, len(name), MaxEventNameLen)}
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c == 0x7f {
			return &NameError{Name: name, Reason: fmt.Sprintf("event name %q has a space or control byte at %d", name, i)}
		}
	}
	return nil
}

// Publish publishes the event name, or returns it when already published.
func (r *Registry) Publish(name string) (*Event, error) {
	if ev := r.Lookup(name); ev != nil {
		return ev, nil
	}
	if err := ValidateEventName(name); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("publish %q: %w", name, ErrClosed)
	}
	if err := r.eventRoomLocked(name); err != nil {
		return nil, err
	}
	return r.publishLocked(name), nil
}

// eventRoomLocked is the error of publishing name at MaxEvents; r.mu is
// held.
func (r *Registry) eventRoomLocked(name string) error {
	if max := r.cfg.MaxEvents; max > 0 && r.events[name] == nil && len(r.order) >= max {
		r.refused.Add(1)
		return fmt.Errorf("publish %q: %d events published already (limits.max_events): %w", name, max, ErrLimit)
	}
	return nil
}

// SetLimits replaces Config.MaxEvents and MaxSubscriptions (on reload):
// what exists stays; only new events and subscriptions are refused.
func (r *Registry) SetLimits(maxEvents, maxSubscriptions int) {
	r.mu.Lock()
	r.cfg.MaxEvents, r.cfg.MaxSubscriptions = maxEvents, maxSubscriptions
	r.mu.Unlock()
}

// Refused counts the publishes and subscriptions refused at a limit
// (Config.MaxEvents, MaxSubscriptions).
func (r *Registry) Refused() uint64 { return r.refused.Load() }

func (r *Registry) publishLocked(name string) *Event {
	if ev := r.events[name]; ev != nil {
		return ev
	}
	ev := &Event{name: name, id: len(r.order), byKey: make(map[string]*Subscriber)}
	ev.subs.Store(&subList{})
	r.events[name] = ev
	r.order = append(r.order, ev)
	r.log.Debug("event published", "event", name, "id", ev.id)
	return ev
}

// Lookup returns the published event name, or nil.
func (r *Registry) Lookup(name string) *Event {
	r.mu.RLock()
	ev := r.events[name]
	r.mu.RUnlock()
	return ev
}

// event returns the published event name. Raising never publishes: an
// unknown event is ErrNoSubscribers when auto-publish is on (it would have
// been published by its first subscription), ErrNotPublished when it is
// off; a bad name is ErrBadEventName either way.
func (r *Registry) event(name string) (*Event, error) {
	if ev := r.Lookup(name); ev != nil {
		return ev, nil
	}
	if err := ValidateEventName(name); err != nil {
		return nil, err
	}
	if r.cfg.AutoPublish {
		return nil, fmt.Errorf("raise %q: not published yet: %w", name, ErrNoSubscribers)
	}
	return nil, fmt.Errorf("event %q: %w", name, ErrNotPublished)
}

// Events returns the published events in publication (id) order.
func (r *Registry) Events() []*Event {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.order)
}

// SubscribeOptions are the settings of a subscription.
type SubscribeOptions struct {
	// Expire is the subscription's lifetime; 0 means it never expires.
	Expire time.Duration
	// Durable keeps the subscription in the registry's SubscriptionStore,
	// so that Restore makes it again after a restart (the MI's
	// subscriptions are durable, the config's are not: they come from the
	// config every time). Without a Store it has no effect.
	Durable bool
	// Delivery is the subscription's policy; AtLeastOnce needs a
	// Config.Spooler. A subscription is refreshed with the policy it has:
	// asking for another one is ErrDeliveryChange (unsubscribe first).
	Delivery Delivery
}

// Subscribe subscribes socket to the event name for expire (0: never); see
// SubscribeWith.
func (r *Registry) Subscribe(name, socket string, expire time.Duration) error {
	return r.SubscribeWith(name, socket, SubscribeOptions{Expire: expire})
}

// SubscribeWith subscribes socket to the event name. A subscriber whose
// socket matches (the same Destination.Key) is refreshed: its start time,
// expire and durability are reset, it keeps its place in the list and its
// destination. A new subscriber goes to the head of the list. Subscribing
// costs the same however many subscribers the event has.
func (r *Registry) SubscribeWith(name, socket string, o SubscribeOptions) error {
	if o.Expire < 0 {
		return fmt.Errorf("subscribe %q to %q: expire %v: %w", socket, name, o.Expire, ErrNegativeExpire)
	}
	if o.Expire > MaxExpire {
		return fmt.Errorf("subscribe %q to %q: expire %v is longer than %v: %w", socket, name, o.Expire, MaxExpire, ErrExpireTooLong)
	}
	// Check the name and the socket before publishing anything, so that a
	// failed subscription leaves no trace (not even an auto-published event).
	ev := r.Lookup(name)
	if ev == nil {
		if err := ValidateEventName(name); err != nil {
			return err
		}
		if !r.cfg.AutoPublish {
			return fmt.Errorf("event %q: %w", name, ErrNotPublished)
		}
	}
	if r.isClosed.Load() {
		return fmt.Errorf("subscribe %q to %q: %w", socket, name, ErrClosed)
	}
	if o.Delivery == AtLeastOnce {
		if r.cfg.Spooler == nil {
			return fmt.Errorf("subscribe %q to %q: %w (no data_dir)", socket, name, ErrNoSpool)
		}
		r.attachMu.Lock()
		defer r.attachMu.Unlock()
	} else if o.Delivery != AtMostOnce {
		return fmt.Errorf("subscribe %q to %q: unknown %v", socket, name, o.Delivery)
	}
	dest, err := r.ParseSocket(socket)
	if err != nil {
		return err
	}
	now := r.now()
	if o.Durable && r.cfg.Store != nil {
		if err := r.cfg.Store.Put(stored(name, dest, o, now)); err != nil {
			dest.Close()
			return fmt.Errorf("subscribe %q to %q: keeping the subscription: %w", socket, name, err)
		}
	}
	if ev == nil {
		if ev, err = r.Publish(name); err != nil {
			dest.Close()
			return err
		}
	}
	key := dest.Key()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		dest.Close()
		return fmt.Errorf("subscribe %q to %q: %w", socket, name, ErrClosed)
	}
	// The new subscriber, made before it is attached when it is
	// at-least-once (it is the Done of its queue's events).
	fresh := &Subscriber{event: ev, socket: dest.String(), key: key, reg: r, delivery: o.Delivery}
	if s := ev.byKey[key]; s == nil && o.Delivery == AtLeastOnce {
		// A new at-least-once subscriber: its destination is the
		// spooler's queue. Attach outside the lock (it parses the socket
		// again and starts delivering); attachMu keeps out another. At
		// the bound, refuse before attaching anything.
		if err := r.subRoomLocked(name, socket); err != nil {
			r.mu.Unlock()
			dest.Close()
			r.unkeep(name, key, o)
			return err
		}
		r.mu.Unlock()
		dest.Close()
		q, err := r.cfg.Spooler.Attach(ev, socket, fresh)
		if err != nil {
			return fmt.Errorf("subscribe %q to %q: %w", socket, name, err)
		}
		dest, fresh.queue = q, q
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			q.Close()
			return fmt.Errorf("subscribe %q to %q: %w", socket, name, ErrClosed)
		}
	}
	if s := ev.byKey[key]; s != nil {
		if s.delivery != o.Delivery {
			r.mu.Unlock()
			dest.Close()
			return fmt.Errorf("subscribe %q to %q: it is subscribed %v, asked %v: %w (unsubscribe it first)", socket, name, s.delivery, o.Delivery, ErrDeliveryChange)
		}
		// Refresh in place, as OpenSIPS does: the subscriber keeps its
		// position in the list and its destination (and connection).
		s.start.Store(now.UnixNano())
		s.expire.Store(int64(o.Expire))
		wasDurable := s.durable.Swap(o.Durable)
		r.mu.Unlock()
		dest.Close()
		if wasDurable && !o.Durable && r.cfg.Store != nil {
			r.forget(ev.name, key)
		}
		r.log.Debug("subscription refreshed", "event", name, "socket", ratelog.Clip(s.socket), "expire", o.Expire)
		r.notify(Refreshed, s, now)
		return nil
	}
	if err := r.subRoomLocked(name, socket); err != nil {
		r.mu.Unlock()
		dest.Close()
		r.unkeep(name, key, o)
		return err
	}
	s := fresh
	s.dest = dest
	if s.queue == nil {
		s.timed, _ = dest.(TimedSender)
	}
	s.durable.Store(o.Durable)
	s.start.Store(now.UnixNano())
	s.expire.Store(int64(o.Expire))
	ev.byKey[key] = s
	ev.appendLocked(s)
	r.nsubs++
	r.mu.Unlock()
	r.log.Info("subscribed", "event", name, "socket", ratelog.Clip(s.socket), "expire", o.Expire, "delivery", o.Delivery.String())
	r.notify(Subscribed, s, now)
	return nil
}

// subRoomLocked is the error of a new subscription at MaxSubscriptions
// (counted); r.mu is held.
func (r *Registry) subRoomLocked(name, socket string) error {
	max := r.cfg.MaxSubscriptions
	if max <= 0 || r.nsubs < max {
		return nil
	}
	r.refused.Add(1)
	return fmt.Errorf("subscribe %q to %q: %d subscriptions already (limits.max_subscriptions): %w", socket, name, max, ErrLimit)
}

// unkeep forgets the durable subscription a refused SubscribeWith had
// kept in the store already; r.mu is not held (it does I/O).
func (r *Registry) unkeep(name, key string, o SubscribeOptions) {
	if o.Durable && r.cfg.Store != nil {
		r.forget(name, key)
	}
}

// appendLocked adds s as the newest subscriber; Registry.mu is held.
func (ev *Event) appendLocked(s *Subscriber) {
	if s.queue != nil {
		ev.alo.Add(1)
	}
	l := ev.subs.Load()
	n := int(l.n.Load())
	if n < len(l.subs) {
		l.subs[n] = s
		l.n.Store(int64(n + 1))
		return
	}
	next := &subList{subs: make([]*Subscriber, max(2*n, 4))}
	copy(next.subs, l.subs[:n])
	next.subs[n] = s
	next.n.Store(int64(n + 1))
	ev.subs.Store(next)
}

// removeLocked drops the subscribers for which gone is true, and returns
// how many; Registry.mu is held.
func (ev *Event) removeLocked(gone func(*Subscriber) bool) int {
	l := ev.subs.Load()
	all := l.all()
	next := &subList{subs: make([]*Subscriber, max(len(all), 4))}
	n := 0
	for _, s := range all {
		if gone(s) {
			delete(ev.byKey, s.key)
			if s.queue != nil {
				ev.alo.Add(-1)
			}
			continue
		}
		next.subs[n] = s
		n++
	}
	next.n.Store(int64(n))
	ev.subs.Store(next)
	return len(all) - n
}

func stored(event string, d Destination, o SubscribeOptions, now time.Time) StoredSubscription {
	s := StoredSubscription{Event: event, Socket: d.String(), Key: d.Key(), Expire: o.Expire, Delivery: o.Delivery}
	if o.Expire > 0 {
		s.Expires = now.Add(o.Expire)
	}
	return s
}

// forget deletes a durable subscription from the store, logging a failure
// (the subscription is gone from the registry either way; a stale entry is
// dropped by the next Restore when it expired, or made again).
func (r *Registry) forget(event, key string) {
	if err := r.cfg.Store.Delete(event, key); err != nil {
		r.log.Error("subscription store: cannot delete", "event", event, "key", ratelog.Clip(key), "err", err)
	}
}

func (r *Registry) notify(kind ChangeKind, s *Subscriber, at time.Time) {
	if len(r.cfg.Observers) == 0 {
		return
	}
	c := SubscriptionChange{Kind: kind, Event: s.event, Socket: s.socket, Key: s.key, Expire: s.Expire(), At: at, Durable: s.durable.Load()}
	for _, o := range r.cfg.Observers {
		o.OnSubscription(c)
	}
}

// Restore makes again the durable subscriptions kept in the Store, with
// their remaining expire; those that expired meanwhile are deleted from it.
// It returns how many it made, and the problems of the others (a socket
// that no longer parses, say), which are left in the store.
func (r *Registry) Restore() (int, error) {
	if r.cfg.Store == nil {
		return 0, nil
	}
	list, err := r.cfg.Store.Load()
	if err != nil {
		return 0, fmt.Errorf("restore subscriptions: %w", err)
	}
	now := r.now()
	made := 0
	var errs []error
	for _, s := range list {
		left := time.Duration(0)
		if !s.Expires.IsZero() {
			if left = s.Expires.Sub(now); left <= 0 {
				r.forget(s.Event, s.Key)
				continue
			}
		}
		if err := r.restoreOne(s, left, now); err != nil {
			errs = append(errs, fmt.Errorf("restore the subscription of %s to %q: %w", s.Event, s.Socket, err))
			continue
		}
		made++
	}
	return made, errors.Join(errs...)
}

// restoreOne subscribes s again for left (0: never), keeping its original
// expire for listings, without writing it to the store again.
func (r *Registry) restoreOne(s StoredSubscription, left time.Duration, now time.Time) error {
	if err := r.SubscribeWith(s.Event, s.Socket, SubscribeOptions{Expire: left, Delivery: s.Delivery}); err != nil {
		return err
	}
	ev := r.Lookup(s.Event)
	r.mu.Lock()
	defer r.mu.Unlock()
	sub := ev.byKey[s.Key]
	if sub == nil { // the socket's key changed meaning: find it by what was made
		return fmt.Errorf("key %q not found after subscribing", s.Key)
	}
	sub.durable.Store(true)
	if s.Expire > 0 {
		// Listed with the expire asked for and the ttl left.
		sub.expire.Store(int64(s.Expire))
		sub.start.Store(now.Add(left - s.Expire).UnixNano())
	}
	return nil
}

// Unsubscribe removes the subscriber of the event name whose socket matches.
func (r *Registry) Unsubscribe(name, socket string) error {
	ev := r.Lookup(name)
	if ev == nil {
		return fmt.Errorf("event %q: %w", name, ErrNotPublished)
	}
	if r.isClosed.Load() {
		return fmt.Errorf("unsubscribe %q from %q: %w", socket, name, ErrClosed)
	}
	dest, err := r.ParseSocket(socket)
	if err != nil {
		return err
	}
	key := dest.Key()
	dest.Close()
	r.mu.Lock()
	gone := ev.byKey[key]
	if gone == nil {
		r.mu.Unlock()
		return fmt.Errorf("event %q, socket %q: %w", name, socket, ErrNoSubscriber)
	}
	r.nsubs -= ev.removeLocked(func(s *Subscriber) bool { return s == gone })
	r.mu.Unlock()
	gone.release()
	if gone.durable.Load() && r.cfg.Store != nil {
		r.forget(name, key)
	}
	r.log.Info("unsubscribed", "event", name, "socket", ratelog.Clip(gone.socket))
	r.notify(Unsubscribed, gone, r.now())
	return nil
}

// Subscribers returns the live subscribers of the event name, newest first.
func (r *Registry) Subscribers(name string) ([]SubscriberInfo, error) {
	ev := r.Lookup(name)
	if ev == nil {
		return nil, fmt.Errorf("event %q: %w", name, ErrNotPublished)
	}
	now := r.now()
	all := ev.subs.Load().all()
	var out []SubscriberInfo
	for i := len(all) - 1; i >= 0; i-- {
		if s := all[i]; !s.Expired(now) {
			out = append(out, infoOf(s, now))
		}
	}
	return out, nil
}

func infoOf(s *Subscriber, now time.Time) SubscriberInfo {
	info := SubscriberInfo{Socket: s.socket, Key: s.key, Expire: s.Expire(), Durable: s.durable.Load(), Delivery: s.delivery}
	if s.queue != nil {
		info.Pending, info.DeadLetters = s.queue.Counts()
	}
	if info.Expire > 0 {
		info.TTL = s.Start().Add(info.Expire).Sub(now)
	}
	return info
}

// Subscriber returns the live subscriber of the event name whose socket
// matches socket (by its Destination.Key, as subscribing does). The error
// wraps ErrNotPublished, the socket's parse error, or ErrNoSubscriber.
func (r *Registry) Subscriber(name, socket string) (SubscriberInfo, error) {
	ev := r.Lookup(name)
	if ev == nil {
		return SubscriberInfo{}, fmt.Errorf("event %q: %w", name, ErrNotPublished)
	}
	dest, err := r.ParseSocket(socket)
	if err != nil {
		return SubscriberInfo{}, err
	}
	key := dest.Key()
	dest.Close()
	now := r.now()
	r.mu.RLock()
	s := ev.byKey[key]
	r.mu.RUnlock()
	if s == nil || s.Expired(now) {
		return SubscriberInfo{}, fmt.Errorf("event %q, socket %q: %w", name, socket, ErrNoSubscriber)
	}
	return infoOf(s, now), nil
}

// SubscriberCount returns the number of live (not expired) subscribers over
// every published event, without building their listing.
func (r *Registry) SubscriberCount() int {
	now := r.now()
	n := 0
	for _, ev := range r.Events() {
		for _, s := range ev.subs.Load().all() {
			if !s.Expired(now) {
				n++
			}
		}
	}
	return n
}

// AutoPublish reports whether unknown events are published when they are
// subscribed to (Config.AutoPublish).
func (r *Registry) AutoPublish() bool { return r.cfg.AutoPublish }

// Raise raises the event name with params to every live subscriber. See
// RaiseEvent.
func (r *Registry) Raise(name string, params value.Params, report func(Outcome)) (int, error) {
	ev, err := r.event(name)
	if err != nil {
		return 0, err
	}
	return r.RaiseEvent(ev, params, report)
}

// RaiseEvent hands ev with params to every live subscriber without waiting
// for delivery, and returns how many subscribers accepted it.
//
// When report is not nil it is called once per subscriber with the outcome:
// later, from a transport's goroutine, for accepted events; before RaiseEvent
// returns for subscribers that did not accept the event. report must not
// block. The error is ErrNoSubscribers when there is no live subscriber, and
// wraps the rejections (for example ErrQueueFull) when any subscriber did not
// accept the event.
func (r *Registry) RaiseEvent(ev *Event, params value.Params, report func(Outcome)) (int, error) {
	return r.raise(nil, ev, params, report, nil)
}

// RaiseWait is Raise for a producer that can wait: see RaiseEventWait.
func (r *Registry) RaiseWait(ctx context.Context, maxWait time.Duration, name string, params value.Params, report func(Outcome)) (int, error) {
	ev, err := r.event(name)
	if err != nil {
		return 0, err
	}
	return r.RaiseEventWait(ctx, maxWait, ev, params, report)
}

// RaiseAsync raises the event name with params as RaiseWait does (maxWait
// 0: RaiseEvent, no waiting for room), without waiting for the spool: ack
// is called once with what Raise would return, when every at-least-once
// subscriber's copy is durable (or was refused), or at once when there is
// none. A producer that acknowledges its events in ack can therefore have
// many in the spool's group commit together; events raised one after the
// other by one goroutine keep their order. ack may be called before
// RaiseAsync returns, and must not block.
func (r *Registry) RaiseAsync(ctx context.Context, maxWait time.Duration, name string, params value.Params, report func(Outcome), ack func(accepted int, err error)) {
	ev, err := r.event(name)
	if err != nil {
		ack(0, err)
		return
	}
	r.RaiseEventAsync(ctx, maxWait, ev, params, report, ack)
}

// RaiseEventAsync is RaiseAsync for a published event.
func (r *Registry) RaiseEventAsync(ctx context.Context, maxWait time.Duration, ev *Event, params value.Params, report func(Outcome), ack func(accepted int, err error)) {
	var rw *roomWait
	if maxWait > 0 {
		rw = &roomWait{ctx: ctx, max: maxWait}
	}
	if n, err := r.raise(rw, ev, params, report, ack); err != errAcked {
		ack(n, err)
	}
}

// errAcked is raise's answer when the at-least-once subscribers' spool
// write will call the ack (or did).
var errAcked = errors.New("acknowledged by the spool write")

// RaiseEventWait is RaiseEvent for a producer that can wait: a subscriber
// whose queue is full (and whose destination is a Waiter) is given up to
// maxWait, or until ctx ends, to make room, instead of refusing the event
// at once. The wait is for all the subscribers together: maxWait bounds
// how much longer the raise can take. A subscriber still full then refuses
// the event, as with RaiseEvent (the error wraps ErrQueueFull), and a
// Waiter that stays full for a whole wait refuses the next events at once
// until it has drained (see Waiter): a stalled subscriber holds its
// producer once, not at every event.
func (r *Registry) RaiseEventWait(ctx context.Context, maxWait time.Duration, ev *Event, params value.Params, report func(Outcome)) (int, error) {
	return r.raise(&roomWait{ctx: ctx, max: maxWait}, ev, params, report, nil)
}

// roomWait is how long a raise may wait for room in full subscribers. Its
// context (with the deadline) is made at the first wait only: most raises
// never wait.
type roomWait struct {
	ctx    context.Context
	max    time.Duration
	wctx   context.Context
	cancel context.CancelFunc
}

// release stops the wait's timer.
func (rw *roomWait) release() {
	if rw.cancel != nil {
		rw.cancel()
	}
}

// wait waits for room for m in w and sends it again, until it is
// accepted or the wait ends. full is the error of the Send refused.
func (rw *roomWait) wait(w Waiter, m *Message, send func() error, full error) error {
	if rw.wctx == nil {
		rw.wctx, rw.cancel = context.WithTimeout(rw.ctx, rw.max)
	}
	err := full
	for errors.Is(err, ErrQueueFull) {
		if werr := w.WaitRoom(rw.wctx, m); werr != nil {
			if rw.wctx.Err() != nil {
				return fmt.Errorf("%w (no room within %v)", full, rw.max)
			}
			return werr
		}
		err = send()
	}
	return err
}

// raise hands a new message of ev to every live subscriber and returns how
// many accepted it. With ack set and at-least-once subscribers, the spool
// write calls ack with the result instead, and raise returns errAcked;
// without ack, raise waits for that write.
func (r *Registry) raise(rw *roomWait, ev *Event, params value.Params, report func(Outcome), ack func(int, error)) (int, error) {
	if rw != nil {
		defer rw.release()
	}
	if r.isClosed.Load() {
		return 0, fmt.Errorf("raise %q: %w", ev.name, ErrClosed)
	}
	if err := params.Validate(); err != nil {
		return 0, fmt.Errorf("raise %q: %w", ev.name, err)
	}
	all := ev.subs.Load().all()
	now := r.now()
	timed := r.cfg.Now == nil // a real clock reading: destinations may use it as the hand-over time
	m := &Message{ID: r.ids.next(), Event: ev, Params: params, Raised: now, report: report}
	wantDone := report != nil || len(r.cfg.Observers) > 0
	nowNano := now.UnixNano()
	live, accepted := 0, 0
	var errs []error
	var spooled []*Subscriber            // at-least-once: spooled together, after the loop
	for i := len(all) - 1; i >= 0; i-- { // newest first
		s := all[i]
		if s.expiredAt(nowNano) {
			continue
		}
		live++
		if s.queue != nil {
			spooled = append(spooled, s)
			continue
		}
		var done Done // nil when nobody wants the outcomes: transports skip them
		if wantDone {
			done = s
		}
		var err error
		if s.timed != nil && timed {
			err = s.timed.SendAt(m, done, now)
		} else {
			err = s.dest.Send(m, done)
		}
		if err != nil && rw != nil && errors.Is(err, ErrQueueFull) {
			if w, ok := s.dest.(Waiter); ok {
				err = rw.wait(w, m, func() error { return s.dest.Send(m, done) }, err)
			}
		}
		if err != nil {
			err = fmt.Errorf("raise %q to %s: %w", ev.name, s.socket, err)
			errs = append(errs, err)
			s.Done(m, err)
			continue
		}
		accepted++
	}
	if live == 0 {
		return 0, fmt.Errorf("raise %q: %w", ev.name, ErrNoSubscribers)
	}
	r.raised.Add(1)
	for _, o := range r.raiseObs {
		o.OnRaise(m, live)
	}
	if len(spooled) == 0 {
		return accepted, errors.Join(errs...)
	}
	if ack != nil {
		r.spool(m, spooled, func(n int, serr []error) { ack(accepted+n, errors.Join(append(errs, serr...)...)) })
		return 0, errAcked
	}
	done := make(chan struct{})
	r.spool(m, spooled, func(n int, serr []error) {
		accepted += n
		errs = append(errs, serr...)
		close(done)
	})
	<-done
	return accepted, errors.Join(errs...)
}

// spool hands m to the Spooler for the at-least-once subscribers subs, in
// one durable write; then gets how many accepted it (all or none) and the
// refusals, which are reported to the subscribers first.
func (r *Registry) spool(m *Message, subs []*Subscriber, then func(accepted int, errs []error)) {
	qs := make([]Queue, len(subs))
	for i, s := range subs {
		qs[i] = s.queue
	}
	r.cfg.Spooler.Spool(m, qs, func(err error) {
		if err == nil {
			then(len(subs), nil)
			return
		}
		errs := make([]error, len(subs))
		for i, s := range subs {
			errs[i] = fmt.Errorf("raise %q to %s: %w: %w", m.Event.name, s.socket, ErrNotSpooled, err)
			s.Done(m, errs[i])
		}
		then(0, errs)
	})
}

// Raised returns how many events have been raised to at least one live
// subscriber (raises that failed with ErrNoSubscribers are not counted).
func (r *Registry) Raised() uint64 { return r.raised.Load() }

func (r *Registry) sweeper(iv time.Duration) {
	defer close(r.done)
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.Sweep()
		}
	}
}

// Sweep removes the expired subscribers now and closes their destinations.
// It runs by itself every SweepInterval.
func (r *Registry) Sweep() {
	now := r.now()
	var gone []*Subscriber
	r.mu.Lock()
	for _, ev := range r.order {
		if !slices.ContainsFunc(ev.subs.Load().all(), func(s *Subscriber) bool { return s.Expired(now) }) {
			continue
		}
		r.nsubs -= ev.removeLocked(func(s *Subscriber) bool {
			if s.Expired(now) {
				gone = append(gone, s)
				return true
			}
			return false
		})
	}
	r.mu.Unlock()
	for _, s := range gone {
		s.release()
		if s.durable.Load() && r.cfg.Store != nil {
			r.forget(s.event.name, s.key)
		}
		r.log.Info("subscription expired", "event", s.event.name, "socket", ratelog.Clip(s.socket))
		r.notify(Expired, s, now)
	}
}

// Close stops the registry at once: it closes every destination and then
// every transport. Use Shutdown to drain queued events first.
func (r *Registry) Close() error {
	return r.Shutdown(nil)
}

// Shutdown stops the registry: new raises and subscriptions fail with
// ErrClosed, transports that implement Shutdowner drain what they accepted
// until ctx is done (a nil ctx does not wait), then everything is closed.
// Durable subscriptions stay in the store.
func (r *Registry) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.isClosed.Store(true)
	var dests []Destination
	for _, ev := range r.order {
		all := ev.subs.Load().all()
		for i := len(all) - 1; i >= 0; i-- { // newest first, as delivered
			dests = append(dests, all[i].dest)
		}
		ev.subs.Store(&subList{})
		ev.alo.Store(0)
		r.nsubs = 0
		clear(ev.byKey)
	}
	ts := make([]Transport, 0, len(r.transports))
	for _, t := range r.transports {
		ts = append(ts, t)
	}
	r.mu.Unlock()
	close(r.stop)
	<-r.done
	var errs []error
	if ctx != nil {
		for _, t := range ts {
			if sd, ok := t.(Shutdowner); ok {
				errs = append(errs, sd.Shutdown(ctx))
			}
		}
	}
	for _, d := range dests {
		errs = append(errs, d.Close())
	}
	for _, t := range ts {
		errs = append(errs, t.Close())
	}
	r.log.Close()
	return errors.Join(errs...)
}
