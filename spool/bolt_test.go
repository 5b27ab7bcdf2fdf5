package spool_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/evstream/evstream/spool"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path) // never returns
	}
	goleak.VerifyTestMain(m)
}

func open(t testing.TB, path string, opts spool.Options) *spool.Bolt {
	t.Helper()
	s, err := spool.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func rec(queue string, n int) spool.Record {
	var id [16]byte
	copy(id[:], fmt.Sprintf("%016d", n))
	return spool.Record{Queue: queue, ID: id, Event: "E_X", Params: []byte(fmt.Sprintf(`{"n":%d}`, n)),
		Raised: time.Unix(1700000000, int64(n))}
}

func appendN(t testing.TB, s spool.Store, queue string, from, to int) []uint64 {
	t.Helper()
	var seqs []uint64
	for i := from; i < to; i++ {
		got, err := s.Append(rec(queue, i))
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, got...)
	}
	return seqs
}

func params(es []spool.Entry) string {
	var b strings.Builder
	for _, e := range es {
		b.Write(e.Params)
	}
	return b.String()
}

// TestAppendReadConfirm: queues are FIFOs of their own; Read reads from a
// position; Confirm removes (a run of consecutive records too: deleting
// under a bbolt cursor and moving on would skip one); the counts follow.
func TestAppendReadConfirm(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
	a := appendN(t, s, "a", 0, 10)
	b := appendN(t, s, "b", 100, 103)
	for i := 1; i < len(a); i++ {
		if a[i] <= a[i-1] {
			t.Fatalf("sequences %v not increasing", a)
		}
	}
	if b[0] <= a[len(a)-1] {
		t.Fatalf("queue b's sequences %v do not follow queue a's %v: sequences are the store's, not a queue's", b, a)
	}
	got, err := s.Read("a", 0, 100)
	if err != nil || len(got) != 10 || got[0].Seq != a[0] || string(got[9].Params) != `{"n":9}` {
		t.Fatalf("Read(a) = %d entries (%v), first %+v", len(got), err, got)
	}
	if e := got[3]; e.Queue != "a" || e.Event != "E_X" || e.Raised != time.Unix(1700000000, 3) || e.ID != rec("a", 3).ID || e.Attempts != 0 {
		t.Fatalf("entry %+v does not round-trip", e)
	}
	if got, _ := s.Read("a", a[7], 2); params(got) != `{"n":7}{"n":8}` {
		t.Fatalf("Read from %d, 2: %s", a[7], params(got))
	}
	if err := s.Confirm("a", a[2], a[3], a[4], a[5], a[9], 12345); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Read("a", 0, 100); params(got) != `{"n":0}{"n":1}{"n":6}{"n":7}{"n":8}` {
		t.Fatalf("after Confirm: %s", params(got))
	}
	if got, _ := s.Read("b", 0, 100); params(got) != `{"n":100}{"n":101}{"n":102}` {
		t.Fatalf("queue b: %s", params(got))
	}
	if got, _ := s.Read("nosuch", 0, 10); len(got) != 0 {
		t.Fatalf("an unknown queue has %d entries", len(got))
	}
	st := s.Stats()
	if st.Pending != 8 || st.Dead != 0 || st.Appended != 13 || st.Bytes <= 0 {
		t.Fatalf("stats %+v", st)
	}
	if qs, _ := s.Queues(); strings.Join(qs, ",") != "a,b" {
		t.Fatalf("Queues = %v", qs)
	}
	s.Confirm("a", a...)
	s.Confirm("b", b...)
	if st := s.Stats(); st.Pending != 0 || st.Bytes != 0 {
		t.Fatalf("everything confirmed, stats %+v", st)
	}
}

