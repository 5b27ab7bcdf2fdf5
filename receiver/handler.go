package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evstream/evstream/jsonrpc"
)

// Request is one event received on a connection: a JSON-RPC notification, or
// a request (reliable mode) that the Server answers with the handler's result.
//
// Params and ID may point into the connection's read buffer: they are valid
// only until ServeEvent returns (returning them as the result is fine: it is
// encoded before the next event is read). A handler that keeps them longer
// must copy them, for example with Clone.
type Request struct {
	// Method is the JSON-RPC method: the event's name, or the method the
	// subscriber's socket asked for (tcp:host:port/method).
	Method string
	// Params is the raw params value (a JSON object or array), or nil when
	// the event has no params.
	Params json.RawMessage
	// ID is the raw request id, or nil for a notification.
	ID json.RawMessage
	// RemoteAddr is the address of the peer that sent the event.
	RemoteAddr net.Addr
	// Received is when the last bytes of the event were read from the
	// connection.
	Received time.Time

	c      *conn      // the connection serving it; nil for a copy
	resp   *Responder // set by Defer; guarded by c.mu
	served bool       // ServeEvent returned; guarded by c.mu
}

// IsNotification reports whether r is a notification: it has no id and gets
// no reply.
func (r *Request) IsNotification() bool { return r.ID == nil }

// Clone returns a copy of r that owns its Params and ID, safe to keep after
// ServeEvent returns. The copy cannot be deferred.
func (r *Request) Clone() *Request {
	return &Request{
		Method:     r.Method,
		Params:     slices.Clone(r.Params),
		ID:         slices.Clone(r.ID),
		RemoteAddr: r.RemoteAddr,
		Received:   r.Received,
	}
}

// Defer tells the Server that the handler will answer r later, with the
// Responder returned: what ServeEvent returns is then ignored, and the
// connection goes on reading and handling the next events meanwhile.
// Replies may be sent in any order (JSON-RPC matches them by id): a
// handler can answer a request once its work is durable, say, after a
// group commit.
//
// A connection holds at most Server.MaxPendingReplies deferred requests
// unanswered; at the bound it stops reading until one is answered, and
// TCP flow control slows the sender down. Shutdown waits for the deferred
// replies (until its context ends); Close drops them.
//
// Defer must be called before ServeEvent returns (on its goroutine, or on
// one it waits for); calling it again returns the same Responder. For a
// notification the Responder sends nothing (an error given to it is
// logged, as one returned by ServeEvent is) and does not count towards the
// bound. Defer panics when r is not being served (a Clone, or after
// ServeEvent returned).
func (r *Request) Defer() *Responder {
	if r.c == nil {
		panic("receiver: Request.Defer on a request that is not being served (a Clone?)")
	}
	return r.c.deferRequest(r)
}

// Responder answers a deferred request (Request.Defer). It is safe for use
// by any goroutine.
type Responder struct {
	c      *conn
	id     json.RawMessage // nil: a notification
	method string          // for logs
	done   atomic.Bool
}

// ErrConnClosed is returned by Responder.Respond when the connection
// closed (or failed) before the reply could be queued: the reply is lost,
// and the sender counts the request as lost or timed out.
var ErrConnClosed = errors.New("receiver: connection closed")

// ErrAnswered is returned by Responder.Respond when the request was
// answered already.
var ErrAnswered = errors.New("receiver: request already answered")

// Respond answers the request with result, or with an error reply when err
// is not nil, exactly as ServeEvent's return values would; see Handler for
// how they are encoded. It never blocks on the network: the reply is
// queued for the connection's writer. It returns ErrAnswered when called a
// second time and ErrConnClosed when the connection is gone.
func (r *Responder) Respond(result any, err error) error {
	if r.done.Swap(true) {
		return ErrAnswered
	}
	return r.c.respond(r, result, err)
}

// A Handler handles the events received by a Server.
//
// ServeEvent is called once per event, in the order the events arrived on
// their connection: a connection's next event is not read until ServeEvent
// returns (events from different connections are handled concurrently).
// For a request, the Server answers with result, or with an error reply when
// err is not nil; for a notification both are ignored (an error is logged).
// A handler that answers later calls req.Defer (its return values are then
// ignored).
//
// The result is encoded with encoding/json, except a json.RawMessage, which
// is sent as it is (it must be valid JSON), and strings and integers, which
// are encoded without reflection. A nil result is sent as null.
//
// When err is, or wraps, a *jsonrpc.Error, the reply carries that error as
// it is; any other error is sent with code CodeServerError and err.Error()
// as the message.
//
// ctx is cancelled when the connection closes or the Server is closed.
type Handler interface {
	ServeEvent(ctx context.Context, req *Request) (result any, err error)
}

// HandlerFunc adapts an ordinary function to a Handler.
type HandlerFunc func(ctx context.Context, req *Request) (any, error)

// ServeEvent calls f(ctx, req).
func (f HandlerFunc) ServeEvent(ctx context.Context, req *Request) (any, error) {
	return f(ctx, req)
}

// CodeServerError is the code of the error reply sent when a handler returns
// an error that is not a *jsonrpc.Error (-32000, the first code JSON-RPC 2.0
// reserves for implementation-defined server errors).
const CodeServerError = -32000

// ErrMethodNotFound is the error a Mux returns for a method that has no
// handler. The Server answers it with code -32601 (Method not found) to a
// request and drops the notification, logging it at debug level.
var ErrMethodNotFound = &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: "Method not found"}

// Mux is a Handler that dispatches each event to the handler registered for
// its method, like http.ServeMux does for paths. Events whose method has no
// handler go to the default handler, or get ErrMethodNotFound when there is
// none. A Mux is safe for concurrent use; handlers may be added while it
// serves.
type Mux struct {
	mu       sync.RWMutex
	handlers map[string]Handler
	def      Handler
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{handlers: make(map[string]Handler)} }

// Handle registers h for the method. It panics when method is empty, h is
// nil, or method already has a handler, as http.ServeMux does.
func (m *Mux) Handle(method string, h Handler) {
	if method == "" {
		panic("receiver: Handle with an empty method")
	}
	if h == nil {
		panic("receiver: Handle " + method + " with a nil handler")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.handlers == nil {
		m.handlers = make(map[string]Handler)
	}
	if _, dup := m.handlers[method]; dup {
		panic("receiver: method " + method + " registered twice")
	}
	m.handlers[method] = h
}

// HandleFunc registers f for the method; see Handle.
func (m *Mux) HandleFunc(method string, f func(ctx context.Context, req *Request) (any, error)) {
	if f == nil {
		panic("receiver: HandleFunc " + method + " with a nil function")
	}
	m.Handle(method, HandlerFunc(f))
}

// HandleDefault registers h for every method that has no handler of its own
// (a catch-all). A nil h removes the default handler.
func (m *Mux) HandleDefault(h Handler) {
	m.mu.Lock()
	m.def = h
	m.mu.Unlock()
}

// Handler returns the handler that serves method: its own, else the default
// one, else nil.
func (m *Mux) Handler(method string) Handler {
	m.mu.RLock()
	h, ok := m.handlers[method]
	if !ok {
		h = m.def
	}
	m.mu.RUnlock()
	return h
}

// ServeEvent dispatches req to the handler for req.Method, or returns
// ErrMethodNotFound.
func (m *Mux) ServeEvent(ctx context.Context, req *Request) (any, error) {
	h := m.Handler(req.Method)
	if h == nil {
		return nil, ErrMethodNotFound
	}
	return h.ServeEvent(ctx, req)
}
