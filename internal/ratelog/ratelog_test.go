package ratelog_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/evstream/evstream/internal/ratelog"
)

// lines is a concurrency-safe log sink without timestamps.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.TrimSuffix(l.buf.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func newLogger(out *lines, burst int, window time.Duration) *ratelog.Logger {
	h := slog.NewTextHandler(out, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})
	return ratelog.New(slog.New(h), burst, window)
}

// TestSuppressedCountWithoutAnotherLine: 2276 failures in a burst give
// Burst lines, then, one window later and with no further call, a line
// with the count (the defect of the old limiters: the count waited for
// the next allowed line).
func TestSuppressedCountWithoutAnotherLine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out lines
		l := newLogger(&out, 5, time.Second)
		defer l.Close()
		for i := range 2276 {
			l.Warn("delivery failed", "n", i)
		}
		if got := out.get(); len(got) != 5 {
			t.Fatalf("%d lines after the burst, want 5:\n%s", len(got), strings.Join(got, "\n"))
		}
		time.Sleep(999 * time.Millisecond)
		synctest.Wait()
		if got := out.get(); len(got) != 5 {
			t.Fatalf("count written before the window ended: %q", got[len(got)-1])
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		got := out.get()
		want := `level=WARN msg="delivery failed" suppressed=2271 last.n=2275`
		if len(got) != 6 || got[5] != want {
			t.Fatalf("lines %q\nwant a 6th line %q", got, want)
		}
		// The window is over: the next line passes at once.
		l.Warn("delivery failed", "n", "again")
		if got := out.get(); len(got) != 7 || got[6] != `level=WARN msg="delivery failed" n=again` {
			t.Fatalf("after the window: %q", got)
		}
	})
}

// TestPerMessage: each message has its own budget; With shares it.
func TestPerMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out lines
		l := newLogger(&out, 2, time.Second)
		defer l.Close()
		a := l.With("address", "tcp:10.0.0.1:1")
		b := l.With("address", "tcp:10.0.0.2:1")
		for range 3 {
			a.Warn("connect failed")
			b.Warn("connect failed")
			l.Info("reconnected")
		}
		got := out.get()
		want := []string{
			`level=WARN msg="connect failed" address=tcp:10.0.0.1:1`,
			`level=WARN msg="connect failed" address=tcp:10.0.0.2:1`,
			`level=INFO msg=reconnected`,
			`level=INFO msg=reconnected`,
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		time.Sleep(time.Second)
		synctest.Wait()
		got = out.get()[4:]
		want = []string{
			`level=WARN msg="connect failed" address=tcp:10.0.0.2:1 suppressed=4`,
			`level=INFO msg=reconnected suppressed=1`,
		}
		if len(got) != 2 || !contains(got, want[0]) || !contains(got, want[1]) {
			t.Fatalf("counts %q, want %q", got, want)
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestCloseFlushes: Close writes the pending count at once and leaves no
// timer behind (synctest fails a test whose bubble has goroutines left).
func TestCloseFlushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out lines
		l := newLogger(&out, 1, time.Hour)
		l.Error("bad input", "peer", "a")
		l.Error("bad input", "peer", "b")
		l.Error("bad input", "peer", "c")
		l.Close()
		got := out.get()
		want := []string{`level=ERROR msg="bad input" peer=a`, `level=ERROR msg="bad input" suppressed=2 last.peer=c`}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("lines %q, want %q", got, want)
		}
		// After Close: a new window, still limited, but no timer.
		for _, p := range []string{"d", "e", "f"} {
			l.Error("bad input", "peer", p)
		}
		l.Close()
		if got := out.get(); len(got) != 3 || got[2] != `level=ERROR msg="bad input" peer=d` {
			t.Fatalf("lines after Close %q, want one more, for d", got)
		}
	})
}

// TestDisabledLevel: lines below the handler's level cost nothing and
// count nothing.
func TestDisabledLevel(t *testing.T) {
	var out lines
	l := ratelog.New(slog.New(slog.NewTextHandler(&out, nil)), 1, time.Second)
	defer l.Close()
	for range 100 {
		l.Debug("noise")
	}
	if got := out.get(); len(got) != 0 {
		t.Fatalf("debug lines written at info level: %q", got)
	}
}

func TestClip(t *testing.T) {
	cases := []struct{ in, want string }{
		{"short", "short"},
		{strings.Repeat("x", ratelog.MaxValueLen), strings.Repeat("x", ratelog.MaxValueLen)},
		{strings.Repeat("x", 1<<20), strings.Repeat("x", ratelog.MaxValueLen) + "...(1048376 more bytes)"},
		// A multi-byte character is never cut in the middle.
		{strings.Repeat("x", ratelog.MaxValueLen-1) + "é" + "y", strings.Repeat("x", ratelog.MaxValueLen-1) + "...(3 more bytes)"},
	}
	for _, c := range cases {
		if got := ratelog.Clip(c.in); got != c.want {
			t.Errorf("Clip(%.20q... %d bytes) = %.40q... (%d bytes), want %d bytes", c.in, len(c.in), got, len(got), len(c.want))
		}
		if got := ratelog.ClipBytes([]byte(c.in)); got != c.want {
			t.Errorf("ClipBytes(%d bytes) = %d bytes, want %d", len(c.in), len(got), len(c.want))
		}
	}
}

func ExampleLogger() {
	log := slog.New(slog.NewTextHandler(osStdout{}, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	l := ratelog.New(log, 2, time.Minute)
	for i := range 10 {
		l.Warn("invalid message dropped", "peer", "127.0.0.1:5000", "n", i)
	}
	l.Close() // writes the count now instead of a minute later
	// Output:
	// level=WARN msg="invalid message dropped" peer=127.0.0.1:5000 n=0
	// level=WARN msg="invalid message dropped" peer=127.0.0.1:5000 n=1
	// level=WARN msg="invalid message dropped" suppressed=8 last.peer=127.0.0.1:5000 last.n=9
}
