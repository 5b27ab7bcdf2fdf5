package receiver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/evstream/evstream/internal/ratelog"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/receiver"
)

// The OpenSIPS vectors, back to back, written in two parts split at every
// byte boundary on a fresh TCP connection: every event is dispatched, in
// order, with the right method, params and id, and the request is answered.
func TestVectorsSplitAtEveryByte(t *testing.T) {
	vs := loadVectors(t)
	var stream []byte
	var ends []int // ends[i]: offset just past vector i
	for _, v := range vs {
		stream = append(stream, v.Wire...)
		ends = append(ends, len(stream))
	}
	rec := newRecorder(len(vs))
	addr := serve(t, &receiver.Server{Handler: rec})

	for split := 0; split <= len(stream); split++ {
		c := dial(t, addr)
		write(t, c, stream[:split])
		got := 0
		// Wait for the events the first part holds in full, so that the
		// second part is sent only after the server has read the first.
		for got < len(vs) && ends[got] <= split {
			checkVectorEvent(t, split, vs[got], rec.next(t))
			got++
		}
		write(t, c, stream[split:])
		for ; got < len(vs); got++ {
			checkVectorEvent(t, split, vs[got], rec.next(t))
		}
		dec := jsonrpc.NewDecoder(c, 0)
		for _, v := range vs {
			if id := v.ID(); id != nil {
				want := `{"jsonrpc":"2.0","result":"OK","id":` + string(id) + `}`
				if got := readReplies(t, dec, 1)[0]; got != want {
					t.Fatalf("split %d: reply %s, want %s", split, got, want)
				}
			}
		}
		c.Close()
		if t.Failed() {
			return
		}
	}
}

func checkVectorEvent(t *testing.T, split int, v vector, e event) {
	t.Helper()
	if e.method != v.Method || e.params != string(v.RawParams()) || e.id != string(v.ID()) {
		t.Errorf("split %d, vector %s: got method %q params %s id %q; want %q %s %q",
			split, v.Name, e.method, e.params, e.id, v.Method, v.RawParams(), v.ID())
	}
}

// Whitespace of any kind between objects, or before the first, is skipped.
func TestWhitespaceBetweenObjects(t *testing.T) {
	vs := loadVectors(t)
	for _, tc := range []struct{ name, sep string }{
		{"none", ""},
		{"newline", "\n"},
		{"crlf", "\r\n"},
		{"mixed", " \t\r\n  \n"},
		{"lots", strings.Repeat(" \n", 5000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(len(vs))
			addr := serve(t, &receiver.Server{Handler: rec})
			var stream []byte
			for _, v := range vs {
				stream = append(stream, tc.sep...)
				stream = append(stream, v.Wire...)
			}
			stream = append(stream, tc.sep...)
			c := dial(t, addr)
			write(t, c, stream)
			for _, v := range vs {
				checkVectorEvent(t, 0, v, rec.next(t))
			}
		})
	}
}

// A 1 MiB event is received whole, and the stream goes on after it.
func TestLargeMessage(t *testing.T) {
	rec := newRecorder(2)
	addr := serve(t, &receiver.Server{Handler: rec})
	big := strings.Repeat("x", 1<<20)
	msg := `{"jsonrpc":"2.0","method":"E_BIG","params":{"s":"` + big + `"}}{"jsonrpc":"2.0","method":"E_AFTER"}`
	c := dial(t, addr)
	write(t, c, []byte(msg))
	if e := rec.next(t); e.method != "E_BIG" || e.params != `{"s":"`+big+`"}` {
		t.Errorf("got %s with %d bytes of params", e.method, len(e.params))
	}
	if e := rec.next(t); e.method != "E_AFTER" {
		t.Errorf("got %s after the big event, want E_AFTER", e.method)
	}
}

