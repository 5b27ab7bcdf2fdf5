package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/receiver"
)

// ReceiverKind selects how a Sink reads its event stream.
type ReceiverKind string

const (
	// ReceiverLean is loadgen's own counting reader: one pass over each
	// object, no allocation, replies to requests written in batches. It
	// costs the least per event, so the sender under test dominates.
	ReceiverLean ReceiverKind = "lean"
	// ReceiverServer is a real receiver.Server with a handler that counts:
	// what an application built on package receiver pays per event.
	ReceiverServer ReceiverKind = "server"
)

// maxSinkBuffer bounds the read buffer of a lean sink connection: one
// object larger than this closes the connection.
const maxSinkBuffer = 4 << 20

// sinkReadSize is the initial read buffer of a lean sink connection.
const sinkReadSize = 256 << 10

// maxQueuedReplies bounds the reply bytes a lean sink connection queues for
// its writer; above it the reader waits (TCP then slows the sender down).
const maxQueuedReplies = 1 << 20

// SinkConfig configures a Sink.
type SinkConfig struct {
	// Kind is the reader: ReceiverLean (the zero value means it) or
	// ReceiverServer.
	Kind ReceiverKind
	// Verify tracks every sequence number received, to count the distinct
	// events and the duplicates (memory: one bit per sequence number).
	// Without it Distinct is the number of events received.
	Verify bool
	// Method, when set, is the JSON-RPC method the sink expects (the
	// event's name): objects of exactly the shape evstream writes for it
	// are read by a fast path, anything else by the general scanner.
	Method string
	// TLS, when set, makes the sink a TLS server (a tls: socket).
	TLS *tls.Config
}

// SinkReport is what a Sink received, once it is closed.
type SinkReport struct {
	// Received counts the events received (duplicates included).
	Received uint64
	// Distinct counts the distinct sequence numbers received (Verify), else
	// equals Received.
	Distinct uint64
	// Duplicates counts the events received more than once (Verify).
	Duplicates uint64
	// Unstamped counts events without integer "s" and "t" params.
	Unstamped uint64
	// Requests counts the events that came as requests (with an id, so
	// the sender runs in reliable mode); the others were notifications.
	Requests uint64
	// Latency holds now - t for every stamped event, in nanoseconds.
	Latency Histogram
	// Conns counts the connections accepted.
	Conns int
	// Errors lists why connections ended badly (garbage, write failures).
	Errors []string
}

// Sink is one benchmark subscriber: a TCP listener on 127.0.0.1:0 whose
// connections are read by a lean counting reader or by a receiver.Server.
// Every event is expected to carry the named params "s" (a sequence
// number) and "t" (the raise time in unix nanoseconds); the Sink records
// the latency (time of receipt - t) and counts the events. Requests
// (reliable mode) are answered with "OK".
//
// Received and LastReceipt may be called at any time; Report after Close.
type Sink struct {
	cfg    SinkConfig
	ln     net.Listener
	scheme string // "tcp:", or "tls:" with SinkConfig.TLS
	srv    *receiver.Server
	recv   atomic.Uint64
	last   atomic.Int64 // unix nanoseconds of the last receipt

	mu     sync.Mutex
	conns  map[*sinkConn]struct{}
	report SinkReport
	seen   seqSet
	closed bool

	wg sync.WaitGroup
}

// NewSink listens on 127.0.0.1:0 and serves what arrives until Close.
func NewSink(cfg SinkConfig) (*Sink, error) {
	if cfg.Kind == "" {
		cfg.Kind = ReceiverLean
	}
	if cfg.Kind != ReceiverLean && cfg.Kind != ReceiverServer {
		return nil, fmt.Errorf("loadgen: unknown receiver kind %q (want %q or %q)", cfg.Kind, ReceiverLean, ReceiverServer)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("loadgen: sink: %w", err)
	}
	s := &Sink{cfg: cfg, ln: ln, conns: make(map[*sinkConn]struct{}), scheme: "tcp:"}
	if cfg.TLS != nil {
		s.ln, s.scheme = tls.NewListener(ln, cfg.TLS), "tls:"
		ln = s.ln
	}
	if cfg.Kind == ReceiverServer {
		state := &sinkConn{s: s}
		s.srv = &receiver.Server{Handler: receiver.HandlerFunc(state.serveEvent)}
		s.wg.Go(func() { s.srv.Serve(countingListener{ln, &state.conns}) })
		s.mu.Lock()
		s.conns[state] = struct{}{}
		s.mu.Unlock()
		return s, nil
	}
	s.wg.Go(s.accept)
	return s, nil
}

