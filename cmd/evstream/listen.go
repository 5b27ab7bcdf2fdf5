package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/evstream/evstream/internal/tlsfiles"
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

func newListenCmd() *cobra.Command {
	var (
		reply    string
		errMsg   string
		delay    durationValue
		count    int
		maxSize  int
		logLevel string
		tlsCert  string
		tlsKey   string
	)
	cmd := &cobra.Command{
		Use:   "listen [ADDR]",
		Short: "print the events received over TCP (an event_stream subscriber)",
		Long: fmt.Sprintf(`Listen on ADDR (default %s) for event_stream connections and print
every event received as one JSON line on stdout:

  {"time":"2006-01-02T15:04:05.999999999Z","peer":"127.0.0.1:50000","method":"E_X","params":{...},"id":1}

(params and id only when the event has them). Requests (reliable mode) are
answered with --reply (default "OK") or --error. It writes "evstream:
listening on ADDR" to stderr once it listens, and exits 0 after --count
events or on SIGINT/SIGTERM, 1 when it cannot listen, 2 on bad usage.`, defaultListenAddr),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Catch SIGINT/SIGTERM before saying "listening": a signal sent
			// as soon as the line is seen must stop it cleanly, not kill it.
			ctx, stop := interruptible(cmd)
			defer stop()
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			addr := defaultListenAddr
			switch len(args) {
			case 0:
			case 1:
				addr = args[0]
			default:
				return usageError(cmd, "one address at most, got %q", args)
			}
			if err := checkAddr(addr, "127.0.0.1:8080"); err != nil {
				return usageError(cmd, "%v", err)
			}
			fl := cmd.Flags()
			if fl.Changed("reply") && fl.Changed("error") {
				return usageError(cmd, "--reply and --error exclude each other")
			}
			if count < 0 {
				return usageError(cmd, "--count %d: cannot be negative", count)
			}
			if maxSize <= 0 {
				return usageError(cmd, "--max-message-size %d: must be positive", maxSize)
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usageError(cmd, "--log-level %q: want debug, info, warn or error", logLevel)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, []byte(reply)); err != nil {
				return usageError(cmd, "--reply %q is not valid JSON: %v", reply, err)
			}
			l := &listener{
				out:    stdout,
				result: json.RawMessage(compact.Bytes()),
				delay:  time.Duration(delay),
				limit:  int64(count),
				done:   make(chan struct{}),
			}
			if fl.Changed("error") {
				l.err = &jsonrpc.Error{Code: receiver.CodeServerError, Message: errMsg}
			}
			srv := &receiver.Server{
				Handler:        l,
				MaxMessageSize: maxSize,
				Logger:         slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
			}
			if (tlsCert == "") != (tlsKey == "") {
				return usageError(cmd, "--tls-cert and --tls-key go together")
			}
			if tlsCert != "" {
				pair, err := tlsfiles.KeyPair(tlsCert, tlsKey, "--tls-cert, --tls-key")
				if err != nil {
					return failure(cmd, "%v", err)
				}
				srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return failure(cmd, "cannot listen on %s: %v", addr, listenReason(err))
			}
			if srv.TLSConfig != nil {
				fmt.Fprintf(stderr, "evstream: listening on %s (TLS: subscribe tls:%s)\n", ln.Addr(), ln.Addr())
			} else {
				fmt.Fprintf(stderr, "evstream: listening on %s\n", ln.Addr())
			}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()

			select {
			case <-ctx.Done():
			case <-l.done:
			case err := <-served:
				return failure(cmd, "%v", err)
			}
			sctx, cancel := context.WithTimeout(context.Background(), listenStopTimeout)
			defer cancel()
			srv.Shutdown(sctx) // the replies in hand go out
			<-served
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&reply, "reply", defaultListenReply, "answer requests with this JSON `result`")
	fl.StringVar(&errMsg, "error", "", "answer requests with a JSON-RPC error (code -32000) with this `message` instead")
	fl.Var(&delay, "delay", "wait this long before answering each event (events of one connection are handled in turn)")
	fl.IntVar(&count, "count", 0, "exit after `N` events (0: never)")
	fl.IntVar(&maxSize, "max-message-size", jsonrpc.DefaultMaxMessageSize, "largest event accepted, in `bytes`; a larger one closes its connection")
	fl.StringVar(&logLevel, "log-level", "info", "lowest `level` logged to stderr: debug, info, warn or error")
	fl.StringVar(&tlsCert, "tls-cert", "", "serve TLS (for tls: sockets) with this certificate `file` (PEM), with --tls-key")
	fl.StringVar(&tlsKey, "tls-key", "", "the TLS certificate's key `file` (PEM)")
	return cmd
}

// listenReason drops the "listen tcp ADDR:" prefix of a listen error (the
// address is already in the message).
func listenReason(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
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
