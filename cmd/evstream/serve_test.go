package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/evstream/evstream/internal/testnet"
)

const okReply = `{"jsonrpc":"2.0","result":"OK","id":1}`

func miErr(code, msg string) string {
	return `{"jsonrpc":"2.0","error":{"code":` + code + `,"message":"` + msg + `"},"id":1}`
}

// miErrData is miErr with a data member: the reason of a generic error.
func miErrData(code, msg, data string) string {
	return `{"jsonrpc":"2.0","error":{"code":` + code + `,"message":"` + msg + `","data":` + strconv.Quote(data) + `},"id":1}`
}

func miInvalid(data string) string {
	return `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"` + data + `"},"id":1}`
}

// checkMI posts body and compares the whole answer.
func checkMI(t *testing.T, d *daemonProc, body, want string) {
	t.Helper()
	status, got := postMI(t, d.MIURL, body)
	if status != http.StatusOK || got != want {
		t.Errorf("POST %s\n got HTTP %d %s\nwant HTTP 200 %s", body, status, got, want)
	}
}

func TestServeSubscribeAndRaise(t *testing.T) {
	d := startDaemon(t)
	sink := testnet.NewSink(t, testTimeout)
	sock := "tcp:" + sink.Addr()
	d.mustMI(t, "event_subscribe", "E_PIKE_BLOCKED", sock)
	d.mustMI(t, "event_subscribe", "E_PIKE_BLOCKED", sock+"/block_ip", "60")
	want := `{"jsonrpc":"2.0","result":{"Event":{"name":"E_PIKE_BLOCKED","id":0,"Subscribers":[` +
		`{"socket":"` + sock + `/block_ip","expire":60,"ttl":`
	if got := d.mi(t, "subscribers_list", "E_PIKE_BLOCKED"); !strings.HasPrefix(got, want) {
		t.Fatalf("subscribers_list = %s, want prefix %s", got, want)
	}
	d.mustMI(t, "raise_event", "E_PIKE_BLOCKED", map[string]any{"ip": "192.168.2.11"})
	d.mustMI(t, "raise_event", "E_PIKE_BLOCKED", []any{1, "x"})
	d.mustMI(t, "raise_event", "E_PIKE_BLOCKED", `{"port":5060,"ip":"10.0.0.1"}`)
	// Newest subscriber first; one connection for both (same address), so
	// the order on the wire is exact.
	sink.WaitFor(t, ""+
		`{"jsonrpc":"2.0","method":"block_ip","params":{"ip":"192.168.2.11"}}`+
		`{"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"ip":"192.168.2.11"}}`+
		`{"jsonrpc":"2.0","method":"block_ip","params":["1","x"]}`+
		`{"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":["1","x"]}`+
		`{"jsonrpc":"2.0","method":"block_ip","params":{"port":5060,"ip":"10.0.0.1"}}`+
		`{"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"port":5060,"ip":"10.0.0.1"}}`)

	// Only POST.
	resp, err := miClient.Get(d.MIURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET %s: HTTP %d, want 405", d.MIURL, resp.StatusCode)
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0; stderr:\n%s", code, d.Stderr)
	}
}

