package delivery

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/ratelog"
	"github.com/evstream/evstream/spool"
	"github.com/evstream/evstream/transport/stream"
)

// Defaults of the zero fields of a Config (DESIGN.md §10).
const (
	DefaultWindow       = 1024
	DefaultRetryInitial = time.Second
	DefaultRetryMax     = time.Minute
	DefaultMaxAge       = 24 * time.Hour
)

// MaxWindow is the largest Config.Window.
const MaxWindow = stream.MaxMaxInFlight

// Config configures an Engine.
type Config struct {
	// Open opens the store, at the first need (an at-least-once
	// subscription, a dead letter listed): the daemon creates its data_dir
	// then. Required.
	Open func() (spool.Store, error)
	// Parse parses an at-least-once subscriber's socket into the
	// destination its events are sent to: one of a transport that sends
	// requests with the events' sequences as ids (stream.Config.SeqIDs).
	// Required.
	Parse func(socket string) (evi.Destination, error)
	// Window bounds the requests in flight per subscriber; 0 means
	// DefaultWindow.
	Window int
	// RetryInitial is the wait after the first failure; it doubles at
	// every failure in a row up to RetryMax, with ±20 % of jitter. 0 means
	// the defaults.
	RetryInitial, RetryMax time.Duration
	// MaxAttempts makes an event a dead letter after that many failed
	// attempts; 0 means no limit.
	MaxAttempts int
	// MaxAge makes an undelivered event older than this a dead letter;
	// 0 means DefaultMaxAge, negative no limit.
	MaxAge time.Duration
	// Logger receives the engine's logs (rate-limited); nil discards them.
	Logger *slog.Logger
}

// Validate reports every bad field of c.
func (c Config) Validate() error {
	var errs []error
	if c.Open == nil || c.Parse == nil {
		errs = append(errs, errors.New("delivery: Config.Open and Config.Parse are required"))
	}
	if c.Window < 0 || c.Window > MaxWindow {
		errs = append(errs, fmt.Errorf("delivery: Window %d is out of range: want 1 to %d (0: %d)", c.Window, MaxWindow, DefaultWindow))
	}
	if c.RetryInitial < 0 || c.RetryMax < 0 {
		errs = append(errs, fmt.Errorf("delivery: RetryInitial %v or RetryMax %v is negative", c.RetryInitial, c.RetryMax))
	}
	if c.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("delivery: MaxAttempts %d is negative", c.MaxAttempts))
	}
	return errors.Join(errs...)
}

// Stats are an Engine's counts.
type Stats struct {
	// Spooled counts the events stored for a subscriber (one per
	// subscriber); Confirmed those its subscriber confirmed; Retried the
	// failed attempts; DeadLettered the events that became dead letters;
	// Refused the events refused because the spool was full; ReadBack
	// the events sent after a read from the store (a backlog, a retry, a
	// restart: a subscriber that keeps up gets the events as they are
	// written, without one), each time.
	Spooled, Confirmed, Retried, DeadLettered, Refused, ReadBack uint64
	// Store is the store's own counts (zero before it is opened).
	Store spool.Stats
	// OldestPending is the age of the oldest event waiting for an
	// attached subscriber; 0 when none waits.
	OldestPending time.Duration
	// HandOverBytes is the memory the queues' hand-overs hold (bounded:
	// 4 MiB a queue, 64 MiB in all).
	HandOverBytes int64
}

// Engine is the evi.Spooler of at-least-once subscribers. It is safe for
// concurrent use.
type Engine struct {
	cfg    Config
	log    *ratelog.Logger
	encKey string
	enc    func(*evi.Message) []byte

	openMu sync.Mutex
	store  atomic.Pointer[storeRef]

	mu     sync.Mutex
	queues map[string]*queue // attached, by name
	closed bool

	spooled, confirmed, retried, deadLettered, refused, readBack atomic.Uint64
	handed                                                       atomic.Int64 // bytes handed over to the queues (handOverTotal bounds it)
}

// handOver takes size bytes of the queues' hand-over budget (gives them
// back when negative); false when they are not there.
func (e *Engine) handOver(size int) bool {
	if e.handed.Add(int64(size)) > handOverTotal && size > 0 {
		e.handed.Add(-int64(size))
		return false
	}
	return true
}

type storeRef struct{ s spool.Store }

var _ evi.Spooler = (*Engine)(nil)

// New returns an Engine. Its store is opened at the first need.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.RetryInitial == 0 {
		cfg.RetryInitial = DefaultRetryInitial
	}
	if cfg.RetryMax == 0 {
		cfg.RetryMax = DefaultRetryMax
	}
	cfg.RetryMax = max(cfg.RetryMax, cfg.RetryInitial)
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	key, enc := stream.ParamsEncoding("")
	return &Engine{cfg: cfg, log: ratelog.New(cfg.Logger, 0, 0), encKey: key, enc: enc,
		queues: make(map[string]*queue)}, nil
}

