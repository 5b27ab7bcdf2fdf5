package evi_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/evi/evitest"
	"github.com/evstream/evstream/value"
)

// TestIDs: every raised event gets an ID of its own; the IDs of two
// registries (two lives of a daemon) differ; the text form round-trips.
func TestIDs(t *testing.T) {
	seen := map[evi.ID]bool{}
	for range 2 {
		r, ft, _ := newTestRegistry(t, evi.Config{})
		r.Publish("E_X")
		must(t, r.Subscribe("E_X", "fake:a", 0))
		for range 100 {
			if _, err := r.Raise("E_X", value.Params{}, nil); err != nil {
				t.Fatal(err)
			}
		}
		r.Close()
		for _, m := range ft.Messages("a") {
			if m.ID.IsZero() || seen[m.ID] {
				t.Fatalf("ID %v zero or seen before", m.ID)
			}
			seen[m.ID] = true
			back, err := evi.ParseID(m.ID.String())
			if err != nil || back != m.ID || evi.IDFromBytes(m.ID.Bytes()) != m.ID {
				t.Fatalf("ID %v does not round-trip: %v %v", m.ID, back, err)
			}
		}
	}
	if len(seen) != 200 {
		t.Fatalf("%d distinct IDs, want 200", len(seen))
	}
	for _, bad := range []string{"", "xyz", "0123456789abcdef0123456789abcdeg", "0123456789abcdef0123456789abcde"} {
		if _, err := evi.ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
}

// TestSubscribeManyIsCheap: 50,000 subscribers of one event; subscribing,
// refreshing by key and listing stay correct (newest first), and one
// subscribe costs the same at the end as at the start (measured by
// BenchmarkSubscribe; here, only that it works at that size).
func TestSubscribeMany(t *testing.T) {
	r, _, c := newTestRegistry(t, evi.Config{})
	r.Publish("E_X")
	const n = 50000
	for i := range n {
		must(t, r.Subscribe("E_X", fmt.Sprintf("fake:%d", i), 0))
	}
	c.Advance(time.Second)
	must(t, r.Subscribe("E_X", "fake:17", time.Hour)) // a refresh, found by key
	infos, err := r.Subscribers("E_X")
	if err != nil || len(infos) != n {
		t.Fatalf("%d subscribers, %v; want %d", len(infos), err, n)
	}
	if infos[0].Socket != fmt.Sprintf("fake:%d", n-1) || infos[n-1].Socket != "fake:0" {
		t.Fatalf("not newest first: %s ... %s", infos[0].Socket, infos[n-1].Socket)
	}
	if got := infos[n-1-17]; got.Socket != "fake:17" || got.Expire != time.Hour {
		t.Fatalf("refreshed subscriber %+v: it must keep its place and take the new expire", got)
	}
	if r.SubscriberCount() != n {
		t.Fatalf("SubscriberCount = %d", r.SubscriberCount())
	}
}

// memStore is a SubscriptionStore in memory, for the registry's tests (the
// daemon's is on disk).
type memStore struct {
	mu     sync.Mutex
	subs   map[string]evi.StoredSubscription // by event and key
	putErr error
	log    []string
}

func newMemStore() *memStore { return &memStore{subs: map[string]evi.StoredSubscription{}} }

func (s *memStore) Load() ([]evi.StoredSubscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []evi.StoredSubscription
	for _, v := range s.subs {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b evi.StoredSubscription) int { return a.Expires.Compare(b.Expires) })
	return out, nil
}

func (s *memStore) Put(sub evi.StoredSubscription) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.putErr != nil {
		return s.putErr
	}
	s.subs[sub.Event+" "+sub.Key] = sub
	s.log = append(s.log, "put "+sub.Event+" "+sub.Key)
	return nil
}

func (s *memStore) Delete(event, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.subs, event+" "+key)
	s.log = append(s.log, "delete "+event+" "+key)
	return nil
}

