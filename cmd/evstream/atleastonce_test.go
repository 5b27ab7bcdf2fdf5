package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/evstream/evstream/internal/rpcsink"
	"github.com/evstream/evstream/internal/testnet"
	"github.com/evstream/evstream/jsonrpc"
)

// aloConfig is a config whose event E_ALO has one at-least-once
// subscriber, sink's, and whose ingest listens on a free port; delivery
// is its delivery section ("": quick retries).
func aloConfig(t *testing.T, sink *rpcsink.Sink, delivery string) string {
	t.Helper()
	if delivery == "" {
		delivery = "{retry_initial: 10ms, retry_max: 200ms}"
	}
	return writeConfig(t, `ingest: {listen: "127.0.0.1:0"}
event_stream: {timeout: 30000}
delivery: `+delivery+`
subscriptions:
  - {event: E_ALO, socket: "`+sink.Socket("alo")+`", delivery: at-least-once}
`)
}

// producer sends E_ALO requests {"n":N} to an ingest, pipelined on one
// connection, and records the n of every request answered with a result
// (acknowledged): those must all be delivered.
type producer struct {
	pad string // a param "pad" of this text, to make the events bigger

	mu     sync.Mutex
	next   int   // the n of the next event
	acked  []int // acknowledged, in any order
	errors int   // answered with an error
}

// run sends events to addr until stop is closed, the connection fails, or
// limit events (0: no limit) were acknowledged in this run; it returns
// when every answer that will come has come.
func (p *producer) run(t *testing.T, addr string, stop <-chan struct{}, limit int) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatalf("dial ingest %s: %v", addr, err)
	}
	defer c.Close()
	answered := make(chan struct{})    // closed when the connection ends
	window := make(chan struct{}, 512) // requests unanswered at most
	go func() {
		defer close(answered)
		dec := jsonrpc.NewDecoder(bufio.NewReader(c), 0)
		for {
			b, err := dec.Next()
			if err != nil {
				return
			}
			var r struct {
				ID     int              `json:"id"`
				Result *json.RawMessage `json:"result"`
			}
			if err := json.Unmarshal(b, &r); err != nil {
				t.Errorf("ingest reply %s: %v", b, err)
				return
			}
			p.mu.Lock()
			if r.Result != nil {
				p.acked = append(p.acked, r.ID-1)
			} else {
				p.errors++
			}
			p.mu.Unlock()
			<-window
		}
	}()
	w := bufio.NewWriter(c)
	sent := 0
	for limit == 0 || sent < limit {
		select {
		case <-stop:
			limit = -1
			continue
		case window <- struct{}{}:
		case <-answered:
			limit = -1
			continue
		}
		if limit < 0 {
			break
		}
		p.mu.Lock()
		n := p.next
		p.next++
		p.mu.Unlock()
		if p.pad != "" {
			fmt.Fprintf(w, `{"jsonrpc":"2.0","method":"E_ALO","params":{"n":%d,"pad":"%s"},"id":%d}`, n, p.pad, n+1)
		} else {
			fmt.Fprintf(w, `{"jsonrpc":"2.0","method":"E_ALO","params":{"n":%d},"id":%d}`, n, n+1)
		}
		sent++
		if len(window) == cap(window) || sent%64 == 0 {
			if err := w.Flush(); err != nil {
				break
			}
		}
	}
	w.Flush()
	// Wait for the answers still due: all of them (window empty), or the
	// end of the connection (a crash).
	deadline := time.Now().Add(testTimeout)
	for len(window) > 0 && time.Now().Before(deadline) {
		select {
		case <-answered:
			return
		case <-time.After(time.Millisecond):
		}
	}
}

func (p *producer) ackedList() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.acked...)
}

