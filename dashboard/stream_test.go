package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/evstream/evstream/daemon"
	"github.com/evstream/evstream/dashboard"
	"github.com/evstream/evstream/internal/rpcsink"
	"github.com/evstream/evstream/internal/testnet"
)

// waitLong bounds every wait: generous, for a loaded machine; a test
// that passes never waits that long.
const waitLong = 60 * time.Second

// startDaemon starts a daemon with its MI (and live view) on loopback.
func startDaemon(t *testing.T, edit func(*daemon.Config)) *daemon.Daemon {
	t.Helper()
	cfg := daemon.DefaultConfig()
	cfg.MI.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	if edit != nil {
		edit(&cfg)
	}
	d, err := daemon.New(cfg, nil, daemon.WithVersion("test"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Shutdown(context.Background()) })
	return d
}

func baseURL(d *daemon.Daemon) string { return "http://" + d.MIAddr().String() }

var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// mi calls an MI command and returns the result's JSON, failing the test
// on an error reply.
func mi(t *testing.T, d *daemon.Daemon, method string, params any) string {
	t.Helper()
	return miWith(t, d, "", method, params)
}

// miWith is mi with the MI's token ("": none).
func miWith(t *testing.T, d *daemon.Daemon, token, method string, params any) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	req, _ := http.NewRequest("POST", baseURL(d)+"/mi", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Result json.RawMessage
		Error  json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Error != nil {
		t.Fatalf("%s %v: %v %s", method, params, err, r.Error)
	}
	return string(r.Result)
}

// sse reads a server-sent event stream.
type sse struct {
	resp   *http.Response
	events map[string]chan sseEvent // by name: "state", "tail"
	ended  chan struct{}
}

type sseEvent struct{ name, data string }

