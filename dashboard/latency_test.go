package dashboard

import (
	"math"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	for _, d := range []time.Duration{0, time.Microsecond, 3 * time.Microsecond, 150 * time.Microsecond,
		time.Millisecond, 7 * time.Millisecond, time.Second, time.Hour} {
		b := bucketOf(d)
		lo, hi := bucketBounds(b)
		us := math.Max(float64(d/time.Microsecond), 1)
		if b < nBuckets-1 && (us < lo || us >= hi) {
			t.Errorf("%v: bucket %d = [%v, %v) µs, does not hold it", d, b, lo, hi)
		}
	}
	if bucketOf(100*time.Hour) != nBuckets-1 {
		t.Errorf("100 hours are not in the last bucket")
	}
	// Buckets are in order and adjacent.
	for b := 1; b < nBuckets; b++ {
		plo, phi := bucketBounds(b - 1)
		lo, _ := bucketBounds(b)
		if lo != phi || lo <= plo || (b == 1 && lo != 2) {
			t.Fatalf("bucket %d starts at %v, the previous one is [%v, %v)", b, lo, plo, phi)
		}
	}
}

func TestQuantile(t *testing.T) {
	var lh liveHist
	if h := lh.take(); h.quantile(0.5) != -1 {
		t.Fatal("the quantile of nothing is not -1")
	}
	for range 98 {
		lh.add(time.Millisecond)
	}
	lh.add(100 * time.Millisecond)
	lh.add(100 * time.Millisecond)
	h := lh.take()
	if p50 := h.quantile(0.5); p50 < 0.78 || p50 > 1.22 {
		t.Errorf("p50 = %v ms, want 1 ms ±22 %%", p50)
	}
	if p99 := h.quantile(0.99); p99 < 78 || p99 > 122 {
		t.Errorf("p99 = %v ms, want 100 ms ±22 %%", p99)
	}
	if again := lh.take(); again.quantile(0.5) != -1 {
		t.Error("take did not empty the live histogram")
	}
}
