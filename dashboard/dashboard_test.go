package dashboard_test

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/evstream/evstream/dashboard"
	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/evi/evitest"
	"github.com/evstream/evstream/value"
)

// newBubble returns a registry with the fake transport and a started
// Dashboard observing it, inside a synctest bubble; both are closed at the
// end of the test.
func newBubble(t *testing.T, cfg dashboard.Config) (*evi.Registry, *evitest.Transport, *dashboard.Dashboard) {
	t.Helper()
	d := dashboard.New(cfg)
	r := evi.NewRegistry(evi.Config{AutoPublish: true, Observers: []evi.Observer{d}})
	ft := evitest.New("fake")
	if err := r.Register(ft); err != nil {
		t.Fatal(err)
	}
	d.Start(dashboard.Sources{Registry: r})
	t.Cleanup(func() {
		r.Close()
		d.Close()
	})
	return r, ft, d
}

func raiseN(t *testing.T, r *evi.Registry, event string, n int) {
	t.Helper()
	for i := range n {
		if _, err := r.Raise(event, value.Named(value.Param{Name: "n", Value: value.Int(int64(i))}), nil); err != nil {
			t.Fatalf("raise %d: %v", i, err)
		}
	}
}

func destination(t *testing.T, st *dashboard.State, socket string) dashboard.DestinationState {
	t.Helper()
	for _, d := range st.Destinations {
		if d.Socket == socket {
			return d
		}
	}
	t.Fatalf("no destination %s in %+v", socket, st.Destinations)
	return dashboard.DestinationState{}
}

// TestCountsAndRates: raises and outcomes are counted by event and
// destination; a second later they are rates, latencies and a point of
// history; a quiet second brings the rates back to 0.
func TestCountsAndRates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, _, d := newBubble(t, dashboard.Config{Version: "1.2.3"})
		must(t, r.Subscribe("E_A", "fake:a", time.Hour))
		must(t, r.Subscribe("E_A", "fake:b", 0))
		raiseN(t, r, "E_A", 50)
		synctest.Wait()
		time.Sleep(time.Second) // one sample
		synctest.Wait()

		st := d.State()
		if st.Version != "1.2.3" || st.Uptime < 1 {
			t.Errorf("version %q uptime %v", st.Version, st.Uptime)
		}
		tt := st.Totals
		if tt.Events != 1 || tt.Subscriptions != 2 || tt.Raised != 50 || tt.RaisedRate != 50 || tt.Delivered != 100 || tt.DeliveredRate != 100 || tt.Failed != 0 {
			t.Errorf("totals %+v, want 1 event, 2 subscriptions, 50 raised, 100 delivered, at those rates", tt)
		}
		if len(st.Events) != 1 || st.Events[0].Name != "E_A" || st.Events[0].Raised != 50 || st.Events[0].RaisedRate != 50 || len(st.Events[0].Subscribers) != 2 {
			t.Fatalf("events %+v", st.Events)
		}
		for _, s := range st.Events[0].Subscribers {
			if s.Delivery != "at-most-once" || s.Pending != nil || s.DeadLetters != nil {
				t.Errorf("subscriber %+v: an at-most-once one has no pending nor dead letters", s)
			}
			if s.Socket == "fake:a" && (s.Expire != 3600 || s.TTL != 3599) {
				t.Errorf("subscriber %+v, want expire 3600 and 3599 s left", s)
			}
		}
		a := destination(t, st, "fake:a")
		if a.Delivered != 50 || a.DeliveredRate != 50 || a.P50 == nil || a.P99 == nil || a.History == nil ||
			len(a.History.Delivered) != 1 || a.History.Delivered[0] != 50 || a.State != "" || strings.Join(a.Events, ",") != "E_A" {
			t.Errorf("destination %+v", a)
		}

		time.Sleep(time.Second)
		synctest.Wait()
		st = d.State()
		if a := destination(t, st, "fake:a"); a.DeliveredRate != 0 || a.Delivered != 50 || len(a.History.Delivered) != 2 || st.Totals.RaisedRate != 0 {
			t.Errorf("after a quiet second: %+v, totals %+v", a, st.Totals)
		}
	})
}

