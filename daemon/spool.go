package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/evstream/evstream/delivery"
	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/allowlist"
	"github.com/evstream/evstream/spool"
	"github.com/evstream/evstream/transport"
)

// SpoolFile is the spool's file under data_dir: the events of
// at-least-once subscribers and the MI's subscriptions.
const SpoolFile = "spool.db"

// durable is what the daemon keeps under data_dir: the spool (opened, and
// data_dir created, at the first need), the delivery engine, and the
// transports of at-least-once subscribers, in a registry of their own.
type durable struct {
	dir   string
	opts  spool.Options
	cfg   Config
	log   *slog.Logger
	bolt  atomic.Pointer[spool.Bolt]
	eng   *delivery.Engine
	allow *allowlist.List

	mu  sync.Mutex
	reg *evi.Registry // the SeqIDs transports, built at the first need; never raised on
}

// newDurable builds the at-least-once side of the daemon from its config.
func (d *Daemon) newDurable() (*durable, error) {
	c := d.cfg.Delivery
	du := &durable{dir: d.cfg.DataDir, opts: spool.Options{MaxBytes: c.SpoolMaxBytes}, cfg: d.cfg, log: d.log, allow: d.allow}
	maxAge := c.MaxAge
	if maxAge == 0 {
		maxAge = -1 // the config's 0: no limit
	}
	eng, err := delivery.New(delivery.Config{
		Open:         du.open,
		Parse:        du.parse,
		Window:       c.Window,
		RetryInitial: c.RetryInitial,
		RetryMax:     c.RetryMax,
		MaxAttempts:  c.MaxAttempts,
		MaxAge:       maxAge,
		Logger:       d.log,
	})
	if err != nil {
		return nil, err
	}
	du.eng = eng
	return du, nil
}

// parse parses the socket of an at-least-once subscriber with the SeqIDs
// transports, which it builds at the first call (delivery.Config.Parse):
// a daemon without at-least-once subscribers has no second set.
func (du *durable) parse(socket string) (evi.Destination, error) {
	du.mu.Lock()
	if du.reg == nil {
		reg := evi.NewRegistry(evi.Config{Logger: du.log})
		env := transport.Env{Registry: reg, Logger: du.log.With("delivery", "at-least-once"), Sections: du.cfg.Transports,
			Dialer: du.allow, Check: du.allow.CheckAddress, SeqIDs: true}
		for _, p := range transport.Plugins() {
			t, err := p.New(env, du.cfg.Transports[p.Section])
			if err == nil {
				if err = reg.Register(t); err != nil {
					t.Close()
				}
			}
			if err != nil {
				du.mu.Unlock()
				reg.Close()
				return nil, fmt.Errorf("%s (at-least-once): %w", p.Section, err)
			}
		}
		du.reg = reg
	}
	reg := du.reg
	du.mu.Unlock()
	return reg.ParseSocket(socket)
}

// path is the spool file's.
func (du *durable) path() string { return filepath.Join(du.dir, SpoolFile) }

// opened reports whether the spool is open, or its file is there to be
// opened: what reads it needs, without creating data_dir.
func (du *durable) opened() bool { return du.bolt.Load() != nil || du.exists() }

// exists reports whether the spool file is there (from an earlier run).
func (du *durable) exists() bool {
	_, err := os.Stat(du.path())
	return err == nil
}

// open creates data_dir when needed and opens the spool (delivery.Config.Open).
func (du *durable) open() (spool.Store, error) {
	if _, err := os.Stat(du.dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(du.dir, 0o700); err != nil {
			return nil, fmt.Errorf("data_dir: %w", err)
		}
		du.log.Info("data_dir created", "data_dir", du.dir)
	}
	b, err := spool.Open(du.path(), du.opts)
	if err != nil {
		return nil, err
	}
	du.bolt.Store(b)
	return b, nil
}