// TestDeadLetters: Retry counts attempts, Terminate makes a dead letter,
// Replay puts it back at the tail with new sequences, Purge drops them.
func TestDeadLetters(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
	seqs := appendN(t, s, "q", 0, 4)
	for range 3 {
		if _, err := s.Retry("q", seqs[1], "connect refused"); err != nil {
			t.Fatal(err)
		}
	}
	e, err := s.Retry("q", seqs[1], strings.Repeat("x", 10000))
	if err != nil || e.Attempts != 4 || len(e.Error) != 512 {
		t.Fatalf("Retry = %+v, %v: want 4 attempts, the reason clipped", e.Attempts, err)
	}
	if _, err := s.Retry("q", 999, "x"); !errors.Is(err, spool.ErrNotFound) {
		t.Fatalf("Retry of nothing: %v", err)
	}
	if err := s.Terminate("q", seqs[1], "max attempts (4)"); err != nil {
		t.Fatal(err)
	}
	if err := s.Terminate("q", seqs[2], "max age"); err != nil {
		t.Fatal(err)
	}
	if err := s.Terminate("q", seqs[2], "again"); !errors.Is(err, spool.ErrNotFound) {
		t.Fatalf("Terminate twice: %v", err)
	}
	dead, _ := s.DeadLetters("q", 10)
	if params(dead) != `{"n":1}{"n":2}` || dead[0].Error != "max attempts (4)" || dead[0].Attempts != 4 {
		t.Fatalf("dead letters %s %+v", params(dead), dead)
	}
	if got, _ := s.Read("q", 0, 10); params(got) != `{"n":0}{"n":3}` {
		t.Fatalf("pending %s", params(got))
	}
	if st := s.Stats(); st.Pending != 2 || st.Dead != 2 {
		t.Fatalf("stats %+v", st)
	}
	n, err := s.Replay("q")
	if err != nil || n != 2 {
		t.Fatalf("Replay = %d, %v", n, err)
	}
	got, _ := s.Read("q", 0, 10)
	if params(got) != `{"n":0}{"n":3}{"n":1}{"n":2}` || got[2].Attempts != 0 || got[2].Seq <= seqs[3] {
		t.Fatalf("after Replay: %s %+v", params(got), got)
	}
	s.Terminate("q", got[0].Seq, "x")
	if n, err := s.Purge("q"); err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v", n, err)
	}
	if n, _ := s.Purge("q"); n != 0 {
		t.Fatalf("Purge again = %d", n)
	}
	if st := s.Stats(); st.Pending != 3 || st.Dead != 0 {
		t.Fatalf("stats %+v", st)
	}
	// The subscriber is gone: everything pending becomes a dead letter,
	// kept with its attempts, and the queue is empty.
	s.Retry("q", got[1].Seq, "timeout")
	if n, err := s.TerminateAll("q", "unsubscribed"); err != nil || n != 3 {
		t.Fatalf("TerminateAll = %d, %v", n, err)
	}
	dead, _ = s.DeadLetters("q", 10)
	if params(dead) != `{"n":3}{"n":1}{"n":2}` || dead[0].Error != "unsubscribed" || dead[0].Attempts != 1 {
		t.Fatalf("dead letters after TerminateAll: %s %+v", params(dead), dead)
	}
	if got, _ := s.Read("q", 0, 10); len(got) != 0 {
		t.Fatalf("pending after TerminateAll: %s", params(got))
	}
	if st := s.Stats(); st.Pending != 0 || st.Dead != 3 {
		t.Fatalf("stats %+v", st)
	}
	if p, d, err := s.Counts("q"); err != nil || p != 0 || d != 3 {
		t.Fatalf("Counts = %d pending, %d dead, %v", p, d, err)
	}
	if n, err := s.TerminateAll("nosuch", "x"); err != nil || n != 0 {
		t.Fatalf("TerminateAll of an unknown queue = %d, %v", n, err)
	}
}

// TestAppendAsync: records appended without waiting, by one goroutine,
// are stored in that order, grouped into few commits; each callback gets
// its record's sequence once it is durable; a closed store refuses.
func TestAppendAsync(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
	const n = 2000
	seqs := make([]uint64, n)
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		s.AppendAsync([]spool.Record{rec("q", i)}, nil, func(q []uint64, err error) {
			defer wg.Done()
			if err != nil || len(q) != 1 {
				t.Errorf("record %d: %v, %v", i, q, err)
				return
			}
			seqs[i] = q[0]
		})
	}
	wg.Wait()
	got, err := s.Read("q", 0, n)
	if err != nil || len(got) != n {
		t.Fatalf("Read: %d entries, %v", len(got), err)
	}
	for i, e := range got {
		if e.Seq != seqs[i] || string(e.Params) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("entry %d: seq %d params %s; want seq %d, n %d", i, e.Seq, e.Params, seqs[i], i)
		}
	}
	if st := s.Stats(); st.Commits >= n {
		t.Errorf("%d commits for %d records appended without waiting: not grouped", st.Commits, n)
	}
	s.Close()
	var refused error
	s.AppendAsync([]spool.Record{rec("q", 0)}, nil, func(_ []uint64, err error) { refused = err })
	if !errors.Is(refused, spool.ErrClosed) {
		t.Fatalf("AppendAsync after Close: %v", refused)
	}
}

