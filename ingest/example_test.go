package ingest_test

import (
	"fmt"
	"net"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/ingest"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/transport/stream"
)

// A relay: an event sent to the ingest server, as OpenSIPS in reliable mode
// sends it, is answered with the number of subscribers and reaches the
// subscriber byte for byte as OpenSIPS would have sent it.
func ExampleServer() {
	reg := evi.NewRegistry(evi.Config{AutoPublish: true})
	defer reg.Close()
	tr, err := stream.New(stream.Config{})
	if err != nil {
		panic(err)
	}
	reg.Register(tr)

	// A subscriber.
	sub, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer sub.Close()
	if err := reg.Subscribe("E_PIKE_BLOCKED", "tcp:"+sub.Addr().String(), 0); err != nil {
		panic(err)
	}

	// The ingest server.
	srv := ingest.New(reg, ingest.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	// OpenSIPS's side.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.Write([]byte(`{"id":915243442,"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"ip":"192.168.2.11"}}`))
	reply, err := jsonrpc.NewDecoder(c, 0).Next()
	if err != nil {
		panic(err)
	}
	fmt.Println("reply:", string(reply))

	sc, err := sub.Accept()
	if err != nil {
		panic(err)
	}
	defer sc.Close()
	got, err := jsonrpc.NewDecoder(sc, 0).Next()
	if err != nil {
		panic(err)
	}
	fmt.Println("subscriber:", string(got))
	// Output:
	// reply: {"jsonrpc":"2.0","result":1,"id":915243442}
	// subscriber: {"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"ip":"192.168.2.11"}}
}
