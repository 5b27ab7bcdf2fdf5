package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/evi/evitest"
	"github.com/evstream/evstream/ingest"
	"github.com/evstream/evstream/internal/testnet"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/receiver"
	"github.com/evstream/evstream/transport/stream"
)

var errServerClosed = receiver.ErrServerClosed

// relay is an ingest Server raising into a Registry with the real tcp:
// transport.
type relay struct {
	reg  *evi.Registry
	srv  *ingest.Server
	addr string
}

func newRelay(t testing.TB, reg *evi.Registry, cfg ingest.Config) *relay {
	t.Helper()
	srv := ingest.New(reg, cfg)
	return &relay{reg: reg, srv: srv, addr: serveOn(t, srv.Serve, srv.Close)}
}

func newRegistry(t testing.TB, autoPublish bool, cfg stream.Config) *evi.Registry {
	t.Helper()
	reg := evi.NewRegistry(evi.Config{AutoPublish: autoPublish})
	t.Cleanup(func() { reg.Close() })
	if cfg.Timeout == 0 {
		cfg.Timeout = testTimeout // deliveries must not time out on a loaded machine
	}
	tr, err := stream.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(tr); err != nil {
		t.Fatal(err)
	}
	return reg
}

// The OpenSIPS vectors go into the relay and come out of 1 or 10
// subscribers each, byte for byte as OpenSIPS would have sent them to the
// subscribers directly (the id aside, which the relay's own reliable mode
// assigns), in notification and reliable mode, with and without
// event_param.
func TestRelayVectors(t *testing.T) {
	vs := loadVectors(t)
	for _, reliable := range []bool{false, true} {
		for _, fanout := range []int{1, 10} {
			for _, ep := range []string{"", "opensips_event"} {
				name := fmt.Sprintf("reliable=%v/subscribers=%d/event_param=%q", reliable, fanout, ep)
				t.Run(name, func(t *testing.T) {
					var group []vector
					for _, v := range vs {
						if v.EventParam == ep {
							group = append(group, v)
						}
					}
					testRelayVectors(t, group, reliable, fanout, ep)
				})
			}
		}
	}
}

// subscription is where a vector's event must be subscribed to come out
// as it went in.
type subscription struct{ event, method string }

func subscriptionOf(v vector) subscription {
	if v.EventParam == "" {
		// The relay raises the event under the method it received; the
		// subscriber's socket needs no method.
		return subscription{event: v.Method}
	}
	// The name travels in the params; the method is the socket's.
	s := subscription{event: v.Event}
	if v.Method != v.Event {
		s.method = v.Method
	}
	return s
}

func testRelayVectors(t *testing.T, group []vector, reliable bool, fanout int, ep string) {
	reg := newRegistry(t, true, stream.Config{ReliableMode: reliable, EventParam: ep})
	r := newRelay(t, reg, ingest.Config{EventParam: ep})

	sinks := map[subscription][]*sink{}
	for _, v := range group {
		sub := subscriptionOf(v)
		if sinks[sub] != nil {
			continue
		}
		for range fanout {
			method := sub.method
			if method == "" {
				method = sub.event
			}
			s := newSink(t, reliable, method)
			sinks[sub] = append(sinks[sub], s)
			socket := "tcp:" + s.addr()
			if sub.method != "" {
				socket += "/" + sub.method
			}
			if err := reg.Subscribe(sub.event, socket, 0); err != nil {
				t.Fatal(err)
			}
		}
	}

	// What each subscription must receive: every event raised under its
	// event name, with its method.
	want := map[subscription][][]byte{}
	var in []byte
	for _, v := range group {
		in = append(in, v.Wire...)
		ev := subscriptionOf(v).event
		for sub := range sinks {
			if sub.event != ev {
				continue
			}
			out := withoutID(v.Wire)
			m := sub.method
			if m == "" {
				m = sub.event
			}
			if m != v.Method {
				out = bytes.Replace(out, []byte(`"method":"`+v.Method+`"`), []byte(`"method":"`+m+`"`), 1)
			}
			want[sub] = append(want[sub], out)
		}
	}

	// A last request, for an event nobody subscribed to: once it is
	// answered, every event before it has been raised.
	const marker = `{"id":"marker","jsonrpc":"2.0","method":"E_INGEST_MARKER"}`
	c := testnet.Dial(t, r.addr, testTimeout)
	if _, err := c.Write(append(in, marker...)); err != nil {
		t.Fatal(err)
	}
	for sub, ss := range sinks {
		for i, s := range ss {
			got := s.wait(t, len(want[sub]))
			for k, b := range got {
				if reliable != bytes.HasPrefix(b, []byte(`{"id":`)) {
					t.Errorf("%v sink %d: object %d %s: reliable=%v but id present=%v", sub, i, k, b, reliable, !reliable)
				}
				if !bytes.Equal(withoutID(b), want[sub][k]) {
					t.Errorf("%v sink %d: object %d\n got %s\nwant %s", sub, i, k, withoutID(b), want[sub][k])
				}
			}
		}
	}
	// The request among the vectors is answered with the subscriber count.
	dec := jsonrpc.NewDecoder(c, 0)
	for _, v := range group {
		if !bytes.HasPrefix(v.Wire, []byte(`{"id":`)) {
			continue
		}
		id := v.Wire[len(`{"id":`):bytes.IndexByte(v.Wire, ',')]
		b, err := dec.Next()
		if err != nil {
			t.Fatal(err)
		}
		n := len(sinks[subscriptionOf(v)])
		if want := fmt.Sprintf(`{"jsonrpc":"2.0","result":%d,"id":%s}`, n, id); string(b) != want {
			t.Errorf("reply %s, want %s", b, want)
		}
	}
	b, err := dec.Next()
	if want := `{"jsonrpc":"2.0","error":{"code":480,"message":"Temporarily Unavailable"},"id":"marker"}`; err != nil || string(b) != want {
		t.Fatalf("marker reply %s, %v; want %s", b, err, want)
	}
	wantStats := ingest.Stats{Received: uint64(len(group)) + 1, Raised: uint64(len(group)), NoSubscribers: 1}
	if st := r.srv.Stats(); st != wantStats {
		t.Errorf("stats %+v, want %+v", st, wantStats)
	}
}

