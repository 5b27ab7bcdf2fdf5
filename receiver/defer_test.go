package receiver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/evstream/evstream/internal/memnet"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/receiver"
)

// deferring is a Handler that defers every event and hands its Responder
// to the test, by request id.
type deferring struct {
	got     chan deferred
	handled atomic.Int64
}

type deferred struct {
	id   string
	resp *receiver.Responder
}

func newDeferring() *deferring { return &deferring{got: make(chan deferred, 64)} }

func (d *deferring) ServeEvent(_ context.Context, req *receiver.Request) (any, error) {
	d.handled.Add(1)
	r := req.Defer()
	if again := req.Defer(); again != r {
		return nil, errors.New("a second Defer returned another Responder")
	}
	d.got <- deferred{id: string(req.ID), resp: r}
	return "ignored", errors.New("ignored too: the request is deferred")
}

func (d *deferring) next(t testing.TB) deferred {
	t.Helper()
	select {
	case x := <-d.got:
		return x
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting for a deferred request")
		return deferred{}
	}
}

func requestN(id int) []byte {
	return fmt.Appendf(nil, `{"jsonrpc":"2.0","method":"E_X","params":{"n":%d},"id":%d}`, id, id)
}

// TestDeferredRepliesOutOfOrder: a handler answers later, in another
// order than the requests came; every reply carries its request's id.
func TestDeferredRepliesOutOfOrder(t *testing.T) {
	h := newDeferring()
	addr := serve(t, &receiver.Server{Handler: h})
	c := dial(t, addr)
	for id := 1; id <= 3; id++ {
		write(t, c, requestN(id))
	}
	rs := map[string]*receiver.Responder{}
	for range 3 {
		x := h.next(t)
		rs[x.id] = x.resp
	}
	for _, id := range []string{"3", "1", "2"} {
		if err := rs[id].Respond("done "+id, nil); err != nil {
			t.Fatalf("Respond %s: %v", id, err)
		}
	}
	if err := rs["1"].Respond("again", nil); !errors.Is(err, receiver.ErrAnswered) {
		t.Errorf("second Respond = %v, want ErrAnswered", err)
	}
	got := readReplies(t, jsonrpc.NewDecoder(c, 0), 3)
	want := []string{
		`{"jsonrpc":"2.0","result":"done 3","id":3}`,
		`{"jsonrpc":"2.0","result":"done 1","id":1}`,
		`{"jsonrpc":"2.0","result":"done 2","id":2}`,
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("reply %d = %s, want %s", i, got[i], want[i])
		}
	}
}

// TestDeferredErrorReply: an error given to Respond is an error reply, as
// one returned by ServeEvent is.
func TestDeferredErrorReply(t *testing.T) {
	h := newDeferring()
	addr := serve(t, &receiver.Server{Handler: h})
	c := dial(t, addr)
	write(t, c, requestN(7))
	x := h.next(t)
	if err := x.resp.Respond(nil, &jsonrpc.Error{Code: 503, Message: "Not Accepted"}); err != nil {
		t.Fatal(err)
	}
	write(t, c, requestN(8))
	if err := h.next(t).resp.Respond(nil, errors.New("disk full")); err != nil {
		t.Fatal(err)
	}
	got := readReplies(t, jsonrpc.NewDecoder(c, 0), 2)
	want := []string{
		`{"jsonrpc":"2.0","error":{"code":503,"message":"Not Accepted"},"id":7}`,
		`{"jsonrpc":"2.0","error":{"code":-32000,"message":"disk full"},"id":8}`,
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("reply %d = %s, want %s", i, got[i], want[i])
		}
	}
}

// memServe serves srv on an in-memory listener inside a synctest bubble
// and returns a connection to it; the bubble's end closes everything.
func memServe(t *testing.T, srv *receiver.Server) net.Conn {
	n := &memnet.Network{}
	ln, err := n.Listen("receiver")
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, srv, ln)
	c, err := n.DialContext(context.Background(), "memnet", "receiver")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestDeferredBound: at MaxPendingReplies unanswered requests the
