package loadgen

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// stamped returns a request (id > 0) or notification carrying seq and a
// raise time 1 ms ago.
func stamped(id, seq int64) string {
	t := time.Now().Add(-time.Millisecond).UnixNano()
	if id > 0 {
		return fmt.Sprintf(`{"id":%d,"jsonrpc":"2.0","method":"E","params":{"s":%d,"t":%d}}`, id, seq, t)
	}
	return fmt.Sprintf(`{"jsonrpc":"2.0","method":"E","params":{"s":%d,"t":%d}}`, seq, t)
}

// TestSinkCountsAndReplies writes raw streams to sinks of both kinds over
// loopback, in awkward pieces, and checks what they count and answer.
func TestSinkCountsAndReplies(t *testing.T) {
	tests := []struct {
		name      string
		kind      ReceiverKind
		verify    bool
		seqs      []int64 // one event each, in order
		requests  bool
		framing   string
		wantDist  uint64
		wantDup   uint64
		unstamped int
	}{
		{name: "lean notifications", kind: ReceiverLean, seqs: []int64{0, 1, 2, 3}, wantDist: 4},
		{name: "lean requests, newline framing", kind: ReceiverLean, seqs: []int64{5, 6}, requests: true, framing: "\n", wantDist: 2},
		{name: "lean verify with duplicates", kind: ReceiverLean, verify: true, seqs: []int64{0, 1, 1, 2, 0, 700}, wantDist: 4, wantDup: 2},
		{name: "lean unstamped", kind: ReceiverLean, seqs: []int64{1}, unstamped: 2, wantDist: 3},
		{name: "server requests", kind: ReceiverServer, verify: true, seqs: []int64{3, 3, 4}, requests: true, wantDist: 2, wantDup: 1},
		{name: "server notifications", kind: ReceiverServer, seqs: []int64{1, 2}, wantDist: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSink(SinkConfig{Kind: tc.kind, Verify: tc.verify})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if !strings.HasPrefix(s.Socket(), "tcp:127.0.0.1:") {
				t.Fatalf("socket %q", s.Socket())
			}
			var stream strings.Builder
			for i, seq := range tc.seqs {
				id := int64(0)
				if tc.requests {
					id = int64(i + 1)
				}
				stream.WriteString(stamped(id, seq) + tc.framing)
			}
			for range tc.unstamped {
				stream.WriteString(`{"jsonrpc":"2.0","method":"E","params":{"x":1}}`)
			}
			nc, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			// Write in 7-byte pieces: objects split across reads.
			b := []byte(stream.String())
			for len(b) > 0 {
				n := min(7, len(b))
				if _, err := nc.Write(b[:n]); err != nil {
					t.Fatal(err)
				}
				b = b[n:]
			}
			total := uint64(len(tc.seqs) + tc.unstamped)
			if tc.requests {
				nc.SetReadDeadline(time.Now().Add(10 * time.Second))
				r := bufio.NewReader(nc)
				for i := range tc.seqs {
					want := fmt.Sprintf(`{"jsonrpc":"2.0","result":"OK","id":%d}`, i+1)
					got := make([]byte, len(want))
					if _, err := io.ReadFull(r, got); err != nil || string(got) != want {
						t.Fatalf("reply %d = %q, %v; want %q", i, got, err, want)
					}
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for s.Received() < total {
				if time.Now().After(deadline) {
					t.Fatalf("received %d of %d", s.Received(), total)
				}
				time.Sleep(time.Millisecond) // polling a counter, bounded by the deadline
			}
			if s.LastReceipt().IsZero() {
				t.Error("LastReceipt is zero after receipts")
			}
			nc.Close()
			s.Close()
			rep := s.Report()
			if rep.Received != total || rep.Distinct != tc.wantDist || rep.Duplicates != tc.wantDup || rep.Unstamped != uint64(tc.unstamped) {
				t.Errorf("report received %d distinct %d dup %d unstamped %d; want %d %d %d %d",
					rep.Received, rep.Distinct, rep.Duplicates, rep.Unstamped, total, tc.wantDist, tc.wantDup, tc.unstamped)
			}
			if rep.Conns != 1 || len(rep.Errors) != 0 {
				t.Errorf("conns %d errors %v, want 1 and none", rep.Conns, rep.Errors)
			}
			if rep.Latency.Count() != uint64(len(tc.seqs)) || rep.Latency.Min() < int64(time.Millisecond) {
				t.Errorf("latency count %d min %d, want %d values of at least 1ms", rep.Latency.Count(), rep.Latency.Min(), len(tc.seqs))
			}
		})
	}
}

func TestSinkGarbageEndsTheConnection(t *testing.T) {
	s, err := NewSink(SinkConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte(stamped(0, 1) + `]garbage`))
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Read(make([]byte, 1)); err == nil {
		t.Fatal("the sink answered garbage instead of closing")
	}
	s.Close()
	rep := s.Report()
	if rep.Received != 1 || len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0], "bad event stream") {
		t.Fatalf("report %+v, want 1 event and a bad stream error", rep)
	}
}

func TestSeqSetUnion(t *testing.T) {
	var a, b seqSet
	for _, v := range []int64{1, 2, 3, 200} {
		a.add(v)
	}
	for _, v := range []int64{3, 4, 200, 5000, 5000, -1} {
		b.add(v)
	}
	if b.dups != 1 || b.n != 4 {
		t.Fatalf("b: n %d dups %d, want 4 and 1", b.n, b.dups)
	}
	if overlap := a.union(&b); overlap != 2 || a.n != 6 {
		t.Fatalf("union: overlap %d n %d, want 2 and 6", overlap, a.n)
	}
}
