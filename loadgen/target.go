package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/evstream/evstream/daemon"
	"github.com/evstream/evstream/dashboard"
	"github.com/evstream/evstream/delivery"
	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/spool"
	"github.com/evstream/evstream/transport/stream"
	"github.com/evstream/evstream/transport/tlsstream"
)

// SenderStats are the daemon's own counters for one scenario (the change
// over the scenario), as its transport and ingest count them.
type SenderStats struct {
	// Sent counts the deliveries the tcp transport accepted.
	Sent uint64 `json:"sent"`
	// Delivered counts deliveries written (notification mode) or
	// confirmed (reliable mode).
	Delivered uint64 `json:"delivered"`
	// Failed counts accepted deliveries that failed (timeouts included).
	Failed uint64 `json:"failed"`
	// Timeouts counts the failures past the deadline.
	Timeouts uint64 `json:"timeouts"`
	// Overflows counts deliveries refused because a queue was full.
	Overflows uint64 `json:"overflows"`
	// Writes counts write system calls on subscriber connections.
	Writes uint64 `json:"writes"`
	// BytesWritten counts the bytes written to subscriber connections.
	BytesWritten uint64 `json:"bytes_written"`
	// IngestReceived, IngestRaised and IngestFailed are the ingest
	// listener's counts (ingest path only): events read, raised to every
	// subscriber, and refused by a subscriber or not raised at all.
	IngestReceived uint64 `json:"ingest_received,omitempty"`
	IngestRaised   uint64 `json:"ingest_raised,omitempty"`
	IngestFailed   uint64 `json:"ingest_failed,omitempty"`
}

func (s SenderStats) sub(o SenderStats) SenderStats {
	return SenderStats{
		Sent:           s.Sent - o.Sent,
		Delivered:      s.Delivered - o.Delivered,
		Failed:         s.Failed - o.Failed,
		Timeouts:       s.Timeouts - o.Timeouts,
		Overflows:      s.Overflows - o.Overflows,
		Writes:         s.Writes - o.Writes,
		BytesWritten:   s.BytesWritten - o.BytesWritten,
		IngestReceived: s.IngestReceived - o.IngestReceived,
		IngestRaised:   s.IngestRaised - o.IngestRaised,
		IngestFailed:   s.IngestFailed - o.IngestFailed,
	}
}

// target is the daemon under test: where subscriptions are made and
// counters read.
type target interface {
	subscribe(ctx context.Context, event, socket string) error
	unsubscribe(ctx context.Context, event, socket string) error
	// stats returns the sender's counters; ok is false when the daemon
	// does not expose them (a daemon that is not evstream).
	stats(ctx context.Context) (s SenderStats, ok bool)
	miURL() string
	ingestAddr() string
	close(ctx context.Context) error
}

// apiTarget is a registry and tcp transport in this process: the Go API;
// with at-least-once delivery, a spool in a temporary directory and its
// engine, as the daemon wires them.
type apiTarget struct {
	reg      *evi.Registry
	tcp      *stream.Transport
	delivery evi.Delivery
	spooled  *spooled             // at-least-once only
	dash     *dashboard.Dashboard // the live view's observer; nil: none
}

// spooled is the at-least-once side of an apiTarget.
type spooled struct {
	dir  string
	eng  *delivery.Engine
	seqs *evi.Registry // the SeqIDs transport
}

func newSpooled(timeout time.Duration, ca *benchCA) (*spooled, error) {
	dir, err := os.MkdirTemp("", "evstream-bench-spool-")
	if err != nil {
		return nil, err
	}
	sp := &spooled{dir: dir, seqs: evi.NewRegistry(evi.Config{})}
	tr, err := stream.New(stream.Config{SeqIDs: true, Timeout: timeout})
	if err == nil {
		err = sp.seqs.Register(tr)
	}
	if err == nil && ca != nil {
		err = registerTLS(sp.seqs, stream.Config{SeqIDs: true, Timeout: timeout}, ca)
	}
	if err == nil {
		sp.eng, err = delivery.New(delivery.Config{
			Open:  func() (spool.Store, error) { return spool.Open(filepath.Join(dir, "spool.db"), spool.Options{}) },
			Parse: sp.seqs.ParseSocket,
		})
	}
	if err != nil {
		sp.close()
		return nil, err
	}
	return sp, nil
}

// close closes the engine and the transport, and removes the spool.
func (sp *spooled) close() error {
	var err error
	if sp.eng != nil {
		err = sp.eng.Close()
	}
	sp.seqs.Close()
	return errors.Join(err, os.RemoveAll(sp.dir))
}

// registerTLS registers in reg a tls: transport of cfg that trusts ca.
func registerTLS(reg *evi.Registry, cfg stream.Config, ca *benchCA) error {
	tr, err := tlsstream.New(cfg, &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		return err
	}
	if err := reg.Register(tr); err != nil {
		tr.Close()
		return err
	}
	return nil
}