// subscriptions returns the spool's subscription store, opening it.
func (du *durable) subscriptions() (spool.Subscriptions, error) {
	if _, err := du.eng.Store(); err != nil {
		return spool.Subscriptions{}, err
	}
	return du.bolt.Load().Subscriptions(), nil
}

// Load, Put and Delete make durable an evi.SubscriptionStore that opens
// the spool only when there is something to keep (or a file to read).
func (du *durable) Load() ([]evi.StoredSubscription, error) {
	if !du.opened() {
		return nil, nil
	}
	s, err := du.subscriptions()
	if err != nil {
		return nil, err
	}
	return s.Load()
}

func (du *durable) Put(sub evi.StoredSubscription) error {
	s, err := du.subscriptions()
	if err != nil {
		return err
	}
	return s.Put(sub)
}

func (du *durable) Delete(event, key string) error {
	if !du.opened() {
		return nil
	}
	s, err := du.subscriptions()
	if err != nil {
		return err
	}
	return s.Delete(event, key)
}

// close closes the engine (and the spool), then the transports; the
// registry's at-least-once queues are closed first, by its Shutdown.
func (du *durable) close() error {
	err := du.eng.Close()
	du.mu.Lock()
	defer du.mu.Unlock()
	if du.reg != nil {
		err = errors.Join(err, du.reg.Close())
	}
	return err
}

// Statistics are the engine's, for get_statistics ("delivery:NAME") and
// /metrics (evstream_delivery_NAME).
func (du *durable) Statistics() []transport.Stat {
	s := du.eng.Stats()
	return []transport.Stat{
		{Name: "spooled", Help: "Events stored for an at-least-once subscriber (one per subscriber).", Counter: true, Value: float64(s.Spooled)},
		{Name: "confirmed", Help: "At-least-once events confirmed by their subscriber.", Counter: true, Value: float64(s.Confirmed)},
		{Name: "retried", Help: "Failed at-least-once attempts, to be retried.", Counter: true, Value: float64(s.Retried)},
		{Name: "dead_lettered", Help: "At-least-once events that became dead letters.", Counter: true, Value: float64(s.DeadLettered)},
		{Name: "refused", Help: "At-least-once events refused because the spool was full.", Counter: true, Value: float64(s.Refused)},
		{Name: "read_back", Help: "At-least-once events read back from the spool to be sent (a backlog, a retry, a restart; not those sent as they were written).", Counter: true, Value: float64(s.ReadBack)},
		{Name: "pending", Help: "Events waiting in the spool for their subscriber.", Value: float64(s.Store.Pending)},
		{Name: "dead_letters", Help: "Dead letters kept in the spool.", Value: float64(s.Store.Dead)},
		{Name: "spool_bytes", Metric: "spool_bytes", Help: "Bytes of the records in the spool (delivery.spool_max_bytes bounds it).", Value: float64(s.Store.Bytes)},
		{Name: "oldest_pending_seconds", Help: "Age of the oldest event waiting for an attached subscriber.", Value: s.OldestPending.Seconds()},
	}
}

// transports returns the registry of the at-least-once transports; nil
// before the first at-least-once subscriber built them.
func (du *durable) transports() *evi.Registry {
	du.mu.Lock()
	defer du.mu.Unlock()
	return du.reg
}

// transportStats returns the statistics of the at-least-once transport of
// scheme; nil before they are built.
func (du *durable) transportStats(scheme string) transport.StatsReporter {
	reg := du.transports()
	if reg == nil {
		return nil
	}
	r, _ := reg.Transport(scheme).(transport.StatsReporter)
	return r
}

// delivered counts the deliveries of the at-least-once transports (0
// before the first at-least-once subscriber built them).
func (du *durable) delivered() uint64 {
	reg := du.transports()
	if reg == nil {
		return 0
	}
	var n uint64
	for _, p := range transport.Plugins() {
		if dr, ok := reg.Transport(p.Scheme).(transport.Drainer); ok {
			n += dr.Drain().Delivered
		}
	}
	return n
}
