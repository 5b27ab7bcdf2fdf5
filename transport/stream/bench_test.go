package stream

import (
	"bufio"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/value"
)

var benchParams = value.Named(value.P("ip", value.String("192.168.2.11")), value.P("port", value.Int(5060)))

// sinkServer reads and discards, counting the bytes received.
func sinkServer(b *testing.B, total *atomic.Int64) *testServer {
	return newServer(b, func(_ int, c net.Conn) {
		buf := make([]byte, 256<<10)
		for {
			n, err := c.Read(buf)
			total.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
}

// replyServer replies to every request at once, flushing its replies when
// it has no more requests buffered.
func replyServer(b *testing.B) *testServer {
	return newServer(b, func(_ int, c net.Conn) {
		dec := jsonrpc.NewDecoder(c, 0)
		w := bufio.NewWriterSize(c, 64<<10)
		var reply []byte
		for {
			msg, err := dec.Next()
			if err != nil {
				return
			}
			r, err := jsonrpc.ParseResponse(msg) // reads the id of any object
			if err != nil || !r.HasID {
				return
			}
			reply = append(reply[:0], `{"jsonrpc":"2.0","result":true,"id":`...)
			reply = appendInt(reply, r.ID)
			reply = append(reply, '}')
			w.Write(reply)
			if len(dec.Buffered()) < 128 { // no complete request left: the next read blocks
				if w.Flush() != nil {
					return
				}
			}
		}
	})
}

func appendInt(b []byte, i int64) []byte {
	var tmp [20]byte
	n := len(tmp)
	for {
		n--
		tmp[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			break
		}
	}
	return append(b, tmp[n:]...)
}

// backpressure keeps the benchmark loop from overflowing the queues. It
// sleeps rather than spins, leaving the CPU to the goroutines that deliver.
func backpressure(tr *Transport, limit int64) {
	for tr.pending.Load() > limit {
		time.Sleep(20 * time.Microsecond)
	}
}

func BenchmarkNotify1(b *testing.B)  { benchNotify(b, 1) }
func BenchmarkNotify10(b *testing.B) { benchNotify(b, 10) }

// benchNotify raises events through a Registry (the Go API) to dests
// subscribers at different addresses, and stops the clock when every byte
// has been received.
func benchNotify(b *testing.B, dests int) {
	var received atomic.Int64
	tr, err := New(Config{Timeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	reg := evi.NewRegistry(evi.Config{})
	defer reg.Close()
	reg.Register(tr)
	ev, _ := reg.Publish("E_BENCH")
	for range dests {
		srv := sinkServer(b, &received)
		if err := reg.Subscribe("E_BENCH", srv.socket(""), 0); err != nil {
			b.Fatal(err)
		}
	}
	size := int64(len(jsonrpc.AppendNotification(nil, "E_BENCH", jsonrpc.AppendParams(nil, benchParams, "", "E_BENCH"))))
	b.ReportAllocs()
	b.SetBytes(size * int64(dests))
	b.ResetTimer()
	for range b.N {
		backpressure(tr, DefaultQueueSize/2)
		if _, err := reg.RaiseEvent(ev, benchParams, nil); err != nil {
			b.Fatal(err)
		}
	}
	want := int64(b.N) * int64(dests) * size
	for received.Load() < want {
		time.Sleep(20 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.N*dests)/b.Elapsed().Seconds(), "deliveries/s")
	// The bytes can arrive just before the writer counts them delivered.
	st := tr.Stats()
	for st.Delivered+st.Failed < uint64(b.N*dests) {
		time.Sleep(20 * time.Microsecond)
		st = tr.Stats()
	}
	b.ReportMetric(float64(st.Delivered)/float64(max(st.Writes, 1)), "events/write")
	if st.Failed != 0 || st.Overflows != 0 {
		b.Fatalf("stats %+v", st.Counters)
	}
}

// BenchmarkReliablePipelined sends requests to one subscriber that replies
// at once, and stops the clock when every event is confirmed.
func BenchmarkReliablePipelined(b *testing.B) {
	srv := replyServer(b)
	tr, err := New(Config{ReliableMode: true, Timeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	d, err := tr.Parse(srv.socket(""))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	ev := event(b, "E_BENCH")
	var confirmed, failed atomic.Int64
	done := evi.DoneFunc(func(_ *evi.Message, err error) {
		if err != nil {
			failed.Add(1)
		}
		confirmed.Add(1)
	})
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		backpressure(tr, DefaultQueueSize/2)
		if err := d.Send(evi.NewMessage(ev, benchParams, time.Now()), done); err != nil {
			b.Fatal(err)
		}
	}
	for confirmed.Load() < int64(b.N) {
		time.Sleep(20 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if failed.Load() != 0 {
		b.Fatalf("%d failed", failed.Load())
	}
}