// Store returns the engine's store, opening it at the first call.
func (e *Engine) Store() (spool.Store, error) {
	if r := e.store.Load(); r != nil {
		return r.s, nil
	}
	e.openMu.Lock()
	defer e.openMu.Unlock()
	if r := e.store.Load(); r != nil {
		return r.s, nil
	}
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("delivery: %w", evi.ErrClosed)
	}
	s, err := e.cfg.Open()
	if err != nil {
		return nil, err
	}
	e.store.Store(&storeRef{s})
	return s, nil
}

// opened returns the store when it is open, else nil.
func (e *Engine) opened() spool.Store {
	if r := e.store.Load(); r != nil {
		return r.s
	}
	return nil
}

// QueueName is the name of the spool queue of the subscriber of event
// whose socket has key (evi.Destination.Key).
func QueueName(event, key string) string { return event + "\x00" + key }

// splitQueue is the inverse of QueueName.
func splitQueue(name string) (event, key string) {
	event, key, _ = strings.Cut(name, "\x00")
	return event, key
}

// keyOf returns the socket key of the queue name.
func keyOf(name string) string { _, k := splitQueue(name); return k }

// Attach starts delivering the queue of the subscriber of ev at socket;
// see evi.Spooler.
func (e *Engine) Attach(ev *evi.Event, socket string, done evi.Done) (evi.Queue, error) {
	st, err := e.Store()
	if err != nil {
		return nil, err
	}
	dest, err := e.cfg.Parse(socket)
	if err != nil {
		return nil, err
	}
	name := QueueName(ev.Name(), dest.Key())
	pending, dead, err := st.Counts(name)
	if err != nil {
		dest.Close()
		return nil, fmt.Errorf("delivery: queue of %s at %s: %w", ev.Name(), dest.Key(), err)
	}
	q := newQueue(e, st, name, ev, dest, done)
	q.pending.Store(pending)
	q.dead.Store(dead)
	e.mu.Lock()
	switch {
	case e.closed:
		e.mu.Unlock()
		dest.Close()
		return nil, fmt.Errorf("delivery: %w", evi.ErrClosed)
	case e.queues[name] != nil:
		e.mu.Unlock()
		dest.Close()
		return nil, fmt.Errorf("delivery: the queue of %s at %s is attached already", ev.Name(), dest.Key())
	}
	e.queues[name] = q
	e.mu.Unlock()
	go q.run()
	if pending > 0 {
		e.log.Info("at-least-once subscriber: delivering what the spool holds", "event", ev.Name(),
			"socket", ratelog.Clip(dest.String()), "pending", pending, "dead_letters", dead)
	}
	return q, nil
}

// detach forgets q (it stopped).
func (e *Engine) detach(q *queue) {
	e.mu.Lock()
	if e.queues[q.name] == q {
		delete(e.queues, q.name)
	}
	e.mu.Unlock()
}

// Spool stores m for the queues qs in one durable write, and calls then
// when it is durable; see evi.Spooler.
func (e *Engine) Spool(m *evi.Message, qs []evi.Queue, then func(error)) {
	st, err := e.Store()
	if err != nil {
		then(err)
		return
	}
	params := e.params(m)
	recs := make([]spool.Record, len(qs))
	own := make([]*queue, len(qs))
	for i, eq := range qs {
		q, ok := eq.(*queue)
		if !ok || q.e != e {
			then(fmt.Errorf("delivery: Spool: %T is not a queue of this engine", eq))
			return
		}
		own[i] = q
		recs[i] = spool.Record{Queue: q.name, ID: m.ID.Bytes(), Event: m.Event.Name(), Params: params, Raised: m.Raised}
	}
	var staged []uint64 // set before then (its sequences, handed over)
	st.AppendAsync(recs, func(seqs []uint64, early bool) {
		for i, q := range own {
			if early {
				q.stage(m, seqs[i], len(params))
			} else {
				q.gap(seqs[i], seqs[i]) // read back once durable
			}
		}
		if early {
			staged = seqs
		}
	}, func(seqs []uint64, err error) {
		if err != nil && staged != nil {
			for i, q := range own {
				q.withdraw(staged[i])
			}
		}
		switch {
		case errors.Is(err, spool.ErrFull):
			e.refused.Add(uint64(len(qs)))
			e.log.Warn("spool full: at-least-once events refused", "event", m.Event.Name(), "err", err)
			then(&evi.DeliveryError{Dest: "spool", Reason: evi.ReasonSpoolFull, Err: err})
			return
		case err != nil:
			then(fmt.Errorf("delivery: spooling %s: %w", m.Event.Name(), err))
			return
		}
		e.spooled.Add(uint64(len(qs)))
		for i, q := range own {
			q.durable(seqs[i])
		}
		then(nil)
	})
}

// spoolWait is Spool, waiting for the write.
func (e *Engine) spoolWait(m *evi.Message, qs []evi.Queue) error {
	done := make(chan error, 1)
	e.Spool(m, qs, func(err error) { done <- err })
	return <-done
}

// params returns m's params as spooled: their JSON as sent without
// event_param (the transport adds it when it writes).
func (e *Engine) params(m *evi.Message) []byte {
	if text, ok := m.Params.Text(); ok {
		return []byte(text)
	}
	return m.Encoded(e.encKey, e.enc)
}

