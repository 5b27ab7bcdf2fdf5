package receiver_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/receiver"
)

// FuzzServerConn writes arbitrary bytes on a real connection and checks that
// the server survives, answers only with well-formed JSON-RPC responses
// (never more than there were objects), and closes the connection when the
// input ends.
func FuzzServerConn(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.Wire)
	}
	for _, s := range []string{
		``,
		`{"id":1,"jsonrpc":"2.0","method":"E","params":{"a":[1,{"b":null}]}}`,
		`{"id":"x","method":"E"}{"id":2,"jsonrpc":"2.0","method":"unknown"}`,
		`{"jsonrpc":"2.0","result":1,"id":1}`,
		`{"id":1}`,
		`{"id":[1],"method":"E"}`,
		`{"id":1,"method":"E","params":"str"}`,
		"  \n{\"method\":\"E\"}\n\n",
		`{"method":"E"}garbage`,
		`{"method":"E","params":{"s":"\ud800\u0000"}}`,
		`{"method":"` + strings.Repeat("x", 300) + `"}`,
		strings.Repeat("[", 20000),
		"{\"method\":\"E\xff\"}",
	} {
		f.Add([]byte(s))
	}

	mux := receiver.NewMux()
	mux.HandleFunc("E", func(_ context.Context, r *receiver.Request) (any, error) {
		if r.Params != nil {
			return r.Params, nil
		}
		return r.Method, nil
	})
	mux.HandleFunc("fail", func(context.Context, *receiver.Request) (any, error) {
		return nil, errors.New("fail \"quoted\" \x01")
	})
	srv := &receiver.Server{Handler: mux, MaxMessageSize: 64 << 10}
	addr := serve(f, srv)

	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		ourPeers.Store(c.LocalAddr().String(), true)
		defer c.Close()
		c.SetDeadline(time.Now().Add(testTimeout))
		werr := make(chan error, 1)
		go func() {
			_, err := c.Write(in)
			if err == nil {
				err = c.(*net.TCPConn).CloseWrite()
			}
			werr <- err
		}()
		out, err := io.ReadAll(c)
		if err != nil && !isReset(err) {
			t.Fatalf("reading replies: %v", err)
		}
		<-werr // may fail with a reset when the server closed on garbage
		dec := jsonrpc.NewDecoder(bytes.NewReader(out), 0)
		n := 0
		for {
			b, err := dec.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("replies %q: %v", out, err)
			}
			m, err := jsonrpc.Parse(b)
			if err != nil || !m.IsResponse() || m.ID == nil {
				t.Fatalf("reply %s is not a response with an id: %v", b, err)
			}
			n++
		}
		if objs := bytes.Count(in, []byte("{")); n > objs {
			t.Fatalf("%d replies for %d objects", n, objs)
		}
	})
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && strings.Contains(err.Error(), "reset")
}
