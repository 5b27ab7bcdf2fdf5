package evi_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/evi/evitest"
	"github.com/evstream/evstream/value"
)

func TestValidateEventName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"E_PIKE_BLOCKED", true},
		{"a", true},
		{strings.Repeat("E", evi.MaxEventNameLen), true},
		{"E_ÉVÉNEMENT", true}, // non-ASCII UTF-8 is allowed
		{"", false},
		{strings.Repeat("E", evi.MaxEventNameLen+1), false},
		{"E PIKE", false},
		{" E", false},
		{"E\t", false},
		{"E\nX", false},
		{"E\x00X", false},
		{"E\x1fX", false},
		{"E\x7fX", false},
	}
	for _, tt := range tests {
		err := evi.ValidateEventName(tt.name)
		if tt.ok && err != nil {
			t.Errorf("ValidateEventName(%q) = %v, want nil", tt.name, err)
		}
		if !tt.ok && !errors.Is(err, evi.ErrBadEventName) {
			t.Errorf("ValidateEventName(%q) = %v, want ErrBadEventName", tt.name, err)
		}
	}
}

func TestPublish(t *testing.T) {
	r, _, _ := newTestRegistry(t, evi.Config{})
	names := []string{"E_A", "E_B", "E_C"}
	var evs []*evi.Event
	for i, name := range names {
		ev, err := r.Publish(name)
		if err != nil {
			t.Fatalf("Publish(%q): %v", name, err)
		}
		if ev.Name() != name || ev.String() != name || ev.ID() != i {
			t.Fatalf("Publish(%q) = {%s %d}, want {%s %d}", name, ev.Name(), ev.ID(), name, i)
		}
		evs = append(evs, ev)
	}
	// Publishing again returns the same event and does not take a new id.
	again, err := r.Publish("E_B")
	if err != nil || again != evs[1] {
		t.Fatalf("Publish(E_B) again = %p, %v; want %p, nil", again, err, evs[1])
	}
	ev, err := r.Publish("E_D")
	if err != nil || ev.ID() != 3 {
		t.Fatalf("Publish(E_D) = %v, %v; want id 3", ev, err)
	}
	evs = append(evs, ev)
	if got := r.Events(); !slices.Equal(got, evs) {
		t.Fatalf("Events() = %v, want %v", got, evs)
	}
	for _, ev := range evs {
		if r.Lookup(ev.Name()) != ev {
			t.Errorf("Lookup(%q) = %v, want the published event", ev.Name(), r.Lookup(ev.Name()))
		}
	}
	if r.Lookup("E_NOPE") != nil {
		t.Error("Lookup of an unpublished event is not nil")
	}
	// Events returns a copy.
	r.Events()[0] = nil
	if r.Events()[0] != evs[0] {
		t.Error("modifying the slice Events returned changed the registry")
	}
}

func TestPublishBadName(t *testing.T) {
	r, _, _ := newTestRegistry(t, evi.Config{})
	for _, name := range []string{"", strings.Repeat("x", 65), "has space", "ctl\x01", "nul\x00", "del\x7f"} {
		ev, err := r.Publish(name)
		if ev != nil || !errors.Is(err, evi.ErrBadEventName) {
			t.Errorf("Publish(%q) = %v, %v; want ErrBadEventName", name, ev, err)
		}
	}
	if n := len(r.Events()); n != 0 {
		t.Fatalf("%d events published after bad names, want 0", n)
	}
	// A bad name does not consume an id.
	ev, err := r.Publish(strings.Repeat("x", 64))
	if err != nil || ev.ID() != 0 {
		t.Fatalf("Publish(64 bytes) = %v, %v; want id 0", ev, err)
	}
}

func TestRegister(t *testing.T) {
	r, _, _ := newTestRegistry(t, evi.Config{})
	tests := []struct {
		scheme  string
		wantErr string
	}{
		{"", "bad scheme"},
		{"a:b", "bad scheme"},
		{"a b", "bad scheme"},
		{"fake", `scheme "fake" already registered`},
		{"other", ""},
	}
	for _, tt := range tests {
		err := r.Register(evitest.New(tt.scheme))
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("Register(%q) = %v, want nil", tt.scheme, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Register(%q) = %v, want an error containing %q", tt.scheme, err, tt.wantErr)
		}
	}
}

