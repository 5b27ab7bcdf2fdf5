package receiver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evstream/evstream/internal/ratelog"
	"github.com/evstream/evstream/jsonrpc"
)

// DefaultAddr is the address ListenAndServe listens on when given "": the
// loopback interface, port 8080.
const DefaultAddr = "127.0.0.1:8080"

// DefaultMaxPendingReplies is the default Server.MaxPendingReplies: as
// many requests as evstream's event_stream transport keeps in flight on
// one connection by default (4096), so that a sender is never held up by
// the bound alone.
const DefaultMaxPendingReplies = 4096

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown or
// Close.
var ErrServerClosed = errors.New("receiver: server closed")

// errNoHandler is returned by Serve when Server.Handler is nil.
var errNoHandler = errors.New("receiver: Server.Handler is nil")

// Accept retry backoff, for errors such as running out of file descriptors.
const (
	minAcceptDelay = 5 * time.Millisecond
	maxAcceptDelay = time.Second
)

// Server accepts event streams on TCP and hands every event to its Handler.
//
// A Server works as soon as Handler is set; the other fields have useful
// zero values. Fields must not be changed once Serve has been called.
//
// Each connection is served by two goroutines: one reads the stream, decodes
// the JSON-RPC objects and calls the Handler for each, in order; the other
// writes the replies, as many as are queued in one write.
type Server struct {
	// Handler handles every event received. It is required.
	Handler Handler

	// MaxMessageSize is the largest JSON-RPC object accepted, in bytes; a
	// connection that sends a larger one is closed (and logged). 0 means
	// jsonrpc.DefaultMaxMessageSize (4 MiB).
	MaxMessageSize int

	// MaxPendingReplies bounds the deferred requests (Request.Defer) of a
	// connection that are not answered yet: at the bound the connection
	// stops reading until one is answered. 0 means
	// DefaultMaxPendingReplies.
	MaxPendingReplies int

	// MaxConns limits the connections served at once; 0 means no limit.
	// Over the limit a new connection is closed at once, and logged.
	MaxConns int

	// IdleTimeout closes a connection on which nothing has been received
	// for this long, and a connection whose replies could not be written
	// for this long; 0 means never.
	IdleTimeout time.Duration

	// TLSConfig, when set, makes Serve speak TLS on every listener (the
	// event stream inside, as a tls: socket sends it); it needs a
	// certificate. With ClientAuth set it asks the senders for theirs
	// (mutual TLS). A handshake that fails closes its connection.
	TLSConfig *tls.Config

	// Logger receives what the server has to say: connections closed for
	// bad input (warn), accept errors (error), handler panics (error),
	// connections opened and closed and events without a handler (debug).
	// nil discards everything. Every line a peer can cause is rate-limited
	// (a few per second per message, with a count of those suppressed) and
	// the values a peer chose are clipped.
	Logger *slog.Logger

	initOnce sync.Once
	log      *ratelog.Logger
	ctx      context.Context // parent of every connection's context; cancelled by Close
	cancel   context.CancelFunc

	mu         sync.Mutex
	listeners  map[*net.Listener]struct{}
	conns      map[*conn]struct{}
	shutdown   atomic.Bool   // set by Shutdown and Close, under mu
	drained    chan struct{} // closed once shut down with no connection left
	isDrained  bool
	serveCount sync.WaitGroup // Serve loops running
	overLimit  atomic.Uint64  // connections closed at MaxConns
}

// OverLimit counts the connections closed at once because MaxConns were
// served already.
func (s *Server) OverLimit() uint64 { return s.overLimit.Load() }

func (s *Server) init() {
	s.initOnce.Do(func() {
		s.log = ratelog.New(s.Logger, 0, 0)
		s.ctx, s.cancel = context.WithCancel(context.Background())
		s.listeners = make(map[*net.Listener]struct{})
		s.conns = make(map[*conn]struct{})
		s.drained = make(chan struct{})
	})
}

func (s *Server) maxPendingReplies() int {
	if s.MaxPendingReplies > 0 {
		return s.MaxPendingReplies
	}
	return DefaultMaxPendingReplies
}

func (s *Server) maxMessageSize() int {
	if s.MaxMessageSize > 0 {
		return s.MaxMessageSize
	}
	return jsonrpc.DefaultMaxMessageSize
}

