package loadgen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/certgen"
)

// Path is how the bench raises events in the daemon.
type Path string

const (
	// PathAPI raises through the Go API (evi.Registry) in this process,
	// with the tcp transport: no MI, no ingest.
	PathAPI Path = "api"
	// PathMI raises with the MI's raise_event over HTTP.
	PathMI Path = "mi"
	// PathIngest writes events to the daemon's ingest listener, as an
	// OpenSIPS event_stream subscriber would receive them: the relay.
	PathIngest Path = "ingest"
)

// Mode is the daemon's event_stream mode.
type Mode string

const (
	// ModeNotify: JSON-RPC notifications, delivered when written.
	ModeNotify Mode = "notify"
	// ModeReliable: JSON-RPC requests, delivered when the subscriber
	// replies (the sinks reply at once).
	ModeReliable Mode = "reliable"
)

// Defaults of a Scenario's zero fields.
const (
	// DefaultEvent is the event raised.
	DefaultEvent = "E_BENCH"
	// DefaultDrain bounds the wait for deliveries once raising stops.
	DefaultDrain = 5 * time.Second
	// DefaultWindow bounds the deliveries raised but not yet received, per
	// subscriber: the bench raises "as fast as possible" without
	// overflowing the daemon's queues (stream.DefaultQueueSize is 65536).
	DefaultWindow = 16384
	// DefaultTotalWindow bounds the default window over all subscribers
	// together, so that the time a delivery waits in the queues stays far
	// below the daemon's default 1 s timeout even with many subscribers:
	// the default per-subscriber window is min(DefaultWindow,
	// DefaultTotalWindow/subscribers).
	DefaultTotalWindow = 1 << 18
	// DefaultMIWorkers is the number of concurrent MI clients.
	DefaultMIWorkers = 8
	// DefaultIngestWorkers is the number of ingest connections, one like
	// a single OpenSIPS.
	DefaultIngestWorkers = 1
	// DefaultProgressInterval is how often Progress is called.
	DefaultProgressInterval = 250 * time.Millisecond
	// MaxTimeout is the longest Scenario.Timeout.
	MaxTimeout = time.Hour
)

// batchSize is how many sequence numbers a worker claims at once when the
// rate is not limited (api and ingest: one write per batch on ingest).
const batchSize = 64

// Scenario is one bounded benchmark run. It ends by itself: when Duration
// has elapsed or Count events are raised (whichever comes first; at least
// one must be set), after which it waits at most Drain for the deliveries.
type Scenario struct {
	// Path is how events are raised (api, mi, ingest).
	Path Path
	// Mode is the daemon's event_stream mode (notify, reliable). With URL,
	// it must be the mode the remote daemon runs in.
	Mode Mode
	// Subscribers is how many sinks subscribe, each its own port and
	// connection. 0 means 1.
	Subscribers int
	// AtLeastOnce checks that every subscriber received every raised event
	// at least once, counting the duplicates; the scenario fails when any
	// is lost. It needs ModeReliable.
	AtLeastOnce bool
	// Delivery is the subscriptions' policy. evi.AtLeastOnce stores every
	// event durably in a spool (a temporary data_dir, removed at the end)
	// before the raise is acknowledged, and removes it when the sink
	// confirms it: the sinks answer requests, so it needs ModeReliable.
	Delivery evi.Delivery
	// TLS makes the sinks TLS servers and the sockets tls: (a certificate
	// of a CA made for the run, which the daemon trusts). Not with URL.
	TLS bool
	// NoUI runs without the live view (the daemon's mi.ui: false). By
	// default the daemon the bench starts serves it, as evstream serve
	// does, and the api path's registry has its observer, as the daemon
	// wires them: the figures include what it costs. Not with URL.
	NoUI bool
	// Duration bounds the raising time; 0 means no time bound.
	Duration time.Duration
	// Count bounds the events raised; 0 means no count bound.
	Count int64
	// Rate is the target raise rate, events per second over all workers;
	// 0 means as fast as the window allows.
	Rate float64
	// Workers is how many goroutines raise (api), MI clients (mi) or ingest
	// connections (ingest). 0 means GOMAXPROCS, DefaultMIWorkers or
	// DefaultIngestWorkers.
	Workers int
	// Window bounds the deliveries in flight per subscriber; 0 means
	// min(DefaultWindow, DefaultTotalWindow/Subscribers).
	Window int
	// Drain bounds the wait for deliveries after raising; 0 means
	// DefaultDrain.
	Drain time.Duration
	// Timeout is the event_stream timeout of the daemon this scenario
	// starts (raise to reply, or raise to written); 0 means the daemon's
	// default, stream.DefaultTimeout. A loaded machine (or a first SYN
	// retransmitted after 1 s) can make a short timeout fail deliveries:
	// tests use a generous one. It cannot be set with URL: the running
	// daemon has its own.
	Timeout time.Duration
	// Receiver is the sinks' reader; "" means ReceiverLean.
	Receiver ReceiverKind
	// URL is the MI of a running daemon to drive (subscriptions are made
	// and removed through it). "" starts a daemon in this process.
	URL string
	// IngestAddr is the running daemon's ingest listener (with URL, for
	// PathIngest).
	IngestAddr string
	// Event is the event raised; "" means DefaultEvent.
	Event string
	// Progress, when set, is called every ProgressInterval from another
	// goroutine while the scenario runs.
	Progress func(Progress)
	// ProgressInterval is how often Progress is called; 0 means
	// DefaultProgressInterval.
	ProgressInterval time.Duration
}

