package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/evstream/evstream/daemon"
	"github.com/evstream/evstream/internal/sdnotify"
	"github.com/evstream/evstream/transport/stream"
)

// defaultShutdownTimeout bounds the delivery of queued events after
// SIGINT/SIGTERM.
const defaultShutdownTimeout = 5 * time.Second

// serveFlags are the flags of `evstream serve`; the config keys they
// override are applied over the file, at start and at every reload.
type serveFlags struct {
	config          string
	miListen        string
	ingestListen    string
	logLevel        string
	dataDir         string
	shutdownTimeout durationValue
}

func newServeCmd() *cobra.Command {
	f := &serveFlags{shutdownTimeout: durationValue(defaultShutdownTimeout)}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "run the daemon (MI, transports, ingest)",
		Long: `Run the evstream daemon on built-in defaults (the MI on
http://127.0.0.1:8888/mi) or from a YAML config file (docs/CONFIG.md).

Once it listens it prints, on stdout:

  evstream: ingest listening on ADDR           (when ingest is on)
  evstream: MI listening on http://ADDR/mi     (always last; or "evstream: MI disabled")

and tells systemd it is ready (Type=notify, when NOTIFY_SOCKET is set).
Logs go to stderr.

Signals:
  SIGHUP           reload the config file: the log level, events, the
                   config's subscriptions and mi.allowed_hosts change at
                   once; other changes are logged as needing a restart. A
                   file that no longer loads is logged and the running
                   config kept.
  SIGINT, SIGTERM  stop accepting, deliver what is queued (at most
                   --shutdown-timeout), exit 0. A second one ends the
                   drain at once.

Exit codes: 0 after a signal, 1 when it cannot start, 2 on bad usage.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "YAML config `file` (default: the built-in defaults, see examples/evstream.yaml)")
	fl.StringVar(&f.miListen, "mi-listen", "", "MI listen `address` host:port, overrides mi.listen (\"\" turns the MI off)")
	fl.StringVar(&f.ingestListen, "ingest-listen", "", "ingest listen `address` host:port, overrides ingest.listen (\"\" turns it off)")
	fl.StringVar(&f.dataDir, "data-dir", "", "`directory` of the durable state (spool, MI subscriptions), overrides data_dir (\"\": memory only)")
	fl.StringVar(&f.logLevel, "log-level", "", "lowest `level` logged: debug, info, warn or error; overrides log.level")
	fl.Var(&f.shutdownTimeout, "shutdown-timeout", "on SIGINT/SIGTERM, how long to keep delivering queued events before giving up")
	return cmd
}

// load reads the config (the file, or the defaults) and applies the flags
// that override it.
func (f *serveFlags) load(cmd *cobra.Command) (daemon.Config, error) {
	cfg := daemon.DefaultConfig()
	if f.config != "" {
		var err error
		if cfg, err = daemon.LoadConfig(f.config); err != nil {
			return cfg, err
		}
	}
	fl := cmd.Flags()
	if fl.Changed("mi-listen") {
		cfg.MI.Listen = f.miListen
	}
	if fl.Changed("ingest-listen") {
		cfg.Ingest.Listen = f.ingestListen
	}
	if fl.Changed("log-level") {
		cfg.Log.Level = f.logLevel
	}
	if fl.Changed("data-dir") {
		cfg.DataDir = f.dataDir
	}
	return cfg, nil
}

func runServe(cmd *cobra.Command, f *serveFlags) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	// Catch the signals first: one that arrives while starting is handled
	// once the daemon runs, not by the default action (exit 129 on HUP).
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	cfg, err := f.load(cmd)
	if err != nil {
		printError(stderr, err)
		return exitWith(exitFailure)
	}
	// New validates cfg: a bad flag value is reported like a bad key.
	level := new(slog.LevelVar)
	logger := newLogger(cfg.Log, level, stderr)
	warnReadableSecrets(logger, f.config, cfg)
	d, err := daemon.New(cfg, logger, daemon.WithVersion(versionString()), daemon.WithLogLevel(level))
	if err != nil {
		printError(stderr, err)
		return exitWith(exitFailure)
	}
	if err := d.Start(); err != nil {
		printError(stderr, err)
		return exitWith(exitFailure)
	}
	if a := d.IngestAddr(); a != nil {
		fmt.Fprintf(stdout, "evstream: ingest listening on %s\n", a)
	}
	if u := d.MIURL(); u != "" {
		fmt.Fprintf(stdout, "evstream: MI listening on %s\n", u)
	} else {
		fmt.Fprintln(stdout, "evstream: MI disabled")
	}
	notify(logger, sdnotify.Ready, "STATUS=serving")

	for sig := range sigs {
		if sig != syscall.SIGHUP {
			logger.Info("shutting down", "signal", sig.String(), "timeout", f.shutdownTimeout.String())
			break
		}
		reload(cmd, f, d, logger)
	}

	notify(logger, sdnotify.Stopping, "STATUS=draining")
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(f.shutdownTimeout))
	defer cancel()
	// A second SIGINT or SIGTERM ends the drain at once; SIGHUP is ignored.
	abandoned := make(chan struct{})
	stopWatching := make(chan struct{})
	defer close(stopWatching)
	go func() {
		for {
			select {
			case sig := <-sigs:
				if sig == syscall.SIGHUP {
					logger.Warn("reload ignored: shutting down", "signal", sig.String())
					continue
				}
				logger.Warn("second signal: ending the drain now", "signal", sig.String())
				close(abandoned)
				cancel()
				return
			case <-stopWatching:
				return
			}
		}
	}()
	err = d.Shutdown(sctx)
	var failed uint64
	var se *stream.ShutdownError
	if errors.As(err, &se) {
		failed = se.Failed
	}
	switch {
	case isClosed(abandoned):
		logger.Warn("drain abandoned", "abandoned_events", failed)
	case se != nil:
		logger.Warn("shutdown timeout reached", "abandoned_events", failed, "timeout", f.shutdownTimeout.String())
	case err != nil:
		logger.Warn("shutdown incomplete", "err", err)
	}
	logger.Info("stopped")
	return nil
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// reload is SIGHUP: read the config again and apply what can change.
func reload(cmd *cobra.Command, f *serveFlags, d *daemon.Daemon, logger *slog.Logger) {
	notify(logger, sdnotify.Reloading, sdnotify.Monotonic())
	defer notify(logger, sdnotify.Ready, "STATUS=serving")
	if f.config == "" {
		logger.Info("reload: no config file (--config): nothing to reload")
		return
	}
	logger.Info("reloading", "config", f.config)
	cfg, err := f.load(cmd)
	if err == nil {
		_, err = d.Reload(cfg)
	}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			logger.Error("reload refused, the running config is kept", "err", line)
		}
	}
}

// notify tells systemd, when it is listening; a failure is logged, never
// fatal.
func notify(logger *slog.Logger, assignments ...string) {
	if err := sdnotify.Notify(assignments...); err != nil {
		logger.Warn("cannot notify systemd", "err", err)
	}
}

// miURL is the MI's URL for a listener address (IPv6 hosts come
// bracketed: http://[::1]:8888/mi).

// printError prints err as "evstream: LINE" for each of its lines (a
// config with several problems reports them all).
func printError(w io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(w, "evstream: %s\n", line)
	}
}

// newLogger returns the daemon's logger: text or json to w at the level
// of cfg (validated), held in level so that a reload can change it.
func newLogger(cfg daemon.LogConfig, level *slog.LevelVar, w io.Writer) *slog.Logger {
	l, _ := cfg.SlogLevel()
	level.Set(l)
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// warnReadableSecrets warns when the config file holds a credential and
// users other than its owner can read it.
func warnReadableSecrets(logger *slog.Logger, path string, cfg daemon.Config) {
	if path == "" || !cfg.HasSecrets() {
		return
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	logger.Warn("the config file holds a secret and others can read it: chmod 600 it",
		"file", path, "mode", fmt.Sprintf("%#o", fi.Mode().Perm()))
}