// ListenAndServe listens on the TCP address addr (DefaultAddr when empty)
// and calls Serve. It returns ErrServerClosed after Shutdown or Close.
func (s *Server) ListenAndServe(addr string) error {
	if s.shutdown.Load() {
		return ErrServerClosed
	}
	if addr == "" {
		addr = DefaultAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("receiver: listen on %q: %w", addr, err)
	}
	return s.Serve(ln)
}

// Serve accepts connections on ln and serves each in its own goroutines
// until Shutdown or Close, then returns ErrServerClosed. Any other error is
// returned as it happens. Serve closes ln when it returns. It may be called
// for several listeners at once.
func (s *Server) Serve(ln net.Listener) error {
	s.init()
	if s.Handler == nil {
		ln.Close()
		return errNoHandler
	}
	if s.TLSConfig != nil {
		ln = tls.NewListener(ln, s.TLSConfig)
	}
	if !s.trackListener(&ln, true) {
		ln.Close()
		return ErrServerClosed
	}
	defer s.trackListener(&ln, false)
	defer ln.Close()

	var delay time.Duration
	for {
		rwc, err := ln.Accept()
		if err != nil {
			if s.shutdown.Load() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("receiver: accept on %s: %w", ln.Addr(), err)
			}
			// Most likely out of file descriptors: wait and retry, as
			// net/http does, rather than give up serving.
			delay = min(max(2*delay, minAcceptDelay), maxAcceptDelay)
			s.log.Error("receiver: accept failed; retrying", "listener", ln.Addr().String(), "err", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return ErrServerClosed
			}
			continue
		}
		delay = 0
		s.startConn(rwc)
	}
}

func (s *Server) trackListener(ln *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.shutdown.Load() {
			return false
		}
		s.listeners[ln] = struct{}{}
		s.serveCount.Add(1)
	} else {
		delete(s.listeners, ln)
		s.serveCount.Done()
	}
	return true
}

// startConn registers rwc and starts serving it, or closes it when the
// server is shutting down or has MaxConns connections already.
func (s *Server) startConn(rwc net.Conn) {
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		rwc.Close()
		return
	}
	if s.MaxConns > 0 && len(s.conns) >= s.MaxConns {
		s.mu.Unlock()
		s.overLimit.Add(1)
		rwc.Close()
		s.log.Warn("receiver: connection refused: too many connections",
			"peer", rwc.RemoteAddr().String(), "max_conns", s.MaxConns)
		return
	}
	c := newConn(s, rwc)
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.log.Debug("receiver: connection opened", "peer", c.peer)
	go c.writeLoop()
	go c.serve()
}

// removeConn forgets c once both its goroutines are done with it.
func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.checkDrainedLocked()
	s.mu.Unlock()
}

// beginShutdown marks the server as shutting down: no listener or
// connection is added after it.
func (s *Server) beginShutdown() {
	s.mu.Lock()
	s.shutdown.Store(true)
	s.checkDrainedLocked()
	s.mu.Unlock()
}

func (s *Server) checkDrainedLocked() {
	if s.shutdown.Load() && len(s.conns) == 0 && !s.isDrained {
		s.isDrained = true
		close(s.drained)
	}
}

// closeListeners closes every listener; Serve loops then return.
func (s *Server) closeListeners() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for ln := range s.listeners {
		if err := (*ln).Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Server) connList() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		list = append(list, c)
	}
	return list
}

// Shutdown stops the server gracefully: it closes the listeners, lets every
// connection handle the events it has already received in full (their
// replies are written), then closes it. It returns when every connection is
// closed, or, when ctx is done first, closes everything at once as Close does
// and returns ctx's error.
//
// A connection waiting for more bytes is closed at once; an incomplete
// event is dropped (and logged at debug level).
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.beginShutdown()
	err := s.closeListeners()
	for _, c := range s.connList() {
		c.startShutdown()
	}
	select {
	case <-s.drained:
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	}
	s.serveCount.Wait()
	s.log.Close()
	return err
}

// Close closes the listeners and every connection at once, cancels the
// handlers' contexts, and waits for the running handlers to return (handlers
// must watch their context). Replies not yet written are lost; use Shutdown
// to finish the work in hand first.
func (s *Server) Close() error {
	s.init()
	s.beginShutdown()
	err := s.closeListeners()
	s.cancel()
	for _, c := range s.connList() {
		c.rwc.Close()
	}
	<-s.drained
	s.serveCount.Wait()
	s.log.Close()
	return err
}
