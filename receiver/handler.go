package receiver

import (
	"context"
	"encoding/json"
	"net"
	"slices"
	"sync"
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
}

// IsNotification reports whether r is a notification: it has no id and gets
// no reply.
func (r *Request) IsNotification() bool { return r.ID == nil }

// Clone returns a copy of r that owns its Params and ID, safe to keep after
// ServeEvent returns.
func (r *Request) Clone() *Request {
	c := *r
	c.Params = slices.Clone(r.Params)
	c.ID = slices.Clone(r.ID)
	return &c
}

// A Handler handles the events received by a Server.
//
// ServeEvent is called once per event, in the order the events arrived on
// their connection: a connection's next event is not read until ServeEvent
// returns (events from different connections are handled concurrently).
// For a request, the Server answers with result, or with an error reply when
// err is not nil; for a notification both are ignored (an error is logged).
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
