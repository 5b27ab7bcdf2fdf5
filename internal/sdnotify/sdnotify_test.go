package sdnotify_test

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evstream/evstream/internal/sdnotify"
)

// listen returns a unixgram socket standing in for systemd's, and sets
// NOTIFY_SOCKET to it for the test.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func read(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	c := listen(t, path)
	t.Setenv("NOTIFY_SOCKET", path)
	if err := sdnotify.Notify(sdnotify.Ready, "STATUS=serving"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, c); got != "READY=1\nSTATUS=serving\n" {
		t.Errorf("datagram %q", got)
	}
	if err := sdnotify.Notify(sdnotify.Reloading, sdnotify.Monotonic()); err != nil {
		t.Fatal(err)
	}
	if got := read(t, c); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Errorf("datagram %q", got)
	}
}

func TestNotifyAbstract(t *testing.T) {
	name := "evstream-test-" + filepath.Base(t.TempDir())
	c := listen(t, "@"+name)
	t.Setenv("NOTIFY_SOCKET", "@"+name)
	if err := sdnotify.Notify(sdnotify.Stopping); err != nil {
		t.Fatal(err)
	}
	if got := read(t, c); got != "STOPPING=1\n" {
		t.Errorf("datagram %q", got)
	}
}

func TestNotifyWithoutSocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := sdnotify.Notify(sdnotify.Ready); err != nil {
		t.Errorf("Notify without NOTIFY_SOCKET = %v, want nil", err)
	}
}

func TestNotifyNobodyListening(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone"))
	if err := sdnotify.Notify(sdnotify.Ready); err == nil {
		t.Error("Notify to a missing socket = nil, want an error")
	}
}