// Garbage closes the connection that sent it, with a log naming the peer and
// the offset; a concurrent connection keeps working.
func TestGarbageClosesOnlyThatConnection(t *testing.T) {
	good := `{"jsonrpc":"2.0","method":"E_GOOD"}`
	for _, tc := range []struct {
		name    string
		garbage string
		offset  int
	}{
		{"text", "hello", 0},
		{"after an event", good + "hello", len(good)},
		{"array", good + `[1,2]`, len(good)},
		{"bad literal", `{"jsonrpc":"2.0","method":"E","params":{"a":tru}}`, 47},
		{"unbalanced", `{"jsonrpc":"2.0","method":"E"]`, 29},
		{"control byte in a string", "{\"method\":\"E\x01\"}", 12},
		{"nul", "\x00", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs logBuffer
			rec := newRecorder(10)
			addr := serve(t, &receiver.Server{Handler: rec, Logger: logs.Logger()})

			ok := dial(t, addr)
			write(t, ok, []byte(good))
			rec.next(t)

			bad := dial(t, addr)
			write(t, bad, []byte(tc.garbage))
			expectClosed(t, bad)
			logs.waitLog(t, "malformed stream", "peer="+bad.LocalAddr().String(), fmt.Sprintf("offset=%d", tc.offset))
			for len(rec.ch) > 0 { // the good events before the garbage
				if e := <-rec.ch; e.method != "E_GOOD" {
					t.Errorf("handled %q from the bad connection", e.method)
				}
			}

			write(t, ok, []byte(`{"jsonrpc":"2.0","method":"E_STILL_GOOD"}`))
			if e := rec.next(t); e.method != "E_STILL_GOOD" || e.peer != ok.LocalAddr().String() {
				t.Errorf("got %+v after the garbage, want E_STILL_GOOD from the good connection", e)
			}
		})
	}
}

// An object over MaxMessageSize closes the connection, with a log; one just
// at the limit is accepted.
func TestOversizeMessage(t *testing.T) {
	const limit = 1024
	var logs logBuffer
	rec := newRecorder(10)
	addr := serve(t, &receiver.Server{Handler: rec, MaxMessageSize: limit, Logger: logs.Logger()})

	prefix := `{"jsonrpc":"2.0","method":"E","params":["`
	suffix := `"]}`
	atLimit := prefix + strings.Repeat("a", limit-len(prefix)-len(suffix)) + suffix
	c := dial(t, addr)
	write(t, c, []byte(atLimit))
	if e := rec.next(t); e.method != "E" {
		t.Fatalf("event at the limit: got %+v", e)
	}
	write(t, c, []byte(prefix+strings.Repeat("a", limit)+suffix))
	expectClosed(t, c)
	logs.waitLog(t, "message too large", "peer="+c.LocalAddr().String(), "max_message_size=1024", "offset 1024")
	if len(rec.ch) != 0 {
		t.Errorf("the oversize event was handled: %+v", <-rec.ch)
	}
}

// raiseFileLimit raises the soft limit on open files to at least n when the
// hard limit allows it, and skips the test otherwise.
func raiseFileLimit(t *testing.T, n uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Skipf("need %d open files, the hard limit is %d", n, lim.Max)
	}
	old := lim
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}

