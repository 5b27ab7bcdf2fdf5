package ratelog

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Defaults for the zero arguments of New.
const (
	// DefaultBurst is how many lines of one message pass per window.
	DefaultBurst = 5
	// DefaultWindow is the window over which Burst lines pass.
	DefaultWindow = time.Second
	// MaxValueLen is how many bytes of a value Clip keeps.
	MaxValueLen = 200
)

// Logger is a rate-limited slog.Logger; see the package documentation. It
// is safe for concurrent use.
type Logger struct {
	log *slog.Logger
	*limits
}

// limits is the state shared by a Logger and those made With it.
type limits struct {
	burst  int
	window time.Duration

	mu     sync.Mutex
	keys   map[string]*bucket
	closed bool
	wg     sync.WaitGroup // pending flush timers
}

// bucket is the state of one message.
type bucket struct {
	start      time.Time // when the current window began; zero: none
	n          int       // lines written in it
	suppressed int64
	level      slog.Level
	last       []any        // attributes of the last suppressed line
	log        *slog.Logger // the logger of the last suppressed line
	timer      *time.Timer  // set while a count waits to be written
}

// New returns a Logger writing to log (nil discards) at most burst lines
// (0: DefaultBurst) of each message per window (0: DefaultWindow).
func New(log *slog.Logger, burst int, window time.Duration) *Logger {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if burst <= 0 {
		burst = DefaultBurst
	}
	if window <= 0 {
		window = DefaultWindow
	}
	return &Logger{log: log, limits: &limits{burst: burst, window: window, keys: make(map[string]*bucket)}}
}

// Slog returns the underlying logger, for lines that need no limit.
func (l *Logger) Slog() *slog.Logger { return l.log }

// With returns a Logger that adds args to every line and shares l's limits:
// a message is limited across both, and closing either closes both.
func (l *Logger) With(args ...any) *Logger {
	return &Logger{log: l.log.With(args...), limits: l.limits}
}

// Debug logs at debug level, rate-limited.
func (l *Logger) Debug(msg string, args ...any) { l.Log(slog.LevelDebug, msg, args...) }

// Info logs at info level, rate-limited.
func (l *Logger) Info(msg string, args ...any) { l.Log(slog.LevelInfo, msg, args...) }

// Warn logs at warn level, rate-limited.
func (l *Logger) Warn(msg string, args ...any) { l.Log(slog.LevelWarn, msg, args...) }

// Error logs at error level, rate-limited.
func (l *Logger) Error(msg string, args ...any) { l.Log(slog.LevelError, msg, args...) }

// Log writes msg with args at level unless Burst lines of msg were already
// written in the current window; then it only counts it.
func (l *Logger) Log(level slog.Level, msg string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	now := time.Now()
	l.mu.Lock()
	b := l.keys[msg]
	if b == nil {
		b = &bucket{}
		l.keys[msg] = b
	}
	if b.timer == nil && (b.start.IsZero() || now.Sub(b.start) >= l.window) {
		b.start, b.n = now, 0
	}
	if b.n < l.burst {
		b.n++
		l.mu.Unlock()
		l.log.Log(context.Background(), level, msg, args...)
		return
	}
	b.suppressed++
	b.level = max(b.level, level)
	b.last, b.log = args, l.log
	if b.timer == nil && !l.closed {
		l.wg.Add(1)
		b.timer = time.AfterFunc(b.start.Add(l.window).Sub(now), func() { l.flush(msg, b) })
	}
	l.mu.Unlock()
}

// flush writes the count of msg's suppressed lines; it runs on b's timer.
func (l *limits) flush(msg string, b *bucket) {
	defer l.wg.Done()
	l.mu.Lock()
	c := b.take(msg)
	l.mu.Unlock()
	c.emit()
}

// count is what a bucket suppressed in one window.
type count struct {
	log   *slog.Logger
	level slog.Level
	msg   string
	n     int64
	last  []any
}

// take resets b's window and returns what it suppressed; l.mu is held.
func (b *bucket) take(msg string) count {
	c := count{log: b.log, level: b.level, msg: msg, n: b.suppressed, last: b.last}
	b.suppressed, b.level, b.last, b.log, b.timer, b.start = 0, 0, nil, nil, nil, time.Time{}
	return c
}

// emit writes the line that reports c.
func (c count) emit() {
	if c.n == 0 {
		return
	}
	args := []any{"suppressed", c.n}
	if len(c.last) > 0 {
		args = append(args, slog.Group("last", c.last...))
	}
	c.log.Log(context.Background(), c.level, c.msg, args...)
}

// Close writes the counts of the lines suppressed so far and stops the
// timers; when it returns nothing of l runs any more. Lines logged after
// Close are still limited, but their suppressed count is never written.
func (l *Logger) Close() {
	var flush []count
	l.mu.Lock()
	l.closed = true
	for msg, b := range l.keys {
		if b.timer != nil && b.timer.Stop() {
			flush = append(flush, b.take(msg))
			l.wg.Done()
		}
	}
	l.mu.Unlock()
	for _, c := range flush {
		c.emit()
	}
	l.wg.Wait()
}

// Clip returns s cut to MaxValueLen bytes (on a UTF-8 boundary), followed
// by how many bytes were cut: values a peer chose never make a line long.
func Clip(s string) string { return ClipTo(s, MaxValueLen) }

// ClipTo is Clip with a limit of n bytes.
func ClipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "...(" + strconv.Itoa(len(s)-cut) + " more bytes)"
}

// ClipBytes is Clip for a byte slice; it copies at most MaxValueLen bytes.
func ClipBytes(b []byte) string {
	if len(b) <= MaxValueLen {
		return string(b)
	}
	cut := MaxValueLen
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return string(b[:cut]) + "...(" + strconv.Itoa(len(b)-cut) + " more bytes)"
}
