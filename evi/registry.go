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
	subs atomic.Pointer[[]*Subscriber] // newest first; copy on write
}

// Name returns the event's name.
func (e *Event) Name() string { return e.name }

// ID returns the event's sequential id (the first published event has id 0).
func (e *Event) ID() int { return e.id }

func (e *Event) String() string { return e.name }

// Subscriber is one subscription of an Event.
type Subscriber struct {
	Event *Event
	Dest  Destination
	// Expire is the subscription's lifetime; 0 means it never expires.
	Expire time.Duration
	// Start is when it was subscribed or last refreshed.
	Start time.Time

	socket string // Dest.String(), computed once at subscription
}

func newSubscriber(ev *Event, dest Destination, expire time.Duration, start time.Time, socket string) *Subscriber {
	return &Subscriber{Event: ev, Dest: dest, Expire: expire, Start: start, socket: socket}
}

// Socket returns the printed form of the subscriber's socket.
func (s *Subscriber) Socket() string {
	if s.socket != "" {
		return s.socket
	}
	return s.Dest.String()
}

// Expired reports whether s has expired at now.
func (s *Subscriber) Expired(now time.Time) bool {
	return s.Expire > 0 && !now.Before(s.Start.Add(s.Expire))
}

// SubscriberInfo describes a live subscriber for listings.
type SubscriberInfo struct {
	Socket string
	// Expire is the lifetime asked for; 0 means never.
	Expire time.Duration
	// TTL is the time left (meaningless when Expire is 0).
	TTL time.Duration
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
}

// Registry holds the published events, their subscribers and the transports.
type Registry struct {
	cfg Config
	log *ratelog.Logger // subscribe and expiry lines: MI callers cause them
	now func() time.Time

	mu         sync.RWMutex // guards the maps and every Event.subs write
	events     map[string]*Event
	order      []*Event
	transports map[string]Transport
	closed     bool
	isClosed   atomic.Bool

	stop chan struct{}
	done chan struct{}

	raised atomic.Uint64
}

