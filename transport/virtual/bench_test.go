package virtual

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/transport/stream"
	"github.com/evstream/evstream/value"
)

// sink accepts connections on 127.0.0.1 and discards what it reads.
func sink(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	closed := false
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed { // accepted just before the cleanup closed ln
				mu.Unlock()
				c.Close()
				return
			}
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { io.Copy(io.Discard, c) })
		}
	})
	b.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "tcp:" + ln.Addr().String()
}

// BenchmarkTCP raises events to one subscriber over real loopback TCP
// (notification mode) and waits for every outcome: the direct tcp: socket
// as the baseline, then each policy over two members.
func BenchmarkTCP(b *testing.B) {
	for _, bc := range []struct{ name, policy string }{
		{"direct", ""},
		{"FAILOVER", "FAILOVER"},
		{"ROUND-ROBIN", "ROUND-ROBIN"},
		{"PARALLEL", "PARALLEL"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			reg := evi.NewRegistry(evi.Config{AutoPublish: true})
			defer reg.Close()
			tcp, err := stream.New(stream.Config{})
			if err != nil {
				b.Fatal(err)
			}
			vt, err := New(reg, Config{})
			if err != nil {
				b.Fatal(err)
			}
			reg.Register(tcp)
			reg.Register(vt)
			socket := sink(b)
			if bc.policy != "" {
				socket = "virtual:" + bc.policy + " " + socket + " " + sink(b)
			}
			if err := reg.Subscribe("E_BENCH", socket, 0); err != nil {
				b.Fatal(err)
			}
			ev := reg.Lookup("E_BENCH")
			params := value.Named(value.P("ip", value.String("192.168.2.11")), value.P("n", value.Int(7)))
			// At most window events in flight, well below the queue size.
			const window = 4096
			sem := make(chan struct{}, window)
			var failed int64
			var first error
			var mu sync.Mutex
			report := func(o evi.Outcome) {
				if o.Err != nil {
					mu.Lock()
					if failed == 0 {
						first = o.Err
					}
					failed++
					mu.Unlock()
				}
				<-sem
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				sem <- struct{}{}
				if _, err := reg.RaiseEvent(ev, params, report); err != nil {
					b.Fatal(err)
				}
			}
			for range window {
				sem <- struct{}{}
			}
			el := time.Since(start)
			b.StopTimer()
			if failed > 0 {
				b.Fatalf("%d events failed, first: %v", failed, first)
			}
			b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
		})
	}
}