func TestParseSocket(t *testing.T) {
	r, _, _ := newTestRegistry(t, evi.Config{})
	tests := []struct {
		socket  string
		wantErr error // nil: ok
	}{
		{"fake:a", nil},
		{"fake:a/b:c", nil},
		{"fake", evi.ErrBadSocket},
		{"", evi.ErrBadSocket},
		{":a", evi.ErrBadSocket},
		{"fake:", evi.ErrBadSocket}, // rejected by the transport itself
		{"udp:127.0.0.1:9", evi.ErrUnknownTransport},
		{"FAKE:a", evi.ErrUnknownTransport}, // prefixes are case-sensitive
	}
	for _, tt := range tests {
		d, err := r.ParseSocket(tt.socket)
		if tt.wantErr == nil {
			if err != nil {
				t.Errorf("ParseSocket(%q) = %v", tt.socket, err)
			} else if d.String() != tt.socket {
				t.Errorf("ParseSocket(%q).String() = %q", tt.socket, d.String())
			}
			continue
		}
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("ParseSocket(%q) = %v, want %v", tt.socket, err, tt.wantErr)
			continue
		}
		if !strings.Contains(err.Error(), `"`+tt.socket+`"`) {
			t.Errorf("ParseSocket(%q) error %q does not name the socket", tt.socket, err)
		}
	}
}

func TestSubscribeNewestFirst(t *testing.T) {
	r, ft, c := newTestRegistry(t, evi.Config{})
	if _, err := r.Publish("E_X"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"fake:a", "fake:b", "fake:c"} {
		if err := r.Subscribe("E_X", s, 10*time.Second); err != nil {
			t.Fatalf("Subscribe(%s): %v", s, err)
		}
		c.Advance(time.Second)
	}
	infos, err := r.Subscribers("E_X")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sockets(infos), []string{"fake:c", "fake:b", "fake:a"}; !slices.Equal(got, want) {
		t.Fatalf("Subscribers = %v, want %v (newest first)", got, want)
	}
	for i, ttl := range []time.Duration{9 * time.Second, 8 * time.Second, 7 * time.Second} {
		if infos[i].Expire != 10*time.Second || infos[i].TTL != ttl {
			t.Errorf("%s: expire %v ttl %v, want 10s %v", infos[i].Socket, infos[i].Expire, infos[i].TTL, ttl)
		}
	}
	if _, err := r.Raise("E_X", value.Named(value.P("k", value.Int(1))), nil); err != nil {
		t.Fatal(err)
	}
	if got, want := ft.Sends(), []string{"c", "b", "a"}; !slices.Equal(got, want) {
		t.Fatalf("delivered to %v, want %v (newest first)", got, want)
	}
}