// A request is answered with the number of subscribers once they have all
// accepted the event; the event itself is on its way to each of them.
func TestRelayReplyAfterAcceptance(t *testing.T) {
	reg := newRegistry(t, true, stream.Config{ReliableMode: true})
	r := newRelay(t, reg, ingest.Config{})
	var sinks []*sink
	for range 3 {
		s := newSink(t, true, "E_INGEST_X")
		sinks = append(sinks, s)
		if err := reg.Subscribe("E_INGEST_X", "tcp:"+s.addr(), 0); err != nil {
			t.Fatal(err)
		}
	}
	c := testnet.Dial(t, r.addr, testTimeout)
	dec := jsonrpc.NewDecoder(c, 0)
	for id := range 20 {
		c.Write(jsonrpc.AppendRequest(nil, int64(id), "E_INGEST_X", []byte(fmt.Sprintf(`{"n":%d}`, id))))
		b, err := dec.Next()
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(`{"jsonrpc":"2.0","result":3,"id":%d}`, id); string(b) != want {
			t.Fatalf("reply %s, want %s", b, want)
		}
	}
	for _, s := range sinks {
		for i, b := range s.wait(t, 20) {
			if want := fmt.Sprintf(`"method":"E_INGEST_X","params":{"n":%d}}`, i); !bytes.HasSuffix(b, []byte(want)) {
				t.Errorf("sink got %s, want ...%s", b, want)
			}
		}
	}
}

