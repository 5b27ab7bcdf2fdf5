package stream

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/evi/evitest"
	"github.com/evstream/evstream/jsonrpc"
)

// rpcServer is a reliable-mode test server: behave(n) returns the function
// that handles each request read on the n'th connection (0 is the first);
// it writes replies on c as it likes.
func rpcServer(t testing.TB, behave func(n int) func(c net.Conn, r request)) *testServer {
	return newServer(t, func(n int, c net.Conn) {
		on := behave(n)
		dec := jsonrpc.NewDecoder(c, 0)
		for {
			b, err := dec.Next()
			if err != nil {
				return
			}
			var r request
			if err := json.Unmarshal(b, &r); err != nil {
				t.Errorf("request %s: %v", b, err)
				return
			}
			r.raw = append([]byte(nil), b...)
			on(c, r)
		}
	})
}

// replyAtOnce replies to every request as it is read.
func replyAtOnce(int) func(net.Conn, request) {
	return func(c net.Conn, r request) { c.Write(replyOK(*r.ID)) }
}

// sendN sends n seqMsg events (tags 0..n-1, params n = first+tag) to d.
func sendN(t testing.TB, d evi.Destination, ev *evi.Event, first, n int, o *evitest.Recorder) {
	t.Helper()
	for i := range n {
		if err := d.Send(seqMsg(ev, first+i), o.Tag(first+i)); err != nil {
			t.Fatalf("send %d: %v", first+i, err)
		}
	}
}

func allOK(t testing.TB, rs []evitest.Record) {
	t.Helper()
	for _, r := range rs {
		if r.Err != nil {
			t.Fatalf("event %d: %v", r.Tag, r.Err)
		}
	}
}

var requestRE = regexp.MustCompile(`^\{"id":([1-9][0-9]*),"jsonrpc":"2\.0","method":"E_REL","params":\{"n":([0-9]+)\}\}$`)

func TestReliableInOrder(t *testing.T) {
	const n = 2000
	var mu sync.Mutex
	pending := map[int64]bool{}
	srv := rpcServer(t, func(int) func(net.Conn, request) {
		return func(c net.Conn, r request) {
			m := requestRE.FindSubmatch(r.raw)
			if m == nil {
				t.Errorf("request %s: not the expected wire form", r.raw)
				return
			}
			id, _ := strconv.ParseInt(string(m[1]), 10, 64)
			mu.Lock()
			if pending[id] {
				t.Errorf("id %d used twice while pending", id)
			}
			if id >= 1<<31 {
				t.Errorf("id %d is not below 2^31", id)
			}
			pending[id] = true
			delete(pending, id) // replied right below
			mu.Unlock()
			c.Write(replyOK(id))
		}
	})
	tr := newTransport(t, Config{ReliableMode: true})
	d := parse(t, tr, srv.socket(""))
	ev := event(t, "E_REL")
	o := evitest.NewRecorder(n)
	sendN(t, d, ev, 0, n, o)
	allOK(t, o.Wait(t, n, 20*time.Second))
	st := tr.Stats()
	if st.Delivered != n || st.Failed != 0 || st.UnknownReplies != 0 || st.Connects != 1 {
		t.Errorf("stats %+v", st.Counters)
	}
}

func TestReliableOutOfOrderAndWindow(t *testing.T) {
	const n, window = 400, 8
	srv := rpcServer(t, func(int) func(net.Conn, request) {
		var held []int64
		return func(c net.Conn, r request) {
			held = append(held, *r.ID)
			if len(held) > window {
				t.Errorf("%d requests unanswered, above MaxInFlight %d", len(held), window)
			}
			if len(held) < window {
				return
			}
			// Reply to the whole window, newest first, in one write.
			var b []byte
			for i := len(held) - 1; i >= 0; i-- {
				b = append(b, replyOK(held[i])...)
			}
			held = held[:0]
			c.Write(b)
		}
	})
	tr := newTransport(t, Config{ReliableMode: true, MaxInFlight: window})
	d := parse(t, tr, srv.socket(""))
	o := evitest.NewRecorder(n)
	sendN(t, d, event(t, "E_REL"), 0, n, o)
	allOK(t, o.Wait(t, n, 20*time.Second))
}