// OpenSIPS's evi_event_subscribe (evi/event_interface.c) refreshes a
// matching subscriber in place: it updates subscription_time and expire on
// the existing list node and frees the newly parsed socket. So a refresh
// keeps the subscriber's position (and its destination), and only resets its
// start time and expire. We do the same.
func TestSubscribeRefresh(t *testing.T) {
	r, ft, c := newTestRegistry(t, evi.Config{})
	r.Publish("E_X")
	for _, s := range []string{"fake:a", "fake:b", "fake:c"} {
		if err := r.Subscribe("E_X", s, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(8 * time.Second)
	// Refresh b with another expire: same place in the list, new start.
	if err := r.Subscribe("E_X", "fake:b", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	infos, _ := r.Subscribers("E_X")
	if got, want := sockets(infos), []string{"fake:c", "fake:b", "fake:a"}; !slices.Equal(got, want) {
		t.Fatalf("after refresh: %v, want %v (position kept)", got, want)
	}
	if infos[1].Expire != 20*time.Second || infos[1].TTL != 20*time.Second {
		t.Errorf("refreshed: expire %v ttl %v, want 20s 20s", infos[1].Expire, infos[1].TTL)
	}
	if infos[0].TTL != 2*time.Second {
		t.Errorf("not refreshed: ttl %v, want 2s", infos[0].TTL)
	}
	// The first destination of b is kept; the one parsed for the refresh is closed.
	var bs []*evitest.Dest
	for _, d := range ft.Dests() {
		if d.Name() == "b" {
			bs = append(bs, d)
		}
	}
	if len(bs) != 2 || bs[0].CloseCount() != 0 || bs[1].CloseCount() != 1 {
		t.Fatalf("b destinations: %d, want 2 with the first open and the second closed once", len(bs))
	}
	c.Advance(5 * time.Second) // a and c expired, b has 15s left
	infos, _ = r.Subscribers("E_X")
	if got := sockets(infos); !slices.Equal(got, []string{"fake:b"}) {
		t.Fatalf("after expiry: %v, want [fake:b]", got)
	}
	if _, err := r.Raise("E_X", value.Params{}, nil); err != nil {
		t.Fatal(err)
	}
	if got := ft.Messages(bs[0].Name()); len(got) != 1 {
		t.Fatalf("kept destination got %d messages, want 1", len(got))
	}
	// Refresh to never-expiring.
	if err := r.Subscribe("E_X", "fake:b", 0); err != nil {
		t.Fatal(err)
	}
	c.Advance(1000 * time.Hour)
	infos, _ = r.Subscribers("E_X")
	if len(infos) != 1 || infos[0].Expire != 0 {
		t.Fatalf("after refresh to never: %+v", infos)
	}
}

func TestSubscribeExpire(t *testing.T) {
	r, ft, c := newTestRegistry(t, evi.Config{})
	r.Publish("E_X")
	if err := r.Subscribe("E_X", "fake:neg", -time.Second); !errors.Is(err, evi.ErrNegativeExpire) {
		t.Fatalf("negative expire: %v, want ErrNegativeExpire", err)
	}
	if len(ft.Dests()) != 0 {
		t.Fatal("negative expire parsed the socket")
	}
	if err := r.Subscribe("E_X", "fake:never", 0); err != nil {
		t.Fatal(err)
	}
	if err := r.Subscribe("E_X", "fake:short", time.Second); err != nil {
		t.Fatal(err)
	}
	c.Advance(999 * time.Millisecond)
	infos, _ := r.Subscribers("E_X")
	if got := sockets(infos); !slices.Equal(got, []string{"fake:short", "fake:never"}) {
		t.Fatalf("before expiry: %v", got)
	}
	if infos[0].TTL != time.Millisecond {
		t.Errorf("short ttl %v, want 1ms", infos[0].TTL)
	}
	c.Advance(time.Millisecond) // exactly Start+Expire: expired
	infos, _ = r.Subscribers("E_X")
	if got := sockets(infos); !slices.Equal(got, []string{"fake:never"}) {
		t.Fatalf("at expiry: %v, want [fake:never]", got)
	}
	// Expired subscribers are not delivered to, even before a sweep.
	n, err := r.Raise("E_X", value.Params{}, nil)
	if n != 1 || err != nil {
		t.Fatalf("Raise = %d, %v; want 1, nil", n, err)
	}
	if got := ft.Sends(); !slices.Equal(got, []string{"never"}) {
		t.Fatalf("delivered to %v, want [never]", got)
	}
	c.Advance(100 * 365 * 24 * time.Hour)
	infos, _ = r.Subscribers("E_X")
	if got := sockets(infos); !slices.Equal(got, []string{"fake:never"}) {
		t.Fatalf("a century later: %v, want [fake:never]", got)
	}
}

func TestSweep(t *testing.T) {
	r, ft, c := newTestRegistry(t, evi.Config{})
	r.Publish("E_X")
	r.Publish("E_Y")
	must(t, r.Subscribe("E_X", "fake:x1", time.Second))
	must(t, r.Subscribe("E_X", "fake:x2", 0))
	must(t, r.Subscribe("E_Y", "fake:y1", 2*time.Second))
	must(t, r.Subscribe("E_Y", "fake:y2", time.Second))
	c.Advance(time.Second)
	r.Sweep()
	closed := map[string]int{}
	for _, d := range ft.Dests() {
		closed[d.Name()] = d.CloseCount()
	}
	want := map[string]int{"x1": 1, "x2": 0, "y1": 0, "y2": 1}
	for name, n := range want {
		if closed[name] != n {
			t.Errorf("%s closed %d times, want %d", name, closed[name], n)
		}
	}
	// A swept subscriber is gone: unsubscribing it fails, subscribing adds it anew.
	if err := r.Unsubscribe("E_X", "fake:x1"); !errors.Is(err, evi.ErrNoSubscriber) {
		t.Errorf("Unsubscribe swept: %v, want ErrNoSubscriber", err)
	}
	r.Sweep() // nothing more to do
	for _, d := range ft.Dests() {
		if d.CloseCount() > 1 {
			t.Errorf("%s closed %d times", d.Name(), d.CloseCount())
		}
	}
}

func TestSweeperRunsByItself(t *testing.T) {
	c := newClock()
	r := evi.NewRegistry(evi.Config{Now: c.Now, SweepInterval: time.Millisecond})
	defer r.Close()
	ft := evitest.New("fake")
	must(t, r.Register(ft))
	r.Publish("E_X")
	must(t, r.Subscribe("E_X", "fake:a", time.Minute))
	c.Advance(time.Minute)
	d := ft.Dests()[0]
	deadline := time.Now().Add(5 * time.Second)
	for d.CloseCount() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the background sweeper did not close the expired destination")
		}
		time.Sleep(time.Millisecond) // polling with a bounded deadline
	}
}

func TestUnsubscribe(t *testing.T) {
	r, ft, _ := newTestRegistry(t, evi.Config{})
	if err := r.Unsubscribe("E_NONE", "fake:a"); !errors.Is(err, evi.ErrNotPublished) {
		t.Fatalf("unpublished: %v, want ErrNotPublished", err)
	}
	r.Publish("E_X")
	must(t, r.Subscribe("E_X", "fake:a", 0))
	must(t, r.Subscribe("E_X", "fake:b", 0))
	if err := r.Unsubscribe("E_X", "fake:c"); !errors.Is(err, evi.ErrNoSubscriber) || !strings.Contains(err.Error(), "fake:c") {
		t.Fatalf("unknown socket: %v, want ErrNoSubscriber naming fake:c", err)
	}
	if err := r.Unsubscribe("E_X", "nope"); !errors.Is(err, evi.ErrBadSocket) {
		t.Fatalf("bad socket: %v, want ErrBadSocket", err)
	}
	must(t, r.Unsubscribe("E_X", "fake:a"))
	infos, _ := r.Subscribers("E_X")
	if got := sockets(infos); !slices.Equal(got, []string{"fake:b"}) {
		t.Fatalf("after unsubscribe: %v", got)
	}
	if err := r.Unsubscribe("E_X", "fake:a"); !errors.Is(err, evi.ErrNoSubscriber) {
		t.Fatalf("twice: %v, want ErrNoSubscriber", err)
	}
	// Every destination but b's is closed exactly once: a's subscription,
	// and each one parsed only to find the subscriber.
	for _, d := range ft.Dests() {
		want := 1
		if d.Name() == "b" {
			want = 0
		}
		if d.CloseCount() != want {
			t.Errorf("%s closed %d times, want %d", d.Name(), d.CloseCount(), want)
		}
	}
}

func TestSubscriberLookup(t *testing.T) {
	now := time.Unix(1000, 0)
	r, ft, _ := newTestRegistry(t, evi.Config{Now: func() time.Time { return now }})
	if _, err := r.Subscriber("E_NONE", "fake:a"); !errors.Is(err, evi.ErrNotPublished) {
		t.Fatalf("unpublished: %v, want ErrNotPublished", err)
	}
	r.Publish("E_X")
	must(t, r.Subscribe("E_X", "fake:a", 10*time.Second))
	must(t, r.Subscribe("E_X", "fake:b", 0))
	now = now.Add(4 * time.Second)
	got, err := r.Subscriber("E_X", "fake:a")
	if err != nil || got != (evi.SubscriberInfo{Socket: "fake:a", Key: "fake:a", Expire: 10 * time.Second, TTL: 6 * time.Second}) {
		t.Fatalf("Subscriber(a) = %+v, %v", got, err)
	}
	if got, err := r.Subscriber("E_X", "fake:b"); err != nil || got != (evi.SubscriberInfo{Socket: "fake:b", Key: "fake:b"}) {
		t.Fatalf("Subscriber(b) = %+v, %v", got, err)
	}
	if _, err := r.Subscriber("E_X", "fake:c"); !errors.Is(err, evi.ErrNoSubscriber) || !strings.Contains(err.Error(), "fake:c") {
		t.Fatalf("unknown socket: %v, want ErrNoSubscriber naming fake:c", err)
	}
	if _, err := r.Subscriber("E_X", "nope"); !errors.Is(err, evi.ErrBadSocket) {
		t.Fatalf("bad socket: %v, want ErrBadSocket", err)
	}
	now = now.Add(6 * time.Second) // a has expired: never listed
	if _, err := r.Subscriber("E_X", "fake:a"); !errors.Is(err, evi.ErrNoSubscriber) {
		t.Fatalf("expired: %v, want ErrNoSubscriber", err)
	}
	// The destinations parsed only to look subscribers up are closed.
	closed := 0
	for _, d := range ft.Dests() {
		closed += d.CloseCount()
	}
	if closed != 4 {
		t.Errorf("%d lookup destinations closed, want 4", closed)
	}
}

func TestSubscriberCount(t *testing.T) {
	now := time.Unix(1000, 0)
	r, _, _ := newTestRegistry(t, evi.Config{AutoPublish: true, Now: func() time.Time { return now }})
	if n := r.SubscriberCount(); n != 0 {
		t.Fatalf("empty registry: %d subscribers", n)
	}
	must(t, r.Subscribe("E_A", "fake:a", 10*time.Second))
	must(t, r.Subscribe("E_A", "fake:b", 0))
	must(t, r.Subscribe("E_B", "fake:a", 0))
	must(t, r.Subscribe("E_A", "fake:a", 10*time.Second)) // a refresh, not a new one
	r.Publish("E_NONE")
	if n := r.SubscriberCount(); n != 3 {
		t.Fatalf("SubscriberCount = %d, want 3", n)
	}
	now = now.Add(10 * time.Second) // E_A's fake:a expires: never counted
	if n := r.SubscriberCount(); n != 2 {
		t.Fatalf("after expiry: SubscriberCount = %d, want 2", n)
	}
}

func TestSubscribersUnpublished(t *testing.T) {
	r, _, _ := newTestRegistry(t, evi.Config{AutoPublish: true})
	if _, err := r.Subscribers("E_NONE"); !errors.Is(err, evi.ErrNotPublished) {
		t.Fatalf("Subscribers(unpublished) = %v, want ErrNotPublished", err)
	}
	r.Publish("E_X")
	infos, err := r.Subscribers("E_X")
	if err != nil || len(infos) != 0 {
		t.Fatalf("Subscribers(no subscribers) = %v, %v", infos, err)
	}
}

func TestAutoPublish(t *testing.T) {
	tests := []struct {
		auto bool
	}{{false}, {true}}
	for _, tt := range tests {
		t.Run(map[bool]string{false: "off", true: "on"}[tt.auto], func(t *testing.T) {
			r, ft, _ := newTestRegistry(t, evi.Config{AutoPublish: tt.auto})
			err := r.Subscribe("E_NEW", "fake:a", 0)
			if !tt.auto {
				if !errors.Is(err, evi.ErrNotPublished) || !strings.Contains(err.Error(), "E_NEW") {
					t.Fatalf("Subscribe: %v, want ErrNotPublished naming E_NEW", err)
				}
				if _, err := r.Raise("E_OTHER", value.Params{}, nil); !errors.Is(err, evi.ErrNotPublished) {
					t.Fatalf("Raise: %v, want ErrNotPublished", err)
				}
				if len(r.Events()) != 0 || len(ft.Dests()) != 0 {
					t.Fatal("a refused subscription or raise left a trace")
				}
			} else {
				if err != nil {
					t.Fatalf("Subscribe: %v", err)
				}
				// Raising an unknown event never publishes it.
				for range 3 {
					if _, err := r.Raise("E_OTHER", value.Params{}, nil); !errors.Is(err, evi.ErrNoSubscribers) {
						t.Fatalf("Raise: %v, want ErrNoSubscribers", err)
					}
				}
				var names []string
				for _, ev := range r.Events() {
					names = append(names, ev.Name())
				}
				if !slices.Equal(names, []string{"E_NEW"}) {
					t.Fatalf("events %v, want [E_NEW]: raising must not publish", names)
				}
			}
			// Bad names are bad names, whether or not auto-publish is on.
			if err := r.Subscribe("BAD NAME", "fake:a", 0); !errors.Is(err, evi.ErrBadEventName) {
				t.Errorf("Subscribe(bad name): %v, want ErrBadEventName", err)
			}
			if _, err := r.Raise("", value.Params{}, nil); !errors.Is(err, evi.ErrBadEventName) {
				t.Errorf("Raise(empty name): %v, want ErrBadEventName", err)
			}
		})
	}
}

// A subscription that fails on its socket must not publish the event as a
// side effect of auto-publish.
func TestSubscribeBadSocketLeavesNoTrace(t *testing.T) {
	r, _, _ := newTestRegistry(t, evi.Config{AutoPublish: true})
	tests := []struct {
		socket string
		want   error
	}{
		{"nocolon", evi.ErrBadSocket},
		{"fake:", evi.ErrBadSocket},
		{"udp:127.0.0.1:9", evi.ErrUnknownTransport},
	}
	for _, tt := range tests {
		err := r.Subscribe("E_NEW", tt.socket, 0)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.socket) {
			t.Errorf("Subscribe(%q) = %v, want %v naming the socket", tt.socket, err, tt.want)
		}
	}
	if evs := r.Events(); len(evs) != 0 {
		t.Fatalf("failed subscriptions published %v", evs)
	}
}

