package stream

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/ratelog"
	"github.com/evstream/evstream/jsonrpc"
)

// Transport is the "tcp:" transport (OpenSIPS's event_stream): it parses
// "tcp:host:port[/method]" sockets into destinations and delivers events to
// them as JSON-RPC 2.0 written straight onto connections, one connection
// per host:port shared by every subscription that points there.
//
// A Transport is safe for concurrent use. Close or Shutdown stops it.
type Transport struct {
	cfg     Config
	log     *ratelog.Logger // every peer-triggered line is rate-limited
	timeout int64           // cfg.Timeout in nanoseconds
	epoch   time.Time
	encKey  string
	encode  func(*evi.Message) []byte
	disp    *dispatcher

	ctx    context.Context // cancelled by Close: aborts connects
	cancel context.CancelFunc

	stopping atomic.Bool  // Shutdown or Close started: Send fails
	pending  atomic.Int64 // accepted events not yet reported
	drained  chan struct{}
	queued   atomic.Int64 // bytes waiting in every queue (TotalBytes)

	mu      sync.Mutex
	conns   map[string]*conn // by host:port as written
	retired Counters         // counters of connections that ended
	nconns  int              // conns ever made (spreads them over the shards)
	closed  bool

	wg sync.WaitGroup // every conn goroutine and timer callback
}

var (
	_ evi.Transport   = (*Transport)(nil)
	_ evi.Shutdowner  = (*Transport)(nil)
	_ evi.Destination = (*destination)(nil)
	_ evi.Waiter      = (*destination)(nil)
	_ evi.TimedSender = (*destination)(nil)
)

// New returns a Transport configured by cfg (zero fields take defaults).
func New(cfg Config) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.SeqIDs {
		cfg.ReliableMode = true
	}
	key, enc := ParamsEncoding(cfg.EventParam)
	t := &Transport{
		cfg:     cfg,
		log:     ratelog.New(cfg.Logger.With("transport", cfg.Scheme), 0, 0),
		timeout: int64(cfg.Timeout),
		epoch:   time.Now(),
		encKey:  key,
		encode:  enc,
		drained: make(chan struct{}, 1),
		conns:   make(map[string]*conn),
	}
	t.disp = newDispatcher(t)
	t.ctx, t.cancel = context.WithCancel(context.Background())
	return t, nil
}

// encodedParams returns m's params as the transport writes them: the
// text they came as, when they are held as text and need no event_param;
// else their encoding, made once for all the destinations that write it
// (evi.Message.Encoded).
func (t *Transport) encodedParams(m *evi.Message) []byte {
	if t.cfg.EventParam == "" {
		if text, ok := m.Params.Text(); ok {
			return unsafe.Slice(unsafe.StringData(text), len(text)) // only read: appended to the write buffer
		}
	}
	return m.Encoded(t.encKey, t.encode)
}

// ParamsEncoding returns the evi.Message.Encoded key and function of the
// params as event_stream writes them with eventParam: every transport that
// writes this wire format (tcp:, tls:) shares the key, so that an event
// raised to all of them is encoded once.
func ParamsEncoding(eventParam string) (key string, enc func(*evi.Message) []byte) {
	return "event_stream-params\x00" + eventParam, func(m *evi.Message) []byte {
		name := m.Event.Name()
		return jsonrpc.AppendParams(make([]byte, 0, paramsSize(m, eventParam, name)), m.Params, eventParam, name)
	}
}

// Scheme returns the socket prefix the transport handles ("tcp").
func (t *Transport) Scheme() string { return t.cfg.Scheme }

// Config returns the transport's configuration, defaults filled in.
func (t *Transport) Config() Config { return t.cfg }

// now returns the monotonic time since t.epoch, the clock of deadlines.
func (t *Transport) now() int64 { return int64(time.Since(t.epoch)) }

