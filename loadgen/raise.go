package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/value"
)

// counts are the raise side's tallies, shared by the workers.
type counts struct {
	raised      atomic.Uint64 // events accepted by the daemon
	raiseErrors atomic.Uint64 // events the daemon refused
	rejected    atomic.Uint64 // deliveries refused at raise (api path)
}

// raiser raises events for the workers. raise is called by worker w only
// (so per-worker state needs no lock) with the sequence numbers [from, to).
type raiser interface {
	raise(w int, from, to int64) error
	// finish waits until the answers to everything raised are in (ingest
	// requests), at most until ctx is done.
	finish(ctx context.Context)
	close()
}

// appendStamp appends the bench's params object {"s":seq,"t":now}.
func appendStamp(b []byte, seq, now int64) []byte {
	b = append(b, `{"s":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"t":`...)
	b = strconv.AppendInt(b, now, 10)
	return append(b, '}')
}

// apiRaiser raises through evi.Registry.RaiseEvent in this process.
type apiRaiser struct {
	reg  *evi.Registry
	ev   *evi.Event
	subs int
	c    *counts
}

func (a *apiRaiser) raise(w int, from, to int64) error {
	if a.ev.AtLeastOnce() {
		return a.raiseAsync(from, to)
	}
	var raised, errs, rejected uint64
	// The clock is read once per batch (see batchSize): a batch is raised
	// within microseconds, and an early stamp can only make a latency
	// look longer, never shorter.
	now := time.Now().UnixNano()
	for seq := from; seq < to; seq++ {
		params := value.Named(
			value.P("s", value.Int(seq)),
			value.P("t", value.Int(now)),
		)
		n, err := a.reg.RaiseEvent(a.ev, params, nil)
		if n > 0 {
			raised++
		} else {
			errs++
		}
		if err != nil {
			rejected += uint64(a.subs - n)
			if errors.Is(err, evi.ErrClosed) {
				return err
			}
		}
	}
	a.c.raised.Add(raised)
	a.c.raiseErrors.Add(errs)
	a.c.rejected.Add(rejected)
	return nil
}