// Name is a short label: path/mode/N-sub, with "+spool" for at-least-once
// delivery and "+alo" for the at-least-once check.
func (sc Scenario) Name() string {
	n := max(sc.Subscribers, 1)
	name := fmt.Sprintf("%s/%s/%dsub", sc.Path, sc.Mode, n)
	if sc.TLS {
		name += "+tls"
	}
	if sc.Delivery == evi.AtLeastOnce {
		name += "+spool"
	}
	if sc.AtLeastOnce {
		name += "+alo"
	}
	if sc.NoUI {
		name += "-ui"
	}
	return name
}

// Validate reports the first thing wrong with sc.
func (sc Scenario) Validate() error {
	switch sc.Path {
	case PathAPI, PathMI, PathIngest:
	default:
		return fmt.Errorf("loadgen: path %q: want api, mi or ingest", sc.Path)
	}
	switch sc.Mode {
	case ModeNotify, ModeReliable:
	default:
		return fmt.Errorf("loadgen: mode %q: want notify or reliable", sc.Mode)
	}
	switch {
	case sc.Subscribers < 0:
		return fmt.Errorf("loadgen: subscribers %d is negative", sc.Subscribers)
	case sc.AtLeastOnce && sc.Mode != ModeReliable:
		return errors.New("loadgen: at-least-once needs reliable mode")
	case sc.Delivery == evi.AtLeastOnce && sc.Mode != ModeReliable:
		return errors.New("loadgen: at-least-once delivery needs reliable mode (the sinks must answer its requests)")
	case sc.NoUI && sc.URL != "":
		return errors.New("loadgen: no-ui needs a daemon the bench starts (a running one serves its live view as its mi.ui says)")
	case sc.TLS && sc.URL != "":
		return errors.New("loadgen: tls needs a daemon the bench starts (a running one does not trust the bench's CA)")
	case sc.Delivery > evi.AtLeastOnce:
		return fmt.Errorf("loadgen: unknown %v", sc.Delivery)
	case sc.Duration <= 0 && sc.Count <= 0:
		return errors.New("loadgen: a scenario needs a duration or a count bound")
	case sc.Duration < 0 || sc.Count < 0 || sc.Rate < 0 || sc.Workers < 0 || sc.Window < 0 || sc.Drain < 0 || sc.Timeout < 0:
		return errors.New("loadgen: duration, count, rate, workers, window, drain and timeout must not be negative")
	case sc.Timeout > 0 && sc.URL != "":
		return errors.New("loadgen: a timeout cannot be set for a running daemon (it has its own event_stream.timeout)")
	case sc.Timeout%time.Millisecond != 0 || sc.Timeout > MaxTimeout:
		return fmt.Errorf("loadgen: timeout %v: want whole milliseconds, at most %v", sc.Timeout, MaxTimeout)
	case sc.Path == PathAPI && sc.URL != "":
		return errors.New("loadgen: path api raises in this process; it cannot drive a daemon at a URL")
	case sc.Path == PathIngest && sc.URL != "" && sc.IngestAddr == "":
		return errors.New("loadgen: path ingest with a URL needs the daemon's ingest address")
	}
	if sc.Receiver != "" && sc.Receiver != ReceiverLean && sc.Receiver != ReceiverServer {
		return fmt.Errorf("loadgen: receiver %q: want lean or server", sc.Receiver)
	}
	if sc.Event != "" {
		if err := evi.ValidateEventName(sc.Event); err != nil {
			return fmt.Errorf("loadgen: %w", err)
		}
	}
	return nil
}

