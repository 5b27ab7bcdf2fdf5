package metrics_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"go.uber.org/goleak"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/ingest"
	"github.com/evstream/evstream/internal/testnet"
	"github.com/evstream/evstream/metrics"
	"github.com/evstream/evstream/transport/stream"
	"github.com/evstream/evstream/value"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const waitTimeout = 30 * time.Second

// newSources returns a real registry with a real event_stream transport
// registered (closed at the end of the test) and, when withIngest, an
// ingest server that is not serving.
func newSources(t *testing.T, withIngest bool) metrics.Sources {
	t.Helper()
	reg := evi.NewRegistry(evi.Config{})
	t.Cleanup(func() { reg.Close() })
	scfg := stream.DefaultConfig()
	scfg.Timeout = waitTimeout // no delivery may time out on a loaded machine
	tr, err := stream.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(tr); err != nil {
		tr.Close()
		t.Fatal(err)
	}
	src := metrics.Sources{Registry: reg, Transports: []metrics.TransportSource{{Subsystem: "stream", Stats: tr}}}
	if withIngest {
		src.Ingest = ingest.New(reg, ingest.Config{})
	}
	return src
}

var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: waitTimeout}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp, string(b)
}

// TestCollectorOverHTTP raises events to a loopback sink and scrapes a
// real HTTP server: the counters are the transport's and the exposition
// passes promlint.
func TestCollectorOverHTTP(t *testing.T) {
	const n = 7
	src := newSources(t, false)
	sink := testnet.NewSink(t, waitTimeout)
	if _, err := src.Registry.Publish("E_METRICS"); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Registry.Publish("E_IDLE"); err != nil {
		t.Fatal(err)
	}
	if err := src.Registry.Subscribe("E_METRICS", sink.Socket(), 0); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := src.Registry.Raise("E_METRICS", value.Named(value.P("i", value.Int(int64(i)))), nil); err != nil {
			t.Fatalf("raise %d: %v", i, err)
		}
	}
	sink.WaitUntil(t, fmt.Sprintf("%d events", n), func(got string) bool { return strings.Count(got, `"method"`) == n })
	testnet.PollUntil(t, waitTimeout, "delivered == n", func() bool { return src.Transports[0].Stats.(*stream.Transport).Stats().Delivered == n })
	st := src.Transports[0].Stats.(*stream.Transport).Stats()
	if len(st.Addresses) != 1 {
		t.Fatalf("stream addresses = %+v, want one", st.Addresses)
	}
	addr := st.Addresses[0].Address

	srv := httptest.NewServer(metrics.Handler(metrics.NewRegistry(src), nil))
	defer srv.Close()

	want := fmt.Sprintf(`
# HELP evstream_events_published Events published in the registry.
# TYPE evstream_events_published gauge
evstream_events_published 2
# HELP evstream_events_raised_total Events raised to at least one live subscriber.
# TYPE evstream_events_raised_total counter
evstream_events_raised_total %[1]d
# HELP evstream_subscribers Live (not expired) subscribers over every published event.
# TYPE evstream_subscribers gauge
evstream_subscribers 1
# HELP evstream_stream_sent_total Events accepted by the event_stream (tcp:) transport.
# TYPE evstream_stream_sent_total counter
evstream_stream_sent_total %[1]d
# HELP evstream_stream_delivered_total Accepted events delivered: written (notification mode) or confirmed by a reply without error (reliable mode).
# TYPE evstream_stream_delivered_total counter
evstream_stream_delivered_total %[1]d
# HELP evstream_stream_failed_total Accepted events that failed, timeouts included.
# TYPE evstream_stream_failed_total counter
evstream_stream_failed_total 0
# HELP evstream_stream_connects_total Successful connects to destinations.
# TYPE evstream_stream_connects_total counter
evstream_stream_connects_total 1
# HELP evstream_stream_written_bytes_total Bytes written to destination connections.
# TYPE evstream_stream_written_bytes_total counter
evstream_stream_written_bytes_total %[2]d
# HELP evstream_stream_pending Accepted events not completed yet (queued or awaiting a reply).
# TYPE evstream_stream_pending gauge
evstream_stream_pending 0
# HELP evstream_stream_address_connected Connections to the address that are up: 1 or 0 for each transport instance (the daemon's at-most-once and at-least-once subscribers connect separately).
# TYPE evstream_stream_address_connected gauge
evstream_stream_address_connected{address=%[3]q} 1
# HELP evstream_stream_address_subscriptions Open destinations sharing the address's connection.
# TYPE evstream_stream_address_subscriptions gauge
evstream_stream_address_subscriptions{address=%[3]q} 1
# HELP evstream_stream_address_queued Events waiting to be written to the address.
# TYPE evstream_stream_address_queued gauge
evstream_stream_address_queued{address=%[3]q} 0
`, n, len(sink.Received()), addr)
	if err := testutil.ScrapeAndCompare(srv.URL, strings.NewReader(want),
		"evstream_events_published", "evstream_events_raised_total", "evstream_subscribers",
		"evstream_stream_sent_total", "evstream_stream_delivered_total", "evstream_stream_failed_total",
		"evstream_stream_connects_total", "evstream_stream_written_bytes_total", "evstream_stream_pending",
		"evstream_stream_address_connected", "evstream_stream_address_subscriptions",
		"evstream_stream_address_queued"); err != nil {
		t.Error(err)
	}

	resp, body := get(t, srv.URL)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want text/plain", ct)
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds", "evstream_stream_writes_total"} {
		if !strings.Contains(body, "\n"+name+" ") {
			t.Errorf("scrape has no %s:\n%s", name, body)
		}
	}
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// TestCollectorDescribesWhatItCollects checks with a pedantic registry that
// every metric collected is described, and that the ingest metrics appear
// exactly when ingest is on.
func TestCollectorDescribesWhatItCollects(t *testing.T) {
	tests := []struct {
		name   string
		ingest bool
	}{
		{"ingest off", false},
		{"ingest on", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := newSources(t, tc.ingest)
			sink := testnet.NewSink(t, waitTimeout)
			if _, err := src.Registry.Publish("E_X"); err != nil {
				t.Fatal(err)
			}
			if err := src.Registry.Subscribe("E_X", sink.Socket(), 0); err != nil {
				t.Fatal(err)
			}
			c := metrics.NewCollector(src)
			reg := prometheus.NewPedanticRegistry()
			if err := reg.Register(c); err != nil {
				t.Fatal(err)
			}
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatalf("Gather: %v", err)
			}
			ingestSeen := 0
			for _, mf := range mfs {
				if strings.HasPrefix(mf.GetName(), "evstream_ingest_") {
					ingestSeen++
				}
			}
			if want := map[bool]int{false: 0, true: 6}[tc.ingest]; ingestSeen != want {
				t.Errorf("%d evstream_ingest_ families, want %d", ingestSeen, want)
			}
			problems, err := testutil.CollectAndLint(c)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Errorf("promlint: %s: %s", p.Metric, p.Text)
			}
		})
	}
}

func TestNewCollectorRequiresSources(t *testing.T) {
	src := newSources(t, false)
	tests := []struct {
		name string
		src  metrics.Sources
	}{
		{"no registry", metrics.Sources{Transports: src.Transports}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("NewCollector did not panic")
				}
			}()
			metrics.NewCollector(tc.src)
		})
	}
}
