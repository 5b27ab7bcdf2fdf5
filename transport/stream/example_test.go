package stream_test

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/transport/stream"
	"github.com/evstream/evstream/value"
)

func ExampleParseSocket() {
	for _, s := range []string{"tcp:127.0.0.1:8080/block_ip", "tcp:[::1]:8080/", "tcp:127.0.0.1:70000"} {
		sock, err := stream.ParseSocket(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("host %s port %d method %q printed %s\n", sock.Host, sock.Port, sock.Method, sock)
	}
	// Output:
	// host 127.0.0.1 port 8080 method "block_ip" printed tcp:127.0.0.1:8080/block_ip
	// host ::1 port 8080 method "" printed tcp:[::1]:8080
	// socket "tcp:127.0.0.1:70000": port 70000 out of range 1..65535
}

// An application server receives events as JSON-RPC notifications.
func Example() {
	// The application server: print what arrives.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	received := make(chan string)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c) // until evstream closes the connection
		received <- string(b)
	}()

	// evstream's side: a registry with the tcp transport.
	tr, err := stream.New(stream.Config{})
	if err != nil {
		panic(err)
	}
	reg := evi.NewRegistry(evi.Config{AutoPublish: true})
	reg.Register(tr)
	socket := "tcp:" + ln.Addr().String() + "/block_ip"
	if err := reg.Subscribe("E_PIKE_BLOCKED", socket, 0); err != nil {
		panic(err)
	}
	done := make(chan error, 1)
	reg.Raise("E_PIKE_BLOCKED", value.Named(value.P("ip", value.String("192.168.2.11"))),
		func(o evi.Outcome) { done <- o.Err })
	fmt.Println("delivered:", <-done)
	reg.Close() // closes the connection
	fmt.Println(<-received)
	// Output:
	// delivered: <nil>
	// {"jsonrpc":"2.0","method":"block_ip","params":{"ip":"192.168.2.11"}}
}

// In reliable mode every event is a request; the reply confirms delivery.
func ExampleConfig_reliable() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		n, _ := c.Read(buf)
		fmt.Printf("request: %s\n", buf[:n])
		fmt.Fprint(c, `{"jsonrpc":"2.0","result":8,"id":1}`) // our first id
		io.Copy(io.Discard, c)
	}()

	tr, err := stream.New(stream.Config{ReliableMode: true, Timeout: 2 * time.Second})
	if err != nil {
		panic(err)
	}
	defer tr.Close()
	dest, err := tr.Parse("tcp:" + ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer dest.Close()
	reg := evi.NewRegistry(evi.Config{})
	defer reg.Close()
	ev, _ := reg.Publish("E_MY_EVENT")
	done := make(chan error, 1)
	dest.Send(evi.NewMessage(ev, value.Unnamed(value.Int(3), value.Int(5)), time.Now()), evi.DoneFunc(func(_ *evi.Message, err error) { done <- err }))
	fmt.Println("confirmed:", <-done)
	// Output:
	// request: {"id":1,"jsonrpc":"2.0","method":"E_MY_EVENT","params":[3,5]}
	// confirmed: <nil>
}