func (sc Scenario) withDefaults() Scenario {
	sc.Subscribers = max(sc.Subscribers, 1)
	if sc.Workers == 0 {
		switch sc.Path {
		case PathMI:
			sc.Workers = DefaultMIWorkers
		case PathIngest:
			sc.Workers = DefaultIngestWorkers
		default:
			sc.Workers = runtime.GOMAXPROCS(0)
		}
	}
	if sc.Window == 0 {
		sc.Window = max(min(DefaultWindow, DefaultTotalWindow/sc.Subscribers), 64)
	}
	if sc.Drain == 0 {
		sc.Drain = DefaultDrain
	}
	if sc.Receiver == "" {
		sc.Receiver = ReceiverLean
	}
	if sc.Event == "" {
		sc.Event = DefaultEvent
	}
	if sc.ProgressInterval <= 0 {
		sc.ProgressInterval = DefaultProgressInterval
	}
	return sc
}

// Progress is a scenario's state while it runs.
type Progress struct {
	Scenario string
	// Phase is "raise" while events are raised, then "drain".
	Phase     string
	Elapsed   time.Duration
	Raised    uint64
	Delivered uint64
	// Expected is Raised × subscribers.
	Expected uint64
}

// Result is the outcome of one scenario. Counts are events (raise side)
// or deliveries (one event to one subscriber).
type Result struct {
	Name        string       `json:"name"`
	Path        Path         `json:"path"`
	Mode        Mode         `json:"mode"`
	Subscribers int          `json:"subscribers"`
	AtLeastOnce bool         `json:"at_least_once"`
	Delivery    string       `json:"delivery"`
	Receiver    ReceiverKind `json:"receiver"`
	Workers     int          `json:"workers"`
	Window      int          `json:"window"`
	// Rate is the target raise rate (0: unlimited); DurationLimit and
	// CountLimit the bounds asked for (0: none).
	Rate          float64 `json:"rate"`
	DurationLimit float64 `json:"duration_limit_s"`
	CountLimit    int64   `json:"count_limit"`
	External      bool    `json:"external_daemon"`

	// RaiseSeconds is the raising phase; ElapsedSeconds runs from the
	// first raise to the last delivery (or to the end of raising when
	// later); DrainSeconds is the wait after raising.
	RaiseSeconds   float64 `json:"raise_s"`
	ElapsedSeconds float64 `json:"elapsed_s"`
	DrainSeconds   float64 `json:"drain_s"`

	// Raised counts the events the daemon accepted; RaiseErrors those it
	// refused (MI or ingest error, or no subscriber accepted).
	Raised      uint64 `json:"raised"`
	RaiseErrors uint64 `json:"raise_errors"`
	// Expected is Raised × Subscribers; Delivered the deliveries received
	// (distinct ones with AtLeastOnce); Failed the deliveries the daemon
	// reports failed or refused; Lost the expected deliveries not received
	// (per subscriber, never negative); Duplicates the deliveries received
	// more than once (AtLeastOnce only); Unstamped events received
	// without the bench's params.
	Expected   uint64 `json:"expected"`
	Delivered  uint64 `json:"delivered"`
	Failed     uint64 `json:"failed"`
	Lost       uint64 `json:"lost"`
	Duplicates uint64 `json:"duplicates"`
	Unstamped  uint64 `json:"unstamped"`

	// EventsPerSec is Raised / ElapsedSeconds; DeliveriesPerSec is
	// Delivered / ElapsedSeconds.
	EventsPerSec     float64 `json:"events_per_sec"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	// Latency is from the raise (the "t" param) to the receipt.
	Latency Latency `json:"latency"`
	// Sender is the daemon's own count over the scenario; nil when it
	// does not expose it.
	Sender *SenderStats `json:"sender,omitempty"`
	// SinkConns counts the connections the sinks accepted (one per
	// subscriber unless the daemon reconnected).
	SinkConns int `json:"sink_conns"`
	// SpoolBaseline is, for an at-least-once scenario run in this
	// process, the raw batched write rate of the spool's store engine
	// measured just before it (records/s; SpoolBaseline); 0 otherwise.
	SpoolBaseline float64 `json:"spool_baseline_records_per_sec,omitempty"`
	// SpoolBaselineCPU is the CPU time per record of that measurement,
	// and SpoolConfirmCPU per record confirmed, in nanoseconds
	// (Baseline.CPUPerRecord, CPUPerConfirm).
	SpoolBaselineCPU float64 `json:"spool_baseline_cpu_ns_per_record,omitempty"`
	SpoolConfirmCPU  float64 `json:"spool_baseline_cpu_ns_per_confirm,omitempty"`
	// CPUSeconds is this process's CPU time (user and system, every
	// core) from the first raise to the end of the drain: with the daemon
	// the bench starts, that of the daemon, the sinks and the load
	// together; with URL, the bench's side only. CPUPerDelivery is
	// CPUSeconds per delivery received, in nanoseconds. Both are 0 when
	// the system cannot tell.
	CPUSeconds     float64 `json:"cpu_s,omitempty"`
	CPUPerDelivery float64 `json:"cpu_ns_per_delivery,omitempty"`
	// OK is false when the scenario failed: Error says why.
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// run is one scenario in progress.
type run struct {
	sc     Scenario
	tgt    target
	sinks  []*Sink
	r      raiser
	c      counts
	next   atomic.Int64 // next sequence number
	sent   atomic.Int64 // events handed to the raiser
	stop   atomic.Bool
	start  time.Time
	errMu  sync.Mutex
	err    error
	phase  atomic.Value
	stallD time.Duration
}

func (r *run) fail(err error) {
	r.errMu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.errMu.Unlock()
	r.stop.Store(true)
}

func (r *run) received() uint64 {
	var n uint64
	for _, s := range r.sinks {
		n += s.Received()
	}
	return n
}

// Run runs one scenario: it starts (or reaches) the daemon and the sinks,
// subscribes them, raises events until a bound is reached, waits for the
// deliveries at most Drain, then tears everything down and reports. The
// error is for a scenario that could not run at all; a scenario that ran
// but failed (lost events with AtLeastOnce, an error while raising) has
// OK false and says why in Error.
func Run(ctx context.Context, sc Scenario) (*Result, error) {
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	sc = sc.withDefaults()
	r := &run{sc: sc, stallD: sc.Drain}
	r.phase.Store("setup")
	var baseline Baseline
	if sc.Delivery == evi.AtLeastOnce && sc.URL == "" {
		var err error
		if baseline, err = SpoolBaseline(ctx, time.Second); err != nil {
			return nil, err
		}
	}

	var err error
	var sinkTLS *tls.Config
	var trust *benchCA
	if sc.TLS {
		cert, pool, caPEM, err := certgen.SelfSigned("127.0.0.1")
		if err != nil {
			return nil, fmt.Errorf("loadgen: %s: a certificate: %w", sc.Name(), err)
		}
		sinkTLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		trust = &benchCA{pool: pool, pem: caPEM}
	}
	if r.tgt, err = newTarget(sc, trust); err != nil {
		return nil, fmt.Errorf("loadgen: %s: %w", sc.Name(), err)
	}
	var once sync.Once
	teardown := func() {
		once.Do(func() {
			// The daemon side first (no reconnect to closed sinks), then
			// the sinks, whose reports are final once closed.
			if r.r != nil {
				r.r.close()
			}
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if sc.URL != "" {
				for _, s := range r.sinks {
					r.tgt.unsubscribe(cctx, sc.Event, s.Socket())
				}
			}
			r.tgt.close(cctx)
			for _, s := range r.sinks {
				s.Close()
			}
		})
	}
	defer teardown()
	for range sc.Subscribers {
		s, err := NewSink(SinkConfig{Kind: sc.Receiver, Verify: sc.AtLeastOnce, Method: sc.Event, TLS: sinkTLS})
		if err != nil {
			return nil, fmt.Errorf("loadgen: %s: %w", sc.Name(), err)
		}
		r.sinks = append(r.sinks, s)
		if err := r.tgt.subscribe(ctx, sc.Event, s.Socket()); err != nil {
			return nil, fmt.Errorf("loadgen: %s: subscribe %s: %w", sc.Name(), s.Socket(), err)
		}
	}
	if r.r, err = r.newRaiser(ctx); err != nil {
		return nil, fmt.Errorf("loadgen: %s: %w", sc.Name(), err)
	}
	before, haveStats := r.tgt.stats(ctx)

	// Progress reports until the scenario is over.
	progDone := make(chan struct{})
	var progWG sync.WaitGroup
	if sc.Progress != nil {
		progWG.Go(func() { r.progress(progDone) })
	}
	defer func() {
		close(progDone)
		progWG.Wait()
	}()

	cpu0, cpuOK := processCPU()
	r.start = time.Now()
	r.phase.Store("raise")
	rctx, cancel := context.WithCancel(ctx)
	if sc.Duration > 0 {
		rctx, cancel = context.WithTimeout(ctx, sc.Duration)
	}
	var workers sync.WaitGroup
	for w := range sc.Workers {
		workers.Go(func() { r.worker(rctx, w) })
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-rctx.Done()
		r.stop.Store(true)
	}()
	workers.Wait()
	cancel()
	<-stopped
	raiseEnd := time.Now()

	// Drain: the answers to what was raised, then the deliveries.
	r.phase.Store("drain")
	dctx, dcancel := context.WithTimeout(ctx, sc.Drain)
	r.r.finish(dctx)
	r.drain(dctx, before, haveStats)
	dcancel()
	drainEnd := time.Now()
	cpu1, cpuOK1 := processCPU()

	res := r.result(raiseEnd, drainEnd)
	res.SpoolBaseline, res.SpoolBaselineCPU, res.SpoolConfirmCPU = baseline.RecordsPerSec, baseline.CPUPerRecord, baseline.CPUPerConfirm
	if cpuOK && cpuOK1 {
		res.CPUSeconds = (cpu1 - cpu0).Seconds()
	}
	if haveStats {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		after, ok := r.tgt.stats(sctx)
		scancel()
		if ok {
			d := after.sub(before)
			res.Sender = &d
			res.Failed = d.Failed + d.Overflows
		}
	}
	teardown()
	r.finishSinks(res)
	return res, nil
}

// benchCA is the CA of a TLS scenario's sinks, which its target trusts.
type benchCA struct {
	pool *x509.CertPool
	pem  []byte
}

// newTarget starts or reaches the daemon the scenario drives; with ca
// (TLS), one that trusts it for tls: sockets.
func newTarget(sc Scenario, ca *benchCA) (target, error) {
	reliable := sc.Mode == ModeReliable
	switch {
	case sc.URL != "":
		return &remoteTarget{mi: newMIClient(sc.URL, 2), ingest: sc.IngestAddr, delivery: sc.Delivery}, nil
	case sc.Path == PathAPI:
		return newAPITarget(reliable, sc.Timeout, sc.Delivery, ca, !sc.NoUI)
	default:
		return newDaemonTarget(reliable, sc.Path == PathIngest, sc.Timeout, sc.Delivery, ca, !sc.NoUI)
	}
}

func (r *run) newRaiser(ctx context.Context) (raiser, error) {
	sc := r.sc
	switch sc.Path {
	case PathAPI:
		t := r.tgt.(*apiTarget)
		ev, err := t.reg.Publish(sc.Event)
		if err != nil {
			return nil, err
		}
		return &apiRaiser{reg: t.reg, ev: ev, subs: sc.Subscribers, c: &r.c}, nil
	case PathMI:
		return newMIRaiser(ctx, r.tgt.miURL(), sc.Event, sc.Workers, &r.c), nil
	default:
		return newIngestRaiser(r.tgt.ingestAddr(), sc.Event, sc.Mode == ModeReliable, sc.Workers, &r.c)
	}
}

// worker raises batches of events until the scenario stops.
func (r *run) worker(ctx context.Context, w int) {
	sc := r.sc
	batch := int64(batchSize)
	if sc.Path == PathMI {
		batch = 1
	}
	perWorker := sc.Rate / float64(sc.Workers)
	var mine int64 // events this worker raised
	for !r.stop.Load() {
		k := batch
		if perWorker > 0 {
			elapsed := time.Since(r.start).Seconds()
			due := int64(elapsed*perWorker) + 1 - mine
			if due <= 0 {
				next := r.start.Add(time.Duration(float64(mine) / perWorker * 1e9))
				sleepUntil(ctx, next)
				continue
			}
			k = min(k, due)
		}
		if !r.waitWindow(ctx) {
			return
		}
		from, to := r.claim(k)
		if from >= to {
			r.stop.Store(true)
			return
		}
		if err := r.r.raise(w, from, to); err != nil {
			if ctx.Err() == nil {
				r.fail(err)
			}
			return
		}
		mine += to - from
		r.sent.Add(to - from)
	}
}

// claim takes up to k sequence numbers, within Count.
func (r *run) claim(k int64) (from, to int64) {
	to = r.next.Add(k)
	from = to - k
	if c := r.sc.Count; c > 0 {
		to = min(to, c)
		from = min(from, c)
	}
	return from, to
}

// waitWindow waits while too many deliveries are in flight. It returns
// false when the scenario stops, or when nothing was received for the
// stall time (the daemon stopped delivering).
func (r *run) waitWindow(ctx context.Context) bool {
	if r.sc.Path == PathMI {
		return true // one synchronous request per worker: bounded
	}
	limit := uint64(r.sc.Window) * uint64(r.sc.Subscribers)
	var lastRecv uint64
	var since time.Time
	for {
		inflight := uint64(r.sent.Load())*uint64(r.sc.Subscribers) - r.c.rejected.Load()
		recv := r.received()
		if inflight <= recv+limit || r.stop.Load() {
			return !r.stop.Load()
		}
		if since.IsZero() || recv != lastRecv {
			lastRecv, since = recv, time.Now()
		} else if time.Since(since) > r.stallD {
			r.fail(fmt.Errorf("stalled: nothing received for %v with %d deliveries in flight", r.stallD, inflight-recv))
			return false
		}
		if ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// drain waits until every expected delivery was received or reported
// failed, or ctx is done.
func (r *run) drain(ctx context.Context, before SenderStats, haveStats bool) {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	failed := r.c.rejected.Load()
	var lastStats time.Time
	for {
		expected := r.c.raised.Load() * uint64(r.sc.Subscribers)
		recv := r.received()
		if haveStats && (recv+failed >= expected || time.Since(lastStats) > 100*time.Millisecond) {
			// Deliveries the daemon gave up on will never arrive; in
			// reliable mode the replies must be in as well.
			if s, ok := r.tgt.stats(ctx); ok {
				d := s.sub(before)
				failed = d.Failed + d.Overflows
				if recv+failed >= expected && d.Delivered+d.Failed >= d.Sent {
					return
				}
			}
			lastStats = time.Now()
		} else if !haveStats && recv+failed >= expected {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// result computes the scenario's numbers from the raise side; the sinks
// are added by finishSinks.
func (r *run) result(raiseEnd, drainEnd time.Time) *Result {
	sc := r.sc
	res := &Result{
		Name: sc.Name(), Path: sc.Path, Mode: sc.Mode, Subscribers: sc.Subscribers,
		AtLeastOnce: sc.AtLeastOnce, Delivery: sc.Delivery.String(), Receiver: sc.Receiver, Workers: sc.Workers,
		Window: sc.Window, Rate: sc.Rate, DurationLimit: sc.Duration.Seconds(),
		CountLimit: sc.Count, External: sc.URL != "",
		RaiseSeconds: raiseEnd.Sub(r.start).Seconds(),
		DrainSeconds: drainEnd.Sub(raiseEnd).Seconds(),
		Raised:       r.c.raised.Load(),
		RaiseErrors:  r.c.raiseErrors.Load(),
		Failed:       r.c.rejected.Load(),
	}
	res.Expected = res.Raised * uint64(sc.Subscribers)
	end := raiseEnd
	for _, s := range r.sinks {
		if t := s.LastReceipt(); t.After(end) {
			end = t
		}
	}
	res.ElapsedSeconds = end.Sub(r.start).Seconds()
	r.errMu.Lock()
	if r.err != nil {
		res.Error = r.err.Error()
	}
	r.errMu.Unlock()
	return res
}

// finishSinks closes the sinks and adds what they received to res.
func (r *run) finishSinks(res *Result) {
	var hist Histogram
	var received, requests uint64
	for _, s := range r.sinks {
		s.Close()
		rep := s.Report()
		received += rep.Received
		requests += rep.Requests
		res.Delivered += rep.Distinct
		res.Duplicates += rep.Duplicates
		res.Unstamped += rep.Unstamped
		res.SinkConns += rep.Conns
		if rep.Distinct < res.Raised {
			res.Lost += res.Raised - rep.Distinct
		}
		hist.Merge(&rep.Latency)
		if len(rep.Errors) > 0 && res.Error == "" {
			res.Error = "sink: " + strings.Join(rep.Errors, "; ")
		}
	}
	// A daemon in the other mode than the scenario says (--url) measures
	// something else than asked: say so rather than report ok.
	switch {
	case res.Error != "":
	case res.Mode == ModeNotify && requests > 0:
		res.Error = fmt.Sprintf("the daemon sent %d of %d events as requests: it runs in reliable mode (run the bench with --mode reliable)", requests, received)
	case res.Mode == ModeReliable && requests < received:
		res.Error = fmt.Sprintf("the daemon sent %d of %d events as notifications: it runs in notification mode (run the bench with --mode notify)", received-requests, received)
	}
	res.Latency = hist.Summary()
	if res.ElapsedSeconds > 0 {
		res.EventsPerSec = float64(res.Raised) / res.ElapsedSeconds
		res.DeliveriesPerSec = float64(res.Delivered) / res.ElapsedSeconds
	}
	if res.Delivered > 0 {
		res.CPUPerDelivery = res.CPUSeconds * 1e9 / float64(res.Delivered)
	}
	if res.AtLeastOnce && res.Lost > 0 && res.Error == "" {
		res.Error = fmt.Sprintf("at-least-once: %d deliveries lost", res.Lost)
		if s := res.Sender; s != nil {
			res.Error += fmt.Sprintf(" (the daemon reported %d failed, %d of them timeouts, %d refused: queue full)",
				s.Failed, s.Timeouts, s.Overflows)
		}
	}
	if res.Raised == 0 && res.Error == "" {
		res.Error = "no event was raised"
	}
	res.OK = res.Error == ""
}

func (r *run) progress(done <-chan struct{}) {
	t := time.NewTicker(r.sc.ProgressInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		raised := r.c.raised.Load()
		var el time.Duration
		if !r.start.IsZero() {
			el = time.Since(r.start)
		}
		r.sc.Progress(Progress{
			Scenario:  r.sc.Name(),
			Phase:     r.phase.Load().(string),
			Elapsed:   el,
			Raised:    raised,
			Delivered: r.received(),
			Expected:  raised * uint64(r.sc.Subscribers),
		})
	}
}

// sleepUntil sleeps until t or until ctx is done.
func sleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	}
}
