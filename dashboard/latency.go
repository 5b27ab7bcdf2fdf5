package dashboard

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Latencies are counted in a histogram of buckets that double every two
// buckets: bucket 0 holds [0, 2) µs; for k >= 1, bucket 2k-1 holds
// [2^k, 1.5·2^k) µs and bucket 2k holds [1.5·2^k, 2^(k+1)) µs; the last
// one holds everything from 1.5·2^32 µs (107 minutes) on.
// A percentile is the geometric middle of its bucket: within ±22 %.
const nBuckets = 64

// bucketOf returns the bucket of a latency.
func bucketOf(d time.Duration) int {
	us := uint64(max(d/time.Microsecond, 0))
	if us < 2 {
		return 0
	}
	k := bits.Len64(us) - 1 // 2^k <= us < 2^(k+1), k >= 1
	b := 2*k - 1
	if us&(1<<(k-1)) != 0 {
		b++
	}
	return min(b, nBuckets-1)
}

// bucketBounds returns the bounds of bucket b, in microseconds.
func bucketBounds(b int) (lo, hi float64) {
	switch {
	case b == 0:
		return 1, 2 // 1, not 0: the geometric middle of [0, 2) µs would be 0
	case b%2 == 1:
		lo = math.Exp2(float64((b + 1) / 2))
		return lo, 1.5 * lo
	default:
		lo = math.Exp2(float64(b / 2))
		return 1.5 * lo, 2 * lo
	}
}

// liveHist is the histogram being filled by outcomes.
type liveHist [nBuckets]atomic.Uint32

func (h *liveHist) add(d time.Duration) { h[bucketOf(d)].Add(1) }

// take empties h into a histogram.
func (h *liveHist) take() hist {
	var out hist
	for i := range h {
		if h[i].Load() != 0 {
			out[i] = h[i].Swap(0)
		}
	}
	return out
}

// hist is a histogram taken from a liveHist.
type hist [nBuckets]uint32

func (h *hist) add(o *hist) {
	for i := range h {
		h[i] += o[i]
	}
}

// quantile returns the q-quantile (0 < q <= 1) in milliseconds, or -1
// when h is empty.
func (h *hist) quantile(q float64) float64 {
	var n uint64
	for _, c := range h {
		n += uint64(c)
	}
	if n == 0 {
		return -1
	}
	rank := uint64(math.Ceil(q * float64(n)))
	var seen uint64
	for b, c := range h {
		seen += uint64(c)
		if seen >= rank {
			lo, hi := bucketBounds(b)
			return math.Sqrt(lo*hi) / 1000
		}
	}
	return -1
}
