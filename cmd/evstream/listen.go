package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/receiver"
)

// defaultListenAddr is where `evstream listen` listens without an ADDR.
const defaultListenAddr = receiver.DefaultAddr

// defaultListenReply is the result sent to requests without --reply or
// --error. OpenSIPS only checks that a reply has no "error" member.
const defaultListenReply = `"OK"`

// listenStopTimeout bounds the flushing of the last replies on exit.
const listenStopTimeout = 5 * time.Second

func init() {
	register("listen", command{
		summary: "print the events received over TCP (an event_stream subscriber)",
		run:     runListen,
	})
}

// runListen is `evstream listen [ADDR] [FLAGS]`: a receiver that prints
// every event it gets as one JSON line on stdout,
//
//	{"time":"2006-01-02T15:04:05.999999999Z","peer":"127.0.0.1:50000","method":"E_X","params":{...},"id":1}
//
// (params and id only when the event has them) and answers requests with
// --reply (default "OK") or --error. It writes
// "evstream: listening on ADDR" to stderr once it listens, and exits 0 after
// --count events or on SIGINT/SIGTERM, 1 when it cannot listen, 2 on bad
// usage.
func runListen(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("listen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	reply := fs.String("reply", defaultListenReply, "answer requests with this JSON `result`")
	errMsg := fs.String("error", "", "answer requests with a JSON-RPC error (code -32000) with this `message` instead")
	delay := fs.Duration("delay", 0, "wait this `long` before answering each event (events of one connection are handled in turn)")
	count := fs.Int("count", 0, "exit after `N` events (0: never)")
	maxSize := fs.Int("max-message-size", jsonrpc.DefaultMaxMessageSize, "largest event accepted, in `bytes`; a larger one closes its connection")
	logLevel := fs.String("log-level", "info", "lowest `level` logged to stderr: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: evstream listen [ADDR] [--reply JSON | --error MSG] [--delay D] [--count N]\n")
		fmt.Fprintf(stderr, "Listens on ADDR (default %s) for event_stream connections and prints each event as a JSON line.\n", defaultListenAddr)
		fs.PrintDefaults()
	}
	addrs, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "evstream listen: "+format+"\n", a...)
		fs.Usage()
		return 2
	}
	addr := defaultListenAddr
	switch len(addrs) {
	case 0:
	case 1:
		addr = addrs[0]
	default:
		return usageErr("one address at most, got %q", addrs)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["reply"] && set["error"] {
		return usageErr("--reply and --error exclude each other")
	}
	if *count < 0 || *delay < 0 || *maxSize <= 0 {
		return usageErr("--count and --delay cannot be negative, --max-message-size must be positive")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageErr("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(*reply)); err != nil {
		return usageErr("--reply %q is not valid JSON: %v", *reply, err)
	}

	l := &listener{
		out:    stdout,
		result: json.RawMessage(compact.Bytes()),
		delay:  *delay,
		limit:  int64(*count),
		done:   make(chan struct{}),
	}
	if set["error"] {
		l.err = &jsonrpc.Error{Code: receiver.CodeServerError, Message: *errMsg}
	}
	srv := &receiver.Server{
		Handler:        l,
		MaxMessageSize: *maxSize,
		Logger:         slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "evstream listen: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "evstream: listening on %s\n", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case <-ctx.Done():
	case <-l.done:
	case err := <-served:
		fmt.Fprintf(stderr, "evstream listen: %v\n", err)
		return 1
	}
	sctx, cancel := context.WithTimeout(context.Background(), listenStopTimeout)
	defer cancel()
	srv.Shutdown(sctx) // the replies in hand go out
	<-served
	return 0
}

// parseInterspersed parses flags that may come before or after the
// positional arguments (`listen 127.0.0.1:0 --count 2`), which it returns.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		rest := fs.Args()
		if i := len(args) - len(rest) - 1; i >= 0 && args[i] == "--" { // all positional after --
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// errLimitReached answers the events that arrive after --count.
var errLimitReached = &jsonrpc.Error{Code: receiver.CodeServerError, Message: "evstream listen: --count reached, exiting"}

// listener is the receiver.Handler of `evstream listen`.
type listener struct {
	out    io.Writer
	result json.RawMessage // the --reply result
	err    *jsonrpc.Error  // the --error error, or nil
	delay  time.Duration
	limit  int64 // --count; 0 means no limit

	mu  sync.Mutex // serializes the lines on out
	buf []byte

	n        atomic.Int64
	done     chan struct{} // closed once limit events are printed
	doneOnce sync.Once
}

// ServeEvent prints req as a JSON line, waits --delay and answers.
func (l *listener) ServeEvent(ctx context.Context, req *receiver.Request) (any, error) {
	n := l.n.Add(1)
	if l.limit > 0 && n > l.limit {
		return nil, errLimitReached
	}
	l.print(req)
	if l.limit > 0 && n == l.limit {
		defer l.doneOnce.Do(func() { close(l.done) })
	}
	if l.delay > 0 {
		t := time.NewTimer(l.delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	if l.err != nil {
		return nil, l.err
	}
	return l.result, nil
}

// print writes one line: {"time":..,"peer":..,"method":..,"params":..,"id":..}.
func (l *listener) print(req *receiver.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := append(l.buf[:0], `{"time":`...)
	b = jsonrpc.AppendString(b, req.Received.Format(time.RFC3339Nano))
	b = append(b, `,"peer":`...)
	b = jsonrpc.AppendString(b, req.RemoteAddr.String())
	b = append(b, `,"method":`...)
	b = jsonrpc.AppendString(b, req.Method)
	if req.Params != nil {
		b = append(b, `,"params":`...)
		b = appendCompact(b, req.Params)
	}
	if req.ID != nil {
		b = append(b, `,"id":`...)
		b = appendCompact(b, req.ID)
	}
	b = append(b, '}', '\n')
	l.out.Write(b)
	l.buf = b
}

// appendCompact appends the valid JSON raw without insignificant
// whitespace, so that a line stays one line.
func appendCompact(dst, raw []byte) []byte {
	buf := bytes.NewBuffer(dst)
	if err := json.Compact(buf, raw); err != nil { // the receiver passes valid JSON only
		return append(dst, "null"...)
	}
	return buf.Bytes()
}
