package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/transport"
)

// Path is where the daemon serves the live view: the page at Path, its
// assets and its data under Path + "/".
const Path = "/ui"

// Defaults of Config.
const (
	DefaultTailRate        = 100
	DefaultTailSize        = 1024
	DefaultMaxClients      = 32
	DefaultMaxDestinations = 1000
	DefaultMaxSubscribers  = 2000
)

// historyLen is how many seconds of history each destination keeps (the
// plots), latencyWindow over how many seconds p50 and p99 are computed,
// latencySamples how many latencies a second a destination measures at
// least (beyond, one outcome in n).
const (
	historyLen     = 300
	latencyWindow  = 10
	latencySamples = 1000
)

//go:embed assets
var assets embed.FS

// Config configures a Dashboard. The zero Config is valid.
type Config struct {
	// Version is the daemon's version, shown in the page's header.
	Version string
	// TailRate bounds the entries that go into the live tail a second
	// (raises, outcomes and subscription changes); the others are
	// counted and the page says how many it did not get. 0 means
	// DefaultTailRate.
	TailRate int
	// TailSize is how many entries the tail keeps for its readers: a
	// reader slower than that misses some, and is told. 0 means
	// DefaultTailSize.
	TailSize int
	// MaxClients bounds the pages connected to the live stream at once;
	// 0 means DefaultMaxClients.
	MaxClients int
	// MaxDestinations bounds the destinations whose rates and latencies
	// are kept (each keeps five minutes of history, about 12 KB);
	// MaxSubscribers the subscribers listed in the overview. 0 means the
	// defaults.
	MaxDestinations, MaxSubscribers int
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.TailRate, DefaultTailRate)
	def(&c.TailSize, DefaultTailSize)
	def(&c.MaxClients, DefaultMaxClients)
	def(&c.MaxDestinations, DefaultMaxDestinations)
	def(&c.MaxSubscribers, DefaultMaxSubscribers)
	return c
}

// Sources are where a started Dashboard reads what it shows besides its
// own counts.
type Sources struct {
	// Registry lists the events and their subscribers.
	Registry *evi.Registry
	// Connections lists the transports' connections (nil: none).
	Connections func() []Connection
	// Statistics lists the daemon's counters, as get_statistics does
	// (nil: none).
	Statistics func() []Stat
}

// Connection is a transport's connection, with the delivery policy of
// the subscribers it serves.
type Connection struct {
	transport.Connection
	// Delivery is "at-most-once" or "at-least-once".
	Delivery string
}

// Stat is one of the daemon's counters.
type Stat struct {
	Name  string
	Value int64
}

// Dashboard is the daemon's live view: an evi.RaiseObserver that counts
// raises and outcomes by event and destination and keeps a tail of them,
// and the http.Handler of the page, its JSON and its server-sent events
// (docs/UI.md).
//
// The delivery path pays a few atomic operations per outcome: the
// counting is lock-free, and at most Config.TailRate entries a second
// are encoded for the tail, whatever the rate of events. A sampler
// goroutine, started by Start, turns the counts into rates, latency
// percentiles and five minutes of history once a second.
//
// Make it, give it to the registry as an observer (evi.Config.Observers),
// then Start it with the registry; Close stops the sampler and ends every
// live stream. The page and its data must be served behind the MI's
// authentication: the daemon mounts it on the MI listener.
type Dashboard struct {
	cfg     Config
	started time.Time
	tail    *tail
	mux     *http.ServeMux

	// untracked counts the outcomes of destinations not kept (beyond
	// MaxDestinations, or forgotten): the totals are theirs and the
	// destinations'. changes counts the subscription changes.
	untracked struct{ delivered, failed atomic.Uint64 }
	changes   atomic.Uint64
	// tick counts the sampler's seconds; clock is when the last one
	// began (Unix nanoseconds): the time of the errors kept.
	tick   atomic.Uint64
	clock  atomic.Int64
	dests  sync.Map // socket → *destStats
	ndests atomic.Int64
	events sync.Map // event name → *eventStats

	mu    sync.Mutex // the sampler's state, the sources and the frame
	src   Sources
	smp   sampler
	frame []byte        // the latest state, as sent to the pages
	fresh chan struct{} // closed when frame is replaced

	clients atomic.Int64
	stop    chan struct{}  // closed by Close
	closed  bool           // under mu: no stream may start
	wg      sync.WaitGroup // the sampler and the streams
}

// New returns a Dashboard for cfg; it counts from now on.
func New(cfg Config) *Dashboard {
	cfg = cfg.withDefaults()
	d := &Dashboard{
		cfg:     cfg,
		started: time.Now(),
		tail:    newTail(cfg.TailSize, cfg.TailRate),
		fresh:   make(chan struct{}),
		stop:    make(chan struct{}),
	}
	d.clock.Store(d.started.UnixNano())
	d.tick.Store(1) // a destination's errTick starts at 0: its first error is kept
	static, _ := fs.Sub(assets, "assets")
	files := http.FileServerFS(static)
	d.mux = http.NewServeMux()
	d.mux.HandleFunc("GET "+Path, func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		http.ServeFileFS(w, r, static, "index.html")
	})
	d.mux.Handle("GET "+Path+"/", http.StripPrefix(Path+"/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		if r.URL.Path == "" || r.URL.Path == "index.html" {
			http.Redirect(w, r, Path, http.StatusMovedPermanently)
			return
		}
		files.ServeHTTP(w, r)
	})))
	d.mux.HandleFunc("GET "+Path+"/api/state", d.serveState)
	d.mux.HandleFunc("GET "+Path+"/api/stream", d.serveStream)
	return d
}

// securityHeaders forbid the page anything but its own origin: no script,
// style, font or image from elsewhere, no framing by another site.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}

// Start starts the sampler with src; it may be called once.
func (d *Dashboard) Start(src Sources) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.src = src
	if !d.closed {
		d.wg.Add(1)
		go d.sampler()
	}
}

// Close stops the sampler and ends every live stream; it returns when
// they have stopped. The observer methods keep working (and counting);
// the page and its state are still served, a new stream is refused.
func (d *Dashboard) Close() {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		close(d.stop)
	}
	d.mu.Unlock()
	d.wg.Wait()
}

// ServeHTTP serves the page (GET /ui), its assets, its state as JSON (GET
// /ui/api/state) and the live stream (GET /ui/api/stream).
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.mux.ServeHTTP(w, r) }

// sampler samples once a second until Close.
func (d *Dashboard) sampler() {
	defer d.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case now := <-t.C:
			d.clock.Store(now.UnixNano())
			d.tick.Add(1)
			d.tail.second()
			d.sample(now)
		}
	}
}

// sample samples the counts and, while a page is connected, builds the
// state they are sent.
func (d *Dashboard) sample(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var raised uint64
	if d.src.Registry != nil {
		raised = d.src.Registry.Raised()
	}
	var subs *listing
	d.sampleLocked(now, raised, func(socket string) bool {
		if subs == nil {
			subs = d.listLocked(now)
		}
		return subs.sockets[socket]
	})
	if d.clients.Load() > 0 {
		if subs == nil {
			subs = d.listLocked(now)
		}
		st := d.stateLocked(now, subs, false)
		d.frame = st.encode()
		close(d.fresh)
		d.fresh = make(chan struct{})
	}
}
