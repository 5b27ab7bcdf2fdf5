package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evstream/evstream/dashboard"
	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/ingest"
	"github.com/evstream/evstream/internal/allowlist"
	"github.com/evstream/evstream/internal/ratelog"
	"github.com/evstream/evstream/internal/tlsfiles"
	"github.com/evstream/evstream/metrics"
	"github.com/evstream/evstream/mi"
	"github.com/evstream/evstream/receiver"
	"github.com/evstream/evstream/transport"
)

// HTTP paths served on the MI listener.
const (
	// MIPath is the path the MI is served on, as OpenSIPS's mi_http.
	MIPath = "/mi"
	// MetricsPath serves the Prometheus metrics (GET; see package metrics).
	MetricsPath = "/metrics"
	// HealthPath answers GET with 200 "ok" while the daemon serves and 503
	// once Shutdown has begun.
	HealthPath = "/healthz"
)

// Lifecycle errors.
var (
	// ErrStarted: Start was called twice.
	ErrStarted = errors.New("daemon: already started")
	// ErrShutdown: Start was called after Shutdown (or after a failed
	// Start, which shuts the daemon down).
	ErrShutdown = errors.New("daemon: shut down")
)

// Option configures a Daemon beyond its Config.
type Option func(*Daemon)

// WithVersion sets the version the MI's version command reports.
func WithVersion(v string) Option { return func(d *Daemon) { d.version = v } }

// Daemon is evstream's running parts wired from a Config: the registry with
// the tcp: and virtual: transports, the MI over HTTP and the ingest
// listener.
//
// The life cycle is New, Start, Shutdown. It is safe for concurrent use.
type Daemon struct {
	cfg     Config
	log     *slog.Logger
	version string

	reg        *evi.Registry
	transports []built         // what the registered transport plugins built
	du         *durable        // at-least-once delivery and durable subscriptions; nil without data_dir
	allow      *allowlist.List // where sockets may point: destinations.allow, never the ingest itself
	mi         *mi.Handler
	ingest     *ingest.Server
	dash       *dashboard.Dashboard // the live view (mi.ui); nil when off
	http       *http.ServeMux       // MI, metrics, health and the live view, served on the MI listener

	stopping atomic.Bool // Shutdown has begun: health answers 503

	level    *slog.LevelVar // the logger's level, set by Reload; nil: fixed
	guard    *hostGuard     // refuses what web pages send; names set by Reload
	auth     *miAuth        // asks for the MI's credentials; set by Reload
	miCert   *certHolder    // the MI's certificate (HTTPS); nil: plain HTTP
	reloadMu sync.Mutex     // one Reload at a time

	// limited logs what peers and callers cause (delivery failures of
	// events raised over the MI and ingest, refused HTTP requests),
	// rate-limited: a dead subscriber cannot flood the log.
	limited *ratelog.Logger

	mu       sync.Mutex
	started  bool
	shutdown bool
	httpSrv  *http.Server
	miLn     net.Listener
	ingestLn net.Listener
	wg       sync.WaitGroup // the Serve goroutines
}