// TestFailuresShown: a failing destination's failures are counted, with
// the last error and when.
func TestFailuresShown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, ft, d := newBubble(t, dashboard.Config{})
		ft.Set("bad", evitest.Fail)
		must(t, r.Subscribe("E_F", "fake:bad", 0))
		raiseN(t, r, "E_F", 3)
		synctest.Wait()
		time.Sleep(time.Second)
		synctest.Wait()
		b := destination(t, d.State(), "fake:bad")
		if b.Failed != 3 || b.FailedRate != 3 || b.Delivered != 0 || b.P50 != nil || b.LastErrorAt == nil || !strings.Contains(b.LastError, evitest.ErrFake.Error()) {
			t.Errorf("destination %+v, want 3 failures with the fake's error", b)
		}
	})
}

// TestTailSampled: at most TailRate entries a second go into the tail;
// the others are counted as dropped, however fast events come.
func TestTailSampled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, _, d := newBubble(t, dashboard.Config{TailRate: 10})
		must(t, r.Subscribe("E_T", "fake:a", 0)) // 1 entry
		raiseN(t, r, "E_T", 100)                 // 100 raises, 100 outcomes
		synctest.Wait()
		if got := d.State().Tail; got.Rate != 10 || got.Dropped != 201-10 {
			t.Errorf("tail %+v, want rate 10 and 191 dropped", got)
		}
		time.Sleep(time.Second) // a new second: room for 10 more
		synctest.Wait()         // once the sampler has started it
		raiseN(t, r, "E_T", 5)
		synctest.Wait()
		if got := d.State().Tail.Dropped; got != 191 {
			t.Errorf("dropped %d after a quiet second and 10 entries, want still 191", got)
		}
	})
}

// TestGoneDestinationsForgotten: a destination no longer subscribed and
// quiet for the whole history is dropped; a subscribed one is kept.
func TestGoneDestinationsForgotten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, _, d := newBubble(t, dashboard.Config{})
		must(t, r.Subscribe("E_G", "fake:gone", 0))
		must(t, r.Subscribe("E_G", "fake:kept", 0))
		raiseN(t, r, "E_G", 1)
		synctest.Wait()
		must(t, r.Unsubscribe("E_G", "fake:gone"))
		time.Sleep(2 * time.Second)
		if n := len(d.State().Destinations); n != 2 {
			t.Fatalf("%d destinations right after the unsubscribe, want 2 (its history is still shown)", n)
		}
		time.Sleep(302 * time.Second)
		st := d.State()
		if len(st.Destinations) != 1 || st.Destinations[0].Socket != "fake:kept" || st.Destinations[0].Delivered != 1 {
			t.Errorf("destinations %+v, want only fake:kept, with its count", st.Destinations)
		}
	})
}

// TestBounded: at most MaxDestinations destinations keep rates and
// history, MaxSubscribers are listed; the totals still count everything.
func TestBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, _, d := newBubble(t, dashboard.Config{MaxDestinations: 2, MaxSubscribers: 3})
		for _, s := range []string{"fake:1", "fake:2", "fake:3", "fake:4"} {
			must(t, r.Subscribe("E_B", s, 0))
		}
		raiseN(t, r, "E_B", 1)
		synctest.Wait()
		time.Sleep(time.Second)
		st := d.State()
		withStats := 0
		for _, ds := range st.Destinations {
			if ds.History != nil {
				withStats++
			}
		}
		if withStats != 2 || st.Totals.Delivered != 4 || !st.Truncated || st.Totals.Subscriptions != 4 || len(st.Events[0].Subscribers) != 3 {
			t.Errorf("%d destinations with stats (want 2), totals %+v, truncated %v, %d listed (want 3)",
				withStats, st.Totals, st.Truncated, len(st.Events[0].Subscribers))
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestBusyDestinationSampled: a destination busier than a thousand
// outcomes a second still has its latencies (sampled, one in n), and its
// counts are all there.
func TestBusyDestinationSampled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, ft, d := newBubble(t, dashboard.Config{})
		ft.Set("busy", evitest.Eager)
		must(t, r.Subscribe("E_S", "fake:busy", 0))
		for range 3 {
			raiseN(t, r, "E_S", 3000)
			synctest.Wait()
			time.Sleep(time.Second)
			synctest.Wait()
		}
		b := destination(t, d.State(), "fake:busy")
		if b.Delivered != 9000 || b.DeliveredRate != 3000 || b.P50 == nil || b.P99 == nil {
			t.Errorf("destination %+v, want 9000 delivered, 3000 in the last second, with latencies", b)
		}
	})
}
