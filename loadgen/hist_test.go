package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// oracle returns the nearest-rank quantile q of sorted: the smallest value
// with at least q of the values at or below it.
func oracle(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func TestHistogramQuantilesMatchSortedOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		n    int
		gen  func() int64
	}{
		{"constant", 1000, func() int64 { return 4242 }},
		{"small exact values", 5000, func() int64 { return rng.Int64N(128) }},
		{"uniform µs", 100000, func() int64 { return rng.Int64N(1_000_000) }},
		{"exponential", 100000, func() int64 { return int64(rng.ExpFloat64() * 50_000) }},
		{"lognormal tail", 100000, func() int64 { return int64(math.Exp(rng.NormFloat64()*2 + 10)) }},
		{"bimodal", 50000, func() int64 {
			if rng.IntN(100) == 0 {
				return 5_000_000 + rng.Int64N(1000)
			}
			return 20_000 + rng.Int64N(500)
		}},
		{"one value", 1, func() int64 { return 123456789 }},
		{"huge", 1000, func() int64 { return 1<<39 + rng.Int64N(1<<38) }},
	}
	quantiles := []float64{0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 1}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			vals := make([]int64, tc.n)
			for i := range vals {
				vals[i] = tc.gen()
				h.Record(vals[i])
			}
			slices.Sort(vals)
			if h.Count() != uint64(tc.n) || h.Min() != vals[0] || h.Max() != vals[len(vals)-1] {
				t.Fatalf("count/min/max = %d/%d/%d, want %d/%d/%d", h.Count(), h.Min(), h.Max(), tc.n, vals[0], vals[len(vals)-1])
			}
			for _, q := range quantiles {
				got, want := h.Quantile(q), oracle(vals, q)
				// The bucket of want spans at most want/128: got is
				// never below want and at most one bucket above.
				if got < want || float64(got-want) > float64(want)/subCount {
					t.Errorf("Quantile(%v) = %d, oracle %d (relative error %.4f)", q, got, want, float64(got-want)/float64(want))
				}
			}
			var sum float64
			for _, v := range vals {
				sum += float64(v)
			}
			if mean := sum / float64(tc.n); math.Abs(h.Mean()-mean) > 1e-6*mean+1e-9 {
				t.Errorf("Mean = %v, want %v", h.Mean(), mean)
			}
		})
	}
}

func TestHistogramMergeEqualsRecordingAll(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var a, b, all Histogram
	for i := range 20000 {
		v := rng.Int64N(10_000_000)
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(&Histogram{}) // merging an empty one changes nothing
	if m.Summary() != all.Summary() {
		t.Fatalf("merged %+v, want %+v", m.Summary(), all.Summary())
	}
}

func TestHistogramEdges(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 || h.Summary() != (Latency{}) {
		t.Fatalf("empty histogram: %+v", h.Summary())
	}
	h.Record(-5)            // a clock that stepped back counts as 0
	h.Record(math.MaxInt64) // clamped
	if h.Min() != 0 || h.Max() != maxValue {
		t.Fatalf("min %d max %d, want 0 and %d", h.Min(), h.Max(), maxValue)
	}
	if got := h.Quantile(0); got != 0 {
		t.Errorf("Quantile(0) = %d, want the min", got)
	}
	if got := h.Quantile(1); got != maxValue {
		t.Errorf("Quantile(1) = %d, want the max", got)
	}
}

// TestBucketsTile checks that the buckets cover every value exactly once,
// in order, each at most 1/128 of its low end wide.
func TestBucketsTile(t *testing.T) {
	prevHi := int64(-1)
	for i := range bucketCount {
		lo, hi := bucketRange(i)
		if lo != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d = [%d, %d], previous ended at %d", i, lo, hi, prevHi)
		}
		if lo >= subCount && float64(hi-lo+1) > float64(lo)/subCount {
			t.Fatalf("bucket %d = [%d, %d] is too wide", i, lo, hi)
		}
		for _, v := range []int64{lo, hi, lo + (hi-lo)/2} {
			if b := bucketOf(v); b != i {
				t.Fatalf("bucketOf(%d) = %d, want %d", v, b, i)
			}
		}
		prevHi = hi
	}
	if prevHi != maxValue {
		t.Fatalf("last bucket ends at %d, want %d", prevHi, maxValue)
	}
}

func TestFormatNanos(t *testing.T) {
	tests := []struct {
		ns   int64
		want string
	}{
		{850, "850ns"},
		{12_345, "12.3µs"},
		{4_560_000, "4.56ms"},
		{123_400_000, "123ms"},
		{1_200_000_000, "1.20s"},
	}
	for _, tc := range tests {
		if got := FormatNanos(tc.ns); got != tc.want {
			t.Errorf("FormatNanos(%d) = %q, want %q", tc.ns, got, tc.want)
		}
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	v := int64(12345)
	for b.Loop() {
		h.Record(v)
		v = v*7 + 13&(1<<30-1)
	}
}