// TestStaged: staged gets each append's sequences before then does (the
// same ones), in sequence order; a record whose staged call came is
// durable once then says so; ConfirmAsync reports what it removed.
func TestStaged(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
	const n = 3000
	var mu sync.Mutex
	var order []uint64          // staged sequences, in the order of the calls
	staged := map[uint64]bool{} // staged, then not called yet
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		s.AppendAsync([]spool.Record{rec("q", i), rec("r", i)}, func(q []uint64, early bool) {
			mu.Lock()
			defer mu.Unlock()
			if !early {
				t.Errorf("record %d: sequences %v not early, far from the reservation", i, q)
			}
			order = append(order, q...)
			staged[q[0]], staged[q[1]] = true, true
		}, func(q []uint64, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil || len(q) != 2 || !staged[q[0]] || !staged[q[1]] {
				t.Errorf("record %d: then(%v, %v) without its staged call first", i, q, err)
			}
			delete(staged, q[0])
			delete(staged, q[1])
		})
	}
	wg.Wait()
	if len(order) != 2*n || !slices.IsSorted(order) {
		t.Fatalf("%d staged sequences, sorted: %v; want %d in order", len(order), slices.IsSorted(order), 2*n)
	}
	got, err := s.Read("q", 0, n)
	if err != nil || len(got) != n {
		t.Fatalf("Read: %d entries, %v", len(got), err)
	}
	done := make(chan int, 1)
	s.ConfirmAsync("q", []uint64{got[0].Seq, got[1].Seq, 1 << 40}, func(removed int, err error) {
		if err != nil {
			t.Error(err)
		}
		done <- removed
	})
	if removed := <-done; removed != 2 {
		t.Fatalf("ConfirmAsync of 2 pending and 1 unknown: removed %d", removed)
	}
}

// TestConfirmRightAfterStaged: a record confirmed as soon as it is staged
// (sent before it is durable, confirmed at once) is removed: the Confirm
// is applied after the append, even when it is submitted while the
// append is still being submitted.
func TestConfirmRightAfterStaged(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
	for i := range 20 {
		confirmed := make(chan error, 1)
		appended := make(chan error, 1)
		s.AppendAsync([]spool.Record{rec("q", i)}, func(seqs []uint64, _ bool) {
			go func() { confirmed <- s.Confirm("q", seqs...) }()
			time.Sleep(2 * time.Millisecond) // the Confirm is submitted meanwhile, if it can be
		}, func(_ []uint64, err error) { appended <- err })
		if err := <-appended; err != nil {
			t.Fatal(err)
		}
		if err := <-confirmed; err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Read("q", 0, 100); err != nil || len(got) != 0 {
		t.Fatalf("%d records left after each was confirmed (%v): a Confirm overtook its append", len(got), err)
	}
}

// TestReservedSequences: the sequences given after a reopen come after
// every one given before, including those only staged (the crash case is
// TestKill9's).
func TestReservedSequences(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	var last uint64
	for round := range 3 {
		s := open(t, path, spool.Options{})
		for i := range 10 {
			seqs, err := s.Append(rec("q", i))
			if err != nil {
				t.Fatal(err)
			}
			if seqs[0] <= last {
				t.Fatalf("round %d: sequence %d after %d", round, seqs[0], last)
			}
			last = seqs[0]
		}
		s.Close()
	}
}

// TestFail: one write records the attempts of many entries; those that
// reach the limit, and final ones, become dead letters; entries no
// longer pending are skipped.
func TestFail(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
	seqs := appendN(t, s, "q", 0, 4)
	fails := []spool.Failure{{Seq: seqs[0], Reason: "timeout"}, {Seq: seqs[1], Reason: "refused"}, {Seq: 9999, Reason: "gone"}}
	if dead, err := s.Fail("q", fails, 2); err != nil || len(dead) != 0 {
		t.Fatalf("first Fail = %+v, %v", dead, err)
	}
	fails = append(fails, spool.Failure{Seq: seqs[2], Reason: "too old", Final: true})
	dead, err := s.Fail("q", fails, 2)
	if err != nil || params(dead) != `{"n":0}{"n":1}{"n":2}` || dead[0].Attempts != 2 || dead[2].Attempts != 0 || dead[2].Error != "too old" {
		t.Fatalf("second Fail = %s %+v, %v", params(dead), dead, err)
	}
	if got, _ := s.Read("q", 0, 10); params(got) != `{"n":3}` {
		t.Fatalf("pending %s", params(got))
	}
	if st := s.Stats(); st.Pending != 1 || st.Dead != 3 {
		t.Fatalf("stats %+v", st)
	}
	if dead, err := s.Fail("nosuch", fails, 1); err != nil || len(dead) != 0 {
		t.Fatalf("Fail of an unknown queue = %+v, %v", dead, err)
	}
}

// TestFull: over MaxBytes an Append is refused whole with ErrFull, and
// what was stored stays; a Confirm makes room again.
func TestFull(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "spool.db"), spool.Options{MaxBytes: 1000})
	var stored []uint64
	for i := 0; ; i++ {
		seqs, err := s.Append(rec("q", i))
		if errors.Is(err, spool.ErrFull) {
			if !strings.Contains(err.Error(), "of 1000") {
				t.Errorf("refusal %q does not say the bound", err)
			}
			break
		}
		if err != nil || i > 1000 {
			t.Fatalf("Append %d: %v", i, err)
		}
		stored = append(stored, seqs...)
	}
	if _, err := s.Append(rec("q", 1), rec("r", 2)); !errors.Is(err, spool.ErrFull) {
		t.Fatalf("two records over the bound: %v", err)
	}
	if got, _ := s.Read("r", 0, 10); len(got) != 0 {
		t.Fatal("a refused Append stored part of its records")
	}
	if got, _ := s.Read("q", 0, 1000); len(got) != len(stored) {
		t.Fatalf("%d records kept of %d", len(got), len(stored))
	}
	s.Confirm("q", stored[0])
	if _, err := s.Append(rec("q", 0)); err != nil {
		t.Fatalf("after a Confirm: %v", err)
	}
}

