package virtual_test

import (
	"encoding/json"
	"fmt"
	"net"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/transport/stream"
	"github.com/evstream/evstream/transport/virtual"
	"github.com/evstream/evstream/value"
)

// A registry with the tcp: and virtual: transports, the way the daemon
// sets it up.
func setup() (*evi.Registry, error) {
	reg := evi.NewRegistry(evi.Config{AutoPublish: true})
	tcp, err := stream.New(stream.Config{})
	if err != nil {
		return nil, err
	}
	vt, err := virtual.New(reg, virtual.Config{FailoverTimeout: virtual.DefaultFailoverTimeout})
	if err != nil {
		return nil, err
	}
	if err := reg.Register(tcp); err != nil {
		return nil, err
	}
	return reg, reg.Register(vt)
}

func ExampleTransport_Parse() {
	reg, err := setup()
	if err != nil {
		panic(err)
	}
	defer reg.Close()

	d, err := reg.ParseSocket("virtual:FAILOVER  tcp:127.0.0.1:9001\ttcp:127.0.0.1:9002/backup")
	if err != nil {
		panic(err)
	}
	defer d.Close()
	fmt.Println(d)

	_, err = reg.ParseSocket("virtual:failover tcp:127.0.0.1:9001")
	fmt.Println(err)
	// Output:
	// virtual:FAILOVER tcp:127.0.0.1:9001 tcp:127.0.0.1:9002/backup
	// socket "virtual:failover tcp:127.0.0.1:9001": unknown policy "failover" (policy is case-sensitive: did you mean "FAILOVER"?)
}

// A FAILOVER subscriber whose primary is down: the event reaches the backup.
func Example_failover() {
	reg, err := setup()
	if err != nil {
		panic(err)
	}
	defer reg.Close()

	// The primary: a port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	primary := ln.Addr().String()
	ln.Close()

	// The backup: prints the first event it receives.
	backup, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer backup.Close()
	received := make(chan string, 1)
	go func() {
		c, err := backup.Accept()
		if err != nil {
			received <- err.Error()
			return
		}
		defer c.Close()
		var msg json.RawMessage
		if err := json.NewDecoder(c).Decode(&msg); err != nil {
			received <- err.Error()
			return
		}
		received <- string(msg)
	}()

	socket := "virtual:FAILOVER tcp:" + primary + " tcp:" + backup.Addr().String()
	if err := reg.Subscribe("E_PIKE_BLOCKED", socket, 0); err != nil {
		panic(err)
	}
	outcome := make(chan evi.Outcome, 1)
	params := value.Named(value.P("ip", value.String("192.168.2.11")))
	if _, err := reg.Raise("E_PIKE_BLOCKED", params, func(o evi.Outcome) { outcome <- o }); err != nil {
		panic(err)
	}
	select {
	case msg := <-received:
		fmt.Println("backup received:", msg)
	case <-time.After(5 * time.Second):
		fmt.Println("backup received nothing")
	}
	select {
	case o := <-outcome:
		fmt.Println("outcome error:", o.Err)
	case <-time.After(5 * time.Second):
		fmt.Println("no outcome")
	}
	// Output:
	// backup received: {"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"ip":"192.168.2.11"}}
	// outcome error: <nil>
}

func ExampleParsePolicy() {
	for _, s := range []string{"PARALLEL", "FAILOVER", "ROUND-ROBIN", "round-robin"} {
		p, err := virtual.ParsePolicy(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(p)
	}
	// Output:
	// PARALLEL
	// FAILOVER
	// ROUND-ROBIN
	// unknown policy "round-robin" (policy is case-sensitive: did you mean "ROUND-ROBIN"?)
}
