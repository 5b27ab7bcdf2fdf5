package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evstream/evstream/loadgen"
)

// benchReport is the part of `evstream bench --json` that the tests check
// (docs/BENCH.md has the whole schema).
type benchReport struct {
	Schema  string `json:"schema"`
	Date    string `json:"date"`
	Machine struct {
		GoVersion  string `json:"go_version"`
		GOMAXPROCS int    `json:"gomaxprocs"`
		CPUModel   string `json:"cpu_model"`
	} `json:"machine"`
	Scenarios []struct {
		Name             string  `json:"name"`
		Path             string  `json:"path"`
		Mode             string  `json:"mode"`
		Subscribers      int     `json:"subscribers"`
		AtLeastOnce      bool    `json:"at_least_once"`
		Raised           uint64  `json:"raised"`
		Expected         uint64  `json:"expected"`
		Delivered        uint64  `json:"delivered"`
		Failed           uint64  `json:"failed"`
		Lost             uint64  `json:"lost"`
		Duplicates       uint64  `json:"duplicates"`
		EventsPerSec     float64 `json:"events_per_sec"`
		DeliveriesPerSec float64 `json:"deliveries_per_sec"`
		Latency          struct {
			Count uint64 `json:"count"`
			Min   int64  `json:"min_ns"`
			P50   int64  `json:"p50_ns"`
			P90   int64  `json:"p90_ns"`
			P99   int64  `json:"p99_ns"`
			P999  int64  `json:"p999_ns"`
			Max   int64  `json:"max_ns"`
		} `json:"latency"`
		Delivery         string  `json:"delivery"`
		SpoolBaseline    float64 `json:"spool_baseline_records_per_sec"`
		SpoolBaselineCPU float64 `json:"spool_baseline_cpu_ns_per_record"`
		SpoolConfirmCPU  float64 `json:"spool_baseline_cpu_ns_per_confirm"`
		CPUSeconds       float64 `json:"cpu_s"`
		CPUPerDelivery   float64 `json:"cpu_ns_per_delivery"`
		OK               bool    `json:"ok"`
		Error            string  `json:"error"`
	} `json:"scenarios"`
	OK bool `json:"ok"`
}