// Parse parses a socket of the transport's scheme (see ParseSocket),
// checks that its host resolves, and returns a Destination sharing the
// connection of every other destination with the same host (as written)
// and port. Errors are *evi.SocketError naming the socket. A destination
// costs a few hundred bytes: connections, goroutines and buffers exist
// only while there is something to send.
func (t *Transport) Parse(socket string) (evi.Destination, error) {
	s, err := parseSocket(t.cfg.Scheme, socket)
	if err != nil {
		return nil, err
	}
	if err := t.resolve(s); err != nil {
		return nil, err
	}
	key := s.hostPort()
	d := &destination{sock: s, name: s.String(), ifHead: -1, ifTail: -1, hidx: -1}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.stopping.Load() {
		return nil, fmt.Errorf("socket %q: %w", socket, evi.ErrClosed)
	}
	c := t.conns[key]
	if c != nil {
		c.mu.Lock()
		if c.retired { // retiring: its successor takes the address
			c.mu.Unlock()
			c = nil
		}
	}
	if c == nil {
		c = newConn(t, key, t.nconns%len(t.disp.shards))
		t.nconns++
		t.conns[key] = c
		c.mu.Lock()
	}
	c.dests++
	d.c = c
	c.mu.Unlock()
	return d, nil
}

// resolve checks that the socket's host resolves (IP literals always do),
// and that Config.Check allows it.
func (t *Transport) resolve(s Socket) error {
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.ResolveTimeout)
	defer cancel()
	if t.cfg.Check != nil {
		if err := t.cfg.Check(ctx, s.Host, s.Port); err != nil {
			return evi.NewSocketError(s.String(), err, "%v", err)
		}
	}
	if _, err := netip.ParseAddr(s.Host); err == nil {
		return nil
	}
	addrs, err := t.cfg.Resolver.LookupHost(ctx, s.Host)
	if err == nil && len(addrs) == 0 {
		err = errors.New("no addresses")
	}
	if err != nil {
		return evi.NewSocketError(s.String(), err, "host %q does not resolve: %v", s.Host, err)
	}
	return nil
}

// forget removes a retired conn from the transport and keeps its counts.
func (t *Transport) forget(c *conn, final Counters) {
	t.mu.Lock()
	if t.conns[c.key] == c {
		delete(t.conns, c.key)
	}
	t.retired.add(final)
	t.mu.Unlock()
}

// Close stops the transport at once: every pending event fails with
// ReasonClosed, connections are closed, every Done has been called and
// every goroutine of the transport has ended when it returns. It is
// idempotent and always returns nil.
func (t *Transport) Close() error {
	t.stopping.Store(true)
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.wg.Wait()
		return nil
	}
	t.closed = true
	conns := make([]*conn, 0, len(t.conns))
	for _, c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	t.cancel()
	for _, c := range conns {
		c.close()
	}
	t.wg.Wait()    // writers, readers, timers: they report no more
	t.disp.close() // every Done has run
	t.log.Close()
	return nil
}

// ShutdownError is returned by Shutdown when events were still pending when
// its context ended; they failed with ReasonClosed.
type ShutdownError struct {
	// Failed is how many accepted events failed because of the shutdown.
	Failed uint64
	// Err is the context's error.
	Err error
}

func (e *ShutdownError) Error() string {
	return fmt.Sprintf("tcp transport shutdown: %d events not delivered: %v", e.Failed, e.Err)
}

// Unwrap returns the context's error and evi.ErrClosed.
func (e *ShutdownError) Unwrap() []error { return []error{e.Err, evi.ErrClosed} }

// Shutdown stops accepting events (Send fails with ReasonClosed), waits
// until every accepted event has been delivered or has failed, or until
// ctx is done, and then closes the transport like Close. When ctx ended
// first, it returns a *ShutdownError saying how many events failed.
func (t *Transport) Shutdown(ctx context.Context) error {
	t.stopping.Store(true)
	waiting := true
	for waiting && t.pending.Load() > 0 {
		select {
		case <-t.drained:
		case <-ctx.Done():
			waiting = false
		}
	}
	before := t.Stats().Failed
	t.Close()
	if failed := t.Stats().Failed - before; failed > 0 {
		err := ctx.Err()
		if err == nil {
			err = context.Canceled
		}
		return &ShutdownError{Failed: failed, Err: err}
	}
	return nil
}

// settle records that n accepted events were reported.
func (t *Transport) settle(n int) {
	if n == 0 {
		return
	}
	if t.pending.Add(-int64(n)) == 0 && t.stopping.Load() {
		select {
		case t.drained <- struct{}{}:
		default:
		}
	}
}

// paramsSize estimates the encoded size of m's params with eventParam,
// so that encoding them takes a single allocation and the queues are
// bounded in bytes before the encoding is made (value.Params.SizeHint,
// computed once per event).
func paramsSize(m *evi.Message, eventParam, eventName string) int {
	n := m.Params.SizeHint()
	if eventParam != "" {
		if n == 0 {
			n = 2
		}
		n += len(eventParam) + len(eventName) + 6
	}
	return n
}