func TestRaise(t *testing.T) {
	r, ft, c := newTestRegistry(t, evi.Config{})
	ev, _ := r.Publish("E_X")
	for _, s := range []string{"fake:ok1", "fake:reject1", "fake:fail1", "fake:ok2", "fake:reject2"} {
		must(t, r.Subscribe("E_X", s, 0))
	}
	params := value.Named(value.P("ip", value.String("127.0.0.1")), value.P("port", value.Int(5060)))
	outs := evitest.NewRecorder(10)
	c.Advance(time.Minute)
	n, err := r.Raise("E_X", params, outs.Report)
	if n != 3 {
		t.Errorf("accepted %d, want 3", n)
	}
	// Rejections are reported before Raise returns and joined into its error.
	if outs.Total() < 2 {
		t.Errorf("%d outcomes reported when Raise returned, want at least the 2 rejections", outs.Total())
	}
	parts := errorsOf(err)
	if len(parts) != 2 || !errors.Is(err, evi.ErrQueueFull) {
		t.Fatalf("Raise error = %v, want 2 joined ErrQueueFull", err)
	}
	if !strings.Contains(parts[0].Error(), "fake:reject2") || !strings.Contains(parts[1].Error(), "fake:reject1") {
		t.Errorf("rejections %q and %q do not name the sockets in delivery order", parts[0], parts[1])
	}
	// Delivered newest first, to every live subscriber, one shared message.
	if got, want := ft.Sends(), []string{"reject2", "ok2", "fail1", "reject1", "ok1"}; !slices.Equal(got, want) {
		t.Fatalf("Send order %v, want %v", got, want)
	}
	var msg *evi.Message
	for _, d := range ft.Dests() {
		for _, m := range ft.Messages(d.Name()) {
			if msg == nil {
				msg = m
			} else if m != msg {
				t.Fatalf("%s got a different *Message", d.Name())
			}
		}
	}
	if msg.Event != ev || !msg.Raised.Equal(c.Now()) || msg.Params.Len() != 2 || msg.Params.At(1) != params.At(1) {
		t.Fatalf("message = %+v", msg)
	}
	// One outcome per subscriber.
	got := map[string]error{}
	ids := map[evi.ID]bool{}
	for _, rec := range outs.Wait(t, 5, waitFor) {
		o := rec.Outcome
		ids[o.ID] = true
		if o.Event != ev {
			t.Errorf("outcome for %v, want E_X", o.Event)
		}
		if _, dup := got[o.Socket]; dup {
			t.Errorf("%s reported twice", o.Socket)
		}
		got[o.Socket] = o.Err
	}
	// Every outcome carries the raised event's ID, the message's.
	if len(ids) != 1 || !ids[msg.ID] || msg.ID.IsZero() {
		t.Errorf("outcome IDs %v, want the message's %v", ids, msg.ID)
	}
	wants := map[string]error{"fake:ok1": nil, "fake:ok2": nil, "fake:fail1": evitest.ErrFake, "fake:reject1": evi.ErrQueueFull, "fake:reject2": evi.ErrQueueFull}
	for sock, want := range wants {
		e, ok := got[sock]
		switch {
		case !ok:
			t.Errorf("%s: no outcome", sock)
		case want == nil && e != nil:
			t.Errorf("%s: %v, want success", sock, e)
		case want != nil && !errors.Is(e, want):
			t.Errorf("%s: %v, want %v", sock, e, want)
		}
	}
	r.Close() // waits for the transport, so every report is in
	if outs.Total() != 5 {
		t.Fatalf("%d outcomes in total, want 5 (one per subscriber)", outs.Total())
	}
	if r.Raised() != 1 {
		t.Fatalf("Raised() = %d, want 1", r.Raised())
	}
}

