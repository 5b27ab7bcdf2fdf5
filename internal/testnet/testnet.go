package testnet

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a loopback TCP server: it accepts any number of connections and
// runs its handler for each one in its own goroutine, then closes the
// connection. At the end of the test that made it (or at Close), the
// listener and every accepted connection are closed and the handlers waited
// for: a handler must return once its connection fails.
type Server struct {
	ln     net.Listener
	handle func(n int, c net.Conn)

	mu       sync.Mutex
	conns    []net.Conn
	accepted int
	closed   bool // a connection accepted after Close is closed at once
	wg       sync.WaitGroup
}

// Serve listens on 127.0.0.1:0 and calls handle(c) for every connection
// accepted, each in its own goroutine.
func Serve(t testing.TB, handle func(c net.Conn)) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ServeOn(t, ln, func(_ int, c net.Conn) { handle(c) })
}

// ServeOn serves the loopback listener ln: handle(n, c) runs for every
// connection accepted, n being its rank (0 for the first).
func ServeOn(t testing.TB, ln net.Listener, handle func(n int, c net.Conn)) *Server {
	s := &Server{ln: ln, handle: handle}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// Addr returns the listener's address, "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Port returns the listener's port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Accepted returns how many connections were accepted so far.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			// Accepted just before Close closed the listener: Close
			// missed it, so nobody else would.
			s.mu.Unlock()
			c.Close()
			return
		}
		n := s.accepted
		s.accepted++
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			s.handle(n, c)
		}()
	}
}

// Close closes the listener and every connection, and waits for the
// handlers. It may be called more than once.
func (s *Server) Close() {
	s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Sink is a loopback TCP receiver: it accepts any number of connections on
// 127.0.0.1 and records every byte received, across connections, in the
// order each connection delivers them. It never writes.
//
// A Sink is closed at the end of the test that made it: the listener and
// every accepted connection are closed and its goroutines waited for.
type Sink struct {
	srv     *Server
	timeout time.Duration
	release chan struct{} // closed when reading may start

	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced whenever buf grows or a conn ends
}

// NewSink listens on 127.0.0.1:0 and reads from every connection at once.
// timeout bounds each of its waits (WaitUntil, WaitFor).
func NewSink(t testing.TB, timeout time.Duration) *Sink {
	t.Helper()
	s := newSink(t, timeout)
	close(s.release)
	return s
}

// NewPausedSink is NewSink for a receiver that does not read: connections
// are accepted but nothing is read from them until Resume, so that the
// sender's socket buffers fill up.
func NewPausedSink(t testing.TB, timeout time.Duration) *Sink {
	t.Helper()
	return newSink(t, timeout)
}

func newSink(t testing.TB, timeout time.Duration) *Sink {
	t.Helper()
	s := &Sink{timeout: timeout, release: make(chan struct{}), changed: make(chan struct{})}
	s.srv = Serve(t, s.read)
	// Cleanups run last first: readers are released before the server
	// closes the connections and waits for them.
	t.Cleanup(s.Resume)
	return s
}

// Addr returns "127.0.0.1:PORT".
func (s *Sink) Addr() string { return s.srv.Addr() }

// Socket returns the evstream socket of the sink, "tcp:127.0.0.1:PORT".
func (s *Sink) Socket() string { return "tcp:" + s.Addr() }

// Resume lets a paused sink start reading; it may be called more than once
// and does nothing on a sink that was not paused.
func (s *Sink) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.release:
	default:
		close(s.release)
	}
}

func (s *Sink) read(c net.Conn) {
	<-s.release
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

// Received returns every byte received so far.
func (s *Sink) Received() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// WaitUntil waits until cond(every byte received so far) is true, calling
// it again each time bytes arrive. It fails the test after the sink's
// timeout, naming what (what was awaited) and showing what was received.
func (s *Sink) WaitUntil(t testing.TB, what string, cond func(got string) bool) {
	t.Helper()
	deadline := time.NewTimer(s.timeout)
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
			t.Fatalf("sink %s: %s not seen within %v; received %d bytes: %s", s.Addr(), what, s.timeout, len(got), clip(got))
		}
	}
}

// WaitFor waits until exactly want has been received. It fails the test as
// soon as the bytes received stop being a prefix of want, or after the
// sink's timeout.
func (s *Sink) WaitFor(t testing.TB, want string) {
	t.Helper()
	s.WaitUntil(t, fmt.Sprintf("exactly %q", want), func(got string) bool {
		if !strings.HasPrefix(want, got) {
			t.Fatalf("sink %s: received %q\nwant %q", s.Addr(), got, want)
		}
		return got == want
	})
}

// clip quotes s, cut after its first 2000 bytes: enough to see what went
// wrong without flooding the log with megabytes of payload.
func clip(s string) string {
	const max = 2000
	if len(s) <= max {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q... (%d more bytes)", s[:max], len(s)-max)
}

// PollUntil calls cond every millisecond until it returns true, for state
// that can only be seen by asking (a counter, an MI listing, a log). It fails
// the test, naming what, when cond is still false after timeout.
func PollUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %v", what, timeout)
		}
		<-tick.C
	}
}

// Dial connects to addr over TCP, giving up after timeout, and sets the
// connection's read and write deadline to timeout from now so that no test
// blocks forever on it. The connection is closed at the end of the test.
func Dial(t testing.TB, addr string, timeout time.Duration) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(timeout))
	t.Cleanup(func() { c.Close() })
	return c
}

// Buffer is a bytes.Buffer safe for concurrent writers and readers, for
// collecting logs or a subprocess's output. The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p; it never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Logger returns a logger writing every record, debug included, to b in
// slog's text format.
func (b *Buffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// BoundPort returns a loopback port that refuses connections and that no
// other process can take meanwhile: a socket is bound to it but does not
// listen. listen turns that socket into a listener on the same port.
func BoundPort(t testing.TB) (port int, listen func() net.Listener) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "bound")
	t.Cleanup(func() { f.Close() }) // tests may close it sooner
	listen = func() net.Listener {
		if err := syscall.Listen(fd, 16); err != nil {
			t.Fatal(err)
		}
		ln, err := net.FileListener(f) // dups fd
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		return ln
	}
	return sa.(*syscall.SockaddrInet4).Port, listen
}
