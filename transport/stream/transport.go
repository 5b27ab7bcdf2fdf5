package stream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/ratelog"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/value"
)

// Transport is the "tcp:" transport (OpenSIPS's event_stream): it parses
// "tcp:host:port[/method]" sockets into destinations and delivers events to
// them as JSON-RPC 2.0 written straight onto TCP connections, one connection
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

	ctx    context.Context // cancelled by Close: aborts connects
	cancel context.CancelFunc

	stopping atomic.Bool  // Shutdown or Close started: Send fails
	pending  atomic.Int64 // accepted events not yet completed
	drained  chan struct{}

	mu      sync.Mutex
	conns   map[string]*conn // by host:port as written
	retired Counters         // counters of connections that ended
	closed  bool

	wg sync.WaitGroup // every writer and reader goroutine
}

var (
	_ evi.Transport   = (*Transport)(nil)
	_ evi.Shutdowner  = (*Transport)(nil)
	_ evi.Destination = (*destination)(nil)
)

// New returns a Transport configured by cfg (zero fields take defaults).
func New(cfg Config) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	t := &Transport{
		cfg:     cfg,
		log:     ratelog.New(cfg.Logger.With("transport", Scheme), 0, 0),
		timeout: int64(cfg.Timeout),
		epoch:   time.Now(),
		// The params encoding depends on event_param only (and on the
		// message); the key lets a message raised to many destinations of
		// this transport be encoded once.
		encKey:  "tcp\x00" + cfg.EventParam,
		drained: make(chan struct{}, 1),
		conns:   make(map[string]*conn),
	}
	ep := cfg.EventParam
	t.encode = func(m *evi.Message) []byte {
		name := m.Event.Name()
		return jsonrpc.AppendParams(make([]byte, 0, paramsSize(m.Params, ep, name)), m.Params, ep, name)
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	return t, nil
}

// Scheme returns "tcp".
func (t *Transport) Scheme() string { return Scheme }

// Config returns the transport's configuration, defaults filled in.
func (t *Transport) Config() Config { return t.cfg }

// now returns the monotonic time since t.epoch, the clock of deadlines.
func (t *Transport) now() int64 { return int64(time.Since(t.epoch)) }

// Parse parses a "tcp:" socket (see ParseSocket), checks that its host
// resolves, and returns a Destination sharing the connection of every other
// destination with the same host (as written) and port. Errors wrap
// evi.ErrBadSocket: each is an *evi.SocketError naming the socket.
func (t *Transport) Parse(socket string) (evi.Destination, error) {
	s, err := ParseSocket(socket)
	if err != nil {
		return nil, err
	}
	if err := t.resolve(s); err != nil {
		return nil, err
	}
	key := s.hostPort()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.stopping.Load() {
		return nil, fmt.Errorf("socket %q: %w", socket, evi.ErrClosed)
	}
	c := t.conns[key]
	if c == nil {
		c = newConn(t, key)
		t.conns[key] = c
		t.wg.Add(1)
		go c.run()
	} else {
		c.mu.Lock()
		c.refs++
		c.mu.Unlock()
	}
	return &destination{t: t, c: c, sock: s, name: s.String()}, nil
}

// resolve checks that the socket's host resolves (IP literals always do).
func (t *Transport) resolve(s Socket) error {
	if _, err := netip.ParseAddr(s.Host); err == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.ResolveTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, s.Host)
	if err == nil && len(addrs) == 0 {
		err = errors.New("no addresses")
	}
	if err != nil {
		return evi.NewSocketError(s.String(), err, "host %q does not resolve: %v", s.Host, err)
	}
	return nil
}

// Close stops the transport at once: every pending event fails with an
// error wrapping evi.ErrClosed, connections are closed and every goroutine
// has ended when it returns. It is idempotent and always returns nil.
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
	t.wg.Wait()
	t.log.Close()
	return nil
}

// ShutdownError is returned by Shutdown when events were still pending when
// its context ended; they failed with evi.ErrClosed.
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

// Shutdown stops accepting events (Send fails with evi.ErrClosed), waits
// until every accepted event has been delivered or has failed, or until ctx
// is done, and then closes the transport like Close. When ctx ended first,
// it returns a *ShutdownError saying how many events failed.
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

// settle records that n accepted events completed.
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

// destination is one subscription's parsed socket. Destinations with the
// same host:port share one conn.
type destination struct {
	t      *Transport
	c      *conn
	sock   Socket
	name   string
	closed atomic.Bool
}

func (d *destination) String() string { return d.name }

// Match reports whether other is a tcp: destination with the same host (as
// written), port and method.
func (d *destination) Match(other evi.Destination) bool {
	o, ok := other.(*destination)
	return ok && o.sock == d.sock
}

// Send queues m for delivery; see evi.Destination. It never blocks on the
// network. It fails with evi.ErrQueueFull when the destination's queue is
// full and with evi.ErrClosed after Close.
//
// done runs on one of the transport's goroutines, with no lock held: it may
// call Send, but must not block, nor call the Transport's Close or
// Shutdown (they wait for that goroutine).
func (d *destination) Send(m *evi.Message, done func(error)) error {
	t := d.t
	if d.closed.Load() || t.stopping.Load() {
		return fmt.Errorf("%s: %w", d.name, evi.ErrClosed)
	}
	method := d.sock.Method
	if method == "" {
		method = m.Event.Name()
	}
	var deadline int64
	if m.Raised.IsZero() {
		deadline = t.now() + t.timeout
	} else {
		deadline = int64(m.Raised.Sub(t.epoch)) + t.timeout
	}
	return d.c.enqueue(item{
		params:   m.Encoded(t.encKey, t.encode),
		method:   method,
		done:     done,
		deadline: deadline,
	})
}

// Close releases the destination; its connection closes once no
// destination uses it and everything queued on it is done. Events already
// accepted still complete. Close is idempotent.
func (d *destination) Close() error {
	if d.closed.CompareAndSwap(false, true) {
		d.c.release()
	}
	return nil
}

// paramsSize estimates the encoded size of params, so that encoding them
// takes a single allocation (strings that need escapes may still grow it).
func paramsSize(p value.Params, eventParam, eventName string) int {
	if p.Len() == 0 && eventParam == "" {
		return 0
	}
	n := 2
	if eventParam != "" {
		n += len(eventParam) + len(eventName) + 6
	}
	list := p.All()
	for i := range list {
		prm := &list[i]
		n += len(prm.Name) + 4 // quotes, colon, comma
		switch prm.Value.Kind() {
		case value.KindString:
			n += len(prm.Value.Str()) + 2
		case value.KindRaw:
			n += len(prm.Value.Str())
		default:
			n += 24 // a number, null, true or false
		}
	}
	return n
}
