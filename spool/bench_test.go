package spool_test

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/evstream/evstream/spool"
)

// BenchmarkAppend measures durable appends (each Append is committed and
// fsync'd before it returns) from one producer, with batch records per
// Append: the store engine's raw batched write rate.
func BenchmarkAppend(b *testing.B) {
	for _, batch := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := open(b, filepath.Join(b.TempDir(), "spool.db"), spool.Options{})
			recs := make([]spool.Record, batch)
			for i := range recs {
				recs[i] = rec("q", i)
				recs[i].Params = []byte(`{"ip":"192.168.2.11","port":5060,"reason":"pike blocked"}`)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Append(recs...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkAppendParallel measures one-record Appends from 64 producers at
// once, to one queue (one subscriber) and to a queue each: the committer
// groups them into shared fsyncs.
func BenchmarkAppendParallel(b *testing.B) {
	for _, queues := range []string{"one", "each"} {
		b.Run("queues="+queues, func(b *testing.B) { benchParallel(b, queues == "each") })
	}
}

func benchParallel(b *testing.B, queueEach bool) {
	s := open(b, filepath.Join(b.TempDir(), "spool.db"), spool.Options{})
	var n atomic.Int64
	b.SetParallelism(32) // 64 producers on 2 Ps
	b.RunParallel(func(pb *testing.PB) {
		q := "q"
		if queueEach {
			q = fmt.Sprintf("q%d", n.Add(1))
		}
		r := rec(q, 0)
		for pb.Next() {
			if _, err := s.Append(r); err != nil {
				b.Error(err)
				return
			}
		}
	})
	st := s.Stats()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(st.Appended)/float64(max(st.Commits, 1)), "records/commit")
}

// BenchmarkAppendConfirm measures a durable Append of 1024 records and
// the durable Confirm of them all: what at-least-once delivery costs the
// store per event, beside the read.
func BenchmarkAppendConfirm(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "spool.db"), spool.Options{})
	recs := make([]spool.Record, 1024)
	for i := range recs {
		recs[i] = rec("q", i)
	}
	b.ReportAllocs()
	for b.Loop() {
		seqs, err := s.Append(recs...)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Confirm("q", seqs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
}