// DeadLetter is a dead letter, as listed.
type DeadLetter struct {
	// Event and Socket (its key) name the subscriber.
	Event, Socket string
	spool.Entry
}

// DeadLetters returns up to limit dead letters of the subscribers of event
// (of the one whose socket key is key, when key is not ""), oldest first
// per subscriber.
func (e *Engine) DeadLetters(event, key string, limit int) ([]DeadLetter, error) {
	st, names, err := e.queuesOf(event, key)
	if err != nil || st == nil {
		return nil, err
	}
	var out []DeadLetter
	for _, name := range names {
		if len(out) >= limit {
			break
		}
		list, err := st.DeadLetters(name, limit-len(out))
		if err != nil {
			return out, err
		}
		_, k := splitQueue(name)
		for _, en := range list {
			out = append(out, DeadLetter{Event: event, Socket: k, Entry: en})
		}
	}
	return out, nil
}

// Replay puts the dead letters of the subscribers of event (of key's,
// when key is not "") back at the tail of their queues, and returns how
// many. An attached subscriber gets them at once.
func (e *Engine) Replay(event, key string) (int, error) {
	return e.eachQueue(event, key, "dead letters replayed", true, spool.Store.Replay, func(q *queue, n int64) {
		q.dead.Add(-n)
		q.pending.Add(n)
		q.appended()
	})
}

// Purge deletes the dead letters of the subscribers of event (of key's,
// when key is not ""), and returns how many.
func (e *Engine) Purge(event, key string) (int, error) {
	return e.eachQueue(event, key, "dead letters purged", false, spool.Store.Purge, func(q *queue, n int64) { q.dead.Add(-n) })
}

// eachQueue runs op on the queues of event (key's only, when key is not
// ""), tells each attached one what op did to it (counted), logs what, and
// returns the total. An op that adds events to a queue (adds) holds its
// hand-over meanwhile: what it adds comes before what is handed over
// after it.
func (e *Engine) eachQueue(event, key, what string, adds bool, op func(spool.Store, string) (int, error), counted func(q *queue, n int64)) (int, error) {
	st, names, err := e.queuesOf(event, key)
	if err != nil || st == nil {
		return 0, err
	}
	total := 0
	for _, name := range names {
		e.mu.Lock()
		q := e.queues[name]
		e.mu.Unlock()
		if q != nil && adds {
			q.hold.Add(1)
		}
		n, err := op(st, name)
		if q != nil && n > 0 {
			counted(q, int64(n))
		}
		if q != nil && adds {
			q.hold.Add(-1)
			q.poke()
		}
		if n > 0 {
			total += n
			e.log.Info(what, "event", event, "socket", ratelog.Clip(keyOf(name)), "n", n)
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// queuesOf returns the store and the names of the queues of event (key's
// only, when key is not "") that hold anything. With no store file yet
// there is nothing: st is nil.
func (e *Engine) queuesOf(event, key string) (spool.Store, []string, error) {
	st, err := e.Store()
	if err != nil {
		return nil, nil, err
	}
	if key != "" {
		return st, []string{QueueName(event, key)}, nil
	}
	all, err := st.Queues()
	if err != nil {
		return nil, nil, err
	}
	var out []string
	for _, name := range all {
		if ev, _ := splitQueue(name); ev == event {
			out = append(out, name)
		}
	}
	return st, out, nil
}

// Stats returns the engine's counts.
func (e *Engine) Stats() Stats {
	s := Stats{Spooled: e.spooled.Load(), Confirmed: e.confirmed.Load(), Retried: e.retried.Load(),
		DeadLettered: e.deadLettered.Load(), Refused: e.refused.Load(), ReadBack: e.readBack.Load(),
		HandOverBytes: e.handed.Load()}
	st := e.opened()
	if st == nil {
		return s
	}
	s.Store = st.Stats()
	e.mu.Lock()
	var names []string
	for name, q := range e.queues {
		if q.pending.Load() > 0 {
			names = append(names, name)
		}
	}
	e.mu.Unlock()
	for _, name := range names {
		if head, err := st.Read(name, 0, 1); err == nil && len(head) == 1 {
			s.OldestPending = max(s.OldestPending, time.Since(head[0].Raised))
		}
	}
	return s
}

// Stop tells every attached queue to stop, without waiting: their Close
// (the registry's, at shutdown) then waits for all of them together, not
// for one grace period after another.
func (e *Engine) Stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, q := range e.queues {
		q.stopping()
	}
}

// Close stops the queues still attached (what they hold stays pending)
// and closes the store. It is safe to call more than once.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	qs := make([]*queue, 0, len(e.queues))
	for _, q := range e.queues {
		qs = append(qs, q)
	}
	e.mu.Unlock()
	for _, q := range qs {
		q.Close()
	}
	e.openMu.Lock()
	defer e.openMu.Unlock()
	e.log.Close()
	if st := e.opened(); st != nil {
		return st.Close()
	}
	return nil
}
