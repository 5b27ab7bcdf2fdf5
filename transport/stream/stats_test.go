package stream

import (
	"net"
	"sync"
	"testing"
	"time"
)

// TestStatsCountBeforeOutcome checks that an event is counted before its
// outcome is reported: a snapshot taken inside the outcome callback already
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
			o := newOutcomes(n)
			for i := range n {
				done := o.done(i)
				err := d.Send(seqMsg(ev, i), func(err error) {
					mu.Lock()
					seen++
					if got := tr.Stats().Delivered; got < seen {
						t.Errorf("outcome %d reported with Delivered = %d", seen, got)
					}
					mu.Unlock()
					done(err)
				})
				if err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			allOK(t, o.wait(t, n, 20*time.Second))
			if st := tr.Stats(); st.Delivered != n || st.Sent != n {
				t.Errorf("stats %+v", st.Counters)
			}
		})
	}
}