func TestRaiseNilReport(t *testing.T) {
	r, ft, _ := newTestRegistry(t, evi.Config{})
	r.Publish("E_X")
	must(t, r.Subscribe("E_X", "fake:a", 0))
	must(t, r.Subscribe("E_X", "fake:reject", 0))
	n, err := r.Raise("E_X", value.Unnamed(value.Int(3)), nil)
	if n != 1 || !errors.Is(err, evi.ErrQueueFull) {
		t.Fatalf("Raise = %d, %v; want 1, ErrQueueFull", n, err)
	}
	if got := ft.Sends(); !slices.Equal(got, []string{"reject", "a"}) {
		t.Fatalf("sends %v", got)
	}
}

func TestRaiseNoSubscribers(t *testing.T) {
	r, _, c := newTestRegistry(t, evi.Config{})
	ev, _ := r.Publish("E_X")
	outs := evitest.NewRecorder(1)
	if n, err := r.RaiseEvent(ev, value.Params{}, outs.Report); n != 0 || !errors.Is(err, evi.ErrNoSubscribers) || !strings.Contains(err.Error(), "E_X") {
		t.Fatalf("RaiseEvent(no subscribers) = %d, %v", n, err)
	}
	must(t, r.Subscribe("E_X", "fake:a", time.Second))
	c.Advance(time.Second)
	if n, err := r.Raise("E_X", value.Params{}, outs.Report); n != 0 || !errors.Is(err, evi.ErrNoSubscribers) {
		t.Fatalf("Raise(only expired subscribers) = %d, %v", n, err)
	}
	if outs.Total() != 0 {
		t.Fatal("outcomes reported with no live subscriber")
	}
	if r.Raised() != 0 {
		t.Fatalf("Raised() = %d, want 0", r.Raised())
	}
}