// TestReopen: a closed store opens with its entries, counts and dead
// letters; sequences go on from where they were, never reused.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s, err := spool.Open(path, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	seqs := appendN(t, s, "q", 0, 5)
	s.Confirm("q", seqs[4])
	s.Terminate("q", seqs[0], "gone")
	before := s.Stats()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(rec("q", 9)); !errors.Is(err, spool.ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	s = open(t, path, spool.Options{})
	after := s.Stats()
	if after.Pending != before.Pending || after.Dead != before.Dead || after.Bytes != before.Bytes {
		t.Fatalf("reopened with %+v, closed with %+v", after, before)
	}
	next, _ := s.Append(rec("q", 5))
	if next[0] <= seqs[4] {
		t.Fatalf("sequence %d after %d: reused", next[0], seqs[4])
	}
	if got, _ := s.Read("q", 0, 10); params(got) != `{"n":1}{"n":2}{"n":3}{"n":5}` {
		t.Fatalf("reopened: %s", params(got))
	}
}

// TestDamagedFile: a file that is not a spool, a truncated spool and a
// spool whose records are garbage are errors naming the file, never a
// panic; a file locked by another store is a clear error too.
func TestDamagedFile(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	os.WriteFile(garbage, []byte(strings.Repeat("not a database\n", 1000)), 0o600)

	good := filepath.Join(dir, "good.db")
	s, err := spool.Open(good, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		s.Append(rec(fmt.Sprintf("q%d", i%20), i))
	}
	s.Close()
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.db")
	os.WriteFile(truncated, data[:len(data)/3], 0o600)
	scribbled := filepath.Join(dir, "scribbled.db")
	bad := append([]byte(nil), data...)
	for i := 3 * 4096; i < len(bad); i += 7 {
		bad[i] ^= 0x5a
	}
	os.WriteFile(scribbled, bad, 0o600)

	for _, path := range []string{garbage, truncated, scribbled} {
		s, err := spool.Open(path, spool.Options{})
		if err == nil {
			// A damage that the file's structure survives must still be
			// seen when the records are read.
			_, err = s.Queues()
			s.Close()
			t.Errorf("%s: opened (Queues: %v), want an error naming the file", filepath.Base(path), err)
			continue
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q does not name the file", filepath.Base(path), err)
		}
	}

	held := open(t, good, spool.Options{})
	_ = held
	if _, err := spool.Open(good, spool.Options{LockTimeout: 50 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second Open of a file in use: %v", err)
	}
}

// TestConcurrentAppend: many producers at once; every record is stored
// once, each producer's in its order, and the committer groups them
// (fewer commits than records).
func TestConcurrentAppend(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
	const producers, n = 32, 50
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range n {
				if _, err := s.Append(rec(fmt.Sprintf("p%d", p), i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for p := range producers {
		got, _ := s.Read(fmt.Sprintf("p%d", p), 0, 2*n)
		if len(got) != n {
			t.Fatalf("producer %d: %d records, want %d", p, len(got), n)
		}
		for i, e := range got {
			if string(e.Params) != fmt.Sprintf(`{"n":%d}`, i) {
				t.Fatalf("producer %d: record %d is %s", p, i, e.Params)
			}
		}
	}
	st := s.Stats()
	t.Logf("%d records in %d commits", st.Appended, st.Commits)
	if st.Appended != producers*n || st.Commits > st.Appended {
		t.Fatalf("stats %+v", st)
	}
}
