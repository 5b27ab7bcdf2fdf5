package loadgen

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"
)

// BenchmarkPipeline runs the throughput targets' scenarios (BENCHMARKS.md) end to end
// over loopback, b.N deliveries each (b.N/subscribers events), and reports
// what the targets measure: ns/op is the time per delivery (setup
// excluded), events/s and deliveries/s the rates, p99-ns the 99th
// percentile latency (under full load: mostly queueing).
//
//	go test -run '^$' -bench Pipeline -benchtime 2000000x -count 5 ./loadgen
func BenchmarkPipeline(b *testing.B) {
	cases := []struct {
		path Path
		mode Mode
		subs int
	}{
		{PathAPI, ModeNotify, 1},
		{PathAPI, ModeReliable, 1},
		{PathAPI, ModeNotify, 100},
		{PathIngest, ModeNotify, 1},
		{PathIngest, ModeReliable, 1},
	}
	for _, tc := range cases {
		sc := Scenario{Path: tc.path, Mode: tc.mode, Subscribers: tc.subs, Duration: 5 * time.Minute}
		b.Run(fmt.Sprintf("%s-%s-%dsub", tc.path, tc.mode, tc.subs), func(b *testing.B) {
			sc.Count = int64(max(b.N/tc.subs, 1))
			res, err := Run(context.Background(), sc)
			if err != nil {
				b.Fatal(err)
			}
			if !res.OK || res.Lost > 0 {
				b.Fatalf("%s: ok %v lost %d: %s", res.Name, res.OK, res.Lost, res.Error)
			}
			b.ReportMetric(res.ElapsedSeconds*1e9/float64(res.Delivered), "ns/op")
			b.ReportMetric(res.EventsPerSec, "events/s")
			b.ReportMetric(res.DeliveriesPerSec, "deliveries/s")
			b.ReportMetric(float64(res.Latency.P99), "p99-ns")
		})
	}
}

// BenchmarkSink measures what a lean sink costs per event over loopback:
// a client writes batches of 64 notifications, the sink counts them.
func BenchmarkSink(b *testing.B) {
	for _, method := range []string{"E_BENCH", ""} {
		name := "fast"
		if method == "" {
			name = "general"
		}
		b.Run(name, func(b *testing.B) {
			s, err := NewSink(SinkConfig{Method: method})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			nc, err := net.Dial("tcp", s.Addr())
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			var buf []byte
			now := time.Now().UnixNano()
			for i := range 64 {
				buf = fmt.Appendf(buf, `{"jsonrpc":"2.0","method":"E_BENCH","params":{"s":%d,"t":%d}}`, i, now)
			}
			b.SetBytes(int64(len(buf) / 64))
			b.ResetTimer()
			for i := 0; i < b.N; i += 64 {
				if _, err := nc.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			want := uint64((b.N + 63) / 64 * 64)
			deadline := time.Now().Add(time.Minute)
			for s.Received() < want && time.Now().Before(deadline) {
				time.Sleep(50 * time.Microsecond)
			}
			b.StopTimer()
			if s.Received() < want {
				b.Fatalf("received %d of %d", s.Received(), want)
			}
		})
	}
}
