package main

// Black-box test harness for the evstream binary, shared by every test file
// of this package (serve, mi, listen, bench...).
//
// TestMain builds the binary once into a temporary directory; evstreamBin is
// its path. Tests then run it as a subprocess and talk to it over HTTP and
// TCP on loopback only:
//
//	d := startDaemon(t)                            // evstream serve --mi-listen 127.0.0.1:0
//	sink := testnet.NewSink(t, testTimeout)        // a loopback TCP receiver
//	d.mustMI(t, "event_subscribe", "E_X", "tcp:"+sink.Addr())
//	d.mustMI(t, "raise_event", "E_X", []any{1})
//	sink.WaitFor(t, `{"jsonrpc":"2.0","method":"E_X","params":["1"]}`)
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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/evstream/evstream/internal/testnet"
)

// evstreamBin is the path of the evstream binary that TestMain built.
var evstreamBin string

// testTimeout bounds every wait of the harness (startup, a reply, bytes on a
// sink, process exit). Tests fail rather than hang.
const testTimeout = 30 * time.Second

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
	// -buildvcs=auto: record the VCS revision when git can tell it (the
	// environment may say -buildvcs=false; version is tested either way).
	build := exec.Command("go", "build", "-buildvcs=auto", "-o", evstreamBin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "TestMain: go build -o %s .: %v\n%s", evstreamBin, err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { os.RemoveAll(dir) }))
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
	Stdout, Stderr *testnet.Buffer

	exited       chan struct{} // closed once the process has exited
	exitCode     int           // valid after exited is closed
	startupLines chan string   // stdout lines, until startDaemon has seen the ready line
}

// runEvstream starts the binary with args and returns it with its output
// being collected; the caller waits on exited. It is killed at the end of
// the test if it is still running.
func runEvstream(t testing.TB, args ...string) *daemonProc {
	t.Helper()
	return runEvstreamEnv(t, nil, args...)
}

// runEvstreamEnv is runEvstream with env (KEY=VALUE) added to the
// environment.
func runEvstreamEnv(t testing.TB, env []string, args ...string) *daemonProc {
	t.Helper()
	d := &daemonProc{
		cmd:    exec.Command(evstreamBin, args...),
		Stdout: new(testnet.Buffer),
		Stderr: new(testnet.Buffer),
		exited: make(chan struct{}),
	}
	if env != nil {
		d.cmd.Env = append(os.Environ(), env...)
	}
	// Its own working directory: the default data_dir (evstream-data) is
	// created there, never in the package's.
	d.cmd.Dir = t.TempDir()
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
	return startDaemonEnv(t, nil, args...)
}

// startDaemonEnv is startDaemon with env (KEY=VALUE) added to the
// environment.
func startDaemonEnv(t testing.TB, env []string, args ...string) *daemonProc {
	t.Helper()
	d := runEvstreamEnv(t, env, append([]string{"serve", "--mi-listen", "127.0.0.1:0"}, args...)...)
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

// waitStderr waits until the process's stderr contains want, and fails
// the test, showing it, after testTimeout.
func (d *daemonProc) waitStderr(t testing.TB, want string) {
	t.Helper()
	testnet.PollUntil(t, testTimeout, fmt.Sprintf("stderr containing %q (stderr so far: %s)", want, d.Stderr.String()), func() bool {
		return strings.Contains(d.Stderr.String(), want)
	})
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