// NewRegistry returns a Registry with no transports; add them with Register.
// Call Close to stop it.
func NewRegistry(cfg Config) *Registry {
	r := &Registry{
		cfg:        cfg,
		log:        ratelog.New(cfg.Logger, 20, time.Second),
		now:        cfg.Now,
		events:     make(map[string]*Event),
		transports: make(map[string]Transport),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	if r.now == nil {
		r.now = time.Now
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
	return r.publishLocked(name), nil
}

func (r *Registry) publishLocked(name string) *Event {
	if ev := r.events[name]; ev != nil {
		return ev
	}
	ev := &Event{name: name, id: len(r.order)}
	ev.subs.Store(&[]*Subscriber{})
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

// Subscribe subscribes socket to the event name for expire (0: never). A
// subscriber whose socket matches is refreshed: its start time and expire are
// reset. A new subscriber goes to the head of the list.
func (r *Registry) Subscribe(name, socket string, expire time.Duration) error {
	if expire < 0 {
		return fmt.Errorf("subscribe %q to %q: expire %v: %w", socket, name, expire, ErrNegativeExpire)
	}
	if expire > MaxExpire {
		return fmt.Errorf("subscribe %q to %q: expire %v is longer than %v: %w", socket, name, expire, MaxExpire, ErrExpireTooLong)
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
	dest, err := r.ParseSocket(socket)
	if err != nil {
		return err
	}
	if ev == nil {
		if ev, err = r.Publish(name); err != nil {
			dest.Close()
			return err
		}
	}
	now := r.now()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		dest.Close()
		return fmt.Errorf("subscribe %q to %q: %w", socket, name, ErrClosed)
	}
	old := *ev.subs.Load()
	for i, s := range old {
		if s.Dest.Match(dest) {
			// Refresh in place, as OpenSIPS does: the subscriber keeps its
			// position in the list and its destination (and connection).
			next := slices.Clone(old)
			next[i] = newSubscriber(ev, s.Dest, expire, now, s.socket)
			ev.subs.Store(&next)
			r.mu.Unlock()
			dest.Close()
			r.log.Debug("subscription refreshed", "event", name, "socket", ratelog.Clip(s.Socket()), "expire", expire)
			return nil
		}
	}
	next := make([]*Subscriber, 0, len(old)+1)
	next = append(next, newSubscriber(ev, dest, expire, now, dest.String()))
	next = append(next, old...)
	ev.subs.Store(&next)
	r.mu.Unlock()
	r.log.Info("subscribed", "event", name, "socket", ratelog.Clip(next[0].Socket()), "expire", expire)
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
	defer dest.Close()
	r.mu.Lock()
	old := *ev.subs.Load()
	i := slices.IndexFunc(old, func(s *Subscriber) bool { return s.Dest.Match(dest) })
	if i < 0 {
		r.mu.Unlock()
		return fmt.Errorf("event %q, socket %q: %w", name, socket, ErrNoSubscriber)
	}
	gone := old[i]
	next := slices.Delete(slices.Clone(old), i, i+1)
	ev.subs.Store(&next)
	r.mu.Unlock()
	gone.Dest.Close()
	r.log.Info("unsubscribed", "event", name, "socket", ratelog.Clip(gone.Socket()))
	return nil
}

// Subscribers returns the live subscribers of the event name, newest first.
func (r *Registry) Subscribers(name string) ([]SubscriberInfo, error) {
	ev := r.Lookup(name)
	if ev == nil {
		return nil, fmt.Errorf("event %q: %w", name, ErrNotPublished)
	}
	return r.subscribersOf(ev), nil
}

func (r *Registry) subscribersOf(ev *Event) []SubscriberInfo {
	now := r.now()
	var out []SubscriberInfo
	for _, s := range *ev.subs.Load() {
		if s.Expired(now) {
			continue
		}
		out = append(out, infoOf(s, now))
	}
	return out
}

func infoOf(s *Subscriber, now time.Time) SubscriberInfo {
	info := SubscriberInfo{Socket: s.Socket(), Expire: s.Expire}
	if s.Expire > 0 {
		info.TTL = s.Start.Add(s.Expire).Sub(now)
	}
	return info
}

// Subscriber returns the live subscriber of the event name whose socket
// matches socket (by the transport's Match rules, as subscribing does). The
// error wraps ErrNotPublished, the socket's parse error, or ErrNoSubscriber.
func (r *Registry) Subscriber(name, socket string) (SubscriberInfo, error) {
	ev := r.Lookup(name)
	if ev == nil {
		return SubscriberInfo{}, fmt.Errorf("event %q: %w", name, ErrNotPublished)
	}
	dest, err := r.ParseSocket(socket)
	if err != nil {
		return SubscriberInfo{}, err
	}
	defer dest.Close()
	now := r.now()
	for _, s := range *ev.subs.Load() {
		if !s.Expired(now) && s.Dest.Match(dest) {
			return infoOf(s, now), nil
		}
	}
	return SubscriberInfo{}, fmt.Errorf("event %q, socket %q: %w", name, socket, ErrNoSubscriber)
}

// SubscriberCount returns the number of live (not expired) subscribers over
// every published event, without building their listing.
func (r *Registry) SubscriberCount() int {
	now := r.now()
	n := 0
	for _, ev := range r.Events() {
		for _, s := range *ev.subs.Load() {
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
	if r.isClosed.Load() {
		return 0, fmt.Errorf("raise %q: %w", ev.name, ErrClosed)
	}
	if err := params.Validate(); err != nil {
		return 0, fmt.Errorf("raise %q: %w", ev.name, err)
	}
	subs := *ev.subs.Load()
	now := r.now()
	m := NewMessage(ev, params, now)
	live, accepted := 0, 0
	var errs []error
	for _, s := range subs {
		if s.Expired(now) {
			continue
		}
		live++
		var done func(error)
		if report != nil {
			sock := s.Socket()
			done = func(err error) { report(Outcome{Event: ev, Socket: sock, Err: err}) }
		}
		if err := s.Dest.Send(m, done); err != nil {
			err = fmt.Errorf("raise %q to %s: %w", ev.name, s.Socket(), err)
			errs = append(errs, err)
			if report != nil {
				report(Outcome{Event: ev, Socket: s.Socket(), Err: err})
			}
			continue
		}
		accepted++
	}
	if live == 0 {
		return 0, fmt.Errorf("raise %q: %w", ev.name, ErrNoSubscribers)
	}
	r.raised.Add(1)
	return accepted, errors.Join(errs...)
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
		old := *ev.subs.Load()
		if !slices.ContainsFunc(old, func(s *Subscriber) bool { return s.Expired(now) }) {
			continue
		}
		next := make([]*Subscriber, 0, len(old))
		for _, s := range old {
			if s.Expired(now) {
				gone = append(gone, s)
			} else {
				next = append(next, s)
			}
		}
		ev.subs.Store(&next)
	}
	r.mu.Unlock()
	for _, s := range gone {
		s.Dest.Close()
		r.log.Info("subscription expired", "event", s.Event.name, "socket", ratelog.Clip(s.Socket()))
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
		for _, s := range *ev.subs.Load() {
			dests = append(dests, s.Dest)
		}
		ev.subs.Store(&[]*Subscriber{})
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