// New validates cfg and builds the daemon's parts without binding anything:
// call Start. logger receives every part's logs; nil discards them.
func New(cfg Config, logger *slog.Logger, opts ...Option) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Daemon{cfg: cfg.Clone(), log: logger}
	for _, o := range opts {
		o(d)
	}
	d.limited = ratelog.New(logger, 0, 0)
	allow, err := allowlist.New(cfg.Destinations.Allow, nil)
	if err != nil {
		return nil, err
	}
	d.allow = allow
	if cfg.MI.TLS() {
		c, err := tlsfiles.KeyPair(cfg.MI.TLSCertFile, cfg.MI.TLSKeyFile, "mi.tls_cert_file, mi.tls_key_file")
		if err != nil {
			return nil, err
		}
		d.miCert = &certHolder{}
		d.miCert.cert.Store(&c)
	}
	rc := evi.Config{AutoPublish: cfg.AutoPublish, Logger: logger,
		MaxEvents: cfg.Limits.MaxEvents, MaxSubscriptions: cfg.Limits.MaxSubscriptions}
	if cfg.MI.UI && cfg.MI.Listen != "" {
		d.dash = dashboard.New(dashboard.Config{Version: d.version})
		rc.Observers = append(rc.Observers, d.dash)
	}
	if d.cfg.DataDir != "" {
		du, err := d.newDurable()
		if err != nil {
			return nil, err
		}
		d.du = du
		rc.Store, rc.Spooler = du, du.eng
	}
	d.reg = evi.NewRegistry(rc)
	if err := d.buildTransports(); err != nil {
		return nil, d.abort(err)
	}
	cmds := d.transportCommands()
	if d.du != nil {
		cmds = append(cmds, d.deadLetterCommands()...)
	}
	policy, _ := evi.ParseDelivery(cfg.Delivery.Default)
	d.mi = mi.New(d.reg, mi.Options{
		Version:     d.version,
		Logger:      logger,
		Report:      d.reportOutcome,
		Statistics:  d.statistics,
		Commands:    cmds,
		Delivery:    policy,
		MaxBodySize: int64(cfg.Limits.MaxRequestBytes),
	})
	if cfg.Ingest.Listen != "" {
		tc, err := ingestTLS(cfg.Ingest)
		if err != nil {
			return nil, d.abort(err)
		}
		d.ingest = ingest.New(d.reg, ingest.Config{
			EventParam:     cfg.Ingest.EventParam,
			MaxWait:        time.Duration(cfg.Ingest.MaxWait) * time.Millisecond,
			Allow:          cfg.Ingest.AllowPrefixes(),
			TLS:            tc,
			MaxConns:       cfg.Limits.MaxIngestConnections,
			MaxMessageSize: cfg.Limits.MaxMessageBytes,
			IdleTimeout:    cfg.Ingest.IdleTimeout,
			Logger:         logger,
			Report:         d.reportOutcome,
		})
	}
	guarded := http.NewServeMux()
	guarded.Handle(MIPath, d.mi)
	src := metrics.Sources{Registry: d.reg, Ingest: d.ingest}
	for _, b := range d.transports {
		if r := d.schemeStats(b); r != nil {
			src.Transports = append(src.Transports, metrics.TransportSource{Subsystem: b.p.Subsystem, Stats: r})
		}
	}
	if d.du != nil {
		src.Transports = append(src.Transports, metrics.TransportSource{Subsystem: "delivery", Stats: d.du})
	}
	guarded.Handle("GET "+MetricsPath, metrics.Handler(metrics.NewRegistry(src), logger))
	if d.dash != nil {
		guarded.Handle(UIPath, d.dash)
		guarded.Handle(UIPath+"/", d.dash)
	}
	d.http = http.NewServeMux()
	d.http.HandleFunc("GET "+HealthPath, d.serveHealth) // probes may use any Host
	d.auth = newMIAuth(guarded, cfg.MI, d.limited)
	d.guard = newHostGuard(d.auth, cfg.MI.Listen, cfg.MI.AllowedHosts, d.limited)
	d.http.Handle("/", d.guard)
	return d, nil
}

// built is a transport a plugin built for the daemon.
type built struct {
	p transport.Plugin
	t evi.Transport
}

// buildTransports builds every registered transport from its section of
// the config, in the plugins' order, and registers it.
func (d *Daemon) buildTransports() error {
	env := transport.Env{Registry: d.reg, Logger: d.log, Sections: d.cfg.Transports, Dialer: d.allow, Check: d.allow.CheckAddress}
	for _, p := range transport.Plugins() {
		t, err := p.New(env, d.cfg.Transports[p.Section])
		if err != nil {
			return fmt.Errorf("%s: %w", p.Section, err)
		}
		if err := d.reg.Register(t); err != nil {
			t.Close()
			return err
		}
		d.transports = append(d.transports, built{p, t})
	}
	return nil
}

// transportCommands returns the MI commands the transports add.
func (d *Daemon) transportCommands() []mi.Command {
	var out []mi.Command
	for _, b := range d.transports {
		c, ok := b.t.(transport.Commander)
		if !ok {
			continue
		}
		for _, tc := range c.Commands() {
			out = append(out, mi.Command{
				CommandInfo: mi.CommandInfo{Name: tc.Name, Summary: tc.Summary, Params: tc.Params, Extension: true},
				Run:         tc.Run,
			})
		}
	}
	return out
}

// drain returns the delivery counts of every transport that keeps them.
func (d *Daemon) drain() transport.DrainCounts {
	var sum transport.DrainCounts
	for _, b := range d.transports {
		if dr, ok := b.t.(transport.Drainer); ok {
			c := dr.Drain()
			sum.Pending += c.Pending
			sum.Delivered += c.Delivered
			sum.Failed += c.Failed
			sum.Timeouts += c.Timeouts
		}
	}
	return sum
}

// abort closes the registry (and the transports registered) after a
// failed New.
func (d *Daemon) abort(err error) error {
	d.closeRegistry(nil)
	return err
}

