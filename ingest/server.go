package ingest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/ratelog"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/receiver"
	"github.com/evstream/evstream/value"
)

// Error codes of the replies to requests that could not be raised. They
// follow the codes of OpenSIPS's MI raise_event where one exists.
const (
	// CodeBadEventName: the event name (method or event_param value) is
	// not a valid event name. Message "Bad event name".
	CodeBadEventName = 400
	// CodeNotPublished: the event is not published and the registry does
	// not auto-publish. Message "Event not registered", as raise_event.
	CodeNotPublished = 404
	// CodeNoSubscribers: the event has no live subscriber. Message
	// "Temporarily Unavailable", as raise_event.
	CodeNoSubscribers = 480
	// CodeNotAccepted: at least one subscriber refused the event (queue
	// full, destination or registry closed). Message "Not Accepted"; the
	// data member is {"accepted":N,"reason":"..."}. When the spool of
	// at-least-once subscribers refused it, the message is "Spool full"
	// (as the MI's raise_event).
	CodeNotAccepted = 503
)

// Config configures an ingest Server. The zero Config is valid.
type Config struct {
	// EventParam, when set, names the params member (or, for array
	// params, the first element) that carries the event's name, as
	// OpenSIPS's event_param setting writes it. It is taken out of the
	// params before the event is raised. Events without it are raised
	// under their JSON-RPC method.
	EventParam string
	// MaxMessageSize is the largest JSON-RPC object accepted, in bytes; 0
	// means jsonrpc.DefaultMaxMessageSize.
	MaxMessageSize int
	// MaxConns limits the connections served at once; 0 means no limit.
	MaxConns int
	// IdleTimeout closes connections silent for this long; 0 means never.
	IdleTimeout time.Duration
	// MaxWait is how long an event may wait for room in the full queue of
	// a subscriber (evi.Registry.RaiseWait) before that subscriber refuses
	// it; meanwhile the connection is not read, and TCP flow control slows
	// the producer down to what the subscribers take. A subscriber that
	// stays full for a whole MaxWait is stalled: it refuses the next
	// events at once, until it has drained, so it holds its producer (and
	// the other subscribers fed by it) for one MaxWait, not at every
	// event. 0 refuses at once: a producer faster than a subscriber loses
	// the events the queue cannot hold.
	MaxWait time.Duration
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// Allow, when not empty, are the source addresses that may connect
	// (an OpenSIPS's event_stream has neither TLS nor credentials: its
	// address is how it is known); other connections are closed at once,
	// counted (Stats.Refused) and logged, rate-limited.
	Allow []netip.Prefix
	// TLS, when set, makes the listener speak TLS (with a certificate; with
	// ClientAuth and ClientCAs, producers must present one signed by those
	// CAs: mutual TLS).
	TLS *tls.Config
	// Report, when set, receives the delivery outcome of every relayed
	// event for every subscriber (see evi.Registry.RaiseEvent); it must
	// not block. The daemon logs failures with it.
	Report func(evi.Outcome)
}

// Stats counts the events an ingest Server has received and what became of
// them. Received is the sum of the other counts.
type Stats struct {
	// Received counts the events read (notifications and requests).
	Received uint64
	// Raised counts the events accepted by every live subscriber.
	Raised uint64
	// NoSubscribers counts the events dropped because nobody subscribed.
	NoSubscribers uint64
	// Rejected counts the events not raised at all: bad params, bad or
	// unpublished event name.
	Rejected uint64
	// Failed counts the events refused by at least one subscriber (queue
	// full, destination closed) or raised after the registry closed.
	Failed uint64
	// Refused counts the connections closed at once because their source
	// is not in Config.Allow, OverLimit those closed because MaxConns were
	// served already (not events: neither is part of Received).
	Refused, OverLimit uint64
}

// Server receives events on TCP and raises each in a Registry: it is the
// ingest side of a relay. It is a receiver.Server with the Server's
// ServeEvent as handler.
type Server struct {
	reg *evi.Registry
	cfg Config
	log *slog.Logger
	rs  receiver.Server

	received, raised, noSubscribers, rejected, failed, refused atomic.Uint64
	limited                                                    *ratelog.Logger // what peers cause
	allow                                                      atomic.Pointer[[]netip.Prefix]
}

