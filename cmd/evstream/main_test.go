package main

// Black-box test harness for the evstream binary, shared by every test file
// of this package (serve, mi, listen, bench...).
//
// TestMain builds the binary once into a temporary directory; evstreamBin is
// its path. Tests then run it as a subprocess and talk to it over HTTP and
// TCP on loopback only:
//
//	d := startDaemon(t)                            // evstream serve --mi-listen 127.0.0.1:0
//	sink := newTCPSink(t)                          // a loopback TCP receiver
//	d.mustMI(t, "event_subscribe", "E_X", "tcp:"+sink.Addr())
//	d.mustMI(t, "raise_event", "E_X", []any{1})
//	sink.waitFor(t, `{"jsonrpc":"2.0","method":"E_X","params":["1"]}`)
//	code := d.stop(t)                              // SIGTERM, wait, exit code
//
// startDaemon waits until the daemon is ready: serve prints
//
//	evstream: ingest listening on ADDR             (only when ingest is on)
//	evstream: MI listening on http://HOST:PORT/mi  (always the last startup line)
//
// to stdout once it has bound its listeners, published its events and made
// its config subscriptions ("evstream: MI disabled" replaces the MI line when
// mi.listen is empty). Nothing here sleeps: waits are channel receives or
// polls bounded by testTimeout.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// evstreamBin is the path of the evstream binary that TestMain built.
var evstreamBin string

// testTimeout bounds every wait of the harness (startup, a reply, bytes on a
// sink, process exit). Tests fail rather than hang.
const testTimeout = 10 * time.Second

// Prefixes of serve's startup lines on stdout.
const (
	miReadyPrefix     = "evstream: MI listening on "
	miDisabledLine    = "evstream: MI disabled"
	ingestReadyPrefix = "evstream: ingest listening on "
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "evstream-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "TestMain:", err)
		os.Exit(1)
	}
	evstreamBin = filepath.Join(dir, "evstream")
	build := exec.Command("go", "build", "-o", evstreamBin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "TestMain: go build -o %s .: %v\n%s", evstreamBin, err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { os.RemoveAll(dir) }))
}

// syncBuffer is a bytes.Buffer safe for one writer and many readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// daemonProc is a running `evstream serve` subprocess.
type daemonProc struct {
	cmd *exec.Cmd
	// MIURL is the MI endpoint, e.g. http://127.0.0.1:40123/mi ("" when the
	// MI is disabled).
	MIURL string
	// IngestAddr is the ingest listener's address ("" when ingest is off).
	IngestAddr string
	// Stdout and Stderr collect the process's output (logs go to Stderr).
	Stdout, Stderr *syncBuffer

	exited       chan struct{} // closed once the process has exited
	exitCode     int           // valid after exited is closed
	startupLines chan string   // stdout lines, until startDaemon has seen the ready line
}

// runEvstream starts the binary with args and returns it with its output
// being collected; the caller waits on exited. It is killed at the end of
// the test if it is still running.
func runEvstream(t testing.TB, args ...string) *daemonProc {
	t.Helper()
	d := &daemonProc{
		cmd:    exec.Command(evstreamBin, args...),
		Stdout: new(syncBuffer),
		Stderr: new(syncBuffer),
		exited: make(chan struct{}),
	}
	d.cmd.Stderr = d.Stderr
	outR, outW := io.Pipe()
	d.cmd.Stdout = outW
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start %s %v: %v", evstreamBin, args, err)
	}
	lines := make(chan string, 16)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		defer close(lines)
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			d.Stdout.Write(append(sc.Bytes(), '\n'))
			select {
			case lines <- sc.Text():
			default: // nobody waiting for startup lines any more
			}
		}
		io.Copy(d.Stdout, outR) // a line too long for the scanner
	}()
	go func() {
		err := d.cmd.Wait()
		outW.Close()
		<-copied // Stdout is complete once exited is closed
		d.exitCode = 0
		if err != nil {
			d.exitCode = -1
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				d.exitCode = ee.ExitCode()
			}
		}
		close(d.exited)
	}()
	d.startupLines = lines
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			d.cmd.Process.Kill()
			<-d.exited
		}
	})
	return d
}

// runToEnd runs the binary with args to completion (at most testTimeout)
// and returns its exit code, stdout and stderr.
func runToEnd(t testing.TB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	d := runEvstream(t, args...)
	code = d.wait(t)
	return code, d.Stdout.String(), d.Stderr.String()
}

// startDaemon runs `evstream serve --mi-listen 127.0.0.1:0 ARGS...` (a later
// --mi-listen in args wins) and returns once it is ready, with MIURL (and
// IngestAddr, when ingest is on) filled in. It fails the test, showing the
// daemon's stderr, if the daemon exits or is not ready within testTimeout.
func startDaemon(t testing.TB, args ...string) *daemonProc {
	t.Helper()
	d := runEvstream(t, append([]string{"serve", "--mi-listen", "127.0.0.1:0"}, args...)...)
	deadline := time.NewTimer(testTimeout)
	defer deadline.Stop()
	for {
		select {
		case line, ok := <-d.startupLines:
			if !ok {
				<-d.exited
				t.Fatalf("evstream serve %v exited with code %d before it was ready; stderr:\n%s",
					args, d.exitCode, d.Stderr.String())
			}
			switch {
			case strings.HasPrefix(line, ingestReadyPrefix):
				d.IngestAddr = strings.TrimPrefix(line, ingestReadyPrefix)
			case strings.HasPrefix(line, miReadyPrefix):
				d.MIURL = strings.TrimPrefix(line, miReadyPrefix)
				d.startupLines = nil
				return d
			case line == miDisabledLine:
				d.startupLines = nil
				return d
			}
		case <-deadline.C:
			t.Fatalf("evstream serve %v not ready after %v; stdout:\n%s\nstderr:\n%s",
				args, testTimeout, d.Stdout.String(), d.Stderr.String())
		}
	}
}