// closeRegistry shuts the registry down (draining until ctx is done; nil:
// at once), then the at-least-once side: its queues stopped with the
// registry, what they hold stays in the spool.
func (d *Daemon) closeRegistry(ctx context.Context) error {
	if d.du != nil {
		d.du.eng.Stop() // the queues wind down together
	}
	err := d.reg.Shutdown(ctx)
	if d.du != nil {
		if st := d.du.eng.Stats(); st.Store.Pending > 0 {
			d.log.Info("at-least-once events stay in the spool, delivered after the restart",
				"pending", st.Store.Pending, "dead_letters", st.Store.Dead, "data_dir", d.cfg.DataDir)
		}
		err = errors.Join(err, d.du.close())
	}
	return err
}

// Registry returns the daemon's registry, for raising and subscribing from
// Go.
func (d *Daemon) Registry() *evi.Registry { return d.reg }

// MIHandler returns the MI's HTTP handler (served by Start at MIPath).
func (d *Daemon) MIHandler() http.Handler { return d.mi }

// HTTPHandler returns everything Start serves on the MI listener: the MI
// at MIPath, the Prometheus metrics at MetricsPath and the health check at
// HealthPath. Requests that a web page could have made (another Origin, a
// Host that is not this daemon's: see MIConfig.AllowedHosts) are refused
// with 403, except for the health check.
func (d *Daemon) HTTPHandler() http.Handler { return d.http }

// serveHealth answers 200 "ok" until Shutdown begins, then 503.
func (d *Daemon) serveHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if d.stopping.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "shutting down\n")
		return
	}
	io.WriteString(w, "ok\n")
}

// MIURL returns the MI's URL (https:// when it serves TLS), "" before
// Start or when the MI is off.
func (d *Daemon) MIURL() string {
	a := d.MIAddr()
	if a == nil {
		return ""
	}
	scheme := "http://"
	if d.miCert != nil {
		scheme = "https://"
	}
	return scheme + a.String() + MIPath
}

// MIAddr returns the address the MI listens on, nil before Start or when
// the MI is off.
func (d *Daemon) MIAddr() net.Addr {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.miLn == nil {
		return nil
	}
	return d.miLn.Addr()
}

// IngestAddr returns the address ingest listens on, nil before Start or
// when ingest is off.
func (d *Daemon) IngestAddr() net.Addr {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ingestLn == nil {
		return nil
	}
	return d.ingestLn.Addr()
}

// Start binds the MI and ingest listeners (so that an address in use is a
// startup error), publishes the configured events, makes the configured
// subscriptions (a bad one stops the start, named in the error), then
// serves. When Start fails the daemon is shut down: everything it bound or
// started is released.
func (d *Daemon) Start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.shutdown:
		return ErrShutdown
	case d.started:
		return ErrStarted
	}
	d.started = true
	if err := d.bind(); err != nil {
		return d.failStart(err)
	}
	for i, name := range d.cfg.Events {
		if _, err := d.reg.Publish(name); err != nil {
			return d.failStart(fmt.Errorf("events[%d] %q: %w", i, name, err))
		}
	}
	for i, s := range d.cfg.Subscriptions {
		if err := d.subscribe(s); err != nil {
			return d.failStart(fmt.Errorf("subscriptions[%d] (event %s, socket %q): %w", i, s.Event, s.Socket, err))
		}
	}
	if d.du != nil {
		if err := d.restore(); err != nil {
			return d.failStart(err)
		}
	}
	if d.miLn != nil {
		d.httpSrv = &http.Server{
			Handler:           d.http,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second, // a body dripped slowly cannot hold a handler
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
		}
		srv, ln := d.httpSrv, d.miLn
		if d.dash != nil {
			d.dash.Start(dashboard.Sources{Registry: d.reg, Connections: d.connections, Statistics: d.uiStatistics})
			srv.RegisterOnShutdown(d.dash.Close) // its streams never end by themselves
		}
		d.wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.log.Error("mi: serve", "addr", ln.Addr().String(), "err", err)
			}
		})
		scheme := "http://"
		if d.miCert != nil {
			scheme = "https://"
		}
		attrs := []any{"url", scheme + ln.Addr().String() + MIPath, "metrics", scheme + ln.Addr().String() + MetricsPath}
		if d.dash != nil {
			attrs = append(attrs, "ui", scheme+ln.Addr().String()+UIPath)
		}
		d.log.Info("mi listening", attrs...)
		d.warnExposed("mi.listen", ln.Addr())
	}
	if d.ingestLn != nil {
		srv, ln := d.ingest, d.ingestLn
		d.wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, receiver.ErrServerClosed) {
				d.log.Error("ingest: serve", "addr", ln.Addr().String(), "err", err)
			}
		})
		d.log.Info("ingest listening", "addr", ln.Addr().String())
		d.warnExposed("ingest.listen", ln.Addr())
	}
	schemes := make([]string, len(d.transports))
	for i, b := range d.transports {
		schemes[i] = b.p.Scheme + ":"
	}
	d.log.Info("evstream started", "events", len(d.cfg.Events), "subscriptions", len(d.cfg.Subscriptions),
		"transports", schemes, "auto_publish", d.cfg.AutoPublish)
	return nil
}