// Requests that cannot be raised get an error reply naming why;
// notifications get none. Stats counts every outcome.
func TestRelayErrors(t *testing.T) {
	reg := newRegistry(t, false, stream.Config{})
	full := evitest.New("full") // its destinations refuse every event, as full queues do
	full.Set("a", evitest.Reject)
	full.Set("b", evitest.Reject)
	if err := reg.Register(full); err != nil {
		t.Fatal(err)
	}
	ok := newSink(t, false, "E_OK", "E_HALF")
	for _, e := range []string{"E_NOSUBS", "E_OK", "E_FULL", "E_HALF"} {
		if _, err := reg.Publish(e); err != nil {
			t.Fatal(err)
		}
	}
	for _, sub := range [][2]string{
		{"E_OK", "tcp:" + ok.addr()},
		{"E_FULL", "full:a"},
		{"E_HALF", "full:b"},
		{"E_HALF", "tcp:" + ok.addr()},
	} {
		if err := reg.Subscribe(sub[0], sub[1], 0); err != nil {
			t.Fatal(err)
		}
	}
	r := newRelay(t, reg, ingest.Config{})

	for _, tc := range []struct{ name, method, want string }{
		{"ok", "E_OK", `{"jsonrpc":"2.0","result":1,"id":1}`},
		{"no subscribers", "E_NOSUBS", `{"jsonrpc":"2.0","error":{"code":480,"message":"Temporarily Unavailable"},"id":1}`},
		{"not published", "E_UNKNOWN", `{"jsonrpc":"2.0","error":{"code":404,"message":"Event not registered"},"id":1}`},
		{"bad name", "E X", `{"jsonrpc":"2.0","error":{"code":400,"message":"Bad event name","data":"event name \"E X\" has a space or control byte at 1"},"id":1}`},
		{"queue full", "E_FULL", `{"jsonrpc":"2.0","error":{"code":503,"message":"Not Accepted","data":{"accepted":0,"reason":"raise \"E_FULL\" to full:a: full:a: queue full"}},"id":1}`},
		{"one of two full", "E_HALF", `{"jsonrpc":"2.0","error":{"code":503,"message":"Not Accepted","data":{"accepted":1,"reason":"raise \"E_HALF\" to full:b: full:b: queue full"}},"id":1}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testnet.Dial(t, r.addr, testTimeout)
			dec := jsonrpc.NewDecoder(c, 0)
			c.Write(jsonrpc.AppendNotification(nil, tc.method, nil))
			c.Write(jsonrpc.AppendRequest(nil, 1, tc.method, nil))
			b, err := dec.Next()
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("reply\n%s\nwant\n%s", b, tc.want)
			}
		})
	}
	// Every event went out twice: as a notification and as a request.
	want := ingest.Stats{Received: 12, Raised: 2, NoSubscribers: 2, Rejected: 4, Failed: 4}
	if st := r.srv.Stats(); st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	ok.wait(t, 4) // E_OK and E_HALF, twice each
}

// After the registry closed, requests are answered with 503.
func TestRelayRegistryClosed(t *testing.T) {
	reg := newRegistry(t, true, stream.Config{})
	s := newSink(t, false, "E_INGEST_X")
	if err := reg.Subscribe("E_INGEST_X", "tcp:"+s.addr(), 0); err != nil {
		t.Fatal(err)
	}
	r := newRelay(t, reg, ingest.Config{})
	reg.Close()
	c := testnet.Dial(t, r.addr, testTimeout)
	c.Write(jsonrpc.AppendRequest(nil, 1, "E_INGEST_X", nil))
	b, err := jsonrpc.NewDecoder(c, 0).Next()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"jsonrpc":"2.0","error":{"code":503,"message":"Not Accepted","data":{"accepted":0,"reason":"raise \"E_INGEST_X\": closed"}},"id":1}`; string(b) != want {
		t.Errorf("reply %s, want %s", b, want)
	}
}

// With EventParam set, events that do not carry it are raised under their
// method; those that do lose it from their params.
func TestRelayEventParam(t *testing.T) {
	reg := newRegistry(t, true, stream.Config{})
	byMethod, byParam := newSink(t, false, "block_ip"), newSink(t, false, "E_PIKE_BLOCKED")
	reg.Subscribe("block_ip", "tcp:"+byMethod.addr(), 0)
	reg.Subscribe("E_PIKE_BLOCKED", "tcp:"+byParam.addr(), 0)
	r := newRelay(t, reg, ingest.Config{EventParam: "ev"})

	c := testnet.Dial(t, r.addr, testTimeout)
	c.Write([]byte(`{"jsonrpc":"2.0","method":"block_ip","params":{"ip":"10.0.0.1"}}` +
		`{"jsonrpc":"2.0","method":"block_ip","params":{"ip":"10.0.0.2","ev":"E_PIKE_BLOCKED"}}` +
		`{"jsonrpc":"2.0","method":"block_ip","params":["E_PIKE_BLOCKED","10.0.0.3"]}` +
		`{"jsonrpc":"2.0","method":"block_ip","params":{"ev":7}}`))
	for _, tc := range []struct {
		s    *sink
		want []string
	}{
		{byMethod, []string{
			`{"jsonrpc":"2.0","method":"block_ip","params":{"ip":"10.0.0.1"}}`,
			`{"jsonrpc":"2.0","method":"block_ip","params":{"ev":7}}`,
		}},
		{byParam, []string{
			`{"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"ip":"10.0.0.2"}}`,
			`{"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":["10.0.0.3"]}`,
		}},
	} {
		for i, b := range tc.s.wait(t, len(tc.want)) {
			if string(b) != tc.want[i] {
				t.Errorf("got %s, want %s", b, tc.want[i])
			}
		}
	}
}

// ServeEvent rejects params that are not valid JSON (the receiver never
// passes such params, but a caller of ServeEvent may).
func TestServeEventBadParams(t *testing.T) {
	reg := newRegistry(t, true, stream.Config{})
	srv := ingest.New(reg, ingest.Config{})
	defer srv.Close()
	req := &receiver.Request{Method: "E_INGEST_X", Params: json.RawMessage(`{"a":tru}`), ID: json.RawMessage(`1`)}
	_, err := srv.ServeEvent(context.Background(), req)
	if code := jsonrpc.CodeOf(err); code != jsonrpc.CodeInvalidParams || !strings.Contains(err.Error(), "in the literal true") {
		t.Errorf("got %v (code %d), want Invalid params", err, code)
	}
	req.ID = nil
	if res, err := srv.ServeEvent(context.Background(), req); res != nil || err != nil {
		t.Errorf("notification: got %v, %v; want nothing", res, err)
	}
	if st := srv.Stats(); st != (ingest.Stats{Received: 2, Rejected: 2}) {
		t.Errorf("stats %+v", st)
	}
}

// Shutdown answers what was received, then stops.
func TestShutdown(t *testing.T) {
	reg := newRegistry(t, true, stream.Config{})
	s := newSink(t, false, "E_INGEST_X")
	reg.Subscribe("E_INGEST_X", "tcp:"+s.addr(), 0)
	srv := ingest.New(reg, ingest.Config{})
	addr := serveOn(t, srv.Serve, srv.Close)
	c := testnet.Dial(t, addr, testTimeout)
	c.Write(jsonrpc.AppendRequest(nil, 1, "E_INGEST_X", nil))
	b, err := jsonrpc.NewDecoder(c, 0).Next()
	if err != nil || string(b) != `{"jsonrpc":"2.0","result":1,"id":1}` {
		t.Fatalf("reply %s, %v", b, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(testTimeout))
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("connection still open after Shutdown (read %d bytes)", n)
	}
}

// A member with an empty name cannot be a named param: the request is
// answered with Invalid params.
func TestRelayEmptyParamName(t *testing.T) {
	reg := newRegistry(t, true, stream.Config{})
	r := newRelay(t, reg, ingest.Config{})
	c := testnet.Dial(t, r.addr, testTimeout)
	c.Write([]byte(`{"id":1,"jsonrpc":"2.0","method":"E_INGEST_X","params":{"a":1,"":2}}`))
	b, err := jsonrpc.NewDecoder(c, 0).Next()
	if want := `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"bad params: offset 7: a member has an empty name (a named param needs a name)"},"id":1}`; err != nil || string(b) != want {
		t.Errorf("reply %s, %v; want %s", b, err, want)
	}
}

// TestRelayReport: Config.Report receives every relayed event's outcome per
// subscriber, failures included (here a subscriber that never replies).
func TestRelayReport(t *testing.T) {
	// The good subscriber replies at once; 3 s is ample on a loaded machine
	// and keeps the mute one's timeout short.
	reg := newRegistry(t, true, stream.Config{ReliableMode: true, Timeout: 3 * time.Second})
	outcomes := make(chan evi.Outcome, 4)
	r := newRelay(t, reg, ingest.Config{Report: func(o evi.Outcome) { outcomes <- o }})
	good := newSink(t, true, "E_REPORT")
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	go func() { // accepts and reads, never replies
		c, err := mute.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(io.Discard, c)
	}()
	for _, sock := range []string{"tcp:" + good.addr(), "tcp:" + mute.Addr().String()} {
		if err := reg.Subscribe("E_REPORT", sock, 0); err != nil {
			t.Fatal(err)
		}
	}
	c := testnet.Dial(t, r.addr, testTimeout)
	c.Write(jsonrpc.AppendNotification(nil, "E_REPORT", []byte(`{"n":1}`)))
	got := map[string]error{}
	for range 2 {
		select {
		case o := <-outcomes:
			if o.Event.Name() != "E_REPORT" {
				t.Errorf("outcome for %q", o.Event.Name())
			}
			got[o.Socket] = o.Err
		case <-time.After(testTimeout):
			t.Fatalf("outcomes so far %v, want 2", got)
		}
	}
	if err, ok := got["tcp:"+good.addr()]; !ok || err != nil {
		t.Errorf("good subscriber: %v (reported %v), want success", err, ok)
	}
	if err := got["tcp:"+mute.Addr().String()]; !errors.Is(err, evi.ErrTimeout) {
		t.Errorf("mute subscriber: %v, want ErrTimeout", err)
	}
}
