package evi_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/value"
)

// nopTransport's destinations accept every event and do nothing with it.
// When a done callback is given it is handed to one completer goroutine (the
// contract: done is called later, from another goroutine), as a transport's
// connection goroutine would.
type nopTransport struct {
	dones chan func(error)
	wg    sync.WaitGroup
}

func newNopTransport() *nopTransport {
	t := &nopTransport{dones: make(chan func(error), 4096)}
	t.wg.Go(func() {
		for done := range t.dones {
			done(nil)
		}
	})
	return t
}

func (*nopTransport) Scheme() string { return "nop" }

func (t *nopTransport) Parse(socket string) (evi.Destination, error) {
	name, ok := strings.CutPrefix(socket, "nop:")
	if !ok {
		return nil, fmt.Errorf("socket %q: %w", socket, evi.ErrBadSocket)
	}
	return &nopDest{t: t, name: name}, nil
}

func (t *nopTransport) Close() error {
	close(t.dones)
	t.wg.Wait()
	return nil
}

type nopDest struct {
	t    *nopTransport
	name string
}

func (d *nopDest) String() string { return "nop:" + d.name }

func (d *nopDest) Match(o evi.Destination) bool {
	od, ok := o.(*nopDest)
	return ok && od.name == d.name
}

func (d *nopDest) Send(m *evi.Message, done func(error)) error {
	if done != nil {
		d.t.dones <- done
	}
	return nil
}

func (*nopDest) Close() error { return nil }

func benchRegistry(b *testing.B, subs int) *evi.Registry {
	b.Helper()
	r := evi.NewRegistry(evi.Config{})
	b.Cleanup(func() { r.Close() })
	if err := r.Register(newNopTransport()); err != nil {
		b.Fatal(err)
	}
	if _, err := r.Publish("E_BENCH"); err != nil {
		b.Fatal(err)
	}
	for i := range subs {
		if err := r.Subscribe("E_BENCH", fmt.Sprintf("nop:%d", i), 0); err != nil {
			b.Fatal(err)
		}
	}
	return r
}

// BenchmarkRaise measures Registry.Raise alone: name lookup, one Message,
// the hand-off to every subscriber's Destination. The destinations do
// nothing, so this is the registry's own cost per raised event.
func BenchmarkRaise(b *testing.B) {
	params := value.Named(value.P("ip", value.String("127.0.0.1")), value.P("port", value.Int(5060)))
	for _, subs := range []int{1, 100} {
		for _, withReport := range []bool{false, true} {
			name := fmt.Sprintf("subs=%d", subs)
			if withReport {
				name += "/report"
			}
			b.Run(name, func(b *testing.B) {
				r := benchRegistry(b, subs)
				var report func(evi.Outcome)
				if withReport {
					report = func(evi.Outcome) {}
				}
				b.ReportAllocs()
				for b.Loop() {
					n, err := r.Raise("E_BENCH", params, report)
					if n != subs || err != nil {
						b.Fatalf("Raise = %d, %v", n, err)
					}
				}
				b.ReportMetric(float64(b.N*subs)/b.Elapsed().Seconds(), "deliveries/s")
			})
		}
	}
}

// BenchmarkRaiseParallel raises from every P at once to one subscriber.
func BenchmarkRaiseParallel(b *testing.B) {
	r := benchRegistry(b, 1)
	ev := r.Lookup("E_BENCH")
	params := value.Unnamed(value.Int(3), value.Int(5))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if n, err := r.RaiseEvent(ev, params, nil); n != 1 || err != nil {
				b.Errorf("RaiseEvent = %d, %v", n, err)
				return
			}
		}
	})
}

// BenchmarkEncodedHit is the per-destination cost of fetching the shared
// encoding once it has been computed (two keys cached, the older one asked).
func BenchmarkEncodedHit(b *testing.B) {
	m := evi.NewMessage(nil, value.Params{}, time.Time{})
	enc := func(*evi.Message) []byte { return []byte("{}") }
	m.Encoded("tcp", enc)
	m.Encoded("tcp/newline", enc)
	b.ReportAllocs()
	for b.Loop() {
		if len(m.Encoded("tcp", enc)) != 2 {
			b.Fatal("wrong encoding")
		}
	}
}