func openStream(t *testing.T, d *daemon.Daemon) *sse {
	t.Helper()
	resp, err := client.Get(baseURL(d) + dashboard.Path + "/api/stream")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		resp.Body.Close()
		t.Fatalf("stream: HTTP %d, %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sse{resp: resp, ended: make(chan struct{}),
		events: map[string]chan sseEvent{"state": make(chan sseEvent, 4096), "tail": make(chan sseEvent, 4096)}}
	go func() {
		defer close(s.ended)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 16<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ch := s.events[ev.name]; ch != nil {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				ev.data += line[len("data: "):]
			}
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *sse) close() {
	s.resp.Body.Close()
	<-s.ended // the reader has stopped
}

// next returns the next event named name for which ok is true, skipping
// the others of that name.
func (s *sse) next(t *testing.T, name, what string, ok func(data string) bool) string {
	t.Helper()
	timeout := time.After(waitLong)
	for {
		select {
		case ev := <-s.events[name]:
			if ok(ev.data) {
				return ev.data
			}
		case <-s.ended:
			t.Fatalf("stream ended before %s", what)
		case <-timeout:
			t.Fatalf("no %s in %v", what, waitLong)
		}
	}
}

// tailHas waits until every one of want has been in a tail batch: the
// same one or several (a raise and its delivery may come in two).
func (s *sse) tailHas(t *testing.T, what string, want ...string) {
	t.Helper()
	seen := make([]bool, len(want))
	s.next(t, "tail", what, func(data string) bool {
		all := true
		for i, w := range want {
			seen[i] = seen[i] || strings.Contains(data, w)
			all = all && seen[i]
		}
		return all
	})
}

func nextState(t *testing.T, s *sse, what string, ok func(st *dashboard.State) bool) *dashboard.State {
	t.Helper()
	var st *dashboard.State
	s.next(t, "state", what, func(data string) bool {
		st = new(dashboard.State)
		if err := json.Unmarshal([]byte(data), st); err != nil {
			t.Fatalf("state %q: %v", data, err)
		}
		return ok(st)
	})
	return st
}

func findDest(st *dashboard.State, socket string) *dashboard.DestinationState {
	for i := range st.Destinations {
		if st.Destinations[i].Socket == socket {
			return &st.Destinations[i]
		}
	}
	return nil
}

// TestStream: the stream sends the state at once and every second; a
// subscriber made over the MI appears in it, a raise appears in the tail
// with its params and its delivery, and the destination shows its
// connection, count and latency.
func TestStream(t *testing.T) {
	d := startDaemon(t, nil)
	sink := testnet.NewSink(t, waitLong)
	s := openStream(t, d)
	first := nextState(t, s, "the first state", func(*dashboard.State) bool { return true })
	if first.Version != "test" || len(first.Destinations) != 0 || first.HistoryInterval != 1 {
		t.Fatalf("first state %+v", first)
	}
	socket := sink.Socket() + "/block_ip"
	mi(t, d, "event_subscribe", map[string]any{"event": "E_PIKE_BLOCKED", "socket": socket, "expire": 120})
	st := nextState(t, s, "the subscriber", func(st *dashboard.State) bool { return findDest(st, socket) != nil })
	if len(st.Events) != 1 || st.Events[0].Name != "E_PIKE_BLOCKED" || len(st.Events[0].Subscribers) != 1 ||
		st.Events[0].Subscribers[0].Expire != 120 || !st.Events[0].Subscribers[0].Durable {
		t.Fatalf("events %+v", st.Events)
	}
	s.next(t, "tail", "the subscription in the tail", func(data string) bool {
		return strings.Contains(data, `"kind":"subscribed","event":"E_PIKE_BLOCKED","socket":"`+socket+`","expire":120`)
	})

	mi(t, d, "raise_event", map[string]any{"event": "E_PIKE_BLOCKED", "params": map[string]any{"ip": "192.168.2.11"}})
	sink.WaitFor(t, `{"jsonrpc":"2.0","method":"block_ip","params":{"ip":"192.168.2.11"}}`)
	s.tailHas(t, "the raise and its delivery in the tail",
		`"kind":"raised","event":"E_PIKE_BLOCKED"`,
		`"subscribers":1,"params":"{\"ip\":\"192.168.2.11\"}"`,
		`"kind":"delivered","event":"E_PIKE_BLOCKED"`)
	st = nextState(t, s, "the delivery counted", func(st *dashboard.State) bool {
		ds := findDest(st, socket)
		return ds != nil && ds.Delivered == 1 && ds.P99 != nil && ds.State == "connected"
	})
	if st.Totals.Raised != 1 || st.Totals.Delivered != 1 || len(st.Connections) != 1 || st.Connections[0].Delivery != "at-most-once" {
		t.Errorf("totals %+v, connections %+v", st.Totals, st.Connections)
	}
	if !strings.Contains(statNames(st), "tcp:delivered") {
		t.Errorf("statistics %v lack tcp:delivered", st.Statistics)
	}
}

func statNames(st *dashboard.State) string {
	var names []string
	for _, s := range st.Statistics {
		names = append(names, s.Name)
	}
	return strings.Join(names, " ")
}

// TestStreamShowsBackoff: a destination whose receiver is gone is shown
// backing off, with the connect error and when the next attempt is.
func TestStreamShowsBackoff(t *testing.T) {
	d := startDaemon(t, nil)
	port, _ := testnet.BoundPort(t) // nothing listens there
	socket := "tcp:127.0.0.1:" + strconv.Itoa(port) + "/m"
	mi(t, d, "event_subscribe", []any{"E_DOWN", socket})
	s := openStream(t, d)
	mi(t, d, "raise_event", []any{"E_DOWN"})
	st := nextState(t, s, "the destination backing off", func(st *dashboard.State) bool {
		ds := findDest(st, socket)
		return ds != nil && ds.State == "backoff" && ds.Failed >= 1
	})
	ds := findDest(st, socket)
	if !strings.Contains(ds.ConnectError, "refused") || ds.LastError == "" || ds.LastErrorAt == nil {
		t.Errorf("destination %+v, want the refused connect as its errors", ds)
	}
}

// TestStateJSON: GET /ui/api/state answers the state with the histories;
// an at-least-once subscriber has pending and dead letters, an
// at-most-once one neither (absent, not 0).
func TestStateJSON(t *testing.T) {
	d := startDaemon(t, nil)
	mi(t, d, "event_subscribe", []any{"E_J", "tcp:127.0.0.1:9/amo", 60})
	mi(t, d, "event_subscribe", []any{"E_J", "tcp:127.0.0.1:9/alo", 60, "at-least-once"})
	resp, err := client.Get(baseURL(d) + dashboard.Path + "/api/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("HTTP %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	var raw struct {
		Events []struct {
			Subscribers []map[string]any
		}
	}
	if err := json.Unmarshal(b, &raw); err != nil || len(raw.Events) != 1 || len(raw.Events[0].Subscribers) != 2 {
		t.Fatalf("state %s: %v", b, err)
	}
	for _, s := range raw.Events[0].Subscribers {
		_, hasPending := s["pending"]
		_, hasDead := s["dead_letters"]
		alo := s["delivery"] == "at-least-once"
		if hasPending != alo || hasDead != alo {
			t.Errorf("subscriber %v: pending and dead_letters are for at-least-once subscribers only", s)
		}
	}
	for _, key := range []string{`"version":"test"`, `"totals":{`, `"destinations":[`, `"connections":[`, `"statistics":[`, `"tail":{"rate":100`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("state lacks %s: %s", key, b)
		}
	}
}

// TestStreamLimitAndShutdown: streams beyond the bound are refused with
// 503; the daemon's shutdown ends the open ones at once (it does not wait
// for its deadline), and nothing of them is left running (TestMain checks
// for leaks).
func TestStreamLimitAndShutdown(t *testing.T) {
	d := startDaemon(t, nil)
	var open []*sse
	for range dashboard.DefaultMaxClients {
		open = append(open, openStream(t, d))
	}
	resp, err := client.Get(baseURL(d) + dashboard.Path + "/api/stream")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("stream %d: HTTP %d, want 503 with Retry-After", dashboard.DefaultMaxClients+1, resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := d.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with %d live views open: %v", len(open), err)
	}
	for _, s := range open {
		select {
		case <-s.ended: // the daemon closed the stream
		case <-time.After(waitLong):
			t.Fatal("a stream is still open after the shutdown")
		}
	}
}

// TestPageServed: the page and its assets are served with a policy that
// forbids loading anything from elsewhere; /ui/ and /ui/index.html lead
// to /ui.
func TestPageServed(t *testing.T) {
	d := startDaemon(t, nil)
	for _, c := range []struct{ path, ctype, has string }{
		{"/ui", "text/html; charset=utf-8", `<script src="ui/app.js" defer></script>`},
		{"/ui/app.js", "text/javascript; charset=utf-8", "new EventSource('ui/api/stream')"},
		{"/ui/style.css", "text/css; charset=utf-8", ".badge-backoff"},
	} {
		resp, err := client.Get(baseURL(d) + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != c.ctype || !strings.Contains(string(b), c.has) ||
			!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("GET %s: HTTP %d %s, CSP %q", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Security-Policy"))
		}
	}
	noRedirect := &http.Client{Transport: client.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/ui/", "/ui/index.html"} {
		resp, err := noRedirect.Get(baseURL(d) + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/ui" {
			t.Errorf("GET %s: HTTP %d to %q, want 301 to /ui", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// TestUIOff: with mi.ui false, /ui is not served.
func TestUIOff(t *testing.T) {
	d := startDaemon(t, func(c *daemon.Config) { c.MI.UI = false })
	resp, err := client.Get(baseURL(d) + "/ui")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /ui with mi.ui off: HTTP %d, want 404", resp.StatusCode)
	}
}

// TestStreamShowsRetries: an at-least-once subscriber that answers errors
// is shown failing, with its error, while its event stays pending and is
// retried (no dead letter: max_attempts is unlimited by default).
func TestStreamShowsRetries(t *testing.T) {
	d := startDaemon(t, func(c *daemon.Config) {
		c.Delivery.RetryInitial = 10 * time.Millisecond
		c.Delivery.RetryMax = 50 * time.Millisecond
	})
	sink := rpcsink.New(t, "")
	sink.SetFail(func(rpcsink.Arrival, int) bool { return true })
	socket := sink.Socket("alerts")
	mi(t, d, "event_subscribe", []any{"E_R", socket, 600, "at-least-once"})
	s := openStream(t, d)
	mi(t, d, "raise_event", []any{"E_R", map[string]any{"n": 1}})
	st := nextState(t, s, "the failed attempts", func(st *dashboard.State) bool {
		ds := findDest(st, socket)
		return ds != nil && ds.Failed >= 2 && ds.Pending == 1
	})
	if ds := findDest(st, socket); !strings.Contains(ds.LastError, "not now") || ds.DeadLetters != 0 || ds.Delivered != 0 {
		t.Errorf("destination %+v, want failing with the reply's error, pending, no dead letter", ds)
	}
	s.tailHas(t, "a retried attempt in the tail", `"kind":"failed","event":"E_R"`, `"retry":true`)
}
