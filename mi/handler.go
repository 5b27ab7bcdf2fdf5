package mi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/ratelog"
	"github.com/evstream/evstream/jsonrpc"
)

// DefaultMaxBodySize is the largest request body accepted when
// Options.MaxBodySize is 0.
const DefaultMaxBodySize = 1 << 20

// Error codes and messages of the MI, as OpenSIPS answers them. The
// JSON-RPC codes (-32xxx) are jsonrpc.Code*.
const (
	CodeBadParam          = 400 // "Bad parameter value", "Bad Params"
	CodeNotFound          = 404 // "Event not published", "Event not registered", "Subscriber does not exist"
	CodeNoSubscribers     = 480 // "Temporarily Unavailable"
	CodeServerError       = 500 // the registry is closed, or no subscriber accepted the event
	CodeSpoolFull         = 503 // "Spool full": at-least-once subscribers cannot take the event
	MsgBadParameterValue  = "Bad parameter value"
	MsgBadParams          = "Bad Params"
	MsgEventNotPublished  = "Event not published"
	MsgEventNotRegistered = "Event not registered"
	MsgNoSubscriber       = "Subscriber does not exist"
	MsgTempUnavailable    = "Temporarily Unavailable"
	MsgInvalidParams      = "Invalid params"
	MsgTooFewOrMany       = "Too few or too many parameters"
	MsgNegativeExpire     = "Negative expire value"
	MsgSpoolFull          = "Spool full"
)

// Stat is one statistic reported by get_statistics, named "group:name" as
// in OpenSIPS (for example "tcp:sent").
type Stat struct {
	Name  string
	Value int64
}

// Options configure a Handler. The zero Options are valid.
type Options struct {
	// Version is what the version command reports after "evstream ".
	Version string
	// Logger receives a debug line per command and the reasons behind
	// generic errors such as "Bad parameter value"; nil discards them.
	Logger *slog.Logger
	// Report, when not nil, is given the outcome of every delivery of the
	// events raised with raise_event (to log failures). It must not block.
	Report func(evi.Outcome)
	// Statistics, when not nil, adds its statistics (transport counters) to
	// those get_statistics reports.
	Statistics func() []Stat
	// MaxBodySize bounds a request body, in bytes; 0 means
	// DefaultMaxBodySize.
	MaxBodySize int64
	// Commands are more commands to serve (a transport's); their names
	// must not be those of the MI's own commands.
	Commands []Command
	// Delivery is the policy of an event_subscribe that does not name one
	// (the config's delivery.default); the zero value is at-most-once.
	Delivery evi.Delivery
}

// Command is a command added to the MI (Options.Commands).
type Command struct {
	CommandInfo
	// Run runs it with its params by name (matched against Params, by
	// position or by name, as the MI's own commands), and returns the JSON
	// result or the error to answer with.
	Run func(params map[string]json.RawMessage) (json.RawMessage, *jsonrpc.Error)
}

// Handler serves the MI: one JSON-RPC 2.0 request per HTTP POST, answered
// with HTTP 200 and a JSON-RPC response (errors included), or HTTP 204 with
// no body for a notification (a request without "id"). Other HTTP methods
// get 405. It is safe for concurrent use.
type Handler struct {
	reg      *evi.Registry
	opts     Options
	log      *ratelog.Logger // callers cause every line: rate-limited
	cmds     map[string]*command
	tooLarge atomic.Uint64 // request bodies refused beyond MaxBodySize
}

// TooLarge counts the request bodies refused for being larger than
// Options.MaxBodySize.
func (h *Handler) TooLarge() uint64 { return h.tooLarge.Load() }

// New returns a Handler for reg's events and subscribers.
func New(reg *evi.Registry, opts Options) *Handler {
	if opts.MaxBodySize <= 0 {
		opts.MaxBodySize = DefaultMaxBodySize
	}
	h := &Handler{reg: reg, opts: opts, log: ratelog.New(opts.Logger, 0, 0), cmds: make(map[string]*command)}
	for _, c := range commandTable() {
		h.cmds[c.Name] = c
	}
	for _, c := range opts.Commands {
		if h.cmds[c.Name] != nil {
			panic("mi: Options.Commands: " + c.Name + " is already a command")
		}
		run := c.Run
		h.cmds[c.Name] = &command{CommandInfo: c.CommandInfo, run: func(_ *Handler, a *args) (json.RawMessage, *jsonrpc.Error) {
			byName := make(map[string]json.RawMessage, len(a.names))
			for i, n := range a.names {
				byName[n] = a.vals[i]
			}
			return run(byName)
		}}
	}
	return h
}