// TestBenchJSON runs small count-bounded benches of the built binary, one
// per path (and a reliable at-least-once one), and checks their JSON.
func TestBenchJSON(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		count uint64
		subs  int
		want  string // scenario name
	}{
		{"api notify", []string{"--path", "api", "--mode", "notify", "--subs", "1", "--count", "2000"}, 2000, 1, "api/notify/1sub"},
		{"mi notify", []string{"--path", "mi", "--mode", "notify", "--subs", "2", "--count", "200"}, 200, 2, "mi/notify/2sub"},
		{"ingest notify", []string{"--path", "ingest", "--mode", "notify", "--subs", "3", "--count", "2000"}, 2000, 3, "ingest/notify/3sub"},
		{"api reliable at-least-once", []string{"--path", "api", "--mode", "reliable", "--at-least-once", "--subs", "10", "--count", "2000"}, 2000, 10, "api/reliable/10sub+alo"},
		{"ingest reliable at-least-once", []string{"--path", "ingest", "--mode", "reliable", "--at-least-once", "--subs", "2", "--count", "2000"}, 2000, 2, "ingest/reliable/2sub+alo"},
		{"ingest spooled", []string{"--path", "ingest", "--mode", "reliable", "--delivery", "at-least-once", "--at-least-once", "--subs", "2", "--count", "2000"}, 2000, 2, "ingest/reliable/2sub+spool+alo"},
		{"api spooled", []string{"--path", "api", "--mode", "reliable", "--delivery", "at-least-once", "--subs", "1", "--count", "2000"}, 2000, 1, "api/reliable/1sub+spool"},
		{"api tls", []string{"--path", "api", "--mode", "notify", "--tls", "--subs", "2", "--count", "2000"}, 2000, 2, "api/notify/2sub+tls"},
		{"ingest tls spooled", []string{"--path", "ingest", "--mode", "reliable", "--tls", "--delivery", "at-least-once", "--subs", "1", "--count", "2000"}, 2000, 1, "ingest/reliable/1sub+tls+spool"},
		{"api without the live view", []string{"--path", "api", "--mode", "notify", "--ui=false", "--subs", "1", "--count", "2000"}, 2000, 1, "api/notify/1sub-ui"},
		{"ingest without the live view", []string{"--path", "ingest", "--mode", "notify", "--ui=false", "--subs", "1", "--count", "2000"}, 2000, 1, "ingest/notify/1sub-ui"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "bench.json")
			args := append([]string{"bench", "--duration", "8s", "--json", file}, tc.args...)
			code, stdout, stderr := runToEnd(t, args...)
			if code != 0 {
				t.Fatalf("evstream %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
			}
			// Not a terminal: no progress line, only the table.
			if strings.Contains(stdout, "\r") || !strings.Contains(stdout, "p999") || !strings.Contains(stdout, tc.want) {
				t.Errorf("stdout is not just the summary table:\n%q", stdout)
			}
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var rep benchReport
			if err := json.Unmarshal(b, &rep); err != nil {
				t.Fatalf("bad JSON: %v\n%s", err, b)
			}
			if rep.Schema != "evstream-bench/1" || !rep.OK || rep.Date == "" || rep.Machine.GoVersion == "" || rep.Machine.GOMAXPROCS < 1 {
				t.Errorf("report header: %+v", rep)
			}
			if len(rep.Scenarios) != 1 {
				t.Fatalf("%d scenarios, want 1:\n%s", len(rep.Scenarios), b)
			}
			sc := rep.Scenarios[0]
			if sc.Name != tc.want || !sc.OK || sc.Error != "" || sc.Subscribers != tc.subs {
				t.Errorf("scenario %q ok=%v error=%q subs=%d, want %q ok", sc.Name, sc.OK, sc.Error, sc.Subscribers, tc.want)
			}
			if spooled := strings.Contains(tc.want, "+spool"); spooled != (sc.Delivery == "at-least-once") || spooled != (sc.SpoolBaseline > 0) {
				t.Errorf("delivery %q, spool baseline %v", sc.Delivery, sc.SpoolBaseline)
			}
			// The CPU figures (getrusage on every system these tests run on).
			if spooled := strings.Contains(tc.want, "+spool"); spooled != (sc.SpoolBaselineCPU > 0) || spooled != (sc.SpoolConfirmCPU > 0) {
				t.Errorf("spool baseline CPU %v ns a record written, %v confirmed; want them only with the baseline", sc.SpoolBaselineCPU, sc.SpoolConfirmCPU)
			}
			if sc.CPUSeconds <= 0 || sc.Delivered == 0 || math.Abs(sc.CPUPerDelivery-sc.CPUSeconds*1e9/float64(sc.Delivered)) > 1 {
				t.Errorf("cpu_s %v, cpu_ns_per_delivery %v for %d deliveries", sc.CPUSeconds, sc.CPUPerDelivery, sc.Delivered)
			}
			if !strings.Contains(stdout, "cpu/delivery") {
				t.Errorf("no cpu/delivery column:\n%s", stdout)
			}
			wantDeliveries := tc.count * uint64(tc.subs)
			if sc.Raised != tc.count || sc.Expected != wantDeliveries || sc.Delivered != wantDeliveries {
				t.Errorf("raised %d expected %d delivered %d, want %d, %d, %d", sc.Raised, sc.Expected, sc.Delivered, tc.count, wantDeliveries, wantDeliveries)
			}
			if sc.Lost != 0 || sc.Failed != 0 || sc.Duplicates != 0 {
				t.Errorf("lost %d failed %d duplicates %d, want none", sc.Lost, sc.Failed, sc.Duplicates)
			}
			if sc.EventsPerSec <= 0 || sc.DeliveriesPerSec < sc.EventsPerSec {
				t.Errorf("events/s %v deliveries/s %v", sc.EventsPerSec, sc.DeliveriesPerSec)
			}
			l := sc.Latency
			if l.Count != wantDeliveries || l.Min <= 0 || !(l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
				t.Errorf("latency percentiles missing or out of order: %+v", l)
			}
		})
	}
}

func TestBenchUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--path", "smtp"}, `--path "smtp"`},
		{[]string{"--mode", "notify", "--at-least-once"}, "--at-least-once and --delivery at-least-once need --mode reliable"},
		{[]string{"--mode", "notify", "--delivery", "at-least-once"}, "--at-least-once and --delivery at-least-once need --mode reliable"},
		{[]string{"--delivery", "exactly-once"}, "--delivery \"exactly-once\": want at-most-once, at-least-once, all, or a comma list"},
		{[]string{"--subs", "0"}, "--subs"},
		{[]string{"--path", "mi", "--mode", "notify", "--tls", "--url", "http://127.0.0.1:1/mi"}, "tls needs a daemon the bench starts"},
		{[]string{"--duration", "0"}, "a duration or a count bound"},
		{[]string{"--path", "api", "--mode", "notify", "--url", "http://127.0.0.1:1/mi"}, "cannot drive a daemon at a URL"},
		{[]string{"--path", "mi", "--url", "http://127.0.0.1:1/mi"}, "--mode must be the running daemon's mode"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range tests {
		code, _, stderr := runToEnd(t, append([]string{"bench"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("bench %v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestBenchDrivesRunningDaemon points the bench at a running `evstream
// serve` through --url (and --ingest): it subscribes its sinks over the MI,
// raises, and unsubscribes them at the end.
func TestBenchDrivesRunningDaemon(t *testing.T) {
	// auto_publish off: the bench publishes its event with event_publish.
	d := startDaemon(t, "--ingest-listen", "127.0.0.1:0", "--config", writeConfig(t, "auto_publish: false\n"))
	file := filepath.Join(t.TempDir(), "bench.json")
	code, stdout, stderr := runToEnd(t, "bench", "--url", d.MIURL, "--ingest", d.IngestAddr,
		"--path", "mi,ingest", "--mode", "notify", "--subs", "2", "--count", "300", "--duration", "8s", "--json", file)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var rep benchReport
	b, _ := os.ReadFile(file)
	if err := json.Unmarshal(b, &rep); err != nil || len(rep.Scenarios) != 2 {
		t.Fatalf("report: %v\n%s", err, b)
	}
	for _, sc := range rep.Scenarios {
		if !sc.OK || sc.Delivered != 600 || sc.Lost != 0 {
			t.Errorf("%s: ok %v delivered %d lost %d, want 600 delivered", sc.Name, sc.OK, sc.Delivered, sc.Lost)
		}
	}
	if got := d.mi(t, "subscribers_list"); got != `{"jsonrpc":"2.0","result":{"Events":[]},"id":1}` {
		t.Errorf("subscriptions left behind: %s", got)
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
}

// TestBenchDetectsTheDaemonsMode: --mode must be the running daemon's;
// a mismatch fails the scenario with a message saying so, either way.
func TestBenchDetectsTheDaemonsMode(t *testing.T) {
	for _, tc := range []struct{ daemonReliable, benchMode, want string }{
		{"true", "notify", "it runs in reliable mode (run the bench with --mode reliable)"},
		{"false", "reliable", "it runs in notification mode (run the bench with --mode notify)"},
	} {
		d := startDaemon(t, "--config", writeConfig(t, "event_stream: {reliable_mode: "+tc.daemonReliable+", timeout: 30000}\n"))
		code, _, stderr := runToEnd(t, "bench", "--url", d.MIURL, "--path", "mi", "--mode", tc.benchMode,
			"--subs", "1", "--count", "20", "--duration", "30s", "--quiet")
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("daemon reliable_mode %s, bench --mode %s: exit %d, stderr %q; want 1 and %q",
				tc.daemonReliable, tc.benchMode, code, stderr, tc.want)
		}
		d.stop(t)
	}
}

// TestPrintSpoolRatios checks the lines under the table for at-least-once
// scenarios: the ratios, and the CPU ceiling only when both CPU costs and
// the in-memory scenario are known.
func TestPrintSpoolRatios(t *testing.T) {
	plain := &loadgen.Result{Name: "ingest/reliable/1sub", OK: true, DeliveriesPerSec: 500_000, CPUPerDelivery: 3000}
	spooled := &loadgen.Result{Name: "ingest/reliable/1sub+spool", OK: true, DeliveriesPerSec: 200_000, CPUPerDelivery: 8000,
		SpoolBaseline: 400_000, SpoolBaselineCPU: 1000, SpoolConfirmCPU: 500}
	noCPU := *spooled
	noCPU.SpoolBaselineCPU = 0
	noConfirm := *spooled
	noConfirm.SpoolConfirmCPU = 0
	failed := *spooled
	failed.OK = false
	tests := []struct {
		name    string
		results []*loadgen.Result
		want    string
	}{
		{"both", []*loadgen.Result{plain, spooled},
			"ingest/reliable/1sub+spool: 200.0k deliveries/s durable and confirmed = 50 % of the spool engine's raw batched writes (400.0k records/s, 1024 per fsync, measured just before), 40 % of in-memory delivery (500.0k/s)\n" +
				"  CPU a delivery: 8.00µs durable; 3.00µs in memory + 1.00µs the engine's raw write + 500ns its confirm = 4.50µs at least, so 2 cores allow at most 444.4k/s (111 % of the raw writes)\n"},
		{"no in-memory scenario", []*loadgen.Result{spooled},
			"ingest/reliable/1sub+spool: 200.0k deliveries/s durable and confirmed = 50 % of the spool engine's raw batched writes (400.0k records/s, 1024 per fsync, measured just before)\n"},
		{"no CPU figure for the engine", []*loadgen.Result{plain, &noCPU},
			"ingest/reliable/1sub+spool: 200.0k deliveries/s durable and confirmed = 50 % of the spool engine's raw batched writes (400.0k records/s, 1024 per fsync, measured just before), 40 % of in-memory delivery (500.0k/s)\n"},
		{"no CPU figure for the confirm", []*loadgen.Result{plain, &noConfirm},
			"ingest/reliable/1sub+spool: 200.0k deliveries/s durable and confirmed = 50 % of the spool engine's raw batched writes (400.0k records/s, 1024 per fsync, measured just before), 40 % of in-memory delivery (500.0k/s)\n"},
		{"failed scenario", []*loadgen.Result{plain, &failed}, ""},
		{"at-most-once only", []*loadgen.Result{plain}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			printSpoolRatios(&b, tc.results, 2)
			if b.String() != tc.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), tc.want)
			}
		})
	}
}