// 1,000 connections at once, each sending notifications and requests: all
// are handled, each connection's in order, each request answered.
func TestManyConnections(t *testing.T) {
	const conns, perConn = 1000, 10
	raiseFileLimit(t, 2*conns+100)

	type key struct{ conn, seq int }
	var mu sync.Mutex
	next := make(map[int]int) // conn -> next expected seq
	var bad []string
	handler := receiver.HandlerFunc(func(ctx context.Context, req *receiver.Request) (any, error) {
		var p struct{ Conn, Seq int }
		if err := json.Unmarshal(req.Params, &p); err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if next[p.Conn] != p.Seq {
			bad = append(bad, fmt.Sprintf("conn %d: got seq %d, want %d", p.Conn, p.Seq, next[p.Conn]))
		}
		next[p.Conn] = p.Seq + 1
		return p.Seq, nil
	})
	addr := serve(t, &receiver.Server{Handler: handler})

	cs := make([]net.Conn, conns)
	for i := range cs {
		cs[i] = dial(t, addr)
	}
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i, c := range cs {
		wg.Go(func() {
			var b []byte
			for seq := range perConn {
				params := fmt.Sprintf(`{"conn":%d,"seq":%d}`, i, seq)
				if seq%2 == 0 {
					b = jsonrpc.AppendNotification(b, "E_LOAD", []byte(params))
				} else {
					b = jsonrpc.AppendRequest(b, int64(seq), "E_LOAD", []byte(params))
				}
			}
			if _, err := c.Write(b); err != nil {
				errs <- err
				return
			}
			dec := jsonrpc.NewDecoder(c, 0)
			for seq := 1; seq < perConn; seq += 2 {
				b, err := dec.Next()
				if err != nil {
					errs <- fmt.Errorf("conn %d: reading reply: %w", i, err)
					return
				}
				if want := fmt.Sprintf(`{"jsonrpc":"2.0","result":%d,"id":%d}`, seq, seq); string(b) != want {
					errs <- fmt.Errorf("conn %d: reply %s, want %s", i, b, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range bad {
		t.Error(s)
	}
	for i := range conns {
		if next[i] != perConn {
			t.Errorf("conn %d: %d events handled, want %d", i, next[i], perConn)
		}
	}
}

// request sends one request on c and returns the reply.
func request(t testing.TB, c net.Conn, dec *jsonrpc.Decoder, id int) string {
	t.Helper()
	write(t, c, jsonrpc.AppendRequest(nil, int64(id), "E_PING", nil))
	return readReplies(t, dec, 1)[0]
}

// Over MaxConns a new connection is closed at once and logged; once a
// connection ends, a new one is served again.
func TestMaxConns(t *testing.T) {
	var logs logBuffer
	rec := newRecorder(100)
	addr := serve(t, &receiver.Server{Handler: rec, MaxConns: 2, Logger: logs.Logger()})

	var open []net.Conn
	for i := range 2 {
		c := dial(t, addr)
		if got := request(t, c, jsonrpc.NewDecoder(c, 0), i); got != fmt.Sprintf(`{"jsonrpc":"2.0","result":"OK","id":%d}`, i) {
			t.Fatalf("conn %d: reply %s", i, got)
		}
		open = append(open, c)
	}
	over := dial(t, addr)
	expectClosed(t, over)
	logs.waitLog(t, "too many connections", "peer="+over.LocalAddr().String(), "max_conns=2")

	open[0].Close()
	// The server notices the close asynchronously: retry, bounded.
	deadline := time.Now().Add(testTimeout)
	for {
		c := dial(t, addr)
		c.SetDeadline(time.Now().Add(time.Second))
		write(t, c, jsonrpc.AppendRequest(nil, 9, "E_PING", nil))
		b, err := jsonrpc.NewDecoder(c, 0).Next()
		if err == nil {
			if string(b) != `{"jsonrpc":"2.0","result":"OK","id":9}` {
				t.Fatalf("reply %s", b)
			}
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("no connection accepted after one closed: %v", err)
		}
	}
	// The second connection was never disturbed.
	if got := request(t, open[1], jsonrpc.NewDecoder(open[1], 0), 5); got != `{"jsonrpc":"2.0","result":"OK","id":5}` {
		t.Errorf("reply %s", got)
	}
}

// A connection silent for IdleTimeout is closed; one that talks is not
// closed before that.
func TestIdleTimeout(t *testing.T) {
	const idle = 150 * time.Millisecond
	var logs logBuffer
	rec := newRecorder(10)
	addr := serve(t, &receiver.Server{Handler: rec, IdleTimeout: idle, Logger: logs.Logger()})

	c := dial(t, addr)
	start := time.Now()
	dec := jsonrpc.NewDecoder(c, 0)
	if got := request(t, c, dec, 1); got != `{"jsonrpc":"2.0","result":"OK","id":1}` {
		t.Fatalf("reply %s", got)
	}
	expectClosed(t, c)
	if el := time.Since(start); el < idle {
		t.Errorf("closed after %v, before the idle timeout %v", el, idle)
	}
	logs.waitLog(t, "closing idle connection", "peer="+c.LocalAddr().String())
}

// A peer that sends requests but never reads the replies: the server stops
// reading once its reply queue is full, and IdleTimeout then closes the
// connection.
func TestPeerNeverReadsReplies(t *testing.T) {
	const idle = 200 * time.Millisecond
	var logs logBuffer
	handler := receiver.HandlerFunc(func(ctx context.Context, req *receiver.Request) (any, error) {
		return strings.Repeat("r", 1000), nil // big replies fill the buffers fast
	})
	addr := serve(t, &receiver.Server{Handler: handler, IdleTimeout: idle, Logger: logs.Logger()})
	c := dial(t, addr)
	c.SetReadBuffer(4096)
	req := jsonrpc.AppendRequest(nil, 1, "E", nil)
	batch := bytes.Repeat(req, 1000)
	for {
		c.SetWriteDeadline(time.Now().Add(testTimeout))
		if _, err := c.Write(batch); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("server kept the connection open")
			}
			break // reset by the server
		}
	}
	logs.waitLog(t, "peer="+c.LocalAddr().String(), "writing replies failed")
}

// Requests are answered with the handler's result or error, encoded as
// OpenSIPS expects; notifications and responses get no reply.
func TestReplies(t *testing.T) {
	mux := receiver.NewMux()
	mux.HandleFunc("string", func(context.Context, *receiver.Request) (any, error) { return "OK", nil })
	mux.HandleFunc("html", func(context.Context, *receiver.Request) (any, error) { return "<a&b>", nil })
	mux.HandleFunc("int", func(context.Context, *receiver.Request) (any, error) { return 8, nil })
	mux.HandleFunc("int64", func(context.Context, *receiver.Request) (any, error) { return int64(-8), nil })
	mux.HandleFunc("bool", func(context.Context, *receiver.Request) (any, error) { return true, nil })
	mux.HandleFunc("nil", func(context.Context, *receiver.Request) (any, error) { return nil, nil })
	mux.HandleFunc("raw", func(context.Context, *receiver.Request) (any, error) {
		return json.RawMessage(`{"a":[1,2]}`), nil
	})
	mux.HandleFunc("badraw", func(context.Context, *receiver.Request) (any, error) {
		return json.RawMessage(`{"a":`), nil
	})
	mux.HandleFunc("struct", func(context.Context, *receiver.Request) (any, error) {
		return struct {
			N int    `json:"n"`
			S string `json:"s"`
		}{1, "x"}, nil
	})
	mux.HandleFunc("unencodable", func(context.Context, *receiver.Request) (any, error) { return make(chan int), nil })
	mux.HandleFunc("echo", func(_ context.Context, r *receiver.Request) (any, error) { return r.Params, nil })
	mux.HandleFunc("error", func(context.Context, *receiver.Request) (any, error) { return nil, errors.New(`disk "full"`) })
	mux.HandleFunc("rpcerror", func(context.Context, *receiver.Request) (any, error) {
		return nil, fmt.Errorf("wrapped: %w", &jsonrpc.Error{Code: 480, Message: "Temporarily Unavailable", Data: json.RawMessage(`"x"`)})
	})
	mux.HandleFunc("panic", func(context.Context, *receiver.Request) (any, error) { panic("boom") })

	for _, tc := range []struct {
		name, in, want string
	}{
		{"string", `{"id":1,"jsonrpc":"2.0","method":"string"}`, `{"jsonrpc":"2.0","result":"OK","id":1}`},
		{"html is not escaped", `{"id":1,"jsonrpc":"2.0","method":"html"}`, `{"jsonrpc":"2.0","result":"<a&b>","id":1}`},
		{"int", `{"id":2,"jsonrpc":"2.0","method":"int"}`, `{"jsonrpc":"2.0","result":8,"id":2}`},
		{"int64", `{"id":2,"jsonrpc":"2.0","method":"int64"}`, `{"jsonrpc":"2.0","result":-8,"id":2}`},
		{"bool", `{"id":2,"jsonrpc":"2.0","method":"bool"}`, `{"jsonrpc":"2.0","result":true,"id":2}`},
		{"nil", `{"id":3,"jsonrpc":"2.0","method":"nil"}`, `{"jsonrpc":"2.0","result":null,"id":3}`},
		{"raw", `{"id":4,"jsonrpc":"2.0","method":"raw"}`, `{"jsonrpc":"2.0","result":{"a":[1,2]},"id":4}`},
		{"struct", `{"id":5,"jsonrpc":"2.0","method":"struct"}`, `{"jsonrpc":"2.0","result":{"n":1,"s":"x"},"id":5}`},
		{"echo params", `{"id":6,"jsonrpc":"2.0","method":"echo","params":[1, "two"]}`, `{"jsonrpc":"2.0","result":[1, "two"],"id":6}`},
		{"string id", `{"id":"abc","jsonrpc":"2.0","method":"string"}`, `{"jsonrpc":"2.0","result":"OK","id":"abc"}`},
		{"null id", `{"id":null,"jsonrpc":"2.0","method":"string"}`, `{"jsonrpc":"2.0","result":"OK","id":null}`},
		{"spaced", " {\n \"method\" : \"string\" , \"id\" : 7 }\n", `{"jsonrpc":"2.0","result":"OK","id":7}`},
		{"error", `{"id":8,"jsonrpc":"2.0","method":"error"}`, `{"jsonrpc":"2.0","error":{"code":-32000,"message":"disk \"full\""},"id":8}`},
		{"jsonrpc error", `{"id":9,"jsonrpc":"2.0","method":"rpcerror"}`, `{"jsonrpc":"2.0","error":{"code":480,"message":"Temporarily Unavailable","data":"x"},"id":9}`},
		{"unknown method", `{"id":10,"jsonrpc":"2.0","method":"nope"}`, `{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":10}`},
		{"bad raw result", `{"id":11,"jsonrpc":"2.0","method":"badraw"}`, `{"jsonrpc":"2.0","error":{"code":-32603,"message":"Internal error"},"id":11}`},
		{"unencodable result", `{"id":12,"jsonrpc":"2.0","method":"unencodable"}`, `{"jsonrpc":"2.0","error":{"code":-32603,"message":"Internal error"},"id":12}`},
		{"panic", `{"id":13,"jsonrpc":"2.0","method":"panic"}`, `{"jsonrpc":"2.0","error":{"code":-32603,"message":"Internal error"},"id":13}`},
		{"no method", `{"id":14,"jsonrpc":"2.0"}`,
			`{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request","data":"jsonrpc: invalid JSON-RPC message: neither \"method\", \"result\" nor \"error\""},"id":14}`},
		{"wrong version", `{"id":15,"jsonrpc":"1.0","method":"string"}`,
			`{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request","data":"jsonrpc: invalid JSON-RPC message: \"jsonrpc\" is \"1.0\", want \"2.0\""},"id":15}`},
		{"params not a container", `{"id":16,"jsonrpc":"2.0","method":"string","params":"x"}`,
			`{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request","data":"jsonrpc: invalid JSON-RPC message: \"params\" is \"x\", want an object or an array"},"id":16}`},
		// No reply to these; the marker request after them proves it.
		{"notification", `{"jsonrpc":"2.0","method":"string"}`, ""},
		{"unknown notification", `{"jsonrpc":"2.0","method":"nope"}`, ""},
		{"failing notification", `{"jsonrpc":"2.0","method":"error"}`, ""},
		{"panicking notification", `{"jsonrpc":"2.0","method":"panic"}`, ""},
		{"response", `{"jsonrpc":"2.0","result":8,"id":915243442}`, ""},
		{"error response", `{"jsonrpc":"2.0","error":{"code":1,"message":"x"},"id":1}`, ""},
		{"invalid notification", `{"jsonrpc":"2.0","method":""}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serve(t, &receiver.Server{Handler: mux})
			c := dial(t, addr)
			const marker = `{"id":"marker","jsonrpc":"2.0","method":"string"}`
			write(t, c, []byte(tc.in+marker))
			dec := jsonrpc.NewDecoder(c, 0)
			if tc.want != "" {
				if got := readReplies(t, dec, 1)[0]; got != tc.want {
					t.Errorf("reply\n%s\nwant\n%s", got, tc.want)
				}
			}
			if got := readReplies(t, dec, 1)[0]; got != `{"jsonrpc":"2.0","result":"OK","id":"marker"}` {
				t.Errorf("got %s, want the marker's reply", got)
			}
		})
	}
}

// Replies to pipelined requests come back in order, coalesced.
func TestPipelinedRequests(t *testing.T) {
	handler := receiver.HandlerFunc(func(_ context.Context, r *receiver.Request) (any, error) { return r.ID, nil })
	addr := serve(t, &receiver.Server{Handler: handler})
	c := dial(t, addr)
	const n = 5000
	var b []byte
	for i := range n {
		b = jsonrpc.AppendRequest(b, int64(i), "E", nil)
	}
	go c.Write(b)
	dec := jsonrpc.NewDecoder(c, 0)
	for i, got := range readReplies(t, dec, n) {
		if want := fmt.Sprintf(`{"jsonrpc":"2.0","result":%d,"id":%d}`, i, i); got != want {
			t.Fatalf("reply %d: %s, want %s", i, got, want)
		}
	}
}

// Shutdown lets the event in hand finish and its reply go out, refuses new
// connections, closes idle ones, and makes Serve return ErrServerClosed.
func TestShutdownGraceful(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	handler := receiver.HandlerFunc(func(_ context.Context, r *receiver.Request) (any, error) {
		if r.Method == "E_SLOW" {
			close(started)
			<-release
		}
		return "done", nil
	})
	srv := &receiver.Server{Handler: handler}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	addr := ln.Addr().String()

	idle := dial(t, addr)
	if got := request(t, idle, jsonrpc.NewDecoder(idle, 0), 1); got != `{"jsonrpc":"2.0","result":"done","id":1}` {
		t.Fatalf("reply %s", got)
	}
	busy := dial(t, addr)
	write(t, busy, jsonrpc.AppendRequest(nil, 2, "E_SLOW", nil))
	<-started

	shutErr := make(chan error, 1)
	go func() { shutErr <- srv.Shutdown(context.Background()) }()
	if err := <-serveErr; !errors.Is(err, receiver.ErrServerClosed) {
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
	expectClosed(t, idle)
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("a new connection was accepted during Shutdown")
	}
	select {
	case err := <-shutErr:
		t.Fatalf("Shutdown returned %v while a handler was running", err)
	default:
	}
	close(release)
	dec := jsonrpc.NewDecoder(busy, 0)
	if got := readReplies(t, dec, 1)[0]; got != `{"jsonrpc":"2.0","result":"done","id":2}` {
		t.Errorf("reply %s", got)
	}
	if _, err := dec.Next(); err != io.EOF {
		t.Errorf("after the reply: %v, want EOF", err)
	}
	if err := <-shutErr; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := srv.Serve(ln); !errors.Is(err, receiver.ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v", err)
	}
	if err := srv.ListenAndServe("127.0.0.1:0"); !errors.Is(err, receiver.ErrServerClosed) {
		t.Errorf("ListenAndServe after Shutdown: %v", err)
	}
}

// When Shutdown's context ends first, everything is closed, the handlers'
// contexts are cancelled, and Shutdown returns the context's error.
func TestShutdownDeadline(t *testing.T) {
	started := make(chan struct{})
	cancelled := make(chan struct{})
	handler := receiver.HandlerFunc(func(ctx context.Context, r *receiver.Request) (any, error) {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return nil, ctx.Err()
	})
	srv := &receiver.Server{Handler: handler}
	addr := serve(t, srv)
	c := dial(t, addr)
	write(t, c, jsonrpc.AppendRequest(nil, 1, "E", nil))
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want DeadlineExceeded", err)
	}
	<-cancelled
	expectClosed(t, c)
}

// Close closes connections at once and waits for handlers, whose contexts
// it cancels.
func TestClose(t *testing.T) {
	started := make(chan struct{})
	handler := receiver.HandlerFunc(func(ctx context.Context, r *receiver.Request) (any, error) {
		close(started)
		<-ctx.Done()
		return nil, nil
	})
	srv := &receiver.Server{Handler: handler}
	addr := serve(t, srv)
	c := dial(t, addr)
	write(t, c, []byte(`{"jsonrpc":"2.0","method":"E"}`))
	<-started
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	expectClosed(t, c)
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestServeWithoutHandler(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var srv receiver.Server
	if err := srv.Serve(ln); err == nil || errors.Is(err, receiver.ErrServerClosed) {
		t.Errorf("Serve without a handler: %v", err)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("the listener was left open")
	}
}

func TestListenAndServe(t *testing.T) {
	srv := &receiver.Server{Handler: newRecorder(1)}
	if err := srv.ListenAndServe("256.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "256.0.0.1:1") {
		t.Errorf("bad address: %v", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe("127.0.0.1:0") }()
	srv.Close() // may run before or after the listen; both end Serve
	if err := <-errc; !errors.Is(err, receiver.ErrServerClosed) {
		t.Errorf("ListenAndServe: %v", err)
	}
}

// TestInvalidMessagesDoNotFloodTheLog: a peer writing a million invalid
// objects ({} is valid JSON, not a JSON-RPC message) gets a handful of log
// lines per second, then a count of those suppressed; the stream is still
// served.
func TestInvalidMessagesDoNotFloodTheLog(t *testing.T) {
	var logs logBuffer
	rec := newRecorder(10)
	srv := &receiver.Server{Handler: rec, Logger: logs.Logger()}
	addr := serve(t, srv)
	c := dial(t, addr)
	const n = 1 << 20
	start := time.Now()
	write(t, c, bytes.Repeat([]byte("{}"), n))
	write(t, c, []byte(`{"jsonrpc":"2.0","method":"E_AFTER"}`))
	if e := rec.next(t); e.method != "E_AFTER" {
		t.Fatalf("got %+v, want E_AFTER", e)
	}
	windows := 1 + int(time.Since(start)/ratelog.DefaultWindow)
	lines := strings.Count(logs.String(), "invalid message dropped")
	if lines < 1 || lines > (ratelog.DefaultBurst+1)*windows {
		t.Fatalf("%d log lines for %d invalid messages in %d windows, want at most %d", lines, n, windows, (ratelog.DefaultBurst+1)*windows)
	}
	// Closing writes the count of what was suppressed.
	srv.Close()
	if !strings.Contains(logs.String(), `msg="receiver: invalid message dropped" suppressed=`) {
		t.Errorf("no suppressed count in the log:\n%s", logs.String())
	}
	if len(logs.String()) > 64<<10 {
		t.Errorf("%d bytes of log for one peer", len(logs.String()))
	}
}
