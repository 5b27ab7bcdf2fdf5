package receiver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"

	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/receiver"
)

// A server that prints the method of the event it receives. The event is
// sent as OpenSIPS sends it: a JSON-RPC notification straight on TCP.
func ExampleServer() {
	handled := make(chan string, 1)
	srv := &receiver.Server{
		Handler: receiver.HandlerFunc(func(ctx context.Context, req *receiver.Request) (any, error) {
			handled <- req.Method + " " + string(req.Params)
			return nil, nil
		}),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.Write([]byte(`{"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"ip":"192.168.2.11"}}`))

	fmt.Println(<-handled)
	// Output: E_PIKE_BLOCKED {"ip":"192.168.2.11"}
}

// In reliable mode every event is a request, and the reply confirms the
// delivery. A Mux routes each method to its handler; a method without one is
// answered with -32601 (Method not found).
func ExampleMux() {
	mux := receiver.NewMux()
	mux.HandleFunc("E_PIKE_BLOCKED", func(ctx context.Context, req *receiver.Request) (any, error) {
		var p struct {
			IP string `json:"ip"`
		}
		if err := json.Unmarshal(req.Params, &p); err != nil {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "Invalid params"}
		}
		return "blocked " + p.IP, nil
	})
	srv := &receiver.Server{Handler: mux}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.Write([]byte(`{"id":7,"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"ip":"192.168.2.11"}}` +
		`{"id":8,"jsonrpc":"2.0","method":"E_UNKNOWN"}`))

	// Replies come back to back, like the events.
	dec := jsonrpc.NewDecoder(bufio.NewReader(c), 0)
	for range 2 {
		reply, err := dec.Next()
		if err != nil {
			panic(err)
		}
		fmt.Println(string(reply))
	}
	// Output:
	// {"jsonrpc":"2.0","result":"blocked 192.168.2.11","id":7}
	// {"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":8}
}

// A handler that confirms events only once they are stored defers its
// replies: the connection goes on reading while a batch fills, and the
// whole batch is answered after one write to storage. Replies may go out in
// any order; the sender matches them by id.
func ExampleRequest_Defer() {
	batch := make(chan *receiver.Responder, 2)
	srv := &receiver.Server{Handler: receiver.HandlerFunc(func(ctx context.Context, req *receiver.Request) (any, error) {
		batch <- req.Defer() // answered below, after the "commit"
		return nil, nil
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.Write([]byte(`{"id":1,"jsonrpc":"2.0","method":"E_CALL_START"}{"id":2,"jsonrpc":"2.0","method":"E_CALL_END"}`))

	first, second := <-batch, <-batch
	// ... both events are written to storage in one commit, then:
	second.Respond("stored", nil)
	first.Respond("stored", nil)

	dec := jsonrpc.NewDecoder(bufio.NewReader(c), 0)
	for range 2 {
		reply, err := dec.Next()
		if err != nil {
			panic(err)
		}
		fmt.Println(string(reply))
	}
	// Output:
	// {"jsonrpc":"2.0","result":"stored","id":2}
	// {"jsonrpc":"2.0","result":"stored","id":1}
}