// bind opens the listeners; on error it closes those it opened.
func (d *Daemon) bind() error {
	var err error
	if a := d.cfg.MI.Listen; a != "" {
		if d.miLn, err = net.Listen("tcp", a); err != nil {
			return listenError("mi.listen", a, err)
		}
		if d.miCert != nil {
			d.miLn = tls.NewListener(d.miLn, d.miCert.tlsConfig())
		}
	}
	if a := d.cfg.Ingest.Listen; a != "" {
		if d.ingestLn, err = net.Listen("tcp", a); err != nil {
			return listenError("ingest.listen", a, err)
		}
		if ap, err := netip.ParseAddrPort(d.ingestLn.Addr().String()); err == nil {
			d.allow.SetOwn([]netip.AddrPort{ap}) // no socket may name it: a loop
		}
	}
	return nil
}

// warnExposed warns when the listener of the config key listens beyond
// loopback (every interface, or a LAN address): it has no authentication.
func (d *Daemon) warnExposed(key string, a net.Addr) {
	if ta, ok := a.(*net.TCPAddr); ok && ta.IP.IsLoopback() {
		return
	}
	what := "raise events"
	if key == "mi.listen" {
		authed := d.cfg.MI.AuthToken != "" || d.cfg.MI.BasicAuth.Username != ""
		switch {
		case authed && d.miCert != nil:
			return
		case authed:
			d.log.Warn("listening beyond loopback over plain HTTP: the MI's credentials cross the network in clear text (set mi.tls_cert_file)",
				"key", key, "addr", a.String())
			return
		}
		what = "subscribe any socket and raise events"
	}
	d.log.Warn("listening beyond loopback, without authentication: anyone who can reach it can "+what,
		"key", key, "addr", a.String())
}

// listenError names the config field and the address, and keeps the
// system's reason ("bind: address already in use").
func listenError(field, addr string, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		err = oe.Err
	}
	return fmt.Errorf("%s: cannot listen on %s: %w", field, addr, err)
}

// failStart releases everything after a failed Start; d.mu is held.
func (d *Daemon) failStart(err error) error {
	for _, ln := range []net.Listener{d.miLn, d.ingestLn} {
		if ln != nil {
			ln.Close()
		}
	}
	d.miLn, d.ingestLn = nil, nil
	d.shutdown = true
	d.stopping.Store(true)
	d.closeRegistry(nil)
	return err
}

// subscribe makes the config subscription s.
func (d *Daemon) subscribe(s Subscription) error {
	return d.reg.SubscribeWith(s.Event, s.Socket, evi.SubscribeOptions{
		Expire: time.Duration(s.Expire) * time.Second, Delivery: s.Policy(d.cfg.Delivery)})
}

// restore makes again the MI's subscriptions kept in the spool by an
// earlier run. A spool that cannot be opened (damaged, locked) stops the
// start, naming the file; a subscription that cannot be made again is
// logged and left in the store.
func (d *Daemon) restore() error {
	if !d.du.exists() {
		return nil
	}
	if _, err := d.du.eng.Store(); err != nil {
		return fmt.Errorf("data_dir: %w (to start with an empty spool, move %s aside: the events it holds are then not delivered)", err, d.du.path())
	}
	n, err := d.reg.Restore()
	if err != nil {
		d.log.Warn("some subscriptions kept in the spool could not be made again", "err", err)
	}
	st := d.du.eng.Stats()
	d.log.Info("spool opened", "file", d.du.path(), "subscriptions_restored", n,
		"pending", st.Store.Pending, "dead_letters", st.Store.Dead, "bytes", st.Store.Bytes)
	return nil
}