func TestRaiseBadParams(t *testing.T) {
	r, ft, _ := newTestRegistry(t, evi.Config{})
	r.Publish("E_X")
	must(t, r.Subscribe("E_X", "fake:a", 0))
	_, err := r.Raise("E_X", value.Named(value.P("", value.Int(1))), nil)
	if err == nil || !strings.Contains(err.Error(), "E_X") || !strings.Contains(err.Error(), "empty name") {
		t.Fatalf("Raise(bad params) = %v", err)
	}
	if len(ft.Sends()) != 0 {
		t.Fatal("bad params were sent")
	}
}

func TestClose(t *testing.T) {
	r, ft, _ := newTestRegistry(t, evi.Config{})
	r.Publish("E_X")
	must(t, r.Subscribe("E_X", "fake:a", 0))
	must(t, r.Subscribe("E_X", "fake:b", 0))
	outs := evitest.NewRecorder(4)
	if _, err := r.Raise("E_X", value.Params{}, outs.Report); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown after Close: %v", err)
	}
	if outs.Total() != 2 {
		t.Fatalf("%d outcomes after Close, want 2", outs.Total())
	}
	calls := ft.Calls()
	if slices.Contains(calls, "shutdown") {
		t.Error("Close called Shutdown on the transport")
	}
	if got := calls[len(calls)-3:]; !slices.Equal(got, []string{"dclose b", "dclose a", "close"}) {
		t.Errorf("close order %v, want destinations then transport", got)
	}
	if n := count(ft.Calls(), "close"); n != 1 {
		t.Errorf("transport closed %d times, want 1", n)
	}
	// Everything fails with ErrClosed now.
	ev := r.Lookup("E_X")
	checks := []struct {
		what string
		err  error
	}{
		{"Raise", func() error { _, err := r.Raise("E_X", value.Params{}, nil); return err }()},
		{"RaiseEvent", func() error { _, err := r.RaiseEvent(ev, value.Params{}, nil); return err }()},
		{"Subscribe", r.Subscribe("E_X", "fake:c", 0)},
		{"Unsubscribe", r.Unsubscribe("E_X", "fake:a")},
		{"Publish", func() error { _, err := r.Publish("E_NEW"); return err }()},
		{"Register", r.Register(evitest.New("late"))},
	}
	for _, c := range checks {
		if !errors.Is(c.err, evi.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", c.what, c.err)
		}
	}
	if infos, err := r.Subscribers("E_X"); err != nil || len(infos) != 0 {
		t.Errorf("Subscribers after Close = %v, %v; want none", infos, err)
	}
	for _, d := range ft.Dests() {
		if d.CloseCount() != 1 {
			t.Errorf("%s closed %d times, want 1", d.Name(), d.CloseCount())
		}
	}
}

