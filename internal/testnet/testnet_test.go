package testnet_test

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/evstream/evstream/internal/testnet"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testTimeout = 30 * time.Second

// fatalTB is a testing.TB whose Fatal and Fatalf record the message and end
// the calling goroutine, so that a helper's failure can be checked.
type fatalTB struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fatalTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }

// failure runs fn with a fatalTB and returns its failure message ("" when
// fn returned normally).
func failure(t *testing.T, fn func(tb testing.TB)) string {
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.msg
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

func TestServe(t *testing.T) {
	var served atomic.Int32
	srv := testnet.Serve(t, func(c net.Conn) {
		served.Add(1)
		io.Copy(c, c) // echo until the connection fails
	})
	for i := range 3 {
		c := testnet.Dial(t, srv.Addr(), testTimeout)
		want := fmt.Sprintf("hello %d", i)
		write(t, c, want)
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
			t.Fatalf("echo: %q, %v; want %q", got, err, want)
		}
	}
	if n := served.Load(); n != 3 {
		t.Errorf("handler ran for %d connections, want 3", n)
	}
	// The connections are still open: cleanup must close them for the
	// handlers to return (goleak checks that they did).
}

func TestSinkWaitFor(t *testing.T) {
	s := testnet.NewSink(t, testTimeout)
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") || s.Socket() != "tcp:"+s.Addr() {
		t.Fatalf("Addr %q, Socket %q", s.Addr(), s.Socket())
	}
	a := testnet.Dial(t, s.Addr(), testTimeout)
	write(t, a, "one\n")
	s.WaitFor(t, "one\n")
	b := testnet.Dial(t, s.Addr(), testTimeout)
	write(t, b, "two\n")
	s.WaitFor(t, "one\ntwo\n")
	if got := s.Received(); got != "one\ntwo\n" {
		t.Errorf("Received = %q", got)
	}
}

func TestSinkWaitForFailures(t *testing.T) {
	cases := []struct {
		name, send, want, msg string
		timeout               time.Duration
	}{
		{"not a prefix fails at once", "abX", "abc", `received "abX"` + "\nwant \"abc\"", testTimeout},
		{"too little times out", "ab", "abc", `exactly "abc" not seen within 50ms; received 2 bytes: "ab"`, 50 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := testnet.NewSink(t, c.timeout)
			write(t, testnet.Dial(t, s.Addr(), testTimeout), c.send)
			s.WaitUntil(t, "the bytes sent", func(got string) bool { return len(got) == len(c.send) })
			start := time.Now()
			msg := failure(t, func(tb testing.TB) { s.WaitFor(tb, c.want) })
			if !strings.Contains(msg, c.msg) {
				t.Errorf("failure %q, want it to contain %q", msg, c.msg)
			}
			if c.timeout == testTimeout && time.Since(start) > testTimeout/2 {
				t.Errorf("a mismatch took %v to be reported", time.Since(start))
			}
		})
	}
}

func TestPausedSink(t *testing.T) {
	s := testnet.NewPausedSink(t, testTimeout)
	c := testnet.Dial(t, s.Addr(), testTimeout)
	// 64 MB cannot fit in the socket buffers: while the sink does not read,
	// the write stops at its deadline.
	c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	n, err := io.WriteString(c, strings.Repeat("x", 64<<20))
	if err == nil || n == 64<<20 {
		t.Fatalf("writing 64 MB to a paused sink: %d bytes, %v; want a timeout", n, err)
	}
	if got := s.Received(); got != "" {
		t.Fatalf("a paused sink read %d bytes", len(got))
	}
	s.Resume()
	s.Resume() // a second Resume is harmless
	s.WaitUntil(t, fmt.Sprintf("the %d bytes written", n), func(got string) bool { return len(got) == n })
}

func TestPollUntil(t *testing.T) {
	n := 0
	testnet.PollUntil(t, testTimeout, "three calls", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Errorf("cond called %d times, want 3", n)
	}
	msg := failure(t, func(tb testing.TB) {
		testnet.PollUntil(tb, 20*time.Millisecond, "never", func() bool { return false })
	})
	if msg != "never: not true within 20ms" {
		t.Errorf("failure %q", msg)
	}
}

func TestDialRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	msg := failure(t, func(tb testing.TB) { testnet.Dial(tb, addr, testTimeout) })
	if !strings.Contains(msg, "connection refused") {
		t.Errorf("failure %q, want connection refused", msg)
	}
}

func TestBuffer(t *testing.T) {
	var b testnet.Buffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { b.Logger().Info("hello", "k", 1) })
	}
	wg.Wait()
	if n := strings.Count(b.String(), "level=INFO msg=hello k=1\n"); n != 4 {
		t.Errorf("%d records, want 4:\n%s", n, b.String())
	}
}

func ExampleBuffer() {
	var b testnet.Buffer
	fmt.Fprintln(&b, "first")
	fmt.Fprintln(&b, "second")
	fmt.Print(b.String())
	// Output:
	// first
	// second
}