// Shutdown stops the daemon: the MI and ingest stop accepting (requests in
// progress finish), then the events already queued are delivered until ctx
// is done; what is left fails. It logs how many queued events were
// delivered and how many could not be sent. The error is ctx's when the
// deadline cut the delivery short (see stream.ShutdownError). From the
// moment it is called, HealthPath answers 503. Calling it again returns nil.
func (d *Daemon) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	if d.shutdown {
		d.mu.Unlock()
		return nil
	}
	d.shutdown = true
	d.stopping.Store(true)
	srv, ingesting := d.httpSrv, d.ingestLn != nil
	d.mu.Unlock()

	var errs []error
	if srv != nil {
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
			errs = append(errs, fmt.Errorf("mi: %w", err))
		}
	}
	if ingesting {
		if err := d.ingest.Shutdown(ctx); err != nil {
			d.ingest.Close()
			errs = append(errs, fmt.Errorf("ingest: %w", err))
		}
	}
	d.wg.Wait()

	before := d.drain()
	err := d.closeRegistry(ctx)
	after := d.drain()
	if err != nil {
		errs = append(errs, err)
	}
	d.logDrain(before, after)
	d.mi.Close()
	if d.dash != nil {
		d.dash.Close()
	}
	d.limited.Close()
	return errors.Join(errs...)
}

// logDrain logs what became of the events queued when Shutdown began (at
// most once: what at-least-once subscribers had pending stays in the
// spool, logged by closeRegistry). delivered_total counts every
// subscriber's deliveries, as get_statistics' tcp:delivered does.
func (d *Daemon) logDrain(before, after transport.DrainCounts) {
	delivered := after.Delivered - before.Delivered
	failed := after.Failed - before.Failed
	if failed == 0 && after.Pending == 0 {
		total := after.Delivered
		if d.du != nil {
			total += d.du.delivered()
		}
		d.log.Info("shutdown: every queued event was sent", "queued_at_shutdown", before.Pending,
			"delivered_while_draining", delivered, "delivered_total", total)
		return
	}
	d.log.Warn("shutdown: events could not be sent", "queued_at_shutdown", before.Pending,
		"delivered_while_draining", delivered, "failed_while_draining", failed,
		"timeouts", after.Timeouts-before.Timeouts, "still_pending", after.Pending)
}

// reportOutcome receives the outcome of every delivery of an event raised
// over the MI, and logs the failures, rate-limited.
func (d *Daemon) reportOutcome(o evi.Outcome) {
	if o.Err == nil {
		return
	}
	d.limited.Warn("delivery failed", "event", o.Event.Name(), "socket", ratelog.Clip(o.Socket), "reason", o.Err.Error())
}

// limitRefusals counts what a limit refused: publishes and subscriptions
// (limits.max_events, max_subscriptions), ingest connections
// (max_ingest_connections) and MI bodies (max_request_bytes).
func (d *Daemon) limitRefusals() uint64 {
	n := d.reg.Refused() + d.mi.TooLarge()
	if d.ingest != nil {
		n += d.ingest.Stats().OverLimit
	}
	return n
}

// statistics are the transports' (and ingest's) counters for
// get_statistics: "SCHEME:name" for every statistic without labels.
func (d *Daemon) statistics() []mi.Stat {
	var stats []mi.Stat
	for _, b := range d.transports {
		r := d.schemeStats(b)
		if r == nil {
			continue
		}
		for _, s := range r.Statistics() {
			if len(s.Labels) == 0 {
				stats = append(stats, mi.Stat{Name: b.p.Scheme + ":" + s.Name, Value: int64(s.Value)})
			}
		}
	}
	stats = append(stats, mi.Stat{Name: "limits:refused", Value: int64(d.limitRefusals())})
	if d.du != nil {
		for _, s := range d.du.Statistics() {
			stats = append(stats, mi.Stat{Name: "delivery:" + s.Name, Value: int64(s.Value)})
		}
	}
	if d.ingest != nil {
		is := d.ingest.Stats()
		stats = append(stats,
			mi.Stat{Name: "ingest:received", Value: int64(is.Received)},
			mi.Stat{Name: "ingest:raised", Value: int64(is.Raised)},
			mi.Stat{Name: "ingest:no_subscribers", Value: int64(is.NoSubscribers)},
			mi.Stat{Name: "ingest:rejected", Value: int64(is.Rejected)},
			mi.Stat{Name: "ingest:failed", Value: int64(is.Failed)},
			mi.Stat{Name: "ingest:refused_connections", Value: int64(is.Refused)},
			mi.Stat{Name: "ingest:over_limit_connections", Value: int64(is.OverLimit)},
		)
	}
	return stats
}