func (s *memStore) calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// TestSubscriptionStore: durable subscriptions are kept, refreshed,
// forgotten on unsubscribe and expiry; others are never stored; Restore
// makes them again in a new registry with their remaining expire; a store
// that cannot keep one refuses the subscription.
func TestSubscriptionStore(t *testing.T) {
	store := newMemStore()
	r, _, c := newTestRegistry(t, evi.Config{AutoPublish: true, Store: store})
	durable := evi.SubscribeOptions{Durable: true}
	must(t, r.SubscribeWith("E_A", "fake:a", evi.SubscribeOptions{Durable: true, Expire: time.Minute}))
	must(t, r.SubscribeWith("E_A", "fake:b", durable))
	must(t, r.SubscribeWith("E_A", "fake:gone", durable))
	must(t, r.SubscribeWith("E_A", "fake:short", evi.SubscribeOptions{Durable: true, Expire: time.Second}))
	must(t, r.Subscribe("E_A", "fake:config", 0)) // not durable
	must(t, r.Unsubscribe("E_A", "fake:gone"))
	c.Advance(2 * time.Second)
	r.Sweep() // fake:short expires
	want := []string{"put E_A fake:a", "put E_A fake:b", "put E_A fake:gone", "put E_A fake:short", "delete E_A fake:gone", "delete E_A fake:short"}
	if got := store.calls(); !slices.Equal(got, want) {
		t.Fatalf("store calls %v\nwant %v", got, want)
	}
	infos, _ := r.Subscribers("E_A")
	if len(infos) != 3 || !infos[1].Durable || infos[0].Durable {
		t.Fatalf("listing %+v", infos)
	}

	// A new life: restored with what is left of their expire.
	c.Advance(8 * time.Second)
	r2, _, _ := newTestRegistry(t, evi.Config{AutoPublish: true, Store: store, Now: c.Now})
	n, err := r2.Restore()
	if err != nil || n != 2 {
		t.Fatalf("Restore = %d, %v; want 2", n, err)
	}
	got, err := r2.Subscriber("E_A", "fake:a")
	if err != nil || got.Expire != time.Minute || got.TTL != 50*time.Second || !got.Durable {
		t.Fatalf("restored fake:a = %+v, %v; want expire 1m, ttl 50s, durable", got, err)
	}
	if _, err := r2.Subscriber("E_A", "fake:config"); !errors.Is(err, evi.ErrNoSubscriber) {
		t.Fatalf("a config subscription was restored: %v", err)
	}

	// One that expired while the daemon was down is dropped from the store.
	c.Advance(time.Hour)
	r3, _, _ := newTestRegistry(t, evi.Config{AutoPublish: true, Store: store, Now: c.Now})
	if n, err := r3.Restore(); err != nil || n != 1 {
		t.Fatalf("Restore after an hour = %d, %v; want 1 (fake:b, which never expires)", n, err)
	}
	if got := store.calls(); got[len(got)-1] != "delete E_A fake:a" {
		t.Errorf("the expired subscription was not deleted: %v", got)
	}

	store.putErr = errors.New("disk full")
	if err := r3.SubscribeWith("E_A", "fake:new", durable); err == nil || !errors.Is(err, store.putErr) {
		t.Fatalf("SubscribeWith with a failing store = %v, want its error", err)
	}
	if _, err := r3.Subscriber("E_A", "fake:new"); !errors.Is(err, evi.ErrNoSubscriber) {
		t.Fatalf("a subscription the store refused was made: %v", err)
	}
}

// observer records what it is told.
type observer struct {
	mu       sync.Mutex
	changes  []string
	outcomes []evi.Outcome
}

func (o *observer) OnSubscription(c evi.SubscriptionChange) {
	o.mu.Lock()
	o.changes = append(o.changes, fmt.Sprintf("%v %s %s %v", c.Kind, c.Event.Name(), c.Socket, c.Expire))
	o.mu.Unlock()
}

func (o *observer) OnOutcome(out evi.Outcome) {
	o.mu.Lock()
	o.outcomes = append(o.outcomes, out)
	o.mu.Unlock()
}

func (o *observer) get() ([]string, []evi.Outcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.changes), slices.Clone(o.outcomes)
}

// TestObserver: every subscription change, and every outcome (accepted or
// refused, with or without a report function), reaches the observers.
func TestObserver(t *testing.T) {
	ob := &observer{}
	r, _, c := newTestRegistry(t, evi.Config{AutoPublish: true, Observers: []evi.Observer{ob}})
	must(t, r.Subscribe("E_A", "fake:a", time.Second))
	must(t, r.Subscribe("E_A", "fake:a", 2*time.Second))
	must(t, r.Subscribe("E_A", "fake:fail", 0))
	must(t, r.Subscribe("E_A", "fake:reject", 0))
	if _, err := r.Raise("E_A", value.Params{}, nil); !errors.Is(err, evi.ErrQueueFull) {
		t.Fatalf("Raise = %v", err)
	}
	must(t, r.Unsubscribe("E_A", "fake:fail"))
	c.Advance(3 * time.Second)
	r.Sweep()
	r.Close()
	changes, outs := ob.get()
	want := []string{"subscribed E_A fake:a 1s", "refreshed E_A fake:a 2s", "subscribed E_A fake:fail 0s",
		"subscribed E_A fake:reject 0s", "unsubscribed E_A fake:fail 0s", "expired E_A fake:a 2s"}
	if !slices.Equal(changes, want) {
		t.Errorf("changes %q\nwant %q", changes, want)
	}
	got := map[string]error{}
	for _, o := range outs {
		got[o.Socket] = o.Err
	}
	if len(outs) != 3 || got["fake:a"] != nil || !errors.Is(got["fake:fail"], evitest.ErrFake) || !errors.Is(got["fake:reject"], evi.ErrQueueFull) {
		t.Errorf("outcomes %v", outs)
	}
}

