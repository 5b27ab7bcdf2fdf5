package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/evstream/evstream/internal/testnet"
)

// TestServeSIGHUPReloads: SIGHUP reloads the log level and the config's
// subscriptions, reports what needs a restart, never stops the daemon,
// and keeps the running config when the file no longer loads.
func TestServeSIGHUPReloads(t *testing.T) {
	a, b := testnet.NewSink(t, testTimeout), testnet.NewSink(t, testTimeout)
	path := writeConfig(t, "subscriptions:\n  - {event: E_A, socket: \""+a.Socket()+"\"}\n")
	d := startDaemon(t, "--config", path)
	if err := os.WriteFile(path, []byte("log: {level: debug}\nevent_stream: {timeout: 2000}\n"+
		"subscriptions:\n  - {event: E_B, socket: \""+b.Socket()+"\", expire: 600}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.signal(t, syscall.SIGHUP)
	d.waitStderr(t, "reload: config applied")
	got := d.mi(t, "subscribers_list")
	if !strings.Contains(got, `"name":"E_B"`) || !strings.Contains(got, `"expire":600`) || strings.Contains(got, `"name":"E_A"`) {
		t.Errorf("subscribers after the reload: %s", got)
	}
	d.waitStderr(t, "need a restart")
	if !strings.Contains(d.Stderr.String(), "event_stream.timeout") {
		t.Errorf("the key that needs a restart is not named:\n%s", d.Stderr.String())
	}
	// The new log level is in effect: debug lines appear.
	d.mi(t, "which")
	d.waitStderr(t, "level=DEBUG")

	// A file that no longer loads: logged, the running config kept.
	if err := os.WriteFile(path, []byte("event_stream: {timeout: -1}\nloog: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.signal(t, syscall.SIGHUP)
	// One line per problem, in line order: wait for the last one.
	d.waitStderr(t, "loog: unknown key")
	if l := d.Stderr.String(); !strings.Contains(l, "reload refused, the running config is kept") || !strings.Contains(l, "loog: unknown key") || !strings.Contains(l, "event_stream.timeout: -1 is out of range") {
		t.Errorf("the reasons are not logged:\n%s", l)
	}
	if got := d.mi(t, "subscribers_list"); !strings.Contains(got, `"name":"E_B"`) {
		t.Errorf("subscribers after a refused reload: %s", got)
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
}

// TestServeSecondSignalEndsTheDrain: with events awaiting replies that
// never come and a shutdown timeout of ten minutes, a second SIGTERM (or
// SIGINT) ends the drain at once and says how many events were
// abandoned.
func TestServeSecondSignalEndsTheDrain(t *testing.T) {
	for _, second := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(second.String(), func(t *testing.T) {
			sink := testnet.NewSink(t, testTimeout) // reads, never replies
			cfg := writeConfig(t, "event_stream: {reliable_mode: true, timeout: 3600000}\n"+
				"subscriptions:\n  - {event: E_X, socket: \""+sink.Socket()+"\"}\n")
			d := startDaemon(t, "--config", cfg, "--shutdown-timeout", "10m")
			for range 5 {
				d.mustMI(t, "raise_event", "E_X")
			}
			sink.WaitUntil(t, "5 requests", func(got string) bool { return strings.Count(got, `"method":"E_X"`) == 5 })
			d.signal(t, syscall.SIGTERM)
			d.waitStderr(t, "shutting down")
			d.signal(t, syscall.SIGHUP) // ignored while draining
			d.waitStderr(t, "reload ignored: shutting down")
			d.signal(t, second)
			if code := d.wait(t); code != 0 { // testTimeout, far below the ten minutes
				t.Errorf("exit %d", code)
			}
			if l := d.Stderr.String(); !strings.Contains(l, "second signal: ending the drain now") || !strings.Contains(l, `msg="drain abandoned" abandoned_events=5`) {
				t.Errorf("stderr does not say the drain was abandoned with 5 events:\n%s", l)
			}
		})
	}
}

// TestServeNotifiesSystemd: with NOTIFY_SOCKET set (systemd's
// Type=notify), serve sends READY=1 once it listens, RELOADING=1 and
// READY=1 around a SIGHUP reload, and STOPPING=1 when it stops.
func TestServeNotifiesSystemd(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	next := func() string {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(testTimeout))
		buf := make([]byte, 1024)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no datagram from serve: %v", err)
		}
		return string(buf[:n])
	}
	d := startDaemonEnv(t, []string{"NOTIFY_SOCKET=" + sock}, "--config", writeConfig(t, ""))
	if got := next(); got != "READY=1\nSTATUS=serving\n" {
		t.Errorf("first datagram %q, want READY=1", got)
	}
	// Ready means ready: the MI answers.
	d.mi(t, "which")
	d.signal(t, syscall.SIGHUP)
	if got := next(); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Errorf("on SIGHUP %q, want RELOADING=1 and MONOTONIC_USEC", got)
	}
	if got := next(); got != "READY=1\nSTATUS=serving\n" {
		t.Errorf("after the reload %q, want READY=1", got)
	}
	d.signal(t, syscall.SIGTERM)
	if got := next(); got != "STOPPING=1\nSTATUS=draining\n" {
		t.Errorf("on SIGTERM %q, want STOPPING=1", got)
	}
	if code := d.wait(t); code != 0 {
		t.Errorf("exit %d", code)
	}
}
