package receiver_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/receiver"
)

// benchEvent is a typical OpenSIPS notification.
const benchEvent = `{"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"ip":"192.168.2.11","port":5060,"reason":"flood"}}`

// BenchmarkReceiver measures decoding and dispatching over loopback TCP:
// b.N events written back to back by `conns` clients, handled by a handler
// that counts them. Reported as events/s.
func BenchmarkReceiver(b *testing.B) {
	for _, conns := range []int{1, 4} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			benchmarkReceiver(b, conns, []byte(benchEvent))
		})
	}
	b.Run("reliable/conns=1", func(b *testing.B) {
		benchmarkReceiver(b, 1, jsonrpc.AppendRequest(nil, 915243442, "E_PIKE_BLOCKED",
			[]byte(`{"ip":"192.168.2.11","port":5060,"reason":"flood"}`)))
	})
}

func benchmarkReceiver(b *testing.B, conns int, event []byte) {
	var handled atomic.Int64
	all := make(chan struct{})
	target := int64(b.N)
	srv := &receiver.Server{Handler: receiver.HandlerFunc(func(_ context.Context, r *receiver.Request) (any, error) {
		if handled.Add(1) == target {
			close(all)
		}
		return "OK", nil
	})}
	addr := serveUnfiltered(b, srv)

	const chunk = 64 << 10
	batch := bytes.Repeat(event, chunk/len(event))
	perBatch := chunk / len(event)
	cs := make([]net.Conn, conns)
	for i := range cs {
		cs[i] = dial(b, addr)
		cs[i].SetDeadline(time.Time{})
	}
	b.SetBytes(int64(len(event)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range cs {
		n := b.N / conns
		if i == 0 {
			n += b.N % conns
		}
		wg.Go(func() {
			go discardReplies(c)
			for n > 0 {
				k := min(n, perBatch)
				if _, err := c.Write(batch[:k*len(event)]); err != nil {
					b.Error(err)
					return
				}
				n -= k
			}
		})
	}
	wg.Wait()
	select {
	case <-all:
	case <-time.After(time.Minute):
		b.Fatalf("%d of %d events handled", handled.Load(), b.N)
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
	for _, c := range cs {
		c.Close()
	}
}

// discardReplies reads c until it is closed, so that replies never block.
func discardReplies(c net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}
