package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evstream/evstream/internal/ratelog"
	"github.com/evstream/evstream/jsonrpc"
)

// maxQueuedReplyBytes bounds the reply bytes queued on a connection by its
// reader. When the peer does not read its replies, the connection stops
// reading events until the queue drains, and TCP flow control slows the
// peer down. (Deferred replies are bounded in number instead:
// Server.MaxPendingReplies.)
const maxQueuedReplyBytes = 256 << 10

// errShuttingDown stops a connection's reads once Shutdown has begun.
var errShuttingDown = errors.New("receiver: server shutting down")

// aLongTimeAgo is a deadline in the past, to wake a blocked Read at once.
var aLongTimeAgo = time.Unix(1, 0)

// conn is one accepted connection. Its reader goroutine (serve) owns the
// decoder and calls the handler; its writer goroutine (writeLoop) owns the
// writes. They share only the queue of encoded replies, guarded by mu.
type conn struct {
	srv    *Server
	rwc    net.Conn
	peer   string // remote address, for logs
	ctx    context.Context
	cancel context.CancelFunc

	shuttingDown atomic.Bool

	// readAt is when the last read returned: the time an event completed
	// by it was received. Reader-owned.
	readAt time.Time

	// Reader-owned scratch buffers: the encoded result, the whole reply.
	result, rbuf []byte

	// parser parses the objects the decoder returns (already validated, and
	// kept unchanged until the handler returns). Reader-owned.
	parser jsonrpc.Parser

	mu       sync.Mutex
	space    sync.Cond     // signalled when out drains, a deferred request is answered, the writer fails or ctx ends
	out      []byte        // encoded replies waiting for the writer
	werr     error         // the write error that stopped the writer
	deferred int           // deferred requests not answered yet
	eof      bool          // the reader is done: flush out and stop; replies are refused
	wake     chan struct{} // capacity 1: out has data, or eof is set
	wdone    chan struct{} // closed when the writer has stopped
	stopWake func() bool   // stops the wake-up of space when ctx ends
}

func newConn(s *Server, rwc net.Conn) *conn {
	c := &conn{
		srv:   s,
		rwc:   rwc,
		peer:  rwc.RemoteAddr().String(),
		wake:  make(chan struct{}, 1),
		wdone: make(chan struct{}),
	}
	c.space.L = &c.mu
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	c.stopWake = context.AfterFunc(c.ctx, func() {
		c.mu.Lock()
		c.space.Broadcast()
		c.mu.Unlock()
	})
	return c
}

// startShutdown makes the reader stop at the first read it would block on:
// events already received in full are still handled.
func (c *conn) startShutdown() {
	c.shuttingDown.Store(true)
	c.rwc.SetReadDeadline(aLongTimeAgo)
}

// Read implements io.Reader for the decoder: it arms the idle timeout before
// each read and refuses to read once Shutdown has begun. The deadline is set
// before the check so that Shutdown's past deadline always wins.
func (c *conn) Read(p []byte) (int, error) {
	if idle := c.srv.IdleTimeout; idle > 0 {
		c.rwc.SetReadDeadline(time.Now().Add(idle))
	}
	if c.shuttingDown.Load() {
		return 0, errShuttingDown
	}
	n, err := c.rwc.Read(p)
	c.readAt = time.Now()
	return n, err
}

// serve reads the stream and dispatches the events in order until the
// stream ends, is bad, or the server stops.
func (c *conn) serve() {
	defer c.srv.removeConn(c)
	defer c.stopWake()
	defer c.cancel()
	defer c.rwc.Close()
	defer c.finishWrites()

	dec := jsonrpc.NewDecoder(c, c.srv.maxMessageSize())
	for {
		raw, err := dec.Next()
		if err != nil {
			c.readFailed(err, dec)
			return
		}
		c.dispatch(raw)
	}
}