// Addr returns the listener's address, 127.0.0.1:PORT.
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// Socket returns the subscriber socket of the sink, tcp:127.0.0.1:PORT
// (tls:127.0.0.1:PORT with SinkConfig.TLS).
func (s *Sink) Socket() string { return s.scheme + s.Addr() }

// Received returns how many events the sink has received so far.
func (s *Sink) Received() uint64 { return s.recv.Load() }

// LastReceipt returns when the last event was received (zero if none).
func (s *Sink) LastReceipt() time.Time {
	if ns := s.last.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

func (s *Sink) accept() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		c := &sinkConn{s: s, nc: nc, wake: make(chan struct{}, 1)}
		c.space.L = &c.mu
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.report.Conns++
		s.mu.Unlock()
		wdone := make(chan struct{})
		s.wg.Go(func() {
			defer close(wdone)
			c.writeLoop()
		})
		s.wg.Go(func() {
			err := c.readLoop()
			c.finish(wdone)
			s.retire(c, err)
		})
	}
}

// retire merges the counts of a finished connection into the sink.
func (s *Sink) retire(c *sinkConn, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	s.mergeLocked(c)
	if err != nil {
		s.report.Errors = append(s.report.Errors, err.Error())
	}
}

func (s *Sink) mergeLocked(c *sinkConn) {
	s.report.Received += c.n
	s.report.Unstamped += c.unstamped
	s.report.Requests += c.requests
	s.report.Latency.Merge(&c.hist)
	if s.cfg.Verify {
		s.report.Duplicates += c.seen.dups
		s.report.Duplicates += s.seen.union(&c.seen)
	}
}

// Close stops the sink: it closes the listener and every connection and
// waits for its goroutines.
func (s *Sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var ncs []net.Conn
	for c := range s.conns {
		if c.nc != nil {
			ncs = append(ncs, c.nc)
		}
	}
	s.mu.Unlock()
	if s.srv != nil {
		s.srv.Close()
	} else {
		s.ln.Close()
	}
	for _, nc := range ncs {
		nc.Close()
	}
	s.wg.Wait()
	if s.srv != nil {
		s.mu.Lock()
		for c := range s.conns {
			s.mergeLocked(c)
			s.report.Conns = int(c.conns.Load())
		}
		clear(s.conns)
		s.mu.Unlock()
	}
	return nil
}

// Report returns what the sink received. Call it after Close.
func (s *Sink) Report() SinkReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.report
	if s.cfg.Verify {
		r.Distinct = s.seen.n
	} else {
		r.Distinct = r.Received
	}
	return r
}

// sinkConn is the state of one lean connection, or of a whole
// receiver-backed sink (nc nil; mu guards the counts then).
type sinkConn struct {
	s  *Sink
	nc net.Conn

	// Owned by the reader (lean), or guarded by mu (server).
	n, unstamped, requests uint64
	hist                   Histogram
	seen                   seqSet
	conns                  atomic.Int64 // server kind: connections accepted

	mu    sync.Mutex
	space sync.Cond
	out   []byte // replies queued for the writer
	werr  error
	eof   bool
	wake  chan struct{}
}

// record counts one event received at now.
func (c *sinkConn) record(ev *wireEvent, now int64) {
	c.n++
	if ev.id != nil {
		c.requests++
	}
	if !ev.hasSeq || !ev.hasT {
		c.unstamped++
		return
	}
	c.hist.Record(now - ev.t)
	if c.s.cfg.Verify {
		c.seen.add(ev.seq)
	}
}