// TestServeMIErrors goes through every error row of docs/MI.md against the
// binary, OpenSIPS-strict (auto_publish off).
func TestServeMIErrors(t *testing.T) {
	cfg := writeConfig(t, "auto_publish: false\nevents: [E_X, E_EMPTY]\n")
	d := startDaemon(t, "--config", cfg)
	sink := testnet.NewSink(t, testTimeout)
	sock := "tcp:" + sink.Addr()
	d.mustMI(t, "event_subscribe", "E_X", sock)
	cases := []struct{ name, body, want string }{
		{"bad socket", miRequest(t, "event_subscribe", []any{"E_X", "tcp:127.0.0.1:0"}),
			miErrData("400", "Bad parameter value", "tcp:127.0.0.1:0: port 0 out of range 1..65535")},
		{"unknown transport", miRequest(t, "event_subscribe", []any{"E_X", "udp:127.0.0.1:9"}),
			miErrData("400", "Bad parameter value", `udp:127.0.0.1:9: unknown transport "udp" (want tcp:, tls:, virtual:)`)},
		{"unpublished event", miRequest(t, "event_subscribe", []any{"E_NEW", sock}),
			miErrData("400", "Bad parameter value", `event "E_NEW": event not published (auto_publish is off: publish it first, with event_publish or in the config)`)},
		{"negative expire", miRequest(t, "event_subscribe", []any{"E_X", sock, -1}), miInvalid("Negative expire value")},
		{"too few", miRequest(t, "event_subscribe", []any{"E_X"}), miInvalid("Too few or too many parameters")},
		{"too many", miRequest(t, "event_subscribe", []any{"E_X", sock, 1, "at-most-once", 2}), miInvalid("Too few or too many parameters")},
		{"bad expire type", miRequest(t, "event_subscribe", []any{"E_X", sock, "soon"}), miInvalid("Bad type for parameter 'expire'")},
		{"unknown command", miRequest(t, "no_such", nil), `{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}`},
		{"subscribers_list unknown event", miRequest(t, "subscribers_list", []any{"E_NONE"}), miErr("404", "Event not published")},
		{"subscribers_list unknown subscriber", miRequest(t, "subscribers_list", []any{"E_X", sock + "/x"}), miErr("404", "Subscriber does not exist")},
		{"subscribers_list no subscribers", miRequest(t, "subscribers_list", []any{"E_EMPTY"}), `{"jsonrpc":"2.0","result":{"Event":{}},"id":1}`},
		{"raise unknown event", miRequest(t, "raise_event", []any{"E_NONE"}), miErr("404", "Event not registered")},
		{"raise without subscribers", miRequest(t, "raise_event", []any{"E_EMPTY"}), miErr("480", "Temporarily Unavailable")},
		{"raise bad params", miRequest(t, "raise_event", []any{"E_X", 5}),
			miErrData("400", "Bad Params", "want an array, an object or a string holding an object, got 5")},
		{"raise params string not an object", miRequest(t, "raise_event", []any{"E_X", "[1]"}),
			miErrData("400", "Bad Params", `a string must hold a JSON object, got "[1]"`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkMI(t, d, c.body, c.want) })
	}
	status, got := postMI(t, d.MIURL, `{"jsonrpc":"2.0","method":`)
	if status != 200 || !strings.HasPrefix(got, `{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"`) ||
		!strings.HasSuffix(got, `,"id":null}`) {
		t.Errorf("malformed JSON: HTTP %d %s, want a -32700 error with a null id", status, got)
	}
	// Nothing reached the subscriber.
	if got := sink.Received(); got != "" {
		t.Errorf("subscriber received %q", got)
	}
}

func TestServeExpiry(t *testing.T) {
	d := startDaemon(t)
	sink := testnet.NewSink(t, testTimeout)
	sock := "tcp:" + sink.Addr()
	d.mustMI(t, "event_subscribe", "E_X", sock, 1)
	if got, want := d.mi(t, "subscribers_list", "E_X", sock), `"Subscriber":{"socket":"`+sock+`","expire":1,"ttl":`; !strings.Contains(got, want) {
		t.Fatalf("subscribers_list = %s, want %s...", got, want)
	}
	empty := `{"jsonrpc":"2.0","result":{"Event":{}},"id":1}`
	testnet.PollUntil(t, testTimeout, "subscription expired", func() bool { return d.mi(t, "subscribers_list", "E_X") == empty })
	if got := d.mi(t, "raise_event", "E_X"); got != miErr("480", "Temporarily Unavailable") {
		t.Errorf("raise_event after expiry = %s", got)
	}
}