// raiseAsync raises a batch to at-least-once subscribers as a Go producer
// should: with RaiseAsync, every event of the batch in the spool's group
// commit together, and returns once each is acknowledged.
func (a *apiRaiser) raiseAsync(from, to int64) error {
	var raised, errs, rejected atomic.Uint64
	var closed atomic.Bool
	var wg sync.WaitGroup
	now := time.Now().UnixNano()
	for seq := from; seq < to; seq++ {
		params := value.Named(
			value.P("s", value.Int(seq)),
			value.P("t", value.Int(now)),
		)
		wg.Add(1)
		a.reg.RaiseEventAsync(context.Background(), 0, a.ev, params, nil, func(n int, err error) {
			defer wg.Done()
			if n > 0 {
				raised.Add(1)
			} else {
				errs.Add(1)
			}
			if err != nil {
				rejected.Add(uint64(a.subs - n))
				if errors.Is(err, evi.ErrClosed) {
					closed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	a.c.raised.Add(raised.Load())
	a.c.raiseErrors.Add(errs.Load())
	a.c.rejected.Add(rejected.Load())
	if closed.Load() {
		return evi.ErrClosed
	}
	return nil
}

func (a *apiRaiser) finish(context.Context) {}
func (a *apiRaiser) close()                 {}

// miRaiser raises with MI raise_event, one HTTP request per event, one
// keep-alive connection per worker.
type miRaiser struct {
	mi    *miClient
	event string
	c     *counts
	ctx   context.Context
	bufs  [][]byte
}

func newMIRaiser(ctx context.Context, url, event string, workers int, c *counts) *miRaiser {
	return &miRaiser{mi: newMIClient(url, workers), event: event, c: c, ctx: ctx, bufs: make([][]byte, workers)}
}

var miOK = []byte(`"result":"OK"`)

func (m *miRaiser) raise(w int, from, to int64) error {
	for seq := from; seq < to; seq++ {
		// The params go as a string holding a JSON object, as OpenSIPS's
		// raise_event takes them (evstream also takes the object itself).
		b := append(m.bufs[w][:0], `{"jsonrpc":"2.0","method":"raise_event","params":{"event":`...)
		b = jsonrpc.AppendString(b, m.event)
		b = append(b, `,"params":`...)
		stamp := appendStamp(nil, seq, time.Now().UnixNano())
		b = jsonrpc.AppendString(b, string(stamp))
		b = append(b, `},"id":`...)
		b = strconv.AppendInt(b, seq+1, 10)
		b = append(b, '}')
		m.bufs[w] = b
		out, err := m.mi.post(m.ctx, b)
		switch {
		case err != nil && m.ctx.Err() != nil:
			return nil // stopping
		case err != nil:
			return fmt.Errorf("mi raise_event at %s: %w", m.mi.url, err)
		case bytes.Contains(out, miOK):
			m.c.raised.Add(1)
		default:
			m.c.raiseErrors.Add(1)
		}
	}
	return nil
}

func (m *miRaiser) finish(context.Context) {}
func (m *miRaiser) close()                 { m.mi.close() }

// maxIngestInFlight bounds the requests written and not yet answered on
// one ingest connection (reliable mode).
const maxIngestInFlight = 4096

// ingestRaiser writes events to a daemon's ingest listener as OpenSIPS
// does: JSON-RPC objects back to back, notifications (notification mode)
// or requests answered by the daemon (reliable mode), one connection per
// worker, each batch in one write.
type ingestRaiser struct {
	event    string
	reliable bool
	c        *counts
	conns    []*ingestConn
	wg       sync.WaitGroup
}

type ingestConn struct {
	params   []byte // scratch: one event's params
	nc       net.Conn
	buf      []byte
	written  atomic.Int64 // requests written
	answered atomic.Int64 // replies read
	rerr     atomic.Pointer[error]
}

func newIngestRaiser(addr, event string, reliable bool, workers int, c *counts) (*ingestRaiser, error) {
	r := &ingestRaiser{event: event, reliable: reliable, c: c}
	for range workers {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			r.close()
			return nil, fmt.Errorf("ingest %s: %w", addr, err)
		}
		ic := &ingestConn{nc: nc}
		r.conns = append(r.conns, ic)
		if reliable {
			r.wg.Go(func() { r.readReplies(ic) })
		}
	}
	return r, nil
}

func (r *ingestRaiser) raise(w int, from, to int64) error {
	ic := r.conns[w]
	if r.reliable {
		// Wait for room in the window of requests awaiting a reply.
		for ic.written.Load()-ic.answered.Load()+(to-from) > maxIngestInFlight {
			if e := ic.rerr.Load(); e != nil {
				return *e
			}
			time.Sleep(20 * time.Microsecond)
		}
	}
	b := ic.buf[:0]
	now := time.Now().UnixNano() // once per batch, as apiRaiser
	for seq := from; seq < to; seq++ {
		ic.params = appendStamp(ic.params[:0], seq, now)
		if r.reliable {
			b = jsonrpc.AppendRequest(b, seq+1, r.event, ic.params)
		} else {
			b = jsonrpc.AppendNotification(b, r.event, ic.params)
		}
	}
	ic.buf = b
	if r.reliable {
		ic.written.Add(to - from)
	}
	if _, err := ic.nc.Write(b); err != nil {
		return fmt.Errorf("ingest %s: write: %w", ic.nc.RemoteAddr(), err)
	}
	if !r.reliable {
		r.c.raised.Add(uint64(to - from))
	}
	return nil
}

// readReplies counts the daemon's answers to the requests of ic.
func (r *ingestRaiser) readReplies(ic *ingestConn) {
	dec := jsonrpc.NewDecoder(ic.nc, 0)
	for {
		b, err := dec.Next()
		if err != nil {
			ic.rerr.Store(&err)
			return
		}
		resp, err := jsonrpc.ParseResponse(b)
		if err == nil && resp.Error == nil {
			r.c.raised.Add(1)
		} else {
			r.c.raiseErrors.Add(1)
		}
		ic.answered.Add(1)
	}
}

// finish waits for the replies to every request written (reliable mode).
func (r *ingestRaiser) finish(ctx context.Context) {
	if !r.reliable {
		return
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for _, ic := range r.conns {
		for ic.answered.Load() < ic.written.Load() && ic.rerr.Load() == nil {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}
}

func (r *ingestRaiser) close() {
	for _, ic := range r.conns {
		ic.nc.Close()
	}
	r.wg.Wait()
}
