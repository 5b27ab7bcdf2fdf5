package metrics_test

import (
	"fmt"
	"strings"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/metrics"
	"github.com/evstream/evstream/transport/stream"
)

// NewRegistry gathers the evstream counters with the Go runtime and
// process metrics, in a registry of its own.
func ExampleNewRegistry() {
	reg := evi.NewRegistry(evi.Config{})
	defer reg.Close()
	tr, err := stream.New(stream.DefaultConfig())
	if err != nil {
		panic(err)
	}
	if err := reg.Register(tr); err != nil {
		panic(err)
	}
	if _, err := reg.Publish("E_PIKE_BLOCKED"); err != nil {
		panic(err)
	}

	mfs, err := metrics.NewRegistry(metrics.Sources{Registry: reg, Transports: []metrics.TransportSource{{Subsystem: "stream", Stats: tr}}}).Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "evstream_events_") {
			m := mf.GetMetric()[0]
			fmt.Println(mf.GetName(), mf.GetType(), m.GetGauge().GetValue()+m.GetCounter().GetValue())
		}
	}
	// Output:
	// evstream_events_published GAUGE 1
	// evstream_events_raised_total COUNTER 0
}
