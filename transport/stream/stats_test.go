package stream

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/evi/evitest"
	"github.com/evstream/evstream/internal/testnet"
)

// TestStatsCountBeforeOutcome checks that an event is counted before its
// result is reported: a snapshot taken inside the result callback already
// includes it, in both modes. Callers (and get_statistics right after a
// raise) rely on this.
func TestStatsCountBeforeOutcome(t *testing.T) {
	for _, tc := range []struct {
		name     string
		reliable bool
		handle   func(n int, c net.Conn)
	}{
		{"notification", false, func(_ int, c net.Conn) {
			var total int64
			var mu sync.Mutex
			discardAll(c, &total, &mu)
		}},
		{"reliable", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 500
			var srv *testServer
			if tc.reliable {
				srv = rpcServer(t, replyAtOnce)
			} else {
				srv = newServer(t, tc.handle)
			}
			tr := newTransport(t, Config{ReliableMode: tc.reliable})
			d := parse(t, tr, srv.socket(""))
			ev := event(t, "E_STATS")
			var mu sync.Mutex
			seen := uint64(0)
			o := evitest.NewRecorder(n)
			for i := range n {
				done := o.Tag(i)
				err := d.Send(seqMsg(ev, i), evi.DoneFunc(func(m *evi.Message, err error) {
					mu.Lock()
					seen++
					if got := tr.Stats().Delivered; got < seen {
						t.Errorf("result %d reported with Delivered = %d", seen, got)
					}
					mu.Unlock()
					done.Done(m, err)
				}))
				if err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			allOK(t, o.Wait(t, n, 20*time.Second))
			if st := tr.Stats(); st.Delivered != n || st.Sent != n {
				t.Errorf("stats %+v", st.Counters)
			}
		})
	}
}

// TestStatsRetiredConnKeepsCounts checks that the counts of a connection
// retired (its last destination closed) right as its last replies arrive
// are kept: Sent = Delivered + Failed once nothing is pending, every round.
func TestStatsRetiredConnKeepsCounts(t *testing.T) {
	const rounds, n = 100, 20
	srv := rpcServer(t, replyAtOnce)
	tr := newTransport(t, Config{ReliableMode: true})
	ev := event(t, "E_RETIRE")
	for r := range rounds {
		d, err := tr.Parse(srv.socket(""))
		if err != nil {
			t.Fatal(err)
		}
		o := evitest.NewRecorder(n)
		sendN(t, d, ev, 0, n, o)
		d.Close()
		allOK(t, o.Wait(t, n, 20*time.Second))
		testnet.PollUntil(t, 20*time.Second, "connection retired", func() bool {
			return len(tr.Stats().Addresses) == 0
		})
		st := tr.Stats()
		if want := uint64((r + 1) * n); st.Sent != want || st.Delivered != want || st.Pending != 0 {
			t.Fatalf("round %d: stats %+v, pending %d; want %d sent and delivered", r, st.Counters, st.Pending, want)
		}
	}
}
