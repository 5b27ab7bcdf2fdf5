package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evstream/evstream/internal/rpcsink"
	"github.com/evstream/evstream/internal/testnet"
)

func subscribeReq(event, socket, delivery string) string {
	return `{"jsonrpc":"2.0","method":"event_subscribe","params":["` + event + `","` + socket + `",600,"` + delivery + `"],"id":1}`
}

const okReply = `{"jsonrpc":"2.0","result":"OK","id":1}`

// TestDataDirWhenNeeded: a daemon that keeps nothing durable creates no
// data_dir; the first MI subscription creates it and keeps the
// subscription, which the next daemon on the same data_dir makes again.
func TestDataDirWhenNeeded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	sink := rpcsink.New(t, "")
	cfg := testConfig()
	cfg.DataDir = dir
	cfg.Events = []string{"E_D"}
	cfg.Subscriptions = []Subscription{{Event: "E_D", Socket: sink.Socket("config")}}
	d, _ := start(t, cfg)
	miCall(t, d, `{"jsonrpc":"2.0","method":"raise_event","params":["E_D",{"n":1}],"id":1}`)
	if got := miCall(t, d, `{"jsonrpc":"2.0","method":"dead_letters_list","params":["E_D"],"id":1}`); got != `{"jsonrpc":"2.0","result":{"DeadLetters":[]},"id":1}` {
		t.Fatalf("dead_letters_list with no spool yet: %s", got)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("data_dir %s exists (%v) before anything durable was asked for", dir, err)
	}
	if got := miCall(t, d, subscribeReq("E_D", sink.Socket("mi"), "at-most-once")); got != okReply {
		t.Fatalf("event_subscribe = %s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, SpoolFile)); err != nil {
		t.Fatalf("after an MI subscription: %v", err)
	}
	d.Shutdown(context.Background())

	d2, logs := start(t, cfg)
	list := miCall(t, d2, `{"jsonrpc":"2.0","method":"subscribers_list","params":["E_D"],"id":1}`)
	if !strings.Contains(list, `"socket":"`+sink.Socket("mi")+`","expire":600`) || strings.Contains(list, "at-least-once") {
		t.Fatalf("after the restart: %s", list)
	}
	if !strings.Contains(logs.String(), "subscriptions_restored=1") {
		t.Fatalf("no restore logged:\n%s", logs)
	}
}

// TestMemoryOnly: with data_dir "" nothing is written, and at-least-once
// subscriptions are refused, saying why.
func TestMemoryOnly(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg := testConfig() // data_dir ""
	cfg.AutoPublish = true
	d, _ := start(t, cfg)
	sink := rpcsink.New(t, "")
	got := miCall(t, d, subscribeReq("E_D", sink.Socket("a"), "at-least-once"))
	if !strings.Contains(got, `"code":400`) || !strings.Contains(got, "needs a spool (no data_dir)") {
		t.Fatalf("at-least-once without data_dir: %s", got)
	}
	if got := miCall(t, d, subscribeReq("E_D", sink.Socket("b"), "at-most-once")); got != okReply {
		t.Fatalf("event_subscribe = %s", got)
	}
	if entries, _ := os.ReadDir("."); len(entries) != 0 {
		t.Fatalf("memory only, yet the working directory holds %v", entries)
	}
	if got := miCall(t, d, `{"jsonrpc":"2.0","method":"dead_letters_list","params":["E_D"],"id":1}`); !strings.Contains(got, `"code":-32601`) {
		t.Fatalf("dead_letters_list without data_dir: %s", got)
	}
}