func newAPITarget(reliable bool, timeout time.Duration, d evi.Delivery, ca *benchCA, ui bool) (*apiTarget, error) {
	tcp, err := stream.New(stream.Config{ReliableMode: reliable, Timeout: timeout})
	if err != nil {
		return nil, err
	}
	t := &apiTarget{tcp: tcp, delivery: d}
	rc := evi.Config{AutoPublish: true}
	if ui { // the live view's observer, as the daemon has it
		t.dash = dashboard.New(dashboard.Config{})
		rc.Observers = []evi.Observer{t.dash}
	}
	if d == evi.AtLeastOnce {
		if t.spooled, err = newSpooled(timeout, ca); err != nil {
			tcp.Close()
			return nil, err
		}
		rc.Spooler = t.spooled.eng
	}
	t.reg = evi.NewRegistry(rc)
	if t.dash != nil {
		t.dash.Start(dashboard.Sources{Registry: t.reg})
	}
	if err := t.reg.Register(tcp); err != nil {
		t.close(context.Background())
		tcp.Close()
		return nil, err
	}
	if ca != nil {
		if err := registerTLS(t.reg, stream.Config{ReliableMode: reliable, Timeout: timeout}, ca); err != nil {
			t.close(context.Background())
			return nil, err
		}
	}
	return t, nil
}

func (t *apiTarget) subscribe(_ context.Context, event, socket string) error {
	return t.reg.SubscribeWith(event, socket, evi.SubscribeOptions{Delivery: t.delivery})
}

func (t *apiTarget) unsubscribe(_ context.Context, event, socket string) error {
	return t.reg.Unsubscribe(event, socket)
}

func (t *apiTarget) stats(context.Context) (SenderStats, bool) {
	s := t.tcp.Stats()
	return SenderStats{
		Sent: s.Sent, Delivered: s.Delivered, Failed: s.Failed, Timeouts: s.Timeouts,
		Overflows: s.Overflows, Writes: s.Writes, BytesWritten: s.BytesWritten,
	}, true
}

func (t *apiTarget) miURL() string      { return "" }
func (t *apiTarget) ingestAddr() string { return "" }

func (t *apiTarget) close(ctx context.Context) error {
	if t.dash != nil {
		defer t.dash.Close()
	}
	err := t.reg.Shutdown(ctx)
	var se *stream.ShutdownError
	if errors.As(err, &se) {
		err = nil // what was left failed; the results already say so
	}
	if t.spooled != nil {
		err = errors.Join(err, t.spooled.close())
	}
	return err
}

// daemonTarget is a whole daemon (MI over HTTP, ingest) in this process,
// listening on loopback ports.
type daemonTarget struct {
	d        *daemon.Daemon
	mi       *miClient
	delivery evi.Delivery
	dataDir  string // at-least-once: a temporary data_dir, removed by close
}

func newDaemonTarget(reliable, ingest bool, timeout time.Duration, d evi.Delivery, ca *benchCA, ui bool) (*daemonTarget, error) {
	cfg := daemon.DefaultConfig()
	cfg.MI.UI = ui
	es := daemon.TransportSettings[*stream.Settings](cfg, stream.Section)
	if timeout > 0 {
		es.Timeout = int(timeout / time.Millisecond)
	}
	cfg.MI.Listen = "127.0.0.1:0"
	cfg.DataDir = "" // at-most-once: nothing durable
	if d == evi.AtLeastOnce || ca != nil {
		dir, err := os.MkdirTemp("", "evstream-bench-data-")
		if err != nil {
			return nil, err
		}
		cfg.DataDir = dir
		if ca != nil { // the daemon trusts the sinks' CA for tls: sockets
			file := filepath.Join(dir, "sinks-ca.pem")
			if err := os.WriteFile(file, ca.pem, 0o600); err != nil {
				os.RemoveAll(dir)
				return nil, err
			}
			daemon.TransportSettings[*tlsstream.Settings](cfg, tlsstream.Section).CAFile = file
		}
	}
	if ingest {
		cfg.Ingest.Listen = "127.0.0.1:0"
	}
	es.ReliableMode = reliable
	removeDir := func() {
		if cfg.DataDir != "" {
			os.RemoveAll(cfg.DataDir)
		}
	}
	dm, err := daemon.New(cfg, nil)
	if err != nil {
		removeDir()
		return nil, err
	}
	if err := dm.Start(); err != nil {
		removeDir()
		return nil, err
	}
	return &daemonTarget{d: dm, mi: newMIClient("http://"+dm.MIAddr().String()+daemon.MIPath, 0), delivery: d, dataDir: cfg.DataDir}, nil
}

func (t *daemonTarget) subscribe(_ context.Context, event, socket string) error {
	return t.d.Registry().SubscribeWith(event, socket, evi.SubscribeOptions{Delivery: t.delivery})
}

func (t *daemonTarget) unsubscribe(_ context.Context, event, socket string) error {
	return t.d.Registry().Unsubscribe(event, socket)
}