func TestShutdown(t *testing.T) {
	c := newClock()
	r := evi.NewRegistry(evi.Config{Now: c.Now})
	plain, drain := evitest.New("plain"), evitest.NewDraining("drain")
	must(t, r.Register(plain))
	must(t, r.Register(drain))
	r.Publish("E_X")
	must(t, r.Subscribe("E_X", "plain:a", 0))
	must(t, r.Subscribe("E_X", "drain:b", 0))
	outs := evitest.NewRecorder(2)
	if _, err := r.Raise("E_X", value.Params{}, outs.Report); err != nil {
		t.Fatal(err)
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got, want := drain.Calls(), []string{"send b", "shutdown", "dclose b", "close"}; !slices.Equal(got, want) {
		t.Errorf("Shutdowner transport calls %v, want %v", got, want)
	}
	if got, want := plain.Calls(), []string{"send a", "dclose a", "close"}; !slices.Equal(got, want) {
		t.Errorf("plain transport calls %v, want %v", got, want)
	}
	if outs.Total() != 2 {
		t.Fatalf("%d outcomes, want 2", outs.Total())
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if s, c, pc := count(drain.Calls(), "shutdown"), count(drain.Calls(), "close"), count(plain.Calls(), "close"); s != 1 || c != 1 || pc != 1 {
		t.Fatalf("shutdowns %d closes %d/%d, want 1 each", s, c, pc)
	}
}

func TestShutdownError(t *testing.T) {
	r := evi.NewRegistry(evi.Config{})
	ft := evitest.NewDraining("drain")
	ft.SetShutdownError(evi.ErrTimeout)
	must(t, r.Register(ft))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := r.Shutdown(ctx)
	if !errors.Is(err, evi.ErrTimeout) {
		t.Fatalf("Shutdown = %v, want the transport's error", err)
	}
	if count(ft.Calls(), "close") != 1 {
		t.Fatal("transport not closed after a failed Shutdown")
	}
}

// count returns how many times call appears in calls.
func count(calls []string, call string) int {
	n := 0
	for _, c := range calls {
		if c == call {
			n++
		}
	}
	return n
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The sweeper goroutine started by NewRegistry is stopped by Close, and by
// Shutdown: nothing the registry started outlives it.
func TestCloseStopsSweeper(t *testing.T) {
	for _, stop := range []struct {
		name string
		f    func(*evi.Registry) error
	}{
		{"Close", (*evi.Registry).Close},
		{"Shutdown", func(r *evi.Registry) error { return r.Shutdown(context.Background()) }},
	} {
		t.Run(stop.name, func(t *testing.T) {
			before := goleak.IgnoreCurrent()
			r := evi.NewRegistry(evi.Config{SweepInterval: time.Millisecond})
			must(t, r.Register(evitest.New("fake")))
			must(t, stop.f(r))
			goleak.VerifyNone(t, before)
		})
	}
}

// TestLimits: at MaxEvents publishing a new event fails with ErrLimit
// (republishing does not); at MaxSubscriptions subscribing anew fails
// (refreshing works, and a removal makes room, expired ones too); each
// refusal is counted.
func TestLimits(t *testing.T) {
	r, _, c := newTestRegistry(t, evi.Config{AutoPublish: true, MaxEvents: 2, MaxSubscriptions: 2})
	for _, name := range []string{"E_A", "E_B", "E_A"} {
		if _, err := r.Publish(name); err != nil {
			t.Fatalf("Publish(%s): %v", name, err)
		}
	}
	if _, err := r.Publish("E_C"); !errors.Is(err, evi.ErrLimit) || !strings.Contains(err.Error(), "limits.max_events") {
		t.Fatalf("Publish beyond MaxEvents: %v", err)
	}
	if err := r.Subscribe("E_NEW", "fake:x", 0); !errors.Is(err, evi.ErrLimit) {
		t.Fatalf("a subscription that would publish beyond MaxEvents: %v", err)
	}
	if err := r.Subscribe("E_A", "fake:1", 0); err != nil {
		t.Fatal(err)
	}
	if err := r.Subscribe("E_B", "fake:2", time.Minute); err != nil {
		t.Fatal(err)
	}
	err := r.Subscribe("E_A", "fake:3", 0)
	if !errors.Is(err, evi.ErrLimit) || !strings.Contains(err.Error(), "limits.max_subscriptions") {
		t.Fatalf("Subscribe beyond MaxSubscriptions: %v", err)
	}
	if err := r.Subscribe("E_A", "fake:1", time.Hour); err != nil {
		t.Fatalf("refreshing at the limit: %v", err)
	}
	if err := r.Unsubscribe("E_A", "fake:1"); err != nil {
		t.Fatal(err)
	}
	if err := r.Subscribe("E_A", "fake:3", 0); err != nil {
		t.Fatalf("after a removal: %v", err)
	}
	c.Advance(2 * time.Minute) // fake:2 expires
	r.Sweep()
	if err := r.Subscribe("E_A", "fake:4", 0); err != nil {
		t.Fatalf("after an expiry: %v", err)
	}
	if n := r.Refused(); n != 3 {
		t.Fatalf("Refused = %d, want 3", n)
	}
}
