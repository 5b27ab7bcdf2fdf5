package daemon

import (
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/evstream/evstream/internal/testnet"
)

// TestReload: the log level, events and config subscriptions change in
// the running daemon; keys that need a restart are reported and keep their
// old values; a bad config changes nothing.
func TestReload(t *testing.T) {
	a, b, c := testnet.NewSink(t, waitTimeout), testnet.NewSink(t, waitTimeout), testnet.NewSink(t, waitTimeout)
	cfg := testConfig()
	cfg.Subscriptions = []Subscription{
		{Event: "E_A", Socket: a.Socket()},
		{Event: "E_B", Socket: b.Socket(), Expire: 60},
		{Event: "E_B", Socket: c.Socket(), Expire: 60},
	}
	level := new(slog.LevelVar)
	logs := new(testnet.Buffer)
	d, err := New(cfg, logs.Logger(), WithLogLevel(level))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Shutdown(t.Context()) })

	next := cfg.Clone()
	next.Log.Level = "debug"
	next.Events = []string{"E_NEW"}
	next.MI.Listen = "127.0.0.1:1"        // needs a restart
	eventStream(next).ReliableMode = true // needs a restart
	next.MI.AllowedHosts = []string{"evstream.example.com"}
	next.Subscriptions = []Subscription{
		{Event: "E_B", Socket: b.Socket(), Expire: 120}, // expire changed
		{Event: "E_B", Socket: c.Socket(), Expire: 60},  // unchanged
		{Event: "E_C", Socket: a.Socket() + "/m"},       // added
	} // E_A removed
	rep, err := d.Reload(next)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"log.level", "mi.allowed_hosts", "events", "subscriptions"}; !sameSet(rep.Applied, want) {
		t.Errorf("applied %v, want %v", rep.Applied, want)
	}
	if want := []string{"mi.listen", "event_stream.reliable_mode"}; !sameSet(rep.NeedRestart, want) {
		t.Errorf("need restart %v, want %v", rep.NeedRestart, want)
	}
	if rep.Subscribed != 1 || rep.Changed != 1 || rep.Unsubscribed != 1 || len(rep.Errors) != 0 || !slices.Equal(rep.Published, []string{"E_NEW"}) {
		t.Errorf("report %+v", rep)
	}
	if level.Level() != slog.LevelDebug {
		t.Errorf("log level %v after reload, want debug", level.Level())
	}
	got := miCall(t, d, `{"jsonrpc":"2.0","method":"subscribers_list","id":1}`)
	for _, want := range []string{`"name":"E_C"`, `"socket":"` + a.Socket() + `/m","expire":"never"`,
		`"socket":"` + b.Socket() + `","expire":120`, `"socket":"` + c.Socket() + `","expire":60`} {
		if !strings.Contains(got, want) {
			t.Errorf("subscribers_list lacks %s: %s", want, got)
		}
	}
	if strings.Contains(got, `"name":"E_A"`) {
		t.Errorf("the removed subscription is still listed: %s", got)
	}
	if l := logs.String(); !strings.Contains(l, "reload: config applied") || !strings.Contains(l, "need a restart") {
		t.Errorf("reload not logged:\n%s", l)
	}

	// The same config again: nothing to do; the keys that need a restart
	// are still reported (the daemon runs their old values).
	rep, err = d.Reload(next)
	if err != nil || len(rep.Applied) != 0 || !sameSet(rep.NeedRestart, []string{"mi.listen", "event_stream.reliable_mode"}) {
		t.Errorf("second reload: %+v, %v", rep, err)
	}

	// A config that does not validate changes nothing.
	bad := next.Clone()
	bad.Log.Level = "chatty"
	bad.Subscriptions = nil
	if _, err := d.Reload(bad); err == nil || !strings.Contains(err.Error(), "log.level") {
		t.Fatalf("Reload(bad) = %v, want the log.level error", err)
	}
	if level.Level() != slog.LevelDebug || !strings.Contains(miCall(t, d, `{"jsonrpc":"2.0","method":"subscribers_list","id":1}`), `"name":"E_C"`) {
		t.Error("a refused reload changed the running daemon")
	}
}

// TestReloadFailedSubscription: a subscription that cannot be made is
// reported; the others are applied.
func TestReloadFailedSubscription(t *testing.T) {
	a := testnet.NewSink(t, waitTimeout)
	d, _ := start(t, testConfig())
	next := testConfig()
	next.Subscriptions = []Subscription{
		{Event: "E_X", Socket: "tcp:127.0.0.1:0"}, // port 0: refused
		{Event: "E_Y", Socket: a.Socket()},
	}
	rep, err := d.Reload(next)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Subscribed != 1 || len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0].Error(), "port 0 out of range") {
		t.Errorf("report %+v", rep)
	}
	// What runs is what was made: reloading the same file tries the bad
	// one again, and only it.
	rep, _ = d.Reload(next)
	if rep.Subscribed != 0 || len(rep.Errors) != 1 {
		t.Errorf("second reload %+v", rep)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