// raiseObserver also records the raises it is told.
type raiseObserver struct {
	observer
	raises []string
}

func (o *raiseObserver) OnRaise(m *evi.Message, subscribers int) {
	o.mu.Lock()
	o.raises = append(o.raises, fmt.Sprintf("%s %d %v", m.Event.Name(), subscribers, m.Params))
	o.mu.Unlock()
}

// TestRaiseObserver: an Observer that is a RaiseObserver is told every
// raise to live subscribers, once, with their count; outcomes carry the
// raise time.
func TestRaiseObserver(t *testing.T) {
	ob := &raiseObserver{}
	r, _, c := newTestRegistry(t, evi.Config{AutoPublish: true, Observers: []evi.Observer{ob}})
	raised := c.Now()
	must(t, r.Subscribe("E_A", "fake:a", 0))
	must(t, r.Subscribe("E_A", "fake:b", 0))
	must(t, r.Subscribe("E_B", "fake:a", 0))
	if _, err := r.Raise("E_A", value.Named(value.Param{Name: "n", Value: value.Int(1)}), nil); err != nil {
		t.Fatal(err)
	}
	must(t, r.Unsubscribe("E_B", "fake:a"))
	if _, err := r.Raise("E_B", value.Params{}, nil); !errors.Is(err, evi.ErrNoSubscribers) {
		t.Fatalf("Raise E_B = %v", err)
	}
	r.Close()
	ob.mu.Lock()
	raises := slices.Clone(ob.raises)
	ob.mu.Unlock()
	if len(raises) != 1 || !strings.HasPrefix(raises[0], "E_A 2 ") {
		t.Errorf("raises %q, want one of E_A to 2 subscribers", raises)
	}
	_, outs := ob.get()
	for _, o := range outs {
		if !o.Raised.Equal(raised) {
			t.Errorf("outcome %v: Raised %v, want the raise's time", o.Socket, o.Raised)
		}
	}
	if len(outs) != 2 {
		t.Errorf("outcomes %v, want 2", outs)
	}
}

// TestRaiseEventWait: a full subscriber gets until the context ends to
// make room; the others are not refused meanwhile, and without the wait
// (RaiseEvent) the full one refuses at once.
func TestRaiseEventWait(t *testing.T) {
	r, ft, _ := newTestRegistry(t, evi.Config{AutoPublish: true})
	ft.Set("full", evitest.Full)
	must(t, r.Subscribe("E_A", "fake:full", 0))
	must(t, r.Subscribe("E_A", "fake:ok", 0))
	ev := r.Lookup("E_A")
	if n, err := r.RaiseEvent(ev, value.Params{}, nil); n != 1 || !errors.Is(err, evi.ErrQueueFull) {
		t.Fatalf("RaiseEvent = %d, %v; want 1 and queue full", n, err)
	}
	// The room is made while the raise waits.
	go func() {
		for ft.Tries("full") < 2 { // the refused RaiseEvent, then the first try of the wait
			time.Sleep(time.Millisecond)
		}
		ft.MakeRoom("full")
	}()
	if n, err := r.RaiseEventWait(context.Background(), waitFor, ev, value.Params{}, nil); n != 2 || err != nil {
		t.Fatalf("RaiseEventWait = %d, %v; want 2, nil", n, err)
	}
	// A wait that ends first refuses, like RaiseEvent.
	ft.Set("full", evitest.Full)
	if n, err := r.RaiseEventWait(context.Background(), 10*time.Millisecond, ev, value.Params{}, nil); n != 1 || !errors.Is(err, evi.ErrQueueFull) ||
		!strings.Contains(err.Error(), "no room within 10ms") {
		t.Fatalf("RaiseEventWait past its wait = %d, %v; want 1 and queue full, no room within 10ms", n, err)
	}
	// So does one whose producer goes away (its context ends).
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := r.RaiseWait(ctx, waitFor, "E_A", value.Params{}, nil); n != 1 || !errors.Is(err, evi.ErrQueueFull) {
		t.Fatalf("RaiseWait with its context done = %d, %v; want 1 and queue full", n, err)
	}
}
