package evi_test

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/value"
)

// TestConcurrent runs subscribers, unsubscribers, raisers and sweepers at the
// same time and then checks that everything adds up: every Send is either
// accepted or rejected, every subscriber a raise reached is reported exactly
// once, every destination ever parsed is closed exactly once, and the
// listings end up as the workers' own bookkeeping says.
func TestConcurrent(t *testing.T) {
	const (
		workers = 8
		raisers = 4
		rounds  = 300
		socks   = 4 // permanent sockets per worker
	)
	r, ft, c := newTestRegistry(t, evi.Config{AutoPublish: true})
	events := []string{"E_0", "E_1", "E_2"}
	for _, name := range events {
		if _, err := r.Publish(name); err != nil {
			t.Fatal(err)
		}
	}

	var (
		accepted, rejected, raises atomic.Int64
		reports                    atomic.Int64
	)
	report := func(evi.Outcome) { reports.Add(1) }
	raise := func(name string) error {
		n, err := r.Raise(name, value.Named(value.P("n", value.Int(1))), report)
		if errors.Is(err, evi.ErrNoSubscribers) {
			return nil
		}
		raises.Add(1)
		accepted.Add(int64(n))
		for _, e := range errorsOf(err) {
			if !errors.Is(e, evi.ErrQueueFull) && !errors.Is(e, evi.ErrClosed) {
				return fmt.Errorf("unexpected rejection: %w", e)
			}
			rejected.Add(1)
		}
		return nil
	}

	// state[w][event] is the set of worker w's permanent sockets subscribed
	// to event; only worker w changes them, so it knows the truth.
	state := make([]map[string]map[string]bool, workers)
	errc := make(chan error, workers+raisers+1)
	var wg sync.WaitGroup
	for w := range workers {
		state[w] = map[string]map[string]bool{}
		for _, ev := range events {
			state[w][ev] = map[string]bool{}
		}
		wg.Go(func() {
			for n := range rounds {
				ev := events[n%len(events)]
				sock := fmt.Sprintf("fake:w%d-%d", w, (n/len(events))%socks)
				if n%7 == 0 {
					sock = fmt.Sprintf("fake:reject-w%d", w)
				}
				var err error
				switch n % 5 {
				case 0, 1, 4: // subscribe or refresh
					if err = r.Subscribe(ev, sock, 0); err == nil {
						state[w][ev][sock] = true
					}
				case 2:
					err = r.Unsubscribe(ev, sock)
					if errors.Is(err, evi.ErrNoSubscriber) && !state[w][ev][sock] {
						err = nil
					}
					delete(state[w][ev], sock)
				case 3: // a short-lived subscription for the sweepers
					err = r.Subscribe(ev, fmt.Sprintf("fake:tmp-w%d-%d", w, n), 5*time.Millisecond)
				}
				if err == nil {
					err = raise(ev)
				}
				if err != nil {
					errc <- fmt.Errorf("worker %d round %d: %w", w, n, err)
					return
				}
			}
		})
	}
	for i := range raisers {
		wg.Go(func() {
			for n := range rounds {
				if err := raise(events[(n+i)%len(events)]); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	stopSweep := make(chan struct{})
	var sweeps sync.WaitGroup
	sweeps.Go(func() {
		for {
			select {
			case <-stopSweep:
				return
			default:
			}
			c.Advance(time.Millisecond)
			r.Sweep()
			for _, ev := range events {
				if _, err := r.Subscribers(ev); err != nil {
					errc <- err
					return
				}
			}
		}
	})
	wg.Wait()
	close(stopSweep)
	sweeps.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}

	// Every temporary subscription expires; the permanent ones are listed
	// exactly as the workers' bookkeeping says.
	c.Advance(time.Hour)
	r.Sweep()
	for _, ev := range events {
		want := map[string]bool{}
		for w := range workers {
			maps.Copy(want, state[w][ev])
		}
		infos, err := r.Subscribers(ev)
		if err != nil {
			t.Fatal(err)
		}
		got := sockets(infos)
		slices.Sort(got)
		if w := slices.Sorted(maps.Keys(want)); !slices.Equal(got, w) {
			t.Errorf("%s subscribers %v, want %v", ev, got, w)
		}
		if uniq := slices.Compact(slices.Clone(got)); len(uniq) != len(got) {
			t.Errorf("%s has duplicate subscribers: %v", ev, got)
		}
	}

	if err := r.Close(); err != nil { // waits for every report
		t.Fatal(err)
	}
	sends := int64(len(ft.Sends()))
	if sends != accepted.Load()+rejected.Load() {
		t.Errorf("%d sends, but %d accepted + %d rejected", sends, accepted.Load(), rejected.Load())
	}
	if reports.Load() != sends {
		t.Errorf("%d outcomes reported for %d sends", reports.Load(), sends)
	}
	if got := r.Raised(); got != uint64(raises.Load()) {
		t.Errorf("Raised() = %d, want %d", got, raises.Load())
	}
	if accepted.Load() == 0 || rejected.Load() == 0 {
		t.Errorf("accepted %d rejected %d: the test did not exercise both", accepted.Load(), rejected.Load())
	}
	dests := ft.Dests()
	for _, d := range dests {
		if n := d.CloseCount(); n != 1 {
			t.Errorf("destination %s closed %d times, want exactly 1", d.Name(), n)
		}
	}
	t.Logf("%d raises, %d sends (%d accepted, %d rejected), %d destinations", raises.Load(), sends, accepted.Load(), rejected.Load(), len(dests))
}
