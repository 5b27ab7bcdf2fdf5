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

// Baseline is the raw batched write rate of the spool's store engine
// (SpoolBaseline).
type Baseline struct {
	RecordsPerSec float64
	// CPUPerRecord is the process's CPU time per record written, in
	// nanoseconds (user and system; 0 when the system cannot tell).
	CPUPerRecord float64
	// CPUPerConfirm is the CPU time per record confirmed (removed),
	// SpoolBatch records per durable Confirm: the other write every
	// delivered record costs, which the raw write rate does not count.
	CPUPerConfirm float64
}

// SpoolBaseline measures the raw batched write rate of the spool's store
// engine on this machine: durable Appends of SpoolBatch records the size
// of the bench's events, to a fresh spool in a temporary directory, for d.
// It is what an at-least-once scenario's rate is compared with (the
// delivery adds reads, confirmations and the network to each event).
// Then, for at most d again, it confirms what it wrote, in the same
// batches, for the CPU time a confirmation costs.
func SpoolBaseline(ctx context.Context, d time.Duration) (Baseline, error) {
	dir, err := os.MkdirTemp("", "evstream-bench-baseline-")
	if err != nil {
		return Baseline{}, err
	}
	defer os.RemoveAll(dir)
	s, err := spool.Open(filepath.Join(dir, "spool.db"), spool.Options{})
	if err != nil {
		return Baseline{}, err
	}
	defer s.Close()
	recs := make([]spool.Record, SpoolBatch)
	now := time.Now()
	for i := range recs {
		recs[i] = spool.Record{Queue: "E_BENCH\x00tcp:127.0.0.1:9/E_BENCH", Event: DefaultEvent,
			Params: appendStamp(nil, int64(i), now.UnixNano()), Raised: now}
	}
	cpu0, cpuOK := processCPU()
	start := time.Now()
	n := 0
	var batches [][]uint64
	for time.Since(start) < d && ctx.Err() == nil {
		seqs, err := s.Append(recs...)
		if err != nil {
			return Baseline{}, fmt.Errorf("loadgen: spool baseline: %w", err)
		}
		batches = append(batches, seqs)
		n += len(recs)
	}
	b := Baseline{RecordsPerSec: float64(n) / time.Since(start).Seconds()}
	cpu1, cpuOK1 := processCPU()
	if cpuOK && cpuOK1 && n > 0 {
		b.CPUPerRecord = float64(cpu1-cpu0) / float64(n)
	}

	start = time.Now()
	confirmed := 0
	for _, seqs := range batches {
		if time.Since(start) >= d || ctx.Err() != nil {
			break
		}
		if err := s.Confirm(recs[0].Queue, seqs...); err != nil {
			return Baseline{}, fmt.Errorf("loadgen: spool baseline: confirm: %w", err)
		}
		confirmed += len(seqs)
	}
	if cpu2, ok := processCPU(); ok && cpuOK1 && confirmed > 0 {
		b.CPUPerConfirm = float64(cpu2-cpu1) / float64(confirmed)
	}
	return b, nil
}