// Close writes the counts of the log lines it suppressed and stops its
// timers. The Handler still serves afterwards.
func (h *Handler) Close() { h.log.Close() }

// Commands returns the names of the MI commands, sorted.
func (h *Handler) Commands() []string {
	names := make([]string, 0, len(h.cmds))
	for n := range h.cmds {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "evstream MI: method "+r.Method+" not allowed, POST a JSON-RPC 2.0 request", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodySize))
	var resp []byte
	switch {
	case err == nil:
		var notification bool
		resp, notification = h.Serve(body)
		if notification {
			w.WriteHeader(http.StatusNoContent)
			return
		}
	case isMaxBytes(err):
		h.tooLarge.Add(1)
		resp = appendError(nil, nil, jsonrpc.CodeInvalidRequest, "Invalid Request",
			"request body larger than "+strconv.FormatInt(h.opts.MaxBodySize, 10)+" bytes")
	default:
		h.log.Debug("mi: reading request body", "remote", r.RemoteAddr, "err", err.Error())
		return // the client went away
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(resp)))
	w.WriteHeader(http.StatusOK)
	w.Write(resp)
}

func isMaxBytes(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// Serve runs the JSON-RPC 2.0 request in body and returns the response.
// notification is true (and resp nil) when the request had no id: it was
// run and gets no response. A body that is not a valid request gets a
// -32700 (malformed JSON) or -32600 (not a request; batches are not
// supported) error response.
func (h *Handler) Serve(body []byte) (resp []byte, notification bool) {
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		return appendError(nil, nil, jsonrpc.CodeInvalidRequest, "Invalid Request",
			"batch requests (JSON arrays) are not supported: send one request per POST"), false
	}
	m, err := jsonrpc.Parse(body)
	if err != nil {
		var se *jsonrpc.SyntaxError
		if errors.As(err, &se) {
			return appendError(nil, nil, jsonrpc.CodeParseError, "Parse error",
				strings.TrimPrefix(se.Error(), "jsonrpc: ")), false
		}
		var id json.RawMessage
		if m != nil {
			id = m.ID
		}
		return appendError(nil, id, jsonrpc.CodeInvalidRequest, "Invalid Request",
			strings.TrimPrefix(err.Error(), "jsonrpc: ")), false
	}
	if m.Method == "" {
		return appendError(nil, m.ID, jsonrpc.CodeInvalidRequest, "Invalid Request",
			"a JSON-RPC response, not a request"), false
	}
	result, rerr := h.Call(m.Method, m.Params)
	if m.ID == nil {
		return nil, true
	}
	if rerr != nil {
		return jsonrpc.AppendError(nil, m.ID, rerr), false
	}
	return jsonrpc.AppendResult(nil, m.ID, result), false
}

// Call runs the MI command method with params (a JSON array for params by
// position, an object for params by name, nil for none) and returns its
// JSON result or its error, as the response would carry them.
func (h *Handler) Call(method string, params json.RawMessage) (json.RawMessage, *jsonrpc.Error) {
	c := h.cmds[method]
	if c == nil {
		h.log.Debug("mi: unknown command", "command", ratelog.Clip(method))
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: "Method not found"}
	}
	a, err := matchParams(c, params)
	if err == nil {
		var res []byte
		res, err = c.run(h, a)
		if err == nil {
			h.log.Debug("mi: command", "command", method, "params", ratelog.ClipBytes(params))
			return res, nil
		}
	}
	h.log.Debug("mi: command failed", "command", method, "params", ratelog.ClipBytes(params),
		"code", err.Code, "message", err.Message, "data", ratelog.ClipBytes(err.Data))
	return nil, err
}

// appendError appends an error response whose data is the string data
// (none when empty).
func appendError(dst []byte, id json.RawMessage, code int64, msg, data string) []byte {
	return jsonrpc.AppendError(dst, id, newError(code, msg, data))
}

// newError returns a JSON-RPC error with a string data member (none when
// data is empty).
func newError(code int64, msg, data string) *jsonrpc.Error {
	e := &jsonrpc.Error{Code: code, Message: msg}
	if data != "" {
		e.Data = jsonrpc.AppendString(nil, data)
	}
	return e
}

// invalidParams is OpenSIPS's -32602 "Invalid params" error with data.
func invalidParams(data string) *jsonrpc.Error {
	return newError(jsonrpc.CodeInvalidParams, MsgInvalidParams, data)
}
