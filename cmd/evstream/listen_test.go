package main

// Black-box tests of `evstream listen`, through the binary that TestMain
// built (see main_test.go).

import (
	"bufio"
	"encoding/json"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/evstream/evstream/internal/testcert"
	"github.com/evstream/evstream/internal/testnet"
	"github.com/evstream/evstream/jsonrpc"
)

const listeningPrefix = "evstream: listening on "

// startListen runs `evstream listen 127.0.0.1:0 ARGS...` and returns it
// with the address it listens on, once it listens.
func startListen(t *testing.T, args ...string) (*daemonProc, string) {
	t.Helper()
	d := runEvstream(t, append([]string{"listen", "127.0.0.1:0"}, args...)...)
	var addr string
	testnet.PollUntil(t, testTimeout, "evstream listen prints its address", func() bool {
		select {
		case <-d.exited:
			t.Fatalf("evstream listen exited with code %d; stderr:\n%s", d.exitCode, d.Stderr.String())
		default:
		}
		for _, line := range strings.Split(d.Stderr.String(), "\n") {
			if a, ok := strings.CutPrefix(line, listeningPrefix); ok {
				addr, _, _ = strings.Cut(a, " ") // "ADDR (TLS: ...)"
				return true
			}
		}
		return false
	})
	return d, addr
}

// nextReply reads one reply from the stream.
func nextReply(t *testing.T, dec *jsonrpc.Decoder) string {
	t.Helper()
	b, err := dec.Next()
	if err != nil {
		t.Fatalf("reading a reply: %v", err)
	}
	return string(b)
}

// lineRE matches a printed event; the time is checked apart.
var lineRE = regexp.MustCompile(`^\{"time":"([^"]+)",(.*)\}$`)

// checkLines checks the printed lines, time aside: want holds what follows
// the time, without the closing brace.
func checkLines(t *testing.T, stdout string, want ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("printed %d lines, want %d:\n%s", len(lines), len(want), stdout)
	}
	for i, line := range lines {
		m := lineRE.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("line %d is not an event line: %s", i, line)
			continue
		}
		if !json.Valid([]byte(line)) {
			t.Errorf("line %d is not valid JSON: %s", i, line)
		}
		ts, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil || time.Since(ts) > time.Minute || time.Since(ts) < 0 {
			t.Errorf("line %d: time %q is not a recent RFC 3339 time (%v)", i, m[1], err)
		}
		if m[2] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, m[2], want[i])
		}
	}
}

// `listen --count 2` prints a notification and a request, answers the
// request with "OK", and exits 0.
func TestListenCount(t *testing.T) {
	d, addr := startListen(t, "--count", "2")
	c := testnet.Dial(t, addr, testTimeout)
	peer := c.LocalAddr().String()
	// OpenSIPS's bytes, the second one split and spread with whitespace.
	c.Write([]byte(`{"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"ip":"192.168.2.11"}}` + "\n" + `{"id":915243442,"jsonrpc":"2.0",`))
	c.Write([]byte(` "method":"E_SCRIPT",` + "\n\t" + `"params":["five", 3]}`))
	if got, want := nextReply(t, jsonrpc.NewDecoder(c, 0)), `{"jsonrpc":"2.0","result":"OK","id":915243442}`; got != want {
		t.Errorf("reply %s, want %s", got, want)
	}
	if code := d.wait(t); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, d.Stderr.String())
	}
	checkLines(t, d.Stdout.String(),
		`"peer":"`+peer+`","method":"E_PIKE_BLOCKED","params":{"ip":"192.168.2.11"}`,
		`"peer":"`+peer+`","method":"E_SCRIPT","params":["five",3],"id":915243442`,
	)
}