// connection stops reading; one answer lets the next request in.
func TestDeferredBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newDeferring()
		c := memServe(t, &receiver.Server{Handler: h, MaxPendingReplies: 2})
		go func() {
			for id := 1; id <= 4; id++ {
				c.Write(requestN(id)) // blocks once the server stops reading
			}
		}()
		dec := jsonrpc.NewDecoder(c, 0)
		go func() {
			for {
				if _, err := dec.Next(); err != nil {
					return
				}
			}
		}()
		synctest.Wait()
		if n := h.handled.Load(); n != 2 {
			t.Fatalf("%d requests handled with 2 deferred unanswered, want 2", n)
		}
		first := <-h.got
		<-h.got
		if err := first.resp.Respond("OK", nil); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := h.handled.Load(); n != 3 {
			t.Fatalf("%d requests handled after one answer, want 3", n)
		}
	})
}

// TestDeferredShutdownWaits: Shutdown waits for the deferred replies and
// writes them; Respond after the connection is gone says so.
func TestDeferredShutdownWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newDeferring()
		srv := &receiver.Server{Handler: h}
		c := memServe(t, srv)
		go c.Write(requestN(1))
		x := <-h.got
		replies := make(chan string, 1)
		go func() {
			b, err := jsonrpc.NewDecoder(c, 0).Next()
			if err != nil {
				replies <- "error: " + err.Error()
				return
			}
			replies <- string(b)
		}()
		shut := make(chan error, 1)
		go func() { shut <- srv.Shutdown(context.Background()) }()
		synctest.Wait()
		select {
		case err := <-shut:
			t.Fatalf("Shutdown returned %v with a deferred request unanswered", err)
		default:
		}
		if err := x.resp.Respond("late OK", nil); err != nil {
			t.Fatal(err)
		}
		if got, want := <-replies, `{"jsonrpc":"2.0","result":"late OK","id":1}`; got != want {
			t.Errorf("reply = %s, want %s", got, want)
		}
		if err := <-shut; err != nil {
			t.Errorf("Shutdown = %v", err)
		}
	})
}

// TestDeferredClose: Close does not wait; a Respond after it reports that
// the connection is gone.
func TestDeferredClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newDeferring()
		srv := &receiver.Server{Handler: h}
		c := memServe(t, srv)
		go c.Write(requestN(1))
		x := <-h.got
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
		if err := x.resp.Respond("too late", nil); !errors.Is(err, receiver.ErrConnClosed) {
			t.Errorf("Respond after Close = %v, want ErrConnClosed", err)
		}
	})
}

// TestDeferredNotification: a deferred notification gets no reply and does
// not count towards the bound; an error given to it is logged.
func TestDeferredNotification(t *testing.T) {
	var logs logBuffer
	h := newDeferring()
	addr := serve(t, &receiver.Server{Handler: h, MaxPendingReplies: 1, Logger: logs.Logger()})
	c := dial(t, addr)
	for range 3 {
		write(t, c, []byte(`{"jsonrpc":"2.0","method":"E_N","params":{}}`))
	}
	var rs []*receiver.Responder
	for range 3 { // the bound of 1 does not stop notifications
		rs = append(rs, h.next(t).resp)
	}
	if err := rs[0].Respond(nil, errors.New("could not store it")); err != nil {
		t.Errorf("Respond to a notification = %v, want nil", err)
	}
	logs.waitLog(t, "notification handler failed", "could not store it")
	write(t, c, requestN(9))
	if err := h.next(t).resp.Respond(json.RawMessage(`{"ok":true}`), nil); err != nil {
		t.Fatal(err)
	}
	if got := readReplies(t, jsonrpc.NewDecoder(c, 0), 1)[0]; got != `{"jsonrpc":"2.0","result":{"ok":true},"id":9}` {
		t.Errorf("reply = %s (the notifications must get none)", got)
	}
}

func TestDeferMisuse(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	kept := make(chan *receiver.Request, 1)
	addr := serve(t, &receiver.Server{Handler: receiver.HandlerFunc(func(_ context.Context, req *receiver.Request) (any, error) {
		clone := req.Clone()
		mustPanic("Defer on a Clone", func() { clone.Defer() })
		kept <- req
		return "OK", nil
	})})
	c := dial(t, addr)
	write(t, c, requestN(1))
	readReplies(t, jsonrpc.NewDecoder(c, 0), 1)
	req := <-kept
	mustPanic("Defer after ServeEvent returned", func() { req.Defer() })
}
