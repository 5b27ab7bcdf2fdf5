package loadgen

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunEndToEnd runs tiny count-bounded scenarios over loopback through
// every path and mode and checks that every event reached every
// subscriber exactly once.
func TestRunEndToEnd(t *testing.T) {
	tests := []struct {
		path        Path
		mode        Mode
		subs        int
		atLeastOnce bool
		receiver    ReceiverKind
	}{
		{PathAPI, ModeNotify, 1, false, ReceiverLean},
		{PathAPI, ModeReliable, 3, false, ReceiverLean},
		{PathAPI, ModeReliable, 2, true, ReceiverLean},
		{PathAPI, ModeNotify, 2, false, ReceiverServer},
		{PathAPI, ModeReliable, 1, true, ReceiverServer},
		{PathMI, ModeNotify, 2, false, ReceiverLean},
		{PathMI, ModeReliable, 1, true, ReceiverLean},
		{PathIngest, ModeNotify, 2, false, ReceiverLean},
		{PathIngest, ModeReliable, 2, true, ReceiverLean},
	}
	for _, tc := range tests {
		sc := Scenario{
			Path: tc.path, Mode: tc.mode, Subscribers: tc.subs, AtLeastOnce: tc.atLeastOnce,
			Receiver: tc.receiver, Count: 3000, Duration: time.Minute,
			// Generous: the outcome must not depend on the machine's load.
			Timeout: 30 * time.Second, Drain: time.Minute,
		}
		if tc.path == PathMI {
			sc.Count = 300
		}
		t.Run(sc.Name()+"/"+string(tc.receiver), func(t *testing.T) {
			res, err := Run(context.Background(), sc)
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK {
				t.Fatalf("not ok: %s (%+v)", res.Error, res)
			}
			want := uint64(sc.Count)
			if res.Raised != want || res.Expected != want*uint64(tc.subs) {
				t.Errorf("raised %d, expected %d; want %d and %d", res.Raised, res.Expected, want, want*uint64(tc.subs))
			}
			if res.Delivered != res.Expected || res.Lost != 0 || res.Duplicates != 0 || res.Failed != 0 {
				t.Errorf("delivered %d of %d, lost %d, dup %d, failed %d", res.Delivered, res.Expected, res.Lost, res.Duplicates, res.Failed)
			}
			l := res.Latency
			if l.Count != res.Delivered || l.Min <= 0 || !(l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
				t.Errorf("latency summary out of order or incomplete: %+v", l)
			}
			if res.Sender == nil || res.Sender.Delivered != res.Expected {
				t.Errorf("sender stats %+v, want %d delivered", res.Sender, res.Expected)
			}
		})
	}
}

func TestScenarioValidate(t *testing.T) {
	ok := Scenario{Path: PathAPI, Mode: ModeNotify, Count: 1}
	tests := []struct {
		name string
		edit func(*Scenario)
		want string
	}{
		{"valid", func(*Scenario) {}, ""},
		{"bad path", func(s *Scenario) { s.Path = "smtp" }, "path"},
		{"bad mode", func(s *Scenario) { s.Mode = "fast" }, "mode"},
		{"no bound", func(s *Scenario) { s.Count = 0 }, "duration or a count"},
		{"negative rate", func(s *Scenario) { s.Rate = -1 }, "negative"},
		{"negative subscribers", func(s *Scenario) { s.Subscribers = -1 }, "negative"},
		{"at-least-once needs reliable", func(s *Scenario) { s.AtLeastOnce = true }, "reliable"},
		{"api at a URL", func(s *Scenario) { s.URL = "http://127.0.0.1:1/mi" }, "cannot drive"},
		{"ingest at a URL without address", func(s *Scenario) { s.Path, s.URL = PathIngest, "http://127.0.0.1:1/mi" }, "ingest address"},
		{"bad receiver", func(s *Scenario) { s.Receiver = "fast" }, "receiver"},
		{"bad event", func(s *Scenario) { s.Event = "E X" }, "event name"},
		{"negative timeout", func(s *Scenario) { s.Timeout = -time.Second }, "negative"},
		{"timeout not in ms", func(s *Scenario) { s.Timeout = time.Microsecond }, "milliseconds"},
		{"timeout too long", func(s *Scenario) { s.Timeout = 2 * time.Hour }, "at most"},
		{"timeout at a URL", func(s *Scenario) { s.Path, s.URL, s.Timeout = PathMI, "http://127.0.0.1:1/mi", time.Second }, "its own"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := ok
			tc.edit(&sc)
			err := sc.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error about %q", err, tc.want)
			}
			if _, rerr := Run(context.Background(), sc); rerr == nil {
				t.Fatal("Run accepted an invalid scenario")
			}
		})
	}
}

// TestRunStopsByItself checks the bounds: a duration-bounded scenario at a
// fixed rate ends on time with about the right count, and a cancelled
// context ends a long one at once.
func TestRunStopsByItself(t *testing.T) {
	start := time.Now()
	var progress atomic.Int64
	res, err := Run(context.Background(), Scenario{
		Path: PathAPI, Mode: ModeNotify, Duration: 300 * time.Millisecond, Rate: 2000,
		Progress: func(p Progress) {
			if p.Scenario == "api/notify/1sub" && p.Raised > 0 {
				progress.Add(1)
			}
		},
		ProgressInterval: 20 * time.Millisecond,
	})
	if err != nil || !res.OK {
		t.Fatalf("Run: %v %+v", err, res)
	}
	if took := time.Since(start); took > time.Minute {
		t.Errorf("a 300 ms scenario took %v", took)
	}
	// 2000/s: never more than the rate allows over the time raising
	// actually took (a loaded machine may notice the end late, and pace
	// late, never early), one event of slack per worker.
	if most := int64(2000*res.RaiseSeconds) + int64(res.Workers) + 1; res.Raised < 1 || int64(res.Raised) > most {
		t.Errorf("raised %d at 2000/s in %.3f s, want 1 to %d", res.Raised, res.RaiseSeconds, most)
	}
	if progress.Load() == 0 {
		t.Error("Progress was never called")
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	res, err = Run(ctx, Scenario{Path: PathAPI, Mode: ModeNotify, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("a cancelled scenario took %v (its duration was a minute)", took)
	}
	if res.Raised == 0 {
		t.Error("nothing raised before the cancel")
	}
}