func TestReliableErrorReply(t *testing.T) {
	const n = 100
	srv := rpcServer(t, func(int) func(net.Conn, request) {
		return func(c net.Conn, r request) {
			if paramN(t, r)%2 == 0 {
				fmt.Fprintf(c, `{"jsonrpc":"2.0","error":{"code":-32000,"message":"disk full"},"id":%d}`, *r.ID)
				return
			}
			c.Write(replyOK(*r.ID))
		}
	})
	tr := newTransport(t, Config{ReliableMode: true})
	d := parse(t, tr, srv.socket(""))
	o := evitest.NewRecorder(n)
	sendN(t, d, event(t, "E_REL"), 0, n, o)
	for _, r := range o.Wait(t, n, 20*time.Second) {
		if r.Tag%2 == 1 {
			if r.Err != nil {
				t.Errorf("event %d: %v", r.Tag, r.Err)
			}
			continue
		}
		var je *jsonrpc.Error
		if !errors.As(r.Err, &je) || je.Code != -32000 || !strings.Contains(r.Err.Error(), "disk full") {
			t.Errorf("event %d: error %v, want the reply's error", r.Tag, r.Err)
		}
	}
	if st := tr.Stats(); st.Delivered != n/2 || st.Failed != n/2 || st.Connects != 1 {
		t.Errorf("stats %+v", st.Counters)
	}
}

// TestReliableIgnoredReplies: replies with an unknown, null or string id
// are ignored; the connection stays and the real replies still confirm.
func TestReliableIgnoredReplies(t *testing.T) {
	const n = 50
	srv := rpcServer(t, func(int) func(net.Conn, request) {
		return func(c net.Conn, r request) {
			c.Write([]byte(`{"jsonrpc":"2.0","result":1,"id":2147483000}` +
				`{"jsonrpc":"2.0","result":1,"id":null}` +
				` {"jsonrpc":"2.0","result":1,"id":"7"}` +
				`{"jsonrpc":"2.0","result":1}` +
				`{"jsonrpc":"2.0","result":1,"id":` + strconv.FormatInt(*r.ID+1<<40, 10) + `}` +
				// A request from the peer with our id is not a reply.
				`{"jsonrpc":"2.0","method":"ping","id":` + strconv.FormatInt(*r.ID, 10) + `}`))
			c.Write(replyOK(*r.ID))
		}
	})
	tr := newTransport(t, Config{ReliableMode: true})
	d := parse(t, tr, srv.socket(""))
	o := evitest.NewRecorder(n)
	sendN(t, d, event(t, "E_REL"), 0, n, o)
	allOK(t, o.Wait(t, n, 20*time.Second))
	st := tr.Stats()
	if st.Connects != 1 || st.Reconnects != 0 {
		t.Errorf("stats %+v: the connection was torn down", st.Counters)
	}
	if st.UnknownReplies != 5*n {
		t.Errorf("UnknownReplies = %d, want %d", st.UnknownReplies, 5*n)
	}
	if st.BadReplies != n {
		t.Errorf("BadReplies = %d, want %d (the peer's requests)", st.BadReplies, n)
	}
	// A late reply to an already confirmed id is unknown too.
}

