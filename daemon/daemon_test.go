package daemon

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/testnet"
	"github.com/evstream/evstream/transport/stream"
	"github.com/evstream/evstream/transport/virtual"
	"github.com/evstream/evstream/value"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const waitTimeout = 30 * time.Second

// testConfig is the default config on free loopback ports.
// eventStream and eventVirtual return the settings of the tcp: and
// virtual: transports in c.
func eventStream(c Config) *stream.Settings {
	return TransportSettings[*stream.Settings](c, stream.Section)
}

func eventVirtual(c Config) *virtual.Settings {
	return TransportSettings[*virtual.Settings](c, virtual.Section)
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.MI.Listen = "127.0.0.1:0"
	cfg.DataDir = ""                                               // memory only: tests that keep state give a t.TempDir()
	eventStream(cfg).Timeout = int(waitTimeout / time.Millisecond) // no delivery may time out on a loaded machine
	return cfg
}

func start(t *testing.T, cfg Config) (*Daemon, *testnet.Buffer) {
	t.Helper()
	logs := new(testnet.Buffer)
	d, err := New(cfg, logs.Logger(), WithVersion("test"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatalf("Start: %v\nlogs:\n%s", err, logs)
	}
	t.Cleanup(func() { d.Shutdown(context.Background()) })
	return d, logs
}

var httpClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func miCall(t *testing.T, d *Daemon, body string) string {
	t.Helper()
	resp, err := httpClient.Post("http://"+d.MIAddr().String()+MIPath, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStartSubscriptionsAndMI(t *testing.T) {
	r := testnet.NewSink(t, waitTimeout)
	cfg := testConfig()
	cfg.AutoPublish = false
	cfg.Events = []string{"E_A", "E_B"}
	eventStream(cfg).Framing = "newline"
	eventStream(cfg).EventParam = "ev"
	cfg.Subscriptions = []Subscription{
		{Event: "E_A", Socket: r.Socket() + "/first"},
		{Event: "E_B", Socket: r.Socket(), Expire: 60},
	}
	d, _ := start(t, cfg)
	if d.IngestAddr() != nil {
		t.Errorf("IngestAddr = %v with ingest off", d.IngestAddr())
	}
	got := miCall(t, d, `{"jsonrpc":"2.0","method":"subscribers_list","id":1}`)
	want := `{"jsonrpc":"2.0","result":{"Events":[` +
		`{"name":"E_A","id":0,"Subscribers":[{"socket":"` + r.Socket() + `/first","expire":"never"}]},` +
		`{"name":"E_B","id":1,"Subscribers":[{"socket":"` + r.Socket() + `","expire":60,"ttl":`
	if !strings.HasPrefix(got, want) {
		t.Fatalf("subscribers_list = %s\nwant prefix %s", got, want)
	}
	if got := miCall(t, d, `{"jsonrpc":"2.0","method":"raise_event","params":["E_A",{"ip":"10.0.0.1"}],"id":2}`); got != `{"jsonrpc":"2.0","result":"OK","id":2}` {
		t.Fatalf("raise_event = %s", got)
	}
	if got := miCall(t, d, `{"jsonrpc":"2.0","method":"raise_event","params":["E_C"],"id":3}`); got != `{"jsonrpc":"2.0","error":{"code":404,"message":"Event not registered"},"id":3}` {
		t.Fatalf("raise_event of an unpublished event (auto_publish off) = %s", got)
	}
	if got := miCall(t, d, `{"jsonrpc":"2.0","method":"version","id":4}`); got != `{"jsonrpc":"2.0","result":{"Server":"evstream test"},"id":4}` {
		t.Fatalf("version = %s", got)
	}
	// Raising from Go goes to the same subscribers.
	if _, err := d.Registry().Raise("E_B", value.Unnamed(value.Int(1)), nil); err != nil {
		t.Fatal(err)
	}
	wire := `{"jsonrpc":"2.0","method":"first","params":{"ev":"E_A","ip":"10.0.0.1"}}` + "\n" +
		`{"jsonrpc":"2.0","method":"E_B","params":["E_B",1]}` + "\n"
	r.WaitUntil(t, "both events", func(got string) bool { return got == wire })

	// A notification counts as delivered once the write returned, which
	// may be just after the receiver read its bytes.
	const delivered = `{"jsonrpc":"2.0","result":{"tcp:delivered":2},"id":5}`
	testnet.PollUntil(t, waitTimeout, "get_statistics = "+delivered, func() bool {
		got = miCall(t, d, `{"jsonrpc":"2.0","method":"get_statistics","params":["tcp:delivered"],"id":5}`)
		return got == delivered
	})
	// Only POST /mi is served.
	resp, err := httpClient.Get("http://" + d.MIAddr().String() + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /other: %d, want 404", resp.StatusCode)
	}
}

func TestStartAddressInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, field := range []string{"mi.listen", "ingest.listen"} {
		cfg := testConfig()
		if field == "mi.listen" {
			cfg.MI.Listen = busy.Addr().String()
		} else {
			cfg.Ingest.Listen = busy.Addr().String()
		}
		d, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = d.Start()
		want := field + ": cannot listen on " + busy.Addr().String() + ": bind: address already in use"
		if err == nil || err.Error() != want || !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("Start = %v, want %s (EADDRINUSE)", err, want)
		}
		if d.MIAddr() != nil || d.IngestAddr() != nil {
			t.Errorf("after a failed Start the listeners are still open")
		}
		if err := d.Start(); !errors.Is(err, ErrShutdown) {
			t.Errorf("Start after a failed Start = %v, want ErrShutdown", err)
		}
	}
}

func TestStartBadSubscription(t *testing.T) {
	r := testnet.NewSink(t, waitTimeout)
	cfg := testConfig()
	cfg.Subscriptions = []Subscription{
		{Event: "E_A", Socket: r.Socket()},
		{Event: "E_A", Socket: "tcp:127.0.0.1:0"},
	}
	d, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = d.Start()
	const want = `subscriptions[1] (event E_A, socket "tcp:127.0.0.1:0"): `
	if err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, evi.ErrBadSocket) {
		t.Fatalf("Start = %v, want %s... wrapping evi.ErrBadSocket", err, want)
	}
	if d.MIAddr() != nil {
		t.Error("the MI listener is still open after a failed Start")
	}
	if err := d.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown after a failed Start = %v", err)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	cfg := testConfig()
	cfg.Log.Level = "loud"
	if _, err := New(cfg, nil); err == nil || !strings.HasPrefix(err.Error(), "log.level: ") {
		t.Fatalf("New = %v, want a log.level error", err)
	}
}

