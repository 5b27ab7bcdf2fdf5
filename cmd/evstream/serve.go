package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/evstream/evstream/daemon"
)

// defaultShutdownTimeout bounds the delivery of queued events after
// SIGINT/SIGTERM.
const defaultShutdownTimeout = 5 * time.Second

func init() {
	register("serve", command{
		summary: "run the daemon (MI, transports, ingest)",
		run:     runServe,
	})
}

// runServe is `evstream serve`. It prints its startup lines to stdout once
// it is ready:
//
//	evstream: ingest listening on ADDR              (when ingest is on)
//	evstream: MI listening on http://ADDR/mi        (always last; or "evstream: MI disabled")
//
// and logs to stderr. It exits 0 after a signal (once queued events are
// delivered or the shutdown timeout is reached), 1 when it cannot start, 2
// on bad usage.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML config `file` (default: the built-in defaults, see examples/evstream.yaml)")
	miListen := fs.String("mi-listen", "", "MI listen `address` host:port, overrides mi.listen (\"\" turns the MI off)")
	ingestListen := fs.String("ingest-listen", "", "ingest listen `address` host:port, overrides ingest.listen (\"\" turns it off)")
	logLevel := fs.String("log-level", "", "lowest `level` logged: debug, info, warn or error; overrides log.level")
	shutdownTimeout := fs.Duration("shutdown-timeout", defaultShutdownTimeout,
		"on SIGINT/SIGTERM, how long to keep delivering queued events before giving up")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: evstream serve [--config FILE] [--mi-listen ADDR] [--ingest-listen ADDR] [--log-level LEVEL] [--shutdown-timeout D]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "evstream serve: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}

	cfg := daemon.DefaultConfig()
	if *configPath != "" {
		var err error
		if cfg, err = daemon.LoadConfig(*configPath); err != nil {
			printError(stderr, err)
			return 1
		}
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "mi-listen":
			cfg.MI.Listen = *miListen
		case "ingest-listen":
			cfg.Ingest.Listen = *ingestListen
		case "log-level":
			cfg.Log.Level = *logLevel
		}
	})
	// New validates cfg: a bad flag value is reported like a bad key.
	logger := newLogger(cfg.Log, stderr)
	d, err := daemon.New(cfg, logger, daemon.WithVersion(Version))
	if err != nil {
		printError(stderr, err)
		return 1
	}
	if err := d.Start(); err != nil {
		printError(stderr, err)
		return 1
	}
	if a := d.IngestAddr(); a != nil {
		fmt.Fprintf(stdout, "evstream: ingest listening on %s\n", a)
	}
	if a := d.MIAddr(); a != nil {
		fmt.Fprintf(stdout, "evstream: MI listening on %s\n", miURL(a))
	} else {
		fmt.Fprintln(stdout, "evstream: MI disabled")
	}

	<-ctx.Done()
	logger.Info("shutting down", "timeout", shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if err := d.Shutdown(sctx); err != nil {
		logger.Warn("shutdown incomplete", "err", err)
	}
	logger.Info("stopped")
	return 0
}

// miURL is the MI's URL for a listener address (IPv6 hosts come
// bracketed: http://[::1]:8888/mi).
func miURL(a net.Addr) string { return "http://" + a.String() + daemon.MIPath }

// printError prints err as "evstream: LINE" for each of its lines (a
// config with several problems reports them all).
func printError(w io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(w, "evstream: %s\n", line)
	}
}

// newLogger returns the daemon's logger: text or json to w at the level
// of cfg (validated).
func newLogger(cfg daemon.LogConfig, w io.Writer) *slog.Logger {
	level, _ := cfg.SlogLevel()
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