// TestReliableTimeout: the peer never replies; each event fails with
// evi.ErrTimeout at its deadline, measured from the raise.
func TestReliableTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	const n = 5
	srv := rpcServer(t, func(int) func(net.Conn, request) { return func(net.Conn, request) {} })
	tr := newTransport(t, Config{ReliableMode: true, Timeout: timeout})
	d := parse(t, tr, srv.socket(""))
	ev := event(t, "E_REL")
	o := evitest.NewRecorder(n)
	raised := make([]time.Time, n)
	for i := range n {
		m := seqMsg(ev, i)
		raised[i] = m.Raised
		if err := d.Send(m, o.Tag(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Never early; late only by what a loaded machine adds (the bound is
	// generous: this is about the deadline being kept, not about speed).
	for i, r := range o.Wait(t, n, 20*time.Second) {
		if !isTimeout(r.Err) {
			t.Errorf("event %d: %v, want ErrTimeout", r.Tag, r.Err)
		}
		if r.Tag != i {
			t.Errorf("result %d is for event %d, want the events to time out in raise order", i, r.Tag)
		}
		if took := r.At.Sub(raised[r.Tag]); took < timeout || took > timeout+10*time.Second {
			t.Errorf("event %d: result %v after the raise, want %v (and not 10 s more)", r.Tag, took, timeout)
		}
	}
	o.None(t, 50*time.Millisecond)
	if st := tr.Stats(); st.Timeouts != n || st.Failed != n || st.Pending != 0 {
		t.Errorf("stats %+v", st.Counters)
	}
}

// TestReliablePeerCloses: the peer answers some requests and closes; the
// others fail at once (not at the timeout) and later events reconnect.
func TestReliablePeerCloses(t *testing.T) {
	srv := rpcServer(t, func(n int) func(net.Conn, request) {
		if n > 0 {
			return replyAtOnce(n)
		}
		seen := 0
		return func(c net.Conn, r request) {
			seen++
			if seen <= 2 {
				c.Write(replyOK(*r.ID))
			}
			if seen == 5 {
				c.Close()
			}
		}
	})
	tr := newTransport(t, Config{ReliableMode: true, Timeout: 10 * time.Second})
	d := parse(t, tr, srv.socket(""))
	ev := event(t, "E_REL")
	o := evitest.NewRecorder(5)
	sendN(t, d, ev, 0, 5, o)
	start := time.Now()
	var ok, lost int
	for _, r := range o.Wait(t, 5, 20*time.Second) {
		switch {
		case r.Err == nil:
			ok++
		case strings.Contains(r.Err.Error(), "connection lost"):
			lost++
		default:
			t.Errorf("event %d: %v", r.Tag, r.Err)
		}
	}
	if ok != 2 || lost != 3 {
		t.Errorf("%d confirmed and %d lost, want 2 and 3", ok, lost)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("the failures took %v: they waited for the timeout", time.Since(start))
	}
	o = evitest.NewRecorder(5)
	sendN(t, d, ev, 5, 5, o)
	allOK(t, o.Wait(t, 5, 20*time.Second))
	if st := tr.Stats(); st.Reconnects != 1 {
		t.Errorf("stats %+v: want 1 reconnect", st.Counters)
	}
}

// TestReliableGarbage: garbage or an oversize reply closes the connection
// and fails what is pending; the next events reconnect and succeed.
func TestReliableGarbage(t *testing.T) {
	for _, tc := range []struct {
		name, junk string
	}{
		{"not json", "this is not JSON"},
		{"bad object", `{"jsonrpc":"2.0","result":1,"id":1,}`},
		{"not an object", `[1,2,3]`},
		{"oversize", `{"jsonrpc":"2.0","result":"` + strings.Repeat("x", 300) + `","id":1}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := rpcServer(t, func(n int) func(net.Conn, request) {
				if n > 0 {
					return replyAtOnce(n)
				}
				return func(c net.Conn, r request) {
					if paramN(t, r) == 2 {
						c.Write([]byte(tc.junk))
					}
				}
			})
			tr := newTransport(t, Config{ReliableMode: true, MaxReplySize: 256, Timeout: 10 * time.Second})
			d := parse(t, tr, srv.socket(""))
			ev := event(t, "E_REL")
			o := evitest.NewRecorder(3)
			sendN(t, d, ev, 0, 3, o)
			for _, r := range o.Wait(t, 3, 20*time.Second) {
				if r.Err == nil || !strings.Contains(r.Err.Error(), "bad reply") {
					t.Errorf("event %d: %v, want a bad reply failure", r.Tag, r.Err)
				}
			}
			o = evitest.NewRecorder(3)
			sendN(t, d, ev, 3, 3, o)
			allOK(t, o.Wait(t, 3, 20*time.Second))
			if st := tr.Stats(); st.BadReplies != 1 || st.Reconnects != 1 {
				t.Errorf("stats %+v", st.Counters)
			}
		})
	}
}

// TestReliableSplitAndBatched: replies cut byte by byte across writes, and
// many replies in one write.
func TestReliableSplitAndBatched(t *testing.T) {
	const n = 60
	srv := rpcServer(t, func(int) func(net.Conn, request) {
		var held []byte
		count := 0
		return func(c net.Conn, r request) {
			count++
			if count <= n/2 {
				// Byte by byte, each in its own write.
				for _, b := range replyOK(*r.ID) {
					if _, err := c.Write([]byte{b}); err != nil {
						return
					}
				}
				return
			}
			held = append(held, replyOK(*r.ID)...)
			held = append(held, "\n "...)
			if count == n {
				c.Write(held)
			}
		}
	})
	tr := newTransport(t, Config{ReliableMode: true})
	d := parse(t, tr, srv.socket(""))
	o := evitest.NewRecorder(n)
	sendN(t, d, event(t, "E_REL"), 0, n, o)
	allOK(t, o.Wait(t, n, 20*time.Second))
}

func TestWindowIDs(t *testing.T) {
	for _, size := range []int{1, 2, 3, 1000, 4096} {
		w := newWindow(size, false)
		d := &destination{ifHead: -1, ifTail: -1}
		pending := map[int64]int32{}
		for round := range 3 * size {
			for w.room() > 0 {
				id := w.add(d, &item{deadline: int64(round)})
				if id <= 0 || id >= 1<<31 {
					t.Fatalf("size %d: id %d out of range", size, id)
				}
				if _, dup := pending[id]; dup {
					t.Fatalf("size %d: id %d reused while pending", size, id)
				}
				pending[id] = w.lookup(id)
			}
			if w.n != size {
				t.Fatalf("size %d: window holds %d", size, w.n)
			}
			// Remove the oldest and one from the middle.
			for id, i := range pending {
				if i == d.ifHead || len(pending)%2 == 0 {
					w.remove(i, nil)
					delete(pending, id)
					if w.lookup(id) >= 0 {
						t.Fatalf("size %d: removed id %d still found", size, id)
					}
					break
				}
			}
		}
	}
	// Generations wrap below 2^31, skipping 0.
	w := newWindow(1, false)
	d := &destination{ifHead: -1, ifTail: -1}
	w.slots[0].gen = w.maxGen - 1
	if id := w.add(d, &item{}); id != 1<<31-1 || w.lookup(id) != 0 {
		t.Fatalf("last id = %d, want 2^31-1", id)
	}
	w.remove(0, nil)
	if id := w.add(d, &item{}); id != 1 || w.lookup(1) != 0 {
		t.Fatalf("after the wrap id = %d, want 1", id)
	}
	if w.lookup(0) != -1 || w.lookup(-1) != -1 || w.lookup(1<<31) != -1 || w.lookup(2) != -1 || w.lookup(1<<31-1) != -1 {
		t.Fatal("lookup of a bad id found something")
	}
}

// TestSeqIDs: with SeqIDs every event is a request whose id is its
// sequence (reliable_mode off or not), an event sent again carries the
// same id, two destinations sharing the connection have their replies
// matched by those ids, and an event without a sequence is refused.
func TestSeqIDs(t *testing.T) {
	var mu sync.Mutex
	var ids []int64
	srv := rpcServer(t, func(int) func(net.Conn, request) {
		return func(c net.Conn, r request) {
			mu.Lock()
			ids = append(ids, *r.ID)
			first := len(ids) == 1
			mu.Unlock()
			if first { // the first request gets an error reply: it is sent again
				c.Write([]byte(`{"jsonrpc":"2.0","error":{"code":500,"message":"busy"},"id":` + strconv.FormatInt(*r.ID, 10) + `}`))
				return
			}
			c.Write(replyOK(*r.ID))
		}
	})
	tr := newTransport(t, Config{SeqIDs: true})
	a, b := parse(t, tr, srv.socket("/a")), parse(t, tr, srv.socket("/b"))
	ev := event(t, "E_SEQ")
	o := evitest.NewRecorder(8)
	msg := func(i int, seq uint64) *evi.Message {
		m := seqMsg(ev, i)
		m.Seq = seq
		return m
	}
	m41 := msg(0, 41)
	if err := a.Send(m41, o.Tag(0)); err != nil {
		t.Fatal(err)
	}
	var de *evi.DeliveryError
	if r := o.Wait(t, 1, 10*time.Second)[0]; !errors.As(r.Err, &de) || de.Reason != evi.ReasonErrorReply {
		t.Fatalf("the first attempt: %v, want the error reply", r.Err)
	}
	if err := a.Send(m41, o.Tag(1)); err != nil { // again: same id
		t.Fatal(err)
	}
	if err := b.Send(msg(2, 43), o.Tag(2)); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(msg(3, 44), o.Tag(3)); err != nil {
		t.Fatal(err)
	}
	allOK(t, o.Wait(t, 3, 10*time.Second))
	mu.Lock()
	got := fmt.Sprint(ids)
	mu.Unlock()
	if got != "[41 41 43 44]" {
		t.Fatalf("request ids %s, want [41 41 43 44]", got)
	}
	err := a.Send(seqMsg(ev, 9), o.Tag(9))
	if !errors.As(err, &de) || de.Reason != evi.ReasonRefused {
		t.Fatalf("Send without a sequence: %v, want a refusal", err)
	}
}