func TestLifecycle(t *testing.T) {
	d, _ := start(t, testConfig())
	if err := d.Start(); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start = %v, want ErrStarted", err)
	}
	addr := d.MIAddr().String()
	if err := d.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := d.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown = %v", err)
	}
	if err := d.Start(); !errors.Is(err, ErrShutdown) {
		t.Errorf("Start after Shutdown = %v, want ErrShutdown", err)
	}
	// The MI port is free again.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("MI address %s still in use after Shutdown: %v", addr, err)
	}
	ln.Close()
}

// queue raises n events of size bytes each to sock from Go.
func queue(t *testing.T, d *Daemon, sock string, n, size int) string {
	t.Helper()
	if err := d.Registry().Subscribe("E_BULK", sock, 0); err != nil {
		t.Fatal(err)
	}
	p := value.Unnamed(value.String(strings.Repeat("x", size)))
	for range n {
		if _, err := d.Registry().Raise("E_BULK", p, nil); err != nil {
			t.Fatal(err)
		}
	}
	return `{"jsonrpc":"2.0","method":"E_BULK","params":["` + strings.Repeat("x", size) + `"]}`
}

// TestShutdownDrains: events queued behind a receiver that is not reading
// yet are all delivered by Shutdown once it reads.
func TestShutdownDrains(t *testing.T) {
	r := testnet.NewPausedSink(t, waitTimeout)
	cfg := testConfig()
	eventStream(cfg).Timeout = 10000
	d, logs := start(t, cfg)
	const n, size = 2000, 2000 // 4 MB: more than the socket buffers hold
	one := queue(t, d, r.Socket(), n, size)

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		done <- d.Shutdown(ctx)
	}()
	r.Resume()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	want := strings.Repeat(one, n)
	r.WaitUntil(t, "every queued event", func(got string) bool { return len(got) >= len(want) })
	if r.Received() != want {
		t.Error("the bytes received are not the events raised, in order")
	}
	if !strings.Contains(logs.String(), "shutdown: every queued event was sent") {
		t.Errorf("no drain log line:\n%s", logs)
	}
}