// The replies asked for with --reply and --error, and the defaults.
func TestListenReplies(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"default", nil, `{"jsonrpc":"2.0","result":"OK","id":"a"}`},
		{"reply", []string{"--reply", `{"a": [1, 2], "b":"x"}`}, `{"jsonrpc":"2.0","result":{"a":[1,2],"b":"x"},"id":"a"}`},
		{"reply number", []string{"--reply=8"}, `{"jsonrpc":"2.0","result":8,"id":"a"}`},
		{"error", []string{"--error", `not "now"`}, `{"jsonrpc":"2.0","error":{"code":-32000,"message":"not \"now\""},"id":"a"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, addr := startListen(t, append(tc.args, "--count", "1")...)
			c := testnet.Dial(t, addr, testTimeout)
			c.Write([]byte(`{"id":"a","jsonrpc":"2.0","method":"E_X"}`))
			if got := nextReply(t, jsonrpc.NewDecoder(c, 0)); got != tc.want {
				t.Errorf("reply %s, want %s", got, tc.want)
			}
			if code := d.wait(t); code != 0 {
				t.Errorf("exit code %d; stderr:\n%s", code, d.Stderr.String())
			}
			checkLines(t, d.Stdout.String(), `"peer":"`+c.LocalAddr().String()+`","method":"E_X","id":"a"`)
		})
	}
}

// --delay holds each reply back; the event is printed at once.
func TestListenDelay(t *testing.T) {
	// Long enough that printing (at once) cannot take as long on a loaded
	// machine: the check is the order, print then reply.
	const delay = 3 * time.Second
	d, addr := startListen(t, "--delay", delay.String(), "--count", "1")
	c := testnet.Dial(t, addr, testTimeout)
	start := time.Now()
	c.Write([]byte(`{"id":1,"jsonrpc":"2.0","method":"E_X"}`))
	select {
	case line := <-d.startupLines:
		if el := time.Since(start); el >= delay {
			t.Errorf("printed after %v, want before the %v delay", el, delay)
		}
		if !strings.Contains(line, `"method":"E_X"`) {
			t.Errorf("printed %s", line)
		}
	case <-time.After(testTimeout):
		t.Fatal("nothing printed")
	}
	if got := nextReply(t, jsonrpc.NewDecoder(c, 0)); got != `{"jsonrpc":"2.0","result":"OK","id":1}` {
		t.Errorf("reply %s", got)
	}
	if el := time.Since(start); el < delay {
		t.Errorf("reply after %v, before the %v delay", el, delay)
	}
	if code := d.wait(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// SIGINT and SIGTERM stop it with exit code 0; what it received is printed.
func TestListenSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			d, addr := startListen(t)
			c := testnet.Dial(t, addr, testTimeout)
			c.Write([]byte(`{"jsonrpc":"2.0","method":"E_X","params":{"n":1}}{"id":2,"jsonrpc":"2.0","method":"E_X"}`))
			nextReply(t, jsonrpc.NewDecoder(c, 0)) // both events handled
			d.signal(t, sig)
			if code := d.wait(t); code != 0 {
				t.Errorf("exit code %d; stderr:\n%s", code, d.Stderr.String())
			}
			checkLines(t, d.Stdout.String(),
				`"peer":"`+c.LocalAddr().String()+`","method":"E_X","params":{"n":1}`,
				`"peer":"`+c.LocalAddr().String()+`","method":"E_X","id":2`)
		})
	}
}

// Events after --count are not printed; a request among them is refused.
func TestListenCountLimit(t *testing.T) {
	d, addr := startListen(t, "--count", "1")
	c := testnet.Dial(t, addr, testTimeout)
	c.Write([]byte(`{"id":1,"jsonrpc":"2.0","method":"E_1"}{"id":2,"jsonrpc":"2.0","method":"E_2"}`))
	dec := jsonrpc.NewDecoder(c, 0)
	if got := nextReply(t, dec); got != `{"jsonrpc":"2.0","result":"OK","id":1}` {
		t.Errorf("reply %s", got)
	}
	// The second event may or may not be read before the exit: when it is,
	// it is refused.
	if b, err := dec.Next(); err == nil {
		if want := `{"jsonrpc":"2.0","error":{"code":-32000,"message":"evstream listen: --count reached, exiting"},"id":2}`; string(b) != want {
			t.Errorf("second reply %s, want %s", b, want)
		}
	}
	if code := d.wait(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
	checkLines(t, d.Stdout.String(), `"peer":"`+c.LocalAddr().String()+`","method":"E_1","id":1`)
}

// Garbage closes that connection only, with a log on stderr.
func TestListenGarbage(t *testing.T) {
	d, addr := startListen(t, "--count", "1")
	bad := testnet.Dial(t, addr, testTimeout)
	bad.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	if _, err := bufio.NewReader(bad).ReadByte(); err == nil {
		t.Error("the connection that sent garbage got bytes back")
	}
	good := testnet.Dial(t, addr, testTimeout)
	good.Write([]byte(`{"jsonrpc":"2.0","method":"E_X"}`))
	if code := d.wait(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
	if s := d.Stderr.String(); !strings.Contains(s, "malformed stream") || !strings.Contains(s, bad.LocalAddr().String()) {
		t.Errorf("stderr does not tell about the garbage:\n%s", s)
	}
}

func TestListenUsage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"help", []string{"-h"}, 0, "evstream listen [ADDR] [flags]"},
		{"bad reply", []string{"--reply", "{nope"}, 2, `--reply "{nope" is not valid JSON`},
		{"reply and error", []string{"--reply", "1", "--error", "x"}, 2, "--reply and --error exclude each other"},
		{"two addresses", []string{"127.0.0.1:0", "127.0.0.1:1"}, 2, "one address at most"},
		{"negative count", []string{"--count", "-1"}, 2, "cannot be negative"},
		{"bad log level", []string{"--log-level", "loud"}, 2, `--log-level "loud"`},
		{"unknown flag", []string{"--nope"}, 2, "evstream listen: unknown flag: --nope"},
		{"bad port", []string{"127.0.0.1:99999"}, 2, `evstream listen: address "127.0.0.1:99999": port "99999" is not a number from 0 to 65535`},
		{"port without host", []string{"9999"}, 2, `evstream listen: address "9999": want host:port, e.g. 127.0.0.1:8080`},
		{"delay without unit", []string{"--delay", "300"}, 2, `want a duration with a unit, like 300s, 300ms or 2m`},
		{"flags after the address", []string{"127.0.0.1:0", "--count", "x"}, 2, `invalid argument "x" for "--count" flag`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runToEnd(t, append([]string{"listen"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.stderr) {
				t.Errorf("exit code %d, stdout+stderr:\n%s%s\nwant code %d and %q", code, stdout, stderr, tc.code, tc.stderr)
			}
		})
	}
}

// TestListenTLS: `evstream listen --tls-cert --tls-key` receives a
// daemon's tls: deliveries (the daemon trusting the test CA through
// tls.ca_file), at-most-once and at-least-once; the daemon's tls: counters
// show them.
func TestListenTLS(t *testing.T) {
	ca := testcert.NewCA(t, "listen-ca")
	pair := ca.Server("listen", "127.0.0.1")
	l, addr := startListen(t, "--tls-cert", pair.CertFile, "--tls-key", pair.KeyFile)
	cfg := writeConfig(t, "tls: {ca_file: "+ca.File+"}\n")
	d := startDaemon(t, "--config", cfg, "--data-dir", t.TempDir())
	d.mustMI(t, "event_subscribe", "E_T", "tls:"+addr+"/plain")
	d.mustMI(t, "event_subscribe", "E_T", "tls:"+addr+"/durable", 600, "at-least-once")
	d.mustMI(t, "raise_event", "E_T", map[string]string{"via": "tls"})
	testnet.PollUntil(t, testTimeout, "both deliveries printed by listen", func() bool {
		out := l.Stdout.String()
		return strings.Contains(out, `"method":"plain"`) && strings.Contains(out, `"method":"durable"`)
	})
	if !strings.Contains(l.Stdout.String(), `"via":"tls"`) {
		t.Fatalf("listen printed %s", l.Stdout.String())
	}
	// The counters move once the write has returned, which may be after
	// listen printed what it read; they count both subscribers (the
	// at-least-once one once it has confirmed; sent counts its attempts,
	// more than one if a slow machine made it retry).
	testnet.PollUntil(t, testTimeout, "tls: counting both deliveries", func() bool {
		var stats struct {
			Result map[string]int64 `json:"result"`
		}
		if err := json.Unmarshal([]byte(d.mi(t, "get_statistics", "tls:")), &stats); err != nil {
			t.Fatal(err)
		}
		return stats.Result["tls:delivered"] == 2 && stats.Result["tls:sent"] >= 2
	})
	testnet.PollUntil(t, testTimeout, "the at-least-once event confirmed", func() bool {
		return strings.Contains(d.mi(t, "subscribers_list", "E_T"), `"pending":0`)
	})
}
