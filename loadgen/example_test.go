package loadgen_test

import (
	"context"
	"fmt"
	"time"

	"github.com/evstream/evstream/loadgen"
)

// A Histogram gives nearest-rank percentiles within 0.8 %.
func ExampleHistogram() {
	var h loadgen.Histogram
	for v := int64(1); v <= 1000; v++ {
		h.Record(v * 1000) // 1 µs .. 1 ms
	}
	s := h.Summary()
	fmt.Println(s.Count, loadgen.FormatNanos(s.Min), loadgen.FormatNanos(s.P50), loadgen.FormatNanos(s.P99), loadgen.FormatNanos(s.Max))
	// Output: 1000 1.00µs 502µs 991µs 1.00ms
}

// Run raises a few thousand events through the Go API to two subscribers
// over loopback and checks that each received every one.
func ExampleRun() {
	res, err := loadgen.Run(context.Background(), loadgen.Scenario{
		Path:        loadgen.PathAPI,
		Mode:        loadgen.ModeReliable,
		Subscribers: 2,
		AtLeastOnce: true,
		Count:       5000,
		Duration:    time.Minute,
		// Generous bounds: the example must pass on a loaded machine,
		// where a connect can take a second (a SYN retransmitted).
		Timeout: 30 * time.Second,
		Drain:   time.Minute,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Name, "ok:", res.OK)
	fmt.Println("raised", res.Raised, "delivered", res.Delivered, "lost", res.Lost, "duplicates", res.Duplicates)
	fmt.Println("p50 <= p99:", res.Latency.P50 <= res.Latency.P99)
	// Output:
	// api/reliable/2sub+alo ok: true
	// raised 5000 delivered 10000 lost 0 duplicates 0
	// p50 <= p99: true
}
