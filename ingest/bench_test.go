package ingest_test

import (
	"bytes"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/ingest"
	"github.com/evstream/evstream/transport/stream"
)

// benchEvent is a typical OpenSIPS notification; relayed in notification
// mode to a subscriber without a method, it comes out identical.
const benchEvent = `{"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"ip":"192.168.2.11","port":5060,"reason":"flood"}}`

// BenchmarkRelay measures the relay end to end over loopback TCP: b.N
// OpenSIPS notifications written back to back into ingest, raised in the
// registry, and delivered by the tcp: transport (notification mode) to one
// subscriber, which counts the bytes. Reported as events/s delivered.
func BenchmarkRelay(b *testing.B) {
	reg := evi.NewRegistry(evi.Config{AutoPublish: true})
	defer reg.Close()
	tr, err := stream.New(stream.Config{Timeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	reg.Register(tr)

	// The subscriber: counts bytes until b.N events have arrived.
	sub, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	want := int64(b.N) * int64(len(benchEvent))
	var got atomic.Int64
	all := make(chan struct{})
	go func() {
		c, err := sub.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 256<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 && got.Add(int64(n)) == want {
				close(all)
			}
			if err != nil {
				return
			}
		}
	}()
	if err := reg.Subscribe("E_PIKE_BLOCKED", "tcp:"+sub.Addr().String(), 0); err != nil {
		b.Fatal(err)
	}

	srv := ingest.New(reg, ingest.Config{})
	addr := serveOn(b, srv.Serve, srv.Close)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()

	const chunk = 64 << 10
	perBatch := chunk / len(benchEvent)
	batch := bytes.Repeat([]byte(benchEvent), perBatch)
	b.SetBytes(int64(len(benchEvent)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for n := b.N; n > 0; {
		k := min(n, perBatch)
		if _, err := c.Write(batch[:k*len(benchEvent)]); err != nil {
			b.Fatal(err)
		}
		n -= k
	}
	select {
	case <-all:
	case <-time.After(time.Minute):
		b.Fatalf("%d of %d bytes delivered; stats %+v", got.Load(), want, srv.Stats())
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
	if st := srv.Stats(); st.Raised != uint64(b.N) {
		b.Errorf("stats %+v, want %d raised", st, b.N)
	}
}