func TestServeRefreshAndExpireZero(t *testing.T) {
	d := startDaemon(t)
	sink := testnet.NewSink(t, testTimeout)
	sock := "tcp:" + sink.Addr()
	d.mustMI(t, "event_subscribe", "E_X", sock, 100)
	d.mustMI(t, "event_subscribe", "E_X", sock, "200") // refresh: no duplicate
	want := `{"jsonrpc":"2.0","result":{"Event":{"name":"E_X","id":0,"Subscribers":[{"socket":"` + sock + `","expire":200,"ttl":`
	got := d.mi(t, "subscribers_list", "E_X")
	if !strings.HasPrefix(got, want) || strings.Count(got, `"socket"`) != 1 {
		t.Fatalf("subscribers_list after refresh = %s, want one subscriber, %s...", got, want)
	}
	d.mustMI(t, "event_subscribe", "E_X", sock, 0)
	if got := d.mi(t, "subscribers_list", "E_X"); got != `{"jsonrpc":"2.0","result":{"Event":{}},"id":1}` {
		t.Errorf("subscribers_list after expire 0 = %s", got)
	}
	if got := d.mi(t, "raise_event", "E_X"); got != miErr("480", "Temporarily Unavailable") {
		t.Errorf("raise_event after expire 0 = %s", got)
	}
}

// TestServeConfigSubscriptions: subscriptions from the config file never
// expire and are made again at every start.
func TestServeConfigSubscriptions(t *testing.T) {
	sink := testnet.NewSink(t, testTimeout)
	sock := "tcp:" + sink.Addr()
	cfg := writeConfig(t, `
events: [E_BOOT]
event_stream:
  framing: newline
  event_param: opensips_event
subscriptions:
  - event: E_BOOT
    socket: "`+sock+`/on_boot"
`)
	want := ""
	for run := range 2 {
		d := startDaemon(t, "--config", cfg)
		listed := `{"jsonrpc":"2.0","result":{"Events":[{"name":"E_BOOT","id":0,"Subscribers":[{"socket":"` + sock + `/on_boot","expire":"never"}]}]},"id":1}`
		if got := d.mi(t, "subscribers_list"); got != listed {
			t.Fatalf("run %d: subscribers_list = %s, want %s", run, got, listed)
		}
		d.mustMI(t, "raise_event", "E_BOOT", map[string]any{"run": run})
		want += `{"jsonrpc":"2.0","method":"on_boot","params":{"opensips_event":"E_BOOT","run":` + strconv.Itoa(run) + "}}\n"
		sink.WaitFor(t, want)
		if code := d.stop(t); code != 0 {
			t.Fatalf("run %d: exit %d; stderr:\n%s", run, code, d.Stderr)
		}
	}
}

// pausedReader accepts connections and reads nothing until resume.
type pausedReader struct {
	ln      net.Listener
	resumed chan struct{}
	total   chan int // the byte count, once the connection is closed
	wg      sync.WaitGroup
}

func newPausedReader(t *testing.T) *pausedReader {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &pausedReader{ln: ln, resumed: make(chan struct{}), total: make(chan int, 1)}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		<-r.resumed
		buf := make([]byte, 256<<10)
		n := 0
		for {
			k, err := c.Read(buf)
			n += k
			if err != nil {
				r.total <- n
				return
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		r.resume()
		r.wg.Wait()
	})
	return r
}

func (r *pausedReader) resume() {
	select {
	case <-r.resumed:
	default:
		close(r.resumed)
	}
}

// TestServeSIGTERMFlushes: events queued behind a subscriber that does not
// read are delivered after SIGTERM, then the daemon exits 0.
func TestServeSIGTERMFlushes(t *testing.T) {
	cfg := writeConfig(t, "event_stream:\n  timeout: 20000\n")
	d := startDaemon(t, "--config", cfg, "--shutdown-timeout", "10s")
	r := newPausedReader(t)
	d.mustMI(t, "event_subscribe", "E_BULK", "tcp:"+r.ln.Addr().String())
	const n, size = 100, 40000 // 4 MB: far more than the socket buffers hold
	payload := strings.Repeat("x", size)
	for range n {
		d.mustMI(t, "raise_event", "E_BULK", []any{payload})
	}
	d.signal(t, syscall.SIGTERM)
	r.resume()
	if code := d.wait(t); code != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, d.Stderr)
	}
	one := len(`{"jsonrpc":"2.0","method":"E_BULK","params":["` + payload + `"]}`)
	if got := <-r.total; got != n*one {
		t.Errorf("received %d bytes, want %d (%d events)", got, n*one, n)
	}
	if !strings.Contains(d.Stderr.String(), "shutdown: every queued event was sent") {
		t.Errorf("no drain report in the logs:\n%s", d.Stderr)
	}
}

func TestServePortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	code, stdout, stderr := runToEnd(t, "serve", "--mi-listen", busy.Addr().String())
	want := "evstream: mi.listen: cannot listen on " + busy.Addr().String() + ": bind: address already in use\n"
	if code != 1 || stderr != want || stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing, %q", code, stdout, stderr, want)
	}
}

func TestServeBadConfig(t *testing.T) {
	missing := t.TempDir() + "/missing.yaml"
	cases := []struct {
		name, yaml string
		args       []string
		want       string // FILE is replaced by the config's path
	}{
		{"bad value", "event_stream:\n  reliable_mode: true\n  timeout: -5\n", nil,
			"evstream: FILE:3: event_stream.timeout: -5 is out of range: want 1 to 3600000 milliseconds (1 hour)\n"},
		{"unknown key", "mi:\n  listen: 127.0.0.1:0\n  lisen: 127.0.0.1:0\n", nil,
			"evstream: FILE:3: mi.lisen: unknown key (want one of: listen, allowed_hosts, auth_token, basic_auth, tls_cert_file, tls_key_file, ui)\n"},
		{"two problems", "log:\n  level: loud\n  format: xml\n", nil,
			"evstream: FILE:2: log.level: \"loud\" is not a log level (want debug, info, warn or error)\n" +
				"evstream: FILE:3: log.format: \"xml\" is not a log format (want text or json)\n"},
		{"bad subscription", "subscriptions:\n  - {event: E_X, socket: \"tcp:127.0.0.1:0\"}\n", nil,
			`evstream: subscriptions[0] (event E_X, socket "tcp:127.0.0.1:0"): `},
		{"bad flag value", "", []string{"--log-level", "chatty"},
			"evstream: log.level: \"chatty\" is not a log level (want debug, info, warn or error)\n"},
		{"missing file", "", []string{"--config", missing},
			"evstream: " + missing + ": cannot read config: no such file or directory\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeConfig(t, c.yaml)
			args := append([]string{"serve", "--mi-listen", "127.0.0.1:0", "--config", path}, c.args...)
			code, stdout, stderr := runToEnd(t, args...)
			want := strings.ReplaceAll(c.want, "FILE", path)
			if code != 1 || stdout != "" || !strings.HasPrefix(stderr, want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing, %q", code, stdout, stderr, want)
			}
		})
	}
}

func TestServeUsage(t *testing.T) {
	const hint = "Run 'evstream serve --help' for usage.\n"
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"extra"}, "evstream serve: unexpected argument \"extra\"\n" + hint},
		{[]string{"--no-such-flag"}, "evstream serve: unknown flag: --no-such-flag\n" + hint},
		// A raw Go error never reaches the user: it says what was expected.
		{[]string{"--shutdown-timeout", "5"},
			"evstream serve: invalid argument \"5\" for \"--shutdown-timeout\" flag: want a duration with a unit, like 5s, 5ms or 2m\n" + hint},
	}
	for _, c := range cases {
		code, stdout, stderr := runToEnd(t, append([]string{"serve"}, c.args...)...)
		if code != 2 || stdout != "" || stderr != c.want {
			t.Errorf("serve %q: exit %d, stdout %q, stderr %q; want 2 and %q", c.args, code, stdout, stderr, c.want)
		}
	}
	// Help, three ways; the flags anywhere.
	for _, args := range [][]string{{"serve", "-h"}, {"serve", "--help"}, {"help", "serve"}} {
		code, stdout, _ := runToEnd(t, args...)
		if code != 0 || !strings.Contains(stdout, "--shutdown-timeout") || !strings.Contains(stdout, "SIGHUP") {
			t.Errorf("%q: exit %d, stdout %q", args, code, stdout)
		}
	}
}

