package spool_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/evi/evitest"
	"github.com/evstream/evstream/spool"
)

// TestSubscriptionsSurviveReopen: a registry's durable subscriptions,
// kept in the spool's file, are made again by a registry of the next life
// of the process (the file closed and opened again), with their remaining
// expire; refreshed, unsubscribed and non-durable ones are as they were.
func TestSubscriptionsSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	life := func(s *spool.Bolt) *evi.Registry {
		r := evi.NewRegistry(evi.Config{AutoPublish: true, Store: s.Subscriptions(), Now: clock})
		t.Cleanup(func() { r.Close() })
		if err := r.Register(evitest.New("fake")); err != nil {
			t.Fatal(err)
		}
		return r
	}
	s, err := spool.Open(path, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := life(s)
	for _, sub := range []struct {
		socket string
		o      evi.SubscribeOptions
	}{
		{"fake:a", evi.SubscribeOptions{Durable: true, Expire: time.Minute}},
		{"fake:b", evi.SubscribeOptions{Durable: true}},
		{"fake:gone", evi.SubscribeOptions{Durable: true}},
		{"fake:config", evi.SubscribeOptions{}},
	} {
		if err := r.SubscribeWith("E_A", sub.socket, sub.o); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Unsubscribe("E_A", "fake:gone"); err != nil {
		t.Fatal(err)
	}
	r.Close()
	s.Close()

	now = now.Add(20 * time.Second)
	s = open(t, path, spool.Options{})
	r2 := life(s)
	n, err := r2.Restore()
	if err != nil || n != 2 {
		t.Fatalf("Restore = %d, %v; want 2", n, err)
	}
	a, err := r2.Subscriber("E_A", "fake:a")
	if err != nil || a.Expire != time.Minute || a.TTL != 40*time.Second || !a.Durable {
		t.Fatalf("fake:a = %+v, %v; want expire 1m, ttl 40s, durable", a, err)
	}
	if _, err := r2.Subscriber("E_A", "fake:b"); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"fake:gone", "fake:config"} {
		if _, err := r2.Subscriber("E_A", gone); err == nil {
			t.Errorf("%s was restored", gone)
		}
	}
	kept, err := s.Subscriptions().Load()
	if err != nil || len(kept) != 2 {
		t.Fatalf("Load = %+v, %v", kept, err)
	}
}