// wait waits for the process to exit by itself and returns its exit code.
func (d *daemonProc) wait(t testing.TB) int {
	t.Helper()
	select {
	case <-d.exited:
		return d.exitCode
	case <-time.After(testTimeout):
		t.Fatalf("evstream did not exit within %v; stderr:\n%s", testTimeout, d.Stderr.String())
		return -1
	}
}

// signal sends sig to the process.
func (d *daemonProc) signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// stop sends SIGTERM and returns the exit code once the process has exited.
func (d *daemonProc) stop(t testing.TB) int {
	t.Helper()
	d.signal(t, syscall.SIGTERM)
	return d.wait(t)
}

// miRequest builds a JSON-RPC 2.0 request with id 1. params is sent as
// given: nil means no "params" member, a []any is sent by position, a
// map[string]any by name.
func miRequest(t testing.TB, method string, params any) string {
	t.Helper()
	req := map[string]any{"jsonrpc": "2.0", "method": method, "id": 1}
	if params != nil {
		req["params"] = params
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatalf("marshal MI request %s %v: %v", method, params, err)
	}
	return string(b)
}

// miClient keeps no idle connections, so no transport goroutine outlives a
// call (goleak checks at the end).
var miClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// postMI posts body to the MI endpoint url and returns the HTTP status and
// the response body.
func postMI(t testing.TB, url, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatalf("MI request to %s: %v", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := miClient.Do(req)
	if err != nil {
		t.Fatalf("MI POST %s %s: %v", url, body, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("MI POST %s: reading response: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// mi calls the MI command method with positional params (none when
// params is empty) and returns the raw response body. HTTP must be 200.
func (d *daemonProc) mi(t testing.TB, method string, params ...any) string {
	t.Helper()
	var p any
	if len(params) > 0 {
		p = params
	}
	status, body := postMI(t, d.MIURL, miRequest(t, method, p))
	if status != http.StatusOK {
		t.Fatalf("MI %s %v: HTTP %d: %s", method, params, status, body)
	}
	return body
}

// mustMI is mi, failing the test unless the reply is
// {"jsonrpc":"2.0","result":"OK","id":1}.
func (d *daemonProc) mustMI(t testing.TB, method string, params ...any) {
	t.Helper()
	const ok = `{"jsonrpc":"2.0","result":"OK","id":1}`
	if got := d.mi(t, method, params...); got != ok {
		t.Fatalf("MI %s %v = %s, want %s", method, params, got, ok)
	}
}

// writeConfig writes a config file into t.TempDir() and returns its path.
func writeConfig(t testing.TB, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "evstream.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tcpSink is a loopback TCP listener that accepts any number of
// connections and records every byte received, across connections, in
// arrival order per connection.
type tcpSink struct {
	ln net.Listener

	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced whenever buf grows or a conn ends
	conns   []net.Conn
	wg      sync.WaitGroup
}

// newTCPSink listens on 127.0.0.1:0; it is closed at the end of the test.
func newTCPSink(t testing.TB) *tcpSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &tcpSink{ln: ln, changed: make(chan struct{})}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return s
}

// Addr returns "127.0.0.1:PORT", for sockets like "tcp:"+s.Addr().
func (s *tcpSink) Addr() string { return s.ln.Addr().String() }

func (s *tcpSink) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.wg.Add(1)
		go s.read(c)
	}
}

func (s *tcpSink) read(c net.Conn) {
	defer s.wg.Done()
	b := make([]byte, 64<<10)
	for {
		n, err := c.Read(b)
		s.mu.Lock()
		s.buf.Write(b[:n])
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (s *tcpSink) close() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// received returns every byte received so far.
func (s *tcpSink) received() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitUntil waits until cond(received bytes) is true, failing the test
// after testTimeout with what was received.
func (s *tcpSink) waitUntil(t testing.TB, what string, cond func(string) bool) {
	t.Helper()
	deadline := time.NewTimer(testTimeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, changed := s.buf.String(), s.changed
		s.mu.Unlock()
		if cond(got) {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("sink %s: %s not seen within %v; received %q", s.Addr(), what, testTimeout, got)
		}
	}
}

// waitFor waits until exactly want has been received (fails early when the
// bytes received stop being a prefix of want).
func (s *tcpSink) waitFor(t testing.TB, want string) {
	t.Helper()
	s.waitUntil(t, fmt.Sprintf("exactly %q", want), func(got string) bool {
		if !strings.HasPrefix(want, got) {
			t.Fatalf("sink %s: received %q, want %q", s.Addr(), got, want)
		}
		return got == want
	})
}

// pollUntil calls cond until it returns true, at most testTimeout, polling
// every few milliseconds (for state only visible by asking, like an MI
// listing). It fails the test with what on timeout.
func pollUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %v", what, testTimeout)
		}
		<-tick.C
	}
}