// readLoop reads and counts events until the connection ends.
func (c *sinkConn) readLoop() error {
	buf := make([]byte, sinkReadSize)
	fs := newFastScanner(c.s.cfg.Method)
	var reply []byte
	start, end := 0, 0
	for {
		if start == end {
			start, end = 0, 0
		} else if end == len(buf) {
			if start > 0 {
				end = copy(buf, buf[start:end])
				start = 0
			} else if len(buf) < maxSinkBuffer {
				buf = append(buf, make([]byte, len(buf))...)[:2*len(buf)]
			} else {
				return fmt.Errorf("sink %s: %w: an object larger than %d bytes", c.s.Addr(), ErrBadStream, maxSinkBuffer)
			}
		}
		n, rerr := c.nc.Read(buf[end:])
		end += n
		if n > 0 {
			now := time.Now().UnixNano()
			before := c.n
			reply = reply[:0]
			for start < end {
				ev, k, err := fs.scan(buf[start:end])
				if err == errShort {
					break
				}
				if err != nil {
					return fmt.Errorf("sink %s: stream offset about %d: %w", c.s.Addr(), start, err)
				}
				start += k
				c.record(&ev, now)
				if ev.id != nil {
					reply = jsonrpc.AppendResult(reply, ev.id, okResult)
				}
			}
			if got := c.n - before; got > 0 {
				c.s.recv.Add(got)
				c.s.last.Store(now)
			}
			if len(reply) > 0 && !c.queue(reply) {
				return fmt.Errorf("sink %s: writing replies: %w", c.s.Addr(), c.werr)
			}
		}
		if rerr != nil {
			if errors.Is(rerr, net.ErrClosed) {
				return nil // closed by Close
			}
			if errors.Is(rerr, io.EOF) || errors.Is(rerr, syscall.ECONNRESET) {
				return nil // the sender closed: normal at the end of a run
			}
			return fmt.Errorf("sink %s: read: %w", c.s.Addr(), rerr)
		}
	}
}

var okResult = []byte(`"OK"`)

// queue hands replies to the writer; false when the writer has failed.
func (c *sinkConn) queue(b []byte) bool {
	c.mu.Lock()
	for len(c.out) >= maxQueuedReplies && c.werr == nil {
		c.space.Wait()
	}
	if c.werr != nil {
		c.mu.Unlock()
		return false
	}
	c.out = append(c.out, b...)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// finish stops the writer after it has written what is queued, and
// closes the connection.
func (c *sinkConn) finish(wdone <-chan struct{}) {
	c.mu.Lock()
	c.eof = true
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	<-wdone
	c.nc.Close()
}

// writeLoop writes the queued replies, all that is queued in one write.
func (c *sinkConn) writeLoop() {
	var buf []byte
	for range c.wake {
		c.mu.Lock()
		buf, c.out = c.out, buf[:0]
		eof := c.eof
		c.mu.Unlock()
		if len(buf) > 0 {
			_, err := c.nc.Write(buf)
			c.mu.Lock()
			if err != nil {
				c.werr = err
			}
			c.space.Broadcast()
			c.mu.Unlock()
			if err != nil {
				c.nc.Close() // unblocks the reader
				return
			}
		}
		if eof {
			return
		}
	}
}

// serveEvent is the receiver.Handler of a ReceiverServer sink.
func (c *sinkConn) serveEvent(_ context.Context, req *receiver.Request) (any, error) {
	ev := wireEvent{id: req.ID}
	if len(req.Params) > 0 && req.Params[0] == '{' {
		scanParams(req.Params, 0, &ev) // a bad object leaves the event unstamped
	}
	now := req.Received.UnixNano()
	c.mu.Lock()
	c.record(&ev, now)
	c.mu.Unlock()
	c.s.recv.Add(1)
	c.s.last.Store(now)
	if req.IsNotification() {
		return nil, nil
	}
	return "OK", nil
}

// seqSet is a growable bitmap of sequence numbers.
type seqSet struct {
	words []uint64
	n     uint64 // distinct
	dups  uint64 // added while present
}

func (s *seqSet) add(seq int64) {
	if seq < 0 {
		return
	}
	w := int(seq >> 6)
	if w >= len(s.words) {
		grown := make([]uint64, max(w+1, 2*len(s.words)))
		copy(grown, s.words)
		s.words = grown
	}
	bit := uint64(1) << (seq & 63)
	if s.words[w]&bit != 0 {
		s.dups++
		return
	}
	s.words[w] |= bit
	s.n++
}

// union adds o to s and returns how many of o's numbers s already had.
func (s *seqSet) union(o *seqSet) uint64 {
	if len(o.words) > len(s.words) {
		s.words = append(s.words, make([]uint64, len(o.words)-len(s.words))...)
	}
	var overlap uint64
	for i, w := range o.words {
		overlap += uint64(bits.OnesCount64(s.words[i] & w))
		s.words[i] |= w
	}
	s.n += o.n - overlap
	return overlap
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}