// New returns a Server that raises the events it receives in reg. Start it
// with Serve.
func New(reg *evi.Registry, cfg Config) *Server {
	s := &Server{reg: reg, cfg: cfg, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.rs = receiver.Server{
		Handler:        s,
		MaxMessageSize: cfg.MaxMessageSize,
		MaxConns:       cfg.MaxConns,
		IdleTimeout:    cfg.IdleTimeout,
		TLSConfig:      cfg.TLS,
		Logger:         cfg.Logger,
	}
	s.limited = ratelog.New(cfg.Logger, 0, 0)
	s.allow.Store(&cfg.Allow)
	return s
}

// SetAllow replaces Config.Allow (on reload): connections accepted from
// then on are checked against it; empty allows any source.
func (s *Server) SetAllow(allow []netip.Prefix) { s.allow.Store(&allow) }

// Serve accepts connections on ln until Shutdown or Close, then returns
// receiver.ErrServerClosed. It closes ln.
func (s *Server) Serve(ln net.Listener) error {
	ln = &allowListener{Listener: ln, allow: &s.allow, refused: &s.refused, log: s.limited}
	return s.rs.Serve(ln)
}

// ListenAndServe listens on the TCP address addr and calls Serve.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Shutdown stops accepting, raises the events already received in full,
// answers them, and closes the connections; see receiver.Server.Shutdown.
func (s *Server) Shutdown(ctx context.Context) error {
	defer s.limited.Close()
	return s.rs.Shutdown(ctx)
}

// Close closes the listeners and connections at once.
func (s *Server) Close() error {
	defer s.limited.Close()
	return s.rs.Close()
}

// Stats returns the counts so far.
func (s *Server) Stats() Stats {
	return Stats{
		Received:      s.received.Load(),
		Raised:        s.raised.Load(),
		NoSubscribers: s.noSubscribers.Load(),
		Rejected:      s.rejected.Load(),
		Failed:        s.failed.Load(),
		Refused:       s.refused.Load(),
		OverLimit:     s.rs.OverLimit(),
	}
}

// ServeEvent raises req in the registry: the event is the method, or the
// EventParam value carried by the params. A request is answered once every
// live subscriber has accepted the event for delivery (not once it is
// delivered; for at-least-once subscribers, once it is durable in the
// spool), with the number of subscribers as the result, or with an error
// (see the Code constants). A notification is raised and forgotten; what
// became of it shows in Stats. With Config.MaxWait, a full subscriber
// makes the raise wait for room (up to MaxWait) before it refuses.
//
// An event with at-least-once subscribers is raised without waiting for
// its spool write: the request is answered when the write is durable
// (receiver.Request.Defer), so that the events of a connection share the
// spool's group commits; answers may then come out of order.
func (s *Server) ServeEvent(ctx context.Context, req *receiver.Request) (any, error) {
	s.received.Add(1)
	name, params, err := jsonrpc.DecodeEventParamsLazy(req.Params, s.cfg.EventParam)
	if err != nil {
		s.rejected.Add(1)
		return s.fail(req, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "Invalid params", Data: jsonString(err.Error())})
	}
	if name == "" {
		name = req.Method
	}
	ev := s.reg.Lookup(name)
	var n int
	switch {
	case ev == nil: // not published: Raise says why
		n, err = s.reg.Raise(name, params, s.cfg.Report)
	case ev.AtLeastOnce():
		return s.raiseAsync(ctx, req, ev, params)
	case s.cfg.MaxWait > 0:
		n, err = s.reg.RaiseEventWait(ctx, s.cfg.MaxWait, ev, params, s.cfg.Report)
	default:
		n, err = s.reg.RaiseEvent(ev, params, s.cfg.Report)
	}
	return s.result(req, n, err)
}

// raiseAsync raises an event with at-least-once subscribers, answering
// req when the spool has it (at once when the raise acknowledged before
// raiseAsync could defer the answer).
func (s *Server) raiseAsync(ctx context.Context, req *receiver.Request, ev *evi.Event, params value.Params) (any, error) {
	a := &asyncAck{s: s, req: req}
	s.reg.RaiseEventAsync(ctx, s.cfg.MaxWait, ev, params, s.cfg.Report, a.ack)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.acked {
		return s.result(req, a.n, a.err)
	}
	a.resp = req.Defer()
	return nil, nil
}

// asyncAck is the answer of one request raised with RaiseAsync.
type asyncAck struct {
	s   *Server
	req *receiver.Request

	mu    sync.Mutex
	resp  *receiver.Responder // set once the answer is deferred
	acked bool                // ack ran before that
	n     int
	err   error
}

func (a *asyncAck) ack(n int, err error) {
	a.mu.Lock()
	if a.resp == nil {
		a.acked, a.n, a.err = true, n, err
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()
	result, rerr := a.s.result(a.req, n, err)
	a.resp.Respond(result, rerr)
}

// result counts a raise and returns the answer to req.
func (s *Server) result(req *receiver.Request, n int, err error) (any, error) {
	if err == nil {
		s.raised.Add(1)
		return n, nil
	}
	var je *jsonrpc.Error
	switch {
	case errors.Is(err, evi.ErrNoSubscribers):
		s.noSubscribers.Add(1)
		je = &jsonrpc.Error{Code: CodeNoSubscribers, Message: "Temporarily Unavailable"}
	case errors.Is(err, evi.ErrNotPublished):
		s.rejected.Add(1)
		je = &jsonrpc.Error{Code: CodeNotPublished, Message: "Event not registered"}
	case errors.Is(err, evi.ErrBadEventName):
		s.rejected.Add(1)
		je = &jsonrpc.Error{Code: CodeBadEventName, Message: "Bad event name", Data: jsonString(err.Error())}
	case errors.Is(err, evi.ErrSpoolFull):
		s.failed.Add(1)
		data := `{"accepted":` + strconv.Itoa(n) + `,"reason":` + string(jsonString(err.Error())) + `}`
		je = &jsonrpc.Error{Code: CodeNotAccepted, Message: "Spool full", Data: json.RawMessage(data)}
	default:
		s.failed.Add(1)
		data := `{"accepted":` + strconv.Itoa(n) + `,"reason":` + string(jsonString(err.Error())) + `}`
		je = &jsonrpc.Error{Code: CodeNotAccepted, Message: "Not Accepted", Data: json.RawMessage(data)}
	}
	return s.fail(req, je)
}

// fail returns je for a request. For a notification nobody is told: it
// returns nil, after a debug log.
func (s *Server) fail(req *receiver.Request, je *jsonrpc.Error) (any, error) {
	if !req.IsNotification() {
		return nil, je
	}
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug("ingest: notification not raised", "peer", req.RemoteAddr.String(),
			"method", req.Method, "err", je.Error())
	}
	return nil, nil
}

// jsonString encodes s as a JSON string.
func jsonString(s string) json.RawMessage { return jsonrpc.AppendString(nil, s) }
