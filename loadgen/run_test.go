package loadgen

import (
	"context"
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
			Receiver: tc.receiver, Count: 3000, Duration: 10 * time.Second,
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