// TestCommandLine: a bare evstream, an unknown or mistyped command, help.
func TestCommandLine(t *testing.T) {
	code, stdout, stderr := runToEnd(t)
	if code != 2 || stdout != "" || !strings.Contains(stderr, "Available Commands:") {
		t.Errorf("evstream: exit %d, stdout %q, stderr %q; want 2 and the commands", code, stdout, stderr)
	}
	code, _, stderr = runToEnd(t, "serv")
	if code != 2 || !strings.Contains(stderr, `unknown command "serv"`) || !strings.Contains(stderr, "Did you mean this?\n\tserve") {
		t.Errorf("evstream serv: exit %d, stderr %q; want 2 and a suggestion", code, stderr)
	}
	code, stdout, _ = runToEnd(t, "--help")
	for _, c := range []string{"serve", "mi", "listen", "bench", "version"} {
		if code != 0 || !strings.Contains(stdout, "  "+c+" ") {
			t.Errorf("evstream --help: exit %d, no %q in %q", code, c, stdout)
		}
	}
}

func TestServeMIDisabledAndIngest(t *testing.T) {
	sink := testnet.NewSink(t, testTimeout)
	cfg := writeConfig(t, "log: {format: json}\nsubscriptions:\n  - {event: E_RELAY, socket: \"tcp:"+sink.Addr()+"\"}\n")
	d := startDaemon(t, "--config", cfg, "--mi-listen", "", "--ingest-listen", "127.0.0.1:0")
	if d.MIURL != "" || !strings.Contains(d.Stdout.String(), "evstream: MI disabled\n") {
		t.Errorf("MIURL %q, stdout %q; want the MI disabled", d.MIURL, d.Stdout)
	}
	// Relay: an event written to ingest reaches the config subscription.
	c, err := net.Dial("tcp", d.IngestAddr)
	if err != nil {
		t.Fatalf("ingest address %q: %v", d.IngestAddr, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(`{"jsonrpc":"2.0","method":"E_RELAY","params":[1,"a"]}`)); err != nil {
		t.Fatal(err)
	}
	sink.WaitFor(t, `{"jsonrpc":"2.0","method":"E_RELAY","params":[1,"a"]}`)
	if code := d.stop(t); code != 0 {
		t.Errorf("exit %d; stderr:\n%s", code, d.Stderr)
	}
	// log.format json: every log line is a JSON object.
	for _, line := range strings.Split(strings.TrimSpace(d.Stderr.String()), "\n") {
		if !json.Valid([]byte(line)) || !strings.HasPrefix(line, `{"time":`) {
			t.Errorf("log line is not JSON: %s", line)
		}
	}
}

// getURL GETs url and returns the HTTP status and the body.
func getURL(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := miClient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading response: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// TestServeMetricsAndHealth scrapes the binary's /metrics and /healthz on
// the MI listener after events raised over the MI reached a sink.
func TestServeMetricsAndHealth(t *testing.T) {
	const n = 4
	d := startDaemon(t)
	base := strings.TrimSuffix(d.MIURL, "/mi")
	sink := testnet.NewSink(t, testTimeout)
	d.mustMI(t, "event_subscribe", "E_METRICS", sink.Socket())
	for i := range n {
		d.mustMI(t, "raise_event", "E_METRICS", map[string]any{"i": i})
	}
	sink.WaitUntil(t, strconv.Itoa(n)+" events", func(got string) bool { return strings.Count(got, `"method"`) == n })

	want := "\nevstream_stream_delivered_total " + strconv.Itoa(n) + "\n"
	var body string
	testnet.PollUntil(t, testTimeout, "/metrics shows "+strings.TrimSuffix(want, "\n"), func() bool {
		var status int
		status, body = getURL(t, base+"/metrics")
		return status == http.StatusOK && strings.Contains(body, want)
	})
	for _, line := range []string{
		"\nevstream_events_raised_total " + strconv.Itoa(n) + "\n",
		"\nevstream_stream_sent_total " + strconv.Itoa(n) + "\n",
		"\nevstream_subscribers 1\n",
		"\n# TYPE evstream_stream_delivered_total counter\n",
		"\n# TYPE go_goroutines gauge\n",
	} {
		if !strings.Contains(body, line) {
			t.Errorf("/metrics lacks %q:\n%s", line, body)
		}
	}
	if status, got := getURL(t, base+"/healthz"); status != http.StatusOK || got != "ok\n" {
		t.Errorf("GET /healthz = HTTP %d %q, want 200 \"ok\\n\"", status, got)
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0; stderr:\n%s", code, d.Stderr)
	}
}