// TestDeliveryMetrics: get_statistics and /metrics count the at-least-once
// deliveries, and the tcp: counters count the connections and events of
// both kinds of subscriber (each kind has a transport instance of its
// own, so one address gets two connections).
func TestDeliveryMetrics(t *testing.T) {
	sink := rpcsink.New(t, "")
	cfg := testConfig()
	cfg.DataDir = t.TempDir()
	cfg.AutoPublish = true
	d, logs := start(t, cfg)
	if got := miCall(t, d, subscribeReq("E_D", sink.Socket("a"), "at-least-once")); got != okReply {
		t.Fatalf("event_subscribe = %s", got)
	}
	if got := miCall(t, d, subscribeReq("E_D", sink.Socket("b"), "at-most-once")); got != okReply {
		t.Fatalf("event_subscribe = %s", got)
	}
	for range 3 {
		if got := miCall(t, d, `{"jsonrpc":"2.0","method":"raise_event","params":["E_D",{"n":1}],"id":1}`); got != okReply {
			t.Fatalf("raise_event = %s", got)
		}
	}
	testnet.PollUntil(t, waitTimeout, "3 confirmed, 6 delivered over tcp:", func() bool {
		got := miCall(t, d, `{"jsonrpc":"2.0","method":"get_statistics","params":[["delivery:confirmed","tcp:"]],"id":1}`)
		return strings.Contains(got, `"delivery:confirmed":3`) && strings.Contains(got, `"tcp:delivered":6`)
	})
	// A retry (an attempt timed out on a slow machine) or a reconnect
	// would count more: at least is what is certain.
	var stats struct {
		Result map[string]int64 `json:"result"`
	}
	if err := json.Unmarshal([]byte(miCall(t, d, `{"jsonrpc":"2.0","method":"get_statistics","params":[["tcp:"]],"id":1}`)), &stats); err != nil {
		t.Fatal(err)
	}
	if s := stats.Result; s["tcp:sent"] < 6 || s["tcp:connects"] < 2 || s["tcp:addresses"] != 2 {
		t.Errorf("get_statistics = %v, want tcp:sent ≥ 6, tcp:connects ≥ 2 (a connection of each kind), tcp:addresses 2", s)
	}
	code, body := httpGet(t, http.MethodGet, "http://"+d.MIAddr().String()+MetricsPath)
	addr := strings.SplitN(sink.Socket("a"), "/", 2)[0] // the series' address: tcp:host:port
	for _, line := range []string{"\nevstream_delivery_spooled_total 3\n", "\nevstream_delivery_confirmed_total 3\n", "\nevstream_delivery_pending 0\n",
		"\nevstream_stream_delivered_total 6\n", "\nevstream_stream_addresses 2\n",
		"\nevstream_stream_address_subscriptions{address=\"" + addr + "\"} 2\n"} {
		if code != http.StatusOK || !strings.Contains(body, line) {
			t.Errorf("metrics (HTTP %d) lack %q:\n%s", code, line, body)
		}
	}
	// The shutdown log's total counts both kinds too.
	if err := d.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "delivered_total=6") {
		t.Errorf("shutdown log:\n%s", logs)
	}
}

// TestParallelSharedConnectionRefused: an at-least-once virtual:PARALLEL
// socket whose members share a connection is refused at subscribe, with
// the reason (its events would go twice with one id on that connection);
// at-most-once, it is accepted.
func TestParallelSharedConnectionRefused(t *testing.T) {
	cfg := testConfig()
	cfg.DataDir = t.TempDir()
	cfg.AutoPublish = true
	d, _ := start(t, cfg)
	sink := rpcsink.New(t, "")
	socket := "virtual:PARALLEL " + sink.Socket("a") + " " + sink.Socket("b")
	got := miCall(t, d, subscribeReq("E_P", socket, "at-least-once"))
	if !strings.Contains(got, `"code":400`) || !strings.Contains(got, "members 1 and 2 share the connection tcp:"+sink.Addr()) {
		t.Fatalf("at-least-once PARALLEL on one connection: %s", got)
	}
	if got := miCall(t, d, subscribeReq("E_P", socket, "at-most-once")); got != okReply {
		t.Fatalf("at-most-once PARALLEL on one connection: %s", got)
	}
}
