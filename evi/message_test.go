package evi_test

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/value"
)

func testMessage(t testing.TB) *evi.Message {
	r, _, c := newTestRegistry(t, evi.Config{})
	ev, err := r.Publish("E_X")
	if err != nil {
		t.Fatal(err)
	}
	return evi.NewMessage(ev, value.Unnamed(value.Int(1)), c.Now())
}

func TestNewMessage(t *testing.T) {
	r, _, c := newTestRegistry(t, evi.Config{})
	ev, _ := r.Publish("E_X")
	p := value.Named(value.P("a", value.String("b")))
	m := evi.NewMessage(ev, p, c.Now())
	if m.Event != ev || m.Params.At(0) != p.At(0) || !m.Raised.Equal(c.Now()) {
		t.Fatalf("NewMessage = %+v", m)
	}
}

func TestEncodedOncePerKey(t *testing.T) {
	m := testMessage(t)
	calls := map[string]int{}
	enc := func(key string) func(*evi.Message) []byte {
		return func(got *evi.Message) []byte {
			if got != m {
				t.Errorf("enc called with %p, want %p", got, m)
			}
			calls[key]++
			return []byte(key + ":" + got.Event.Name())
		}
	}
	// Alternating keys: each is computed once and kept.
	for range 3 {
		for _, key := range []string{"tcp", "tcp/newline", "other"} {
			if got := string(m.Encoded(key, enc(key))); got != key+":E_X" {
				t.Fatalf("Encoded(%q) = %q", key, got)
			}
		}
	}
	for _, key := range []string{"tcp", "tcp/newline", "other"} {
		if calls[key] != 1 {
			t.Errorf("key %q computed %d times, want 1", key, calls[key])
		}
	}
	// The cached bytes are shared, not copied.
	a := m.Encoded("tcp", enc("tcp"))
	b := m.Encoded("tcp", enc("tcp"))
	if &a[0] != &b[0] {
		t.Error("Encoded returned different slices for the same key")
	}
}

// Many goroutines ask for the same keys at once: each key must be computed
// exactly once, and every caller must get that one result. The first
// computation of a key waits until every goroutine has started its call, so
// the others really do arrive while it is in progress.
func TestEncodedConcurrent(t *testing.T) {
	const goroutines, keys = 16, 4
	m := testMessage(t)
	var started atomic.Int32
	var calls [keys]atomic.Int32
	enc := func(k int) func(*evi.Message) []byte {
		return func(*evi.Message) []byte {
			calls[k].Add(1)
			deadline := time.Now().Add(5 * time.Second)
			for started.Load() < goroutines*keys && time.Now().Before(deadline) {
				runtime.Gosched()
			}
			return fmt.Appendf(nil, "enc-%d", k)
		}
	}
	results := make([][keys][]byte, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			var inner sync.WaitGroup
			for k := range keys {
				inner.Go(func() {
					started.Add(1)
					results[g][k] = m.Encoded(fmt.Sprint("key", k), enc(k))
				})
			}
			inner.Wait()
		})
	}
	wg.Wait()
	for k := range keys {
		if n := calls[k].Load(); n != 1 {
			t.Errorf("key%d computed %d times, want 1", k, n)
		}
		for g := range goroutines {
			if got := string(results[g][k]); got != fmt.Sprint("enc-", k) {
				t.Fatalf("goroutine %d key%d got %q", g, k, got)
			}
			if &results[g][k][0] != &results[0][k][0] {
				t.Fatalf("goroutine %d key%d got a copy, not the shared bytes", g, k)
			}
		}
	}
}

func TestEncodedHitDoesNotAllocate(t *testing.T) {
	m := testMessage(t)
	enc := func(*evi.Message) []byte { return []byte("x") }
	m.Encoded("a", enc)
	m.Encoded("b", enc)
	if n := testing.AllocsPerRun(100, func() { m.Encoded("a", enc) }); n != 0 {
		t.Fatalf("a cache hit allocates %v times", n)
	}
}
