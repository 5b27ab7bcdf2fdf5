package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/loadgen"
)

// benchFlags are the parsed flags of `evstream bench`.
type benchFlags struct {
	paths       []loadgen.Path
	modes       []loadgen.Mode
	subs        []int
	atLeastOnce bool
	deliveries  []evi.Delivery
	tls         bool
	ui          bool
	duration    durationValue
	count       int64
	rate        float64
	workers     int
	window      int
	drain       durationValue
	timeout     durationValue
	receiver    string
	url         string
	ingest      string
	jsonFile    string
	quiet       bool
	cpuProfile  string
	memProfile  string
}

func newBenchCmd() *cobra.Command {
	var f benchFlags
	var path, mode, subs, delivery string
	f.duration = durationValue(5 * time.Second)
	f.drain = durationValue(loadgen.DefaultDrain)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "load-test a daemon end to end (throughput, latency, loss)",
		Long: `Run every combination of --path, --mode and --subs as one bounded
scenario against a daemon it starts (or a running one, with --url): real
receivers on loopback, real sockets. It shows a progress line on a
terminal, prints a summary table and, with --json, writes the results.
Exit code: 0 when every scenario is OK, 1 when one failed or could not
run, 2 on bad usage. docs/BENCH.md has the details.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, &f, path, mode, subs, delivery)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&path, "path", "all", "how events are raised: api (Go API in process), mi (raise_event over HTTP), ingest (relay over TCP), all, or a comma list")
	fs.StringVar(&mode, "mode", "all", "event_stream mode: notify, reliable, or all")
	fs.StringVar(&subs, "subs", "1,10,100", "subscriber counts, comma separated (one scenario each)")
	fs.BoolVar(&f.atLeastOnce, "at-least-once", false, "reliable mode only: check that every subscriber received every event at least once (the run fails on loss)")
	fs.StringVar(&delivery, "delivery", "at-most-once", "the subscriptions' delivery policy: at-most-once, at-least-once (each event spooled durably, in a temporary data_dir, until its subscriber confirms it; reliable mode only), all, or a comma list")
	fs.BoolVar(&f.ui, "ui", true, "run with the live view (as evstream serve does): the daemon's mi.ui, and its observer on the api path's registry; --ui=false measures without it (not with --url)")
	fs.BoolVar(&f.tls, "tls", false, "subscribe the sinks with tls: sockets (TLS servers with a certificate of a CA made for the run, which the daemon trusts); not with --url")
	fs.Var(&f.duration, "duration", "raising time per scenario (0: no time bound, --count must be set)")
	fs.Int64Var(&f.count, "count", 0, "most events raised per scenario (0: no count bound)")
	fs.Float64Var(&f.rate, "rate", 0, "raise rate in events/s over all workers (0: as fast as possible); use a fixed rate like 10000 for latency")
	fs.IntVar(&f.workers, "workers", 0, fmt.Sprintf("raising goroutines (api), MI clients (mi) or ingest connections (ingest); 0: GOMAXPROCS, %d, %d", loadgen.DefaultMIWorkers, loadgen.DefaultIngestWorkers))
	fs.IntVar(&f.window, "window", 0, fmt.Sprintf("most deliveries in flight per subscriber (0: min(%d, %d/subscribers))", loadgen.DefaultWindow, loadgen.DefaultTotalWindow))
	fs.Var(&f.drain, "drain", "after raising, how long to wait for the deliveries")
	fs.Var(&f.timeout, "timeout", "event_stream timeout of the daemon the bench starts (0: its default, 1s); not with --url")
	fs.StringVar(&f.receiver, "receiver", string(loadgen.ReceiverLean), "subscriber reader: lean (counting reader) or server (receiver.Server)")
	fs.StringVar(&f.url, "url", "", "MI `URL` of a running daemon to drive (default: start one in this process)")
	fs.StringVar(&f.ingest, "ingest", "", "ingest `address` of the running daemon (with --url and --path ingest)")
	fs.StringVar(&f.jsonFile, "json", "", "write the results as JSON to `file` (see docs/BENCH.md)")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress line")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to `file`")
	fs.StringVar(&f.memProfile, "memprofile", "", "write an allocation profile to `file` at the end")
	return cmd
}

// runBench is `evstream bench`.
func runBench(cmd *cobra.Command, f *benchFlags, path, mode, subs, delivery string) error {
	ctx, stop := interruptible(cmd)
	defer stop()
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	var err error
	if f.paths, err = parsePaths(path); err != nil {
		return usageError(cmd, "%v", err)
	}
	if f.deliveries, err = parseDeliveries(delivery); err != nil {
		return usageError(cmd, "%v", err)
	}
	if f.modes, err = parseModes(mode, f.atLeastOnce || slices.Contains(f.deliveries, evi.AtLeastOnce)); err != nil {
		return usageError(cmd, "%v", err)
	}
	if f.subs, err = parseSubs(subs); err != nil {
		return usageError(cmd, "%v", err)
	}
	if f.url != "" {
		if err := checkMIURL(f.url); err != nil {
			return usageError(cmd, "%v", err)
		}
		if len(f.modes) > 1 {
			return usageError(cmd, "with --url, --mode must be the running daemon's mode (notify or reliable)")
		}
	}
	if f.ingest != "" {
		if err := checkAddr(f.ingest, "127.0.0.1:9000"); err != nil {
			return usageError(cmd, "--ingest: %v", err)
		}
	}
	scenarios := f.scenarios()
	for _, sc := range scenarios {
		if err := sc.Validate(); err != nil {
			return usageError(cmd, "%s: %v", sc.Name(), err)
		}
	}

	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return failure(cmd, "--cpuprofile: %v", err)
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return failure(cmd, "cpu profile: %v", err)
		}
		defer pprof.StopCPUProfile()
	}

	report := &loadgen.Report{
		Schema:          loadgen.ReportSchema,
		EvstreamVersion: versionString(),
		Date:            time.Now().UTC().Format(time.RFC3339),
		Command:         append([]string{"evstream"}, os.Args[1:]...),
		Machine:         loadgen.DescribeMachine(),
		Settings:        map[string]string{},
		OK:              true,
	}
	cmd.Flags().VisitAll(func(fl *pflag.Flag) { report.Settings[fl.Name] = fl.Value.String() })

	live := !f.quiet && isTerminal(stdout)
	code := exitOK
	for _, sc := range scenarios {
		if ctx.Err() != nil {
			break
		}
		if live {
			sc.Progress = func(p loadgen.Progress) { fmt.Fprint(stdout, progressLine(p)) }
		}
		res, err := loadgen.Run(ctx, sc)
		if live {
			fmt.Fprint(stdout, "\r\033[K")
		}
		if err != nil {
			fmt.Fprintf(stderr, "evstream bench: %v\n", err)
			report.OK = false
			code = exitFailure
			continue
		}
		report.Scenarios = append(report.Scenarios, res)
		if !res.OK {
			fmt.Fprintf(stderr, "evstream bench: %s: %s\n", res.Name, res.Error)
			report.OK = false
			code = exitFailure
		}
	}
	printTable(stdout, report.Scenarios)
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "evstream bench: interrupted")
		report.OK = false
		code = exitFailure
	}

	if f.memProfile != "" {
		if err := writeHeapProfile(f.memProfile); err != nil {
			fmt.Fprintf(stderr, "evstream bench: %v\n", err)
			code = exitFailure
		}
	}
	if f.jsonFile != "" {
		if err := writeJSON(f.jsonFile, report); err != nil {
			return failure(cmd, "%v", err)
		}
	}
	if code != exitOK {
		return exitWith(code)
	}
	return nil
}

// scenarios returns every combination of the flags, path-major.
func (f *benchFlags) scenarios() []loadgen.Scenario {
	var out []loadgen.Scenario
	for _, p := range f.paths {
		for _, m := range f.modes {
			for _, n := range f.subs {
				for _, d := range f.deliveries {
					out = append(out, loadgen.Scenario{
						Path: p, Mode: m, Subscribers: n, AtLeastOnce: f.atLeastOnce, Delivery: d, TLS: f.tls, NoUI: !f.ui,
						Duration: time.Duration(f.duration), Count: f.count, Rate: f.rate,
						Workers: f.workers, Window: f.window, Drain: time.Duration(f.drain), Timeout: time.Duration(f.timeout),
						Receiver: loadgen.ReceiverKind(f.receiver),
						URL:      f.url, IngestAddr: f.ingest,
					})
				}
			}
		}
	}
	return out
}

// parseDeliveries parses --delivery: a policy, a comma list, or all.
func parseDeliveries(s string) ([]evi.Delivery, error) {
	if s == "all" {
		return []evi.Delivery{evi.AtMostOnce, evi.AtLeastOnce}, nil
	}
	var out []evi.Delivery
	for _, part := range strings.Split(s, ",") {
		d, err := evi.ParseDelivery(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("--delivery %q: want at-most-once, at-least-once, all, or a comma list", s)
		}
		out = append(out, d)
	}
	return out, nil
}

func parsePaths(s string) ([]loadgen.Path, error) {
	if s == "all" {
		return []loadgen.Path{loadgen.PathAPI, loadgen.PathMI, loadgen.PathIngest}, nil
	}
	var out []loadgen.Path
	for _, p := range strings.Split(s, ",") {
		switch p := loadgen.Path(strings.TrimSpace(p)); p {
		case loadgen.PathAPI, loadgen.PathMI, loadgen.PathIngest:
			out = append(out, p)
		default:
			return nil, fmt.Errorf("--path %q: want api, mi, ingest or all", p)
		}
	}
	return out, nil
}

func parseModes(s string, atLeastOnce bool) ([]loadgen.Mode, error) {
	switch s {
	case "all":
		if atLeastOnce {
			return []loadgen.Mode{loadgen.ModeReliable}, nil
		}
		return []loadgen.Mode{loadgen.ModeNotify, loadgen.ModeReliable}, nil
	case string(loadgen.ModeNotify):
		if atLeastOnce {
			return nil, errors.New("--at-least-once and --delivery at-least-once need --mode reliable (notifications are never confirmed)")
		}
		return []loadgen.Mode{loadgen.ModeNotify}, nil
	case string(loadgen.ModeReliable):
		return []loadgen.Mode{loadgen.ModeReliable}, nil
	}
	return nil, fmt.Errorf("--mode %q: want notify, reliable or all", s)
}

func parseSubs(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 || n > 10000 {
			return nil, fmt.Errorf("--subs %q: want subscriber counts from 1 to 10000, comma separated", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressLine is the line redrawn on a terminal while a scenario runs.
func progressLine(p loadgen.Progress) string {
	rate := 0.0
	if s := p.Elapsed.Seconds(); s > 0 {
		rate = float64(p.Delivered) / s
	}
	return fmt.Sprintf("\r\033[K%-22s %-5s %6.1fs  raised %s  delivered %s/%s  %s deliveries/s",
		p.Scenario, p.Phase, p.Elapsed.Seconds(), count(p.Raised), count(p.Delivered), count(p.Expected), count(uint64(rate)))
}

// count prints n with a k/M suffix.
func count(n uint64) string {
	switch {
	case n >= 10_000_000:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + "M"
	case n >= 1_000_000:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 2, 64) + "M"
	case n >= 10_000:
		return strconv.FormatFloat(float64(n)/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatUint(n, 10)
}

// printTable prints the summary table of the results.
func printTable(w io.Writer, results []*loadgen.Result) {
	if len(results) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\traised\tdelivered\tfailed\tlost\tevents/s\tdeliveries/s\tp50\tp90\tp99\tp999\tmax\tcpu/delivery\tok\t")
	for _, r := range results {
		l := r.Latency
		ok := "ok"
		if !r.OK {
			ok = "FAIL"
		}
		cpu := "-"
		if r.CPUPerDelivery > 0 {
			cpu = loadgen.FormatNanos(int64(r.CPUPerDelivery))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			r.Name, r.Raised, r.Delivered, r.Failed, r.Lost,
			count(uint64(r.EventsPerSec)), count(uint64(r.DeliveriesPerSec)),
			loadgen.FormatNanos(l.P50), loadgen.FormatNanos(l.P90), loadgen.FormatNanos(l.P99),
			loadgen.FormatNanos(l.P999), loadgen.FormatNanos(l.Max), cpu, ok)
	}
	tw.Flush()
	printSpoolRatios(w, results, runtime.GOMAXPROCS(0))
}

// printSpoolRatios says, for each at-least-once scenario, how its rate
// compares with the spool engine's raw batched writes measured in the same
// run, and with the same scenario at-most-once when it ran too. With the
// CPU costs known it adds the ceiling they set together: a durable
// delivery costs at least an in-memory one plus the engine's raw write of
// its record and its removal once confirmed, and the bench's process has
// cores for all of it.
func printSpoolRatios(w io.Writer, results []*loadgen.Result, cores int) {
	byName := map[string]*loadgen.Result{}
	for _, r := range results {
		byName[r.Name] = r
	}
	for _, r := range results {
		if r.SpoolBaseline <= 0 || !r.OK {
			continue
		}
		fmt.Fprintf(w, "%s: %s deliveries/s durable and confirmed = %.0f %% of the spool engine's raw batched writes (%s records/s, %d per fsync, measured just before)",
			r.Name, count(uint64(r.DeliveriesPerSec)), 100*r.DeliveriesPerSec/r.SpoolBaseline, count(uint64(r.SpoolBaseline)), loadgen.SpoolBatch)
		plain := byName[strings.Replace(r.Name, "+spool", "", 1)]
		if plain != nil && plain.DeliveriesPerSec > 0 {
			fmt.Fprintf(w, ", %.0f %% of in-memory delivery (%s/s)", 100*r.DeliveriesPerSec/plain.DeliveriesPerSec, count(uint64(plain.DeliveriesPerSec)))
		}
		fmt.Fprintln(w)
		if plain == nil || plain.CPUPerDelivery <= 0 || r.SpoolBaselineCPU <= 0 || r.SpoolConfirmCPU <= 0 || r.CPUPerDelivery <= 0 {
			continue
		}
		floor := plain.CPUPerDelivery + r.SpoolBaselineCPU + r.SpoolConfirmCPU
		ceiling := float64(cores) * 1e9 / floor
		fmt.Fprintf(w, "  CPU a delivery: %s durable; %s in memory + %s the engine's raw write + %s its confirm = %s at least, so %d cores allow at most %s/s (%.0f %% of the raw writes)\n",
			loadgen.FormatNanos(int64(r.CPUPerDelivery)), loadgen.FormatNanos(int64(plain.CPUPerDelivery)),
			loadgen.FormatNanos(int64(r.SpoolBaselineCPU)), loadgen.FormatNanos(int64(r.SpoolConfirmCPU)),
			loadgen.FormatNanos(int64(floor)), cores, count(uint64(ceiling)), 100*ceiling/r.SpoolBaseline)
	}
}

func writeJSON(path string, report *loadgen.Report) error {
	b, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	return nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--memprofile: %w", err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		return fmt.Errorf("--memprofile: %w", err)
	}
	return nil
}
