package loadgen

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/evstream/evstream/spool"
)

// SpoolBatch is how many records one durable write of the store-engine
// baseline holds (SpoolBaseline).
const SpoolBatch = 1024

// SpoolBaseline measures the raw batched write rate of the spool's store
// engine on this machine: durable Appends of SpoolBatch records the size
// of the bench's events, to a fresh spool in a temporary directory, for d.
// It is what an at-least-once scenario's rate is compared with (the
// delivery adds reads, confirmations and the network to each event).
func SpoolBaseline(ctx context.Context, d time.Duration) (recordsPerSec float64, err error) {
	dir, err := os.MkdirTemp("", "evstream-bench-baseline-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	s, err := spool.Open(filepath.Join(dir, "spool.db"), spool.Options{})
	if err != nil {
		return 0, err
	}
	defer s.Close()
	recs := make([]spool.Record, SpoolBatch)
	now := time.Now()
	for i := range recs {
		recs[i] = spool.Record{Queue: "E_BENCH\x00tcp:127.0.0.1:9/E_BENCH", Event: DefaultEvent,
			Params: appendStamp(nil, int64(i), now.UnixNano()), Raised: now}
	}
	start := time.Now()
	n := 0
	for time.Since(start) < d && ctx.Err() == nil {
		if _, err := s.Append(recs...); err != nil {
			return 0, fmt.Errorf("loadgen: spool baseline: %w", err)
		}
		n += len(recs)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
