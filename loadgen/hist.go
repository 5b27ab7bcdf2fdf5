package loadgen

import (
	"math"
	"math/bits"
	"strconv"
	"time"
)

// subBits is the precision of a Histogram: each power of two is split into
// 2^subBits buckets, so a recorded value is known to within 1/2^subBits
// (0.78 %) of itself.
const subBits = 7

const (
	subCount = 1 << subBits
	// maxBits bounds the values a Histogram holds exactly: larger values
	// (above 2^40 ns, 18 minutes) are counted in the last bucket.
	maxBits     = 40
	bucketCount = subCount + (maxBits-subBits)*subCount
	maxValue    = 1<<maxBits - 1
)

// Histogram counts non-negative int64 values (latencies in nanoseconds) in
// logarithmic buckets, HDR-style: values below 128 are exact, larger ones
// fall in buckets 1/128 as wide as their power of two. Quantiles are
// therefore within 0.8 % of the exact value, for any distribution, with a
// fixed 34 KiB of memory and O(1) recording.
//
// The zero Histogram is empty and ready to use. A Histogram is not safe for
// concurrent use: give each goroutine its own and Merge them.
type Histogram struct {
	counts   []uint64 // allocated on first Record
	n        uint64
	min, max int64
	sum      float64
}

// bucketOf returns the bucket index of v (0 <= v <= maxValue).
func bucketOf(v int64) int {
	if v < subCount {
		return int(v)
	}
	n := bits.Len64(uint64(v)) // > subBits
	shift := n - subBits - 1
	m := int(v >> shift) // in [subCount, 2*subCount)
	return subCount + shift*subCount + (m - subCount)
}

// bucketRange returns the lowest and highest values of bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < subCount {
		return int64(i), int64(i)
	}
	shift := (i - subCount) / subCount
	m := int64(subCount + (i-subCount)%subCount)
	lo = m << shift
	return lo, lo + (int64(1) << shift) - 1
}

// Record counts the value v; negative values count as 0 (a clock that
// stepped back), values above 2^40 as 2^40.
func (h *Histogram) Record(v int64) {
	v = min(max(v, 0), maxValue)
	if h.counts == nil {
		h.counts = make([]uint64, bucketCount)
	}
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Count returns how many values were recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min returns the smallest value recorded (0 when empty).
func (h *Histogram) Min() int64 { return h.min }

// Max returns the largest value recorded (0 when empty).
func (h *Histogram) Max() int64 { return h.max }

// Mean returns the mean of the values recorded (0 when empty).
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Quantile returns the value at quantile q (0 < q <= 1) by the
// nearest-rank definition: the smallest recorded value v such that at
// least q of the values are <= v, up to the bucket precision (the
// bucket's highest value, never above Max). It returns 0 when empty.
func (h *Histogram) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		return h.min
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bucketRange(i)
			return min(max(hi, h.min), h.max)
		}
	}
	return h.max
}

// Merge adds every value counted by o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, bucketCount)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Latency summarises a Histogram of nanosecond latencies.
type Latency struct {
	Count uint64  `json:"count"`
	Min   int64   `json:"min_ns"`
	Mean  float64 `json:"mean_ns"`
	P50   int64   `json:"p50_ns"`
	P90   int64   `json:"p90_ns"`
	P99   int64   `json:"p99_ns"`
	P999  int64   `json:"p999_ns"`
	Max   int64   `json:"max_ns"`
}

// Summary returns the count, min, mean, p50, p90, p99, p99.9 and max of h.
func (h *Histogram) Summary() Latency {
	return Latency{
		Count: h.n,
		Min:   h.min,
		Mean:  h.Mean(),
		P50:   h.Quantile(0.50),
		P90:   h.Quantile(0.90),
		P99:   h.Quantile(0.99),
		P999:  h.Quantile(0.999),
		Max:   h.max,
	}
}

// FormatNanos prints a duration given in nanoseconds compactly for tables:
// 850ns, 12.3µs, 4.56ms, 1.2s.
func FormatNanos(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d < time.Microsecond:
		return d.String()
	case d < time.Millisecond:
		return trimFloat(float64(d)/1e3) + "µs"
	case d < time.Second:
		return trimFloat(float64(d)/1e6) + "ms"
	}
	return trimFloat(float64(d)/1e9) + "s"
}

// trimFloat prints f with 3 significant digits.
func trimFloat(f float64) string {
	prec := 2
	switch {
	case f >= 100:
		prec = 0
	case f >= 10:
		prec = 1
	}
	return strconv.FormatFloat(f, 'f', prec, 64)
}