// readFailed logs why the stream ended, at a level that fits the reason.
func (c *conn) readFailed(err error, dec *jsonrpc.Decoder) {
	log := c.srv.log
	var serr *jsonrpc.SyntaxError
	var nerr net.Error
	switch {
	case errors.Is(err, io.EOF):
		log.Debug("receiver: connection closed by peer", "peer", c.peer)
	case errors.Is(err, io.ErrUnexpectedEOF):
		log.Warn("receiver: connection closed by peer in the middle of a message",
			"peer", c.peer, "offset", dec.InputOffset(), "buffered", len(dec.Buffered()))
	case errors.Is(err, jsonrpc.ErrTooLarge):
		log.Warn("receiver: closing connection: message too large",
			"peer", c.peer, "max_message_size", c.srv.maxMessageSize(), "err", err)
	case errors.As(err, &serr):
		log.Warn("receiver: closing connection: malformed stream",
			"peer", c.peer, "offset", serr.Offset, "err", serr.Msg)
	case c.shuttingDown.Load() || errors.Is(err, errShuttingDown):
		if n := len(dec.Buffered()); n > 0 {
			log.Debug("receiver: closing connection on shutdown; incomplete message dropped",
				"peer", c.peer, "offset", dec.InputOffset(), "bytes", n)
		} else {
			log.Debug("receiver: closing connection on shutdown", "peer", c.peer)
		}
	case errors.As(err, &nerr) && nerr.Timeout():
		log.Info("receiver: closing idle connection", "peer", c.peer, "idle_timeout", c.srv.IdleTimeout)
	case errors.Is(err, net.ErrClosed) || c.ctx.Err() != nil:
		log.Debug("receiver: connection closed", "peer", c.peer)
	default:
		log.Info("receiver: connection read failed", "peer", c.peer, "err", err)
	}
}

// dispatch handles one complete JSON object, as the decoder returned it:
// valid JSON, unchanged until the next read, so the Request can point into
// it (Request documents that Params and ID are valid only during ServeEvent).
func (c *conn) dispatch(raw []byte) {
	msg, err := c.parser.Parse(raw)
	if err != nil {
		c.invalid(raw, msg, err)
		return
	}
	if msg.Method == "" { // a response: we never send requests
		if c.srv.log.Slog().Enabled(c.ctx, slog.LevelDebug) {
			c.srv.log.Debug("receiver: ignoring a response", "peer", c.peer, "id", ratelog.ClipBytes(msg.ID))
		}
		return
	}
	req := &Request{
		Method:     msg.Method,
		Params:     msg.Params,
		ID:         msg.ID,
		RemoteAddr: c.rwc.RemoteAddr(),
		Received:   c.readAt,
		c:          c,
	}
	result, herr := c.call(req)
	c.mu.Lock()
	req.served = true
	if req.resp != nil {
		// Deferred: its Responder answers. At the bound, stop reading
		// until one of the deferred requests is answered.
		for c.deferred >= c.srv.maxPendingReplies() && c.werr == nil && c.ctx.Err() == nil {
			c.space.Wait()
		}
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	if req.ID == nil {
		if herr != nil {
			c.notificationFailed(req.Method, herr)
		}
		return
	}
	c.rbuf, c.result = c.encodeReply(c.rbuf[:0], c.result[:0], req.ID, result, herr)
	c.queue(c.rbuf)
}

// deferRequest makes r a deferred request (Request.Defer).
func (c *conn) deferRequest(r *Request) *Responder {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.served {
		panic("receiver: Request.Defer called after ServeEvent returned")
	}
	if r.resp == nil {
		r.resp = &Responder{c: c, id: slices.Clone(r.ID), method: r.Method}
		if r.ID != nil {
			c.deferred++
		}
	}
	return r.resp
}

// respond queues the reply of a deferred request (Responder.Respond).
func (c *conn) respond(r *Responder, result any, herr error) error {
	if r.id == nil {
		if herr != nil {
			c.notificationFailed(r.method, herr)
		}
		return nil
	}
	reply, _ := c.encodeReply(nil, nil, r.id, result, herr)
	c.mu.Lock()
	c.deferred--
	c.space.Broadcast()
	if c.werr != nil || c.eof {
		c.mu.Unlock()
		return ErrConnClosed
	}
	c.out = append(c.out, reply...)
	c.mu.Unlock()
	c.signal()
	return nil
}

// invalid handles an object that is not a valid JSON-RPC message. A request
// (it has a usable id) gets an Invalid Request reply; anything else is
// logged and dropped. The stream goes on: the object was well-formed JSON.
func (c *conn) invalid(raw []byte, msg *jsonrpc.Message, err error) {
	if msg != nil && msg.ID != nil {
		data, _ := json.Marshal(err.Error())
		c.queue(jsonrpc.AppendError(nil, msg.ID, &jsonrpc.Error{
			Code: jsonrpc.CodeInvalidRequest, Message: "Invalid Request", Data: data,
		}))
		c.srv.log.Warn("receiver: invalid request answered with an error",
			"peer", c.peer, "id", ratelog.ClipBytes(msg.ID), "err", err)
		return
	}
	c.srv.log.Warn("receiver: invalid message dropped", "peer", c.peer, "err", err, "message", ratelog.ClipBytes(raw))
}

// call runs the handler, turning a panic into an internal error.
func (c *conn) call(req *Request) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.srv.log.Error("receiver: handler panicked", "peer", c.peer, "method", ratelog.Clip(req.Method),
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			result, err = nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "Internal error"}
		}
	}()
	return c.srv.Handler.ServeEvent(c.ctx, req)
}