func (t *daemonTarget) stats(ctx context.Context) (SenderStats, bool) {
	return t.mi.stats(ctx)
}

func (t *daemonTarget) miURL() string { return t.mi.url }

func (t *daemonTarget) ingestAddr() string {
	if a := t.d.IngestAddr(); a != nil {
		return a.String()
	}
	return ""
}

func (t *daemonTarget) close(ctx context.Context) error {
	t.mi.close()
	err := t.d.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil // what was left failed; the results already say so
	}
	if t.dataDir != "" {
		err = errors.Join(err, os.RemoveAll(t.dataDir))
	}
	return err
}

// remoteTarget is a daemon running elsewhere, driven through its MI (and
// its ingest listener, when given).
type remoteTarget struct {
	mi        *miClient
	ingest    string
	delivery  evi.Delivery
	published bool
}

// remoteExpire is the expire of the subscriptions made on a remote daemon:
// they are removed at the end of the scenario, and expire by themselves
// if the bench dies first.
const remoteExpire = 600

func (t *remoteTarget) subscribe(ctx context.Context, event, socket string) error {
	if !t.published {
		// An evstream daemon with auto_publish off needs the event
		// published first; an MI without event_publish (OpenSIPS, where
		// modules publish their events) answers an error, ignored.
		t.mi.call(ctx, "event_publish", []any{event})
		t.published = true
	}
	params := []any{event, socket, remoteExpire}
	if t.delivery != evi.AtMostOnce {
		params = append(params, t.delivery.String()) // an evstream extension
	}
	_, err := t.mi.call(ctx, "event_subscribe", params)
	return err
}

func (t *remoteTarget) unsubscribe(ctx context.Context, event, socket string) error {
	_, err := t.mi.call(ctx, "event_subscribe", []any{event, socket, 0})
	return err
}

func (t *remoteTarget) stats(ctx context.Context) (SenderStats, bool) { return t.mi.stats(ctx) }
func (t *remoteTarget) miURL() string                                 { return t.mi.url }
func (t *remoteTarget) ingestAddr() string                            { return t.ingest }
func (t *remoteTarget) close(context.Context) error {
	t.mi.close()
	return nil
}

// miClient calls an MI over HTTP with keep-alive connections.
type miClient struct {
	url string
	hc  *http.Client
	tr  *http.Transport
}

// newMIClient returns a client keeping up to conns idle connections (0: 2).
func newMIClient(url string, conns int) *miClient {
	if conns <= 0 {
		conns = 2
	}
	tr := &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     30 * time.Second,
	}
	return &miClient{url: url, tr: tr, hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

func (c *miClient) close() { c.tr.CloseIdleConnections() }

// MIError is a JSON-RPC error answered by an MI.
type MIError struct {
	Method  string
	Code    int64
	Message string
}

func (e *MIError) Error() string {
	return fmt.Sprintf("mi %s: error %d: %s", e.Method, e.Code, e.Message)
}

// call posts one JSON-RPC request and returns its result.
func (c *miClient) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": method, "params": params, "id": 1})
	if err != nil {
		return nil, fmt.Errorf("mi %s: %w", method, err)
	}
	out, err := c.post(ctx, body)
	if err != nil {
		return nil, fmt.Errorf("mi %s at %s: %w", method, c.url, err)
	}
	var resp struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int64  `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return nil, fmt.Errorf("mi %s at %s: bad response %.200q: %w", method, c.url, out, err)
	}
	if resp.Error != nil {
		return nil, &MIError{Method: method, Code: resp.Error.Code, Message: resp.Error.Message}
	}
	return resp.Result, nil
}

// post sends body and returns the response body (HTTP 200 only).
func (c *miClient) post(ctx context.Context, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %.200q", resp.StatusCode, out)
	}
	return out, nil
}

// stats reads evstream's get_statistics; ok is false when the MI does not
// have it (or it lacks the tcp group).
func (c *miClient) stats(ctx context.Context) (SenderStats, bool) {
	res, err := c.call(ctx, "get_statistics", []any{[]string{"tcp:", "ingest:"}})
	if err != nil {
		return SenderStats{}, false
	}
	var m map[string]json.Number
	if err := json.Unmarshal(res, &m); err != nil {
		return SenderStats{}, false
	}
	if _, ok := m["tcp:sent"]; !ok {
		return SenderStats{}, false
	}
	u := func(k string) uint64 {
		v, _ := strconv.ParseUint(string(m[k]), 10, 64)
		return v
	}
	return SenderStats{
		Sent: u("tcp:sent"), Delivered: u("tcp:delivered"), Failed: u("tcp:failed"),
		Timeouts: u("tcp:timeouts"), Overflows: u("tcp:overflows"), Writes: u("tcp:writes"),
		BytesWritten:   u("tcp:bytes_written"),
		IngestReceived: u("ingest:received"), IngestRaised: u("ingest:raised"),
		IngestFailed: u("ingest:failed") + u("ingest:rejected") + u("ingest:no_subscribers"),
	}, true
}