// waitDelivered waits until every acknowledged event reached sink.
func waitDelivered(t *testing.T, sink *rpcsink.Sink, acked []int) {
	t.Helper()
	var last error
	testnet.PollUntil(t, 3*testTimeout, "every acknowledged event delivered", func() bool {
		_, _, last = rpcsink.Check(sink.Got(), acked)
		return last == nil || !strings.Contains(last.Error(), "never arrived")
	})
	if last != nil {
		t.Fatal(last)
	}
}

// TestAtLeastOnceSurvivesKill9: events acknowledged by ingest reach their
// at-least-once subscriber although the daemon is killed with SIGKILL
// again and again, at random moments, in the middle of the stream: every
// acknowledged event arrives, first arrivals in raise order, a duplicate
// only with the same id.
func TestAtLeastOnceSurvivesKill9(t *testing.T) {
	sink := rpcsink.New(t, "")
	cfg := aloConfig(t, sink, "")
	dataDir := t.TempDir()
	p := &producer{}
	const lives = 6
	for life := range lives {
		d := startDaemon(t, "--config", cfg, "--data-dir", dataDir)
		stop := make(chan struct{})
		killed := make(chan struct{})
		go func() {
			defer close(killed)
			time.Sleep(time.Duration(20+rand.IntN(200)) * time.Millisecond)
			d.cmd.Process.Signal(syscall.SIGKILL)
			close(stop)
		}()
		p.run(t, d.IngestAddr, stop, 0)
		<-killed
		d.wait(t)
		t.Logf("life %d: %d acknowledged so far, %d sent", life, len(p.ackedList()), p.next)
	}
	acked := p.ackedList()
	if len(acked) == 0 {
		t.Fatal("no event was acknowledged: the test tested nothing")
	}
	d := startDaemon(t, "--config", cfg, "--data-dir", dataDir)
	waitDelivered(t, sink, acked)
	firsts, dups, err := rpcsink.Check(sink.Got(), acked)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d acknowledged over %d kills, %d arrived (%d sent), %d duplicates", len(acked), lives, firsts, p.next, dups)
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestAtLeastOnceSubscriberDown: a subscriber down while many events are
// acknowledged gets every one once it is back, in raise order; the MI
// lists it with its pending count meanwhile, and the spool is empty at
// the end.
func TestAtLeastOnceSubscriberDown(t *testing.T) {
	sink := rpcsink.New(t, "")
	sink.Down()
	d := startDaemon(t, "--config", aloConfig(t, sink, ""), "--data-dir", t.TempDir())
	const n = 100_000
	p := &producer{}
	p.run(t, d.IngestAddr, nil, n)
	acked := p.ackedList()
	if len(acked) != n || p.errors != 0 {
		t.Fatalf("%d acknowledged, %d errors, want %d acknowledged", len(acked), p.errors, n)
	}
	list := d.mi(t, "subscribers_list", "E_ALO", sink.Socket("alo"))
	if !strings.Contains(list, `"delivery":"at-least-once","pending":`+strconv.Itoa(n)) {
		t.Fatalf("subscribers_list while the subscriber is down: %s", list)
	}
	sink.Up()
	waitDelivered(t, sink, acked)
	firsts, dups, err := rpcsink.Check(sink.Got(), acked)
	if err != nil {
		t.Fatal(err)
	}
	if firsts != n || dups != 0 {
		// Nothing was ever sent to the subscriber while it was down: no
		// attempt reached it twice.
		t.Fatalf("%d arrived, %d duplicates; want %d and none", firsts, dups, n)
	}
	testnet.PollUntil(t, testTimeout, "the spool empty", func() bool {
		return strings.Contains(d.mi(t, "get_statistics", "delivery:pending"), `"delivery:pending":0`)
	})
	// The backlog was read back from the spool (the hand-over keeps at
	// most 4096 events of a queue).
	if rb := stat(t, d, "delivery:read_back"); rb < n-4096 {
		t.Fatalf("delivery:read_back %d after a backlog of %d", rb, n)
	}
}

// TestAtLeastOnceOverMI: an MI subscription with delivery at-least-once is
// kept across a restart with its remaining expire; an event that fails
// max_attempts times becomes a dead letter, listed by dead_letters_list
// with the shape of DESIGN.md §10, replayed by dead_letters_replay, and
// purged; raise_event answers "OK" once the event is durable.
func TestAtLeastOnceOverMI(t *testing.T) {
	sink := rpcsink.New(t, "")
	sink.SetFail(func(a rpcsink.Arrival, _ int) bool { return a.N == 2 })
	cfg := writeConfig(t, "delivery: {retry_initial: 10ms, retry_max: 50ms, max_attempts: 3}\n")
	dataDir := t.TempDir()
	d := startDaemon(t, "--config", cfg, "--data-dir", dataDir)
	sock := sink.Socket("mi")
	d.mustMI(t, "event_subscribe", "E_MI", sock, 600, "at-least-once")
	for i := range 4 {
		d.mustMI(t, "raise_event", "E_MI", map[string]int{"n": i})
	}
	testnet.PollUntil(t, testTimeout, "event 2 a dead letter, the others delivered", func() bool {
		return strings.Contains(d.mi(t, "subscribers_list", "E_MI"), `"pending":0,"dead_letters":1`)
	})
	list := d.mi(t, "dead_letters_list", "E_MI")
	var dl struct {
		Result struct {
			DeadLetters []map[string]any
		}
	}
	if err := json.Unmarshal([]byte(list), &dl); err != nil || len(dl.Result.DeadLetters) != 1 {
		t.Fatalf("dead_letters_list = %s (%v)", list, err)
	}
	e := dl.Result.DeadLetters[0]
	if e["event"] != "E_MI" || e["socket"] != sock || e["attempts"] != 3.0 || e["error"] == "" ||
		fmt.Sprint(e["params"]) != "map[n:2]" || e["id"] == nil {
		t.Fatalf("dead letter %v", e)
	}
	if _, err := time.Parse(time.RFC3339, e["raised"].(string)); err != nil {
		t.Fatalf("raised %v: %v", e["raised"], err)
	}

	// A restart: the subscription is back, with what is left of its expire.
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	d = startDaemon(t, "--config", cfg, "--data-dir", dataDir)
	after := d.mi(t, "subscribers_list", "E_MI")
	if !strings.Contains(after, `"socket":"`+sock+`","expire":600,"ttl":`) || !strings.Contains(after, `"dead_letters":1`) {
		t.Fatalf("after the restart: %s", after)
	}
	sink.SetFail(nil)
	if got := d.mi(t, "dead_letters_replay", "E_MI", sock); !strings.Contains(got, `"result":{"Replayed":1}`) {
		t.Fatalf("dead_letters_replay = %s", got)
	}
	testnet.PollUntil(t, testTimeout, "the replayed event delivered", func() bool {
		return strings.Contains(d.mi(t, "subscribers_list", "E_MI"), `"pending":0,"dead_letters":0`)
	})
	if got := sink.Got(); got[len(got)-1].N != 2 {
		t.Fatalf("last arrival %+v, want event 2", got[len(got)-1])
	}
	if got := d.mi(t, "dead_letters_purge", "E_MI"); !strings.Contains(got, `"result":{"Purged":0}`) {
		t.Fatalf("dead_letters_purge = %s", got)
	}
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestAtLeastOnceDamagedSpool: a spool file that is not one (truncated,
// overwritten) stops the start with an error naming the file, exit code
// 1 and no panic; a data_dir holding a good spool starts.
func TestAtLeastOnceDamagedSpool(t *testing.T) {
	dataDir := t.TempDir()
	path := filepath.Join(dataDir, "spool.db")
	if err := os.WriteFile(path, bytes.Repeat([]byte("not a spool "), 2000), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runToEnd(t, "serve", "--mi-listen", "127.0.0.1:0", "--data-dir", dataDir)
	if code != 1 || !strings.Contains(stderr, path) || strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and an error naming %s", code, stderr, path)
	}
}

// TestAtLeastOnceSpoolFull: when the spool is full, raise_event answers
// 503 "Spool full" and an ingest request gets the same error; what was
// accepted before is delivered once the subscriber is back.
func TestAtLeastOnceSpoolFull(t *testing.T) {
	sink := rpcsink.New(t, "")
	sink.Down()
	d := startDaemon(t, "--config", aloConfig(t, sink, "{spool_max_bytes: 20000, retry_initial: 10ms, retry_max: 100ms}"), "--data-dir", t.TempDir())
	accepted := []int{}
	var full string
	for i := 0; i < 10_000; i++ {
		got := d.mi(t, "raise_event", "E_ALO", map[string]int{"n": i})
		if got != `{"jsonrpc":"2.0","result":"OK","id":1}` {
			full = got
			break
		}
		accepted = append(accepted, i)
	}
	if !strings.HasPrefix(full, `{"jsonrpc":"2.0","error":{"code":503,"message":"Spool full","data":`) || len(accepted) == 0 {
		t.Fatalf("after %d events raise_event = %s, want 503 Spool full", len(accepted), full)
	}
	c := testnet.Dial(t, d.IngestAddr, testTimeout)
	fmt.Fprintf(c, `{"jsonrpc":"2.0","method":"E_ALO","params":{"n":99999},"id":7}`)
	b, err := jsonrpc.NewDecoder(c, 0).Next()
	if err != nil || !strings.Contains(string(b), `"code":503,"message":"Spool full"`) {
		t.Fatalf("ingest reply %s (%v), want 503 Spool full", b, err)
	}
	sink.Up()
	waitDelivered(t, sink, accepted)
	if _, _, err := rpcsink.Check(sink.Got(), accepted); err != nil {
		t.Fatal(err)
	}
}

// TestAtLeastOnceBacklogOnDisk: while the subscriber is down, a backlog
// of 200 MB lives in the spool file, not in the daemon's memory: its
// anonymous memory (heap, stacks: /proc/PID/status RssAnon) stays far
// below the backlog.
func TestAtLeastOnceBacklogOnDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 200 MB spool")
	}
	sink := rpcsink.New(t, "")
	sink.Down()
	d := startDaemon(t, "--config", aloConfig(t, sink, ""), "--data-dir", t.TempDir())
	p := &producer{pad: strings.Repeat("x", 8000)}
	const backlog = 200 << 20
	var peak int64
	for {
		p.run(t, d.IngestAddr, nil, 2000)
		peak = max(peak, rssAnon(t, d.cmd.Process.Pid))
		if spoolBytes(t, d) >= backlog {
			break
		}
	}
	t.Logf("backlog of %d MB (%d events): RssAnon at most %d MB", spoolBytes(t, d)>>20, len(p.ackedList()), peak>>20)
	if peak > backlog/2 {
		t.Fatalf("RssAnon reached %d MB with a %d MB backlog: the backlog is held in memory", peak>>20, backlog>>20)
	}
}

// rssAnon returns the process's anonymous resident memory, in bytes.
func rssAnon(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("RssAnon %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Skip("no RssAnon in /proc/PID/status")
	return 0
}

// spoolBytes returns the daemon's delivery:spool_bytes statistic.
func spoolBytes(t *testing.T, d *daemonProc) int64 {
	t.Helper()
	return stat(t, d, "delivery:spool_bytes")
}

// stat returns the daemon's statistic name (get_statistics).
func stat(t *testing.T, d *daemonProc, name string) int64 {
	t.Helper()
	var r struct {
		Result map[string]int64
	}
	body := d.mi(t, "get_statistics", name)
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("get_statistics %s: %v", body, err)
	}
	v, ok := r.Result[name]
	if !ok {
		t.Fatalf("get_statistics %s: no %s", body, name)
	}
	return v
}
