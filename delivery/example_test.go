package delivery_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/evstream/evstream/delivery"
	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/receiver"
	"github.com/evstream/evstream/spool"
	"github.com/evstream/evstream/transport/stream"
	"github.com/evstream/evstream/value"
)

// An at-least-once subscriber: its events are spooled on disk before
// Raise returns, sent as requests whose id is their spool sequence, and
// removed from the spool when the receiver confirms them.
func Example() {
	dir, _ := os.MkdirTemp("", "delivery-example")
	defer os.RemoveAll(dir)

	// The receiver: it confirms every event.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	got := make(chan string, 3)
	rs := &receiver.Server{Handler: receiver.HandlerFunc(func(_ context.Context, r *receiver.Request) (any, error) {
		got <- fmt.Sprintf("%s id=%s %s", r.Method, r.ID, r.Params)
		return "ok", nil
	})}
	go rs.Serve(ln)
	defer rs.Close()

	// The transports of at-least-once subscribers send the sequences as ids.
	seqs := evi.NewRegistry(evi.Config{})
	defer seqs.Close()
	tr, _ := stream.New(stream.Config{SeqIDs: true})
	seqs.Register(tr)
	eng, _ := delivery.New(delivery.Config{
		Open:  func() (spool.Store, error) { return spool.Open(filepath.Join(dir, "spool.db"), spool.Options{}) },
		Parse: seqs.ParseSocket,
	})
	defer eng.Close()

	reg := evi.NewRegistry(evi.Config{AutoPublish: true, Spooler: eng})
	defer reg.Close()
	plain, _ := stream.New(stream.Config{})
	reg.Register(plain)
	socket := "tcp:" + ln.Addr().String() + "/alerts"
	if err := reg.SubscribeWith("E_ALERT", socket, evi.SubscribeOptions{Delivery: evi.AtLeastOnce}); err != nil {
		fmt.Println(err)
		return
	}
	for i := range 3 {
		// Returns once the event is durable.
		reg.Raise("E_ALERT", value.Named(value.P("n", value.Int(int64(i)))), nil)
	}
	for range 3 {
		fmt.Println(<-got)
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if info, _ := reg.Subscriber("E_ALERT", socket); info.Pending == 0 {
			break
		}
	}
	info, _ := reg.Subscriber("E_ALERT", socket)
	fmt.Println("pending:", info.Pending, "delivery:", info.Delivery)
	// Output:
	// alerts id=1 {"n":0}
	// alerts id=2 {"n":1}
	// alerts id=3 {"n":2}
	// pending: 0 delivery: at-least-once
}
