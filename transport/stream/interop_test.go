package stream

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"testing"
	"time"

	"github.com/sourcegraph/jsonrpc2"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/evi/evitest"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/receiver"
	"github.com/evstream/evstream/value"
)

// TestInteropJSONRPC2: the receiving end is a real JSON-RPC library,
// github.com/sourcegraph/jsonrpc2 with its plain object codec (objects back
// to back, as OpenSIPS writes them).
func TestInteropJSONRPC2(t *testing.T) {
	type call struct {
		method string
		params string
		notif  bool
	}
	for _, reliable := range []bool{false, true} {
		name := "notification"
		if reliable {
			name = "reliable"
		}
		t.Run(name, func(t *testing.T) {
			calls := make(chan call, 100)
			srv := newServer(t, func(_ int, c net.Conn) {
				h := jsonrpc2.HandlerWithError(func(_ context.Context, _ *jsonrpc2.Conn, req *jsonrpc2.Request) (any, error) {
					var p string
					if req.Params != nil {
						p = string(*req.Params)
					}
					calls <- call{req.Method, p, req.Notif}
					if p == `{"ev":"E_INTEROP","n":3}` {
						return nil, &jsonrpc2.Error{Code: 4000, Message: "refused by the application"}
					}
					return map[string]bool{"ok": true}, nil
				})
				jc := jsonrpc2.NewConn(context.Background(), jsonrpc2.NewPlainObjectStream(c), h, quiet)
				<-jc.DisconnectNotify()
				jc.Close()
			})
			tr := newTransport(t, Config{ReliableMode: reliable, EventParam: "ev"})
			d := parse(t, tr, srv.socket("/on_event"))
			ev := event(t, "E_INTEROP")
			const n = 5
			o := evitest.NewRecorder(n)
			sendN(t, d, ev, 0, n, o)
			for _, r := range o.Wait(t, n, 20*time.Second) {
				var je *jsonrpc.Error
				switch {
				case reliable && r.Tag == 3:
					if !errors.As(r.Err, &je) || je.Code != 4000 || je.Message != "refused by the application" {
						t.Errorf("event 3: %v, want the application's error", r.Err)
					}
				case r.Err != nil:
					t.Errorf("event %d: %v", r.Tag, r.Err)
				}
			}
			for i := range n {
				select {
				case c := <-calls:
					want := call{"on_event", `{"ev":"E_INTEROP","n":` + itoa(i) + `}`, !reliable}
					if c != want {
						t.Errorf("call %d: got %+v, want %+v", i, c, want)
					}
				case <-time.After(20 * time.Second):
					t.Fatalf("call %d not received", i)
				}
			}
			if st := tr.Stats(); st.UnknownReplies != 0 || st.BadReplies != 0 {
				t.Errorf("stats %+v", st.Counters)
			}
		})
	}
}

// TestInteropRegistryToJSONRPC2 raises through a Registry to a jsonrpc2
// server in reliable mode and checks the reported outcomes.
func TestInteropRegistryToJSONRPC2(t *testing.T) {
	params := make(chan json.RawMessage, 10)
	srv := newServer(t, func(_ int, c net.Conn) {
		h := jsonrpc2.HandlerWithError(func(_ context.Context, _ *jsonrpc2.Conn, req *jsonrpc2.Request) (any, error) {
			params <- *req.Params
			return 8, nil
		})
		jc := jsonrpc2.NewConn(context.Background(), jsonrpc2.NewPlainObjectStream(c), h, quiet)
		<-jc.DisconnectNotify()
		jc.Close()
	})
	tr, err := New(Config{ReliableMode: true})
	if err != nil {
		t.Fatal(err)
	}
	reg := evi.NewRegistry(evi.Config{AutoPublish: true})
	defer reg.Close()
	if err := reg.Register(tr); err != nil {
		t.Fatal(err)
	}
	if err := reg.Subscribe("E_PIKE_BLOCKED", srv.socket("/block_ip"), time.Hour); err != nil {
		t.Fatal(err)
	}
	out := make(chan evi.Outcome, 1)
	if _, err := reg.Raise("E_PIKE_BLOCKED", value.Named(value.P("ip", value.String("192.168.2.11"))), func(o evi.Outcome) { out <- o }); err != nil {
		t.Fatal(err)
	}
	select {
	case o := <-out:
		if o.Err != nil || o.Socket != srv.socket("/block_ip") {
			t.Fatalf("result %+v", o)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no result")
	}
	if p := <-params; string(p) != `{"ip":"192.168.2.11"}` {
		t.Errorf("params %s", p)
	}
}

// quiet keeps jsonrpc2's logs (closed connections at the end of tests) out
// of the test output.
var quiet = jsonrpc2.SetLogger(log.New(io.Discard, "", 0))

// TestReliableRepliesOutOfOrder: a receiver (package receiver, deferring
// its replies) answers a batch of requests from two subscriptions sharing
// one connection in reverse order, some with errors: each outcome is its
// own request's.
func TestReliableRepliesOutOfOrder(t *testing.T) {
	const batch = 8
	type pending struct {
		n    int
		resp *receiver.Responder
	}
	got := make(chan pending, 2*batch)
	srv := &receiver.Server{Handler: receiver.HandlerFunc(func(_ context.Context, req *receiver.Request) (any, error) {
		var p struct{ N int }
		if err := json.Unmarshal(req.Params, &p); err != nil {
			return nil, err
		}
		got <- pending{p.N, req.Defer()}
		return nil, nil
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	stop, answered := make(chan struct{}), make(chan struct{})
	defer func() {
		close(stop)
		<-answered
		srv.Close()
		<-served
	}()
	go func() { // answer each batch in reverse order; odd events with an error
		defer close(answered)
		for {
			var b []pending
			for len(b) < batch {
				select {
				case p := <-got:
					b = append(b, p)
				case <-stop:
					return
				}
			}
			for i := len(b) - 1; i >= 0; i-- {
				var err error
				if b[i].n%2 == 1 {
					err = &jsonrpc.Error{Code: int64(4000 + b[i].n), Message: "odd"}
				}
				b[i].resp.Respond("OK", err)
			}
		}
	}()

	tr := newTransport(t, Config{ReliableMode: true})
	socket := "tcp:" + ln.Addr().String()
	da, db := parse(t, tr, socket+"/a"), parse(t, tr, socket+"/b")
	ev := event(t, "E_OOO")
	o := evitest.NewRecorder(2 * batch)
	for i := range batch { // 0..7 to a, 100..107 to b, interleaved
		if err := da.Send(seqMsg(ev, i), o.Tag(i)); err != nil {
			t.Fatal(err)
		}
		if err := db.Send(seqMsg(ev, 100+i), o.Tag(100+i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range o.Wait(t, 2*batch, 20*time.Second) {
		var je *jsonrpc.Error
		switch {
		case r.Tag%2 == 0 && r.Err != nil:
			t.Errorf("event %d: %v, want delivered", r.Tag, r.Err)
		case r.Tag%2 == 1 && (!errors.As(r.Err, &je) || je.Code != int64(4000+r.Tag)):
			t.Errorf("event %d: %v, want its own error reply %d", r.Tag, r.Err, 4000+r.Tag)
		}
	}
	if st := tr.Stats(); st.UnknownReplies != 0 || st.BadReplies != 0 || st.Pending != 0 {
		t.Errorf("stats %+v", st.Counters)
	}
}