func (c *conn) notificationFailed(method string, err error) {
	log := c.srv.log
	var je *jsonrpc.Error
	if errors.As(err, &je) && je.Code == jsonrpc.CodeMethodNotFound {
		if log.Slog().Enabled(c.ctx, slog.LevelDebug) {
			log.Debug("receiver: notification dropped: no handler", "peer", c.peer, "method", ratelog.Clip(method))
		}
		return
	}
	log.Warn("receiver: notification handler failed", "peer", c.peer, "method", ratelog.Clip(method), "err", err)
}

// encodeReply appends the reply to the request id to dst, encoding the
// result in scratch; it returns both buffers, grown.
func (c *conn) encodeReply(dst, scratch []byte, id json.RawMessage, result any, herr error) (reply, scratchOut []byte) {
	if herr == nil {
		var err error
		scratch, err = appendJSON(scratch, result)
		if err == nil {
			return jsonrpc.AppendResult(dst, id, scratch), scratch
		}
		c.srv.log.Error("receiver: cannot encode the handler's result", "peer", c.peer, "id", ratelog.ClipBytes(id), "err", err)
		herr = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "Internal error"}
	}
	var je *jsonrpc.Error
	if !errors.As(herr, &je) {
		je = &jsonrpc.Error{Code: CodeServerError, Message: herr.Error()}
	}
	return jsonrpc.AppendError(dst, id, je), scratch
}

// appendJSON appends v encoded as JSON: a json.RawMessage as it is (it must
// be valid), strings and integers directly, anything else with
// encoding/json.
func appendJSON(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case json.RawMessage:
		if len(v) == 0 {
			return append(dst, "null"...), nil
		}
		if !json.Valid(v) {
			return dst, fmt.Errorf("result is a json.RawMessage that is not valid JSON: %q", ratelog.ClipBytes(v))
		}
		return append(dst, v...), nil
	case string:
		return jsonrpc.AppendString(dst, v), nil
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dst, fmt.Errorf("encoding the result %T: %w", v, err)
	}
	return append(dst, b...), nil
}

// queue hands an encoded reply to the writer, waiting while too many bytes
// are queued already. It drops b when the writer has failed.
func (c *conn) queue(b []byte) {
	c.mu.Lock()
	for len(c.out) >= maxQueuedReplyBytes && c.werr == nil && c.ctx.Err() == nil {
		c.space.Wait()
	}
	if c.werr != nil {
		c.mu.Unlock()
		return
	}
	c.out = append(c.out, b...)
	c.mu.Unlock()
	c.signal()
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// finishWrites waits for the deferred requests to be answered (unless the
// writer failed or the connection's context ended), tells the writer that
// no more replies will come and waits until it has written the queued ones
// (or failed).
func (c *conn) finishWrites() {
	c.mu.Lock()
	for c.deferred > 0 && c.werr == nil && c.ctx.Err() == nil {
		c.space.Wait()
	}
	c.eof = true
	c.mu.Unlock()
	c.signal()
	<-c.wdone
}

// writeLoop writes the queued replies, everything queued in one write, until
// the reader is done and the queue is empty, or a write fails.
func (c *conn) writeLoop() {
	defer close(c.wdone)
	var buf []byte
	for range c.wake {
		c.mu.Lock()
		buf, c.out = c.out, buf[:0]
		eof := c.eof
		c.mu.Unlock()
		if len(buf) > 0 {
			if idle := c.srv.IdleTimeout; idle > 0 {
				c.rwc.SetWriteDeadline(time.Now().Add(idle))
			}
			if _, err := c.rwc.Write(buf); err != nil {
				c.writeFailed(err)
				return
			}
			c.mu.Lock()
			c.space.Broadcast()
			c.mu.Unlock()
		}
		if eof {
			return
		}
	}
}

// writeFailed stops the connection: replies can no longer be delivered, so
// reading more requests would be pointless.
func (c *conn) writeFailed(err error) {
	c.mu.Lock()
	c.werr = err
	c.out = nil
	c.space.Broadcast()
	c.mu.Unlock()
	c.rwc.Close()
	if !errors.Is(err, net.ErrClosed) {
		c.srv.log.Info("receiver: closing connection: writing replies failed", "peer", c.peer, "err", err)
	}
}