// TestShutdownDeadline: a receiver that never reads; Shutdown gives up at
// its deadline and logs what could not be sent.
func TestShutdownDeadline(t *testing.T) {
	// Reliable mode, and a receiver that never reads nor answers: nothing
	// can be delivered before the deadline, whatever the socket buffers
	// hold (on loopback they can take the whole 4 MB).
	r := testnet.NewPausedSink(t, waitTimeout)
	cfg := testConfig()
	eventStream(cfg).Timeout = 60000
	eventStream(cfg).ReliableMode = true
	d, logs := start(t, cfg)
	queue(t, d, r.Socket(), 2000, 2000)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := d.Shutdown(ctx)
	var se *stream.ShutdownError
	if !errors.As(err, &se) || se.Failed == 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want a *stream.ShutdownError with failures", err)
	}
	if l := logs.String(); !strings.Contains(l, "shutdown: events could not be sent") || !strings.Contains(l, "failed_while_draining=") {
		t.Errorf("no log of the events not sent:\n%s", l)
	}
}

// TestDeliveryFailuresLogged: failures of events raised over the MI are
// logged with event, socket and reason, and rate-limited.
func TestDeliveryFailuresLogged(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sock := "tcp:" + dead.Addr().String()
	dead.Close() // connection refused from now on
	d, logs := start(t, testConfig())
	if got := miCall(t, d, `{"jsonrpc":"2.0","method":"event_subscribe","params":["E_X","`+sock+`"],"id":1}`); got != `{"jsonrpc":"2.0","result":"OK","id":1}` {
		t.Fatal(got)
	}
	const n = 40
	for range n {
		miCall(t, d, `{"jsonrpc":"2.0","method":"raise_event","params":["E_X"],"id":1}`)
	}
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(time.Millisecond) // polling a counter, bounded by deadline
	defer tick.Stop()
	tcp := d.reg.Transport("tcp").(*stream.Transport)
	for tcp.Stats().Failed+tcp.Stats().Overflows < n {
		if time.Now().After(deadline) {
			t.Fatalf("failures not reported: %+v", tcp.Stats())
		}
		<-tick.C
	}
	l := logs.String()
	lines := strings.Count(l, `msg="delivery failed" event=E_X socket=`+sock+` reason=`)
	if lines == 0 || lines >= n {
		t.Errorf("%d delivery-failure lines for %d failures, want between 1 and %d:\n%s", lines, n, n-1, l)
	}
}

// TestIngestAndVirtual: events written to the ingest listener reach a
// virtual: PARALLEL subscription's members, and ingest's counters show in
// get_statistics.
func TestIngestAndVirtual(t *testing.T) {
	a, b := testnet.NewSink(t, waitTimeout), testnet.NewSink(t, waitTimeout)
	cfg := testConfig()
	cfg.Ingest.Listen = "127.0.0.1:0"
	cfg.Ingest.EventParam = "opensips_event"
	cfg.Subscriptions = []Subscription{{Event: "E_RELAY", Socket: "virtual:PARALLEL " + a.Socket() + " " + b.Socket() + "/m"}}
	d, _ := start(t, cfg)
	c, err := net.Dial("tcp", d.IngestAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, `{"jsonrpc":"2.0","method":"handle","params":{"opensips_event":"E_RELAY","ip":"10.0.0.1"}}`); err != nil {
		t.Fatal(err)
	}
	a.WaitUntil(t, "the relayed event", func(got string) bool {
		return got == `{"jsonrpc":"2.0","method":"E_RELAY","params":{"ip":"10.0.0.1"}}`
	})
	b.WaitUntil(t, "the relayed event", func(got string) bool {
		return got == `{"jsonrpc":"2.0","method":"m","params":{"ip":"10.0.0.1"}}`
	})
	got := miCall(t, d, `{"jsonrpc":"2.0","method":"get_statistics","params":[["ingest:received","ingest:raised"]],"id":1}`)
	if want := `{"jsonrpc":"2.0","result":{"ingest:received":1,"ingest:raised":1},"id":1}`; got != want {
		t.Errorf("get_statistics = %s, want %s", got, want)
	}
}
