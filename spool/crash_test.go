package spool_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evstream/evstream/spool"
)

// crashChildEnv, when set to a path, makes the test binary a child that
// appends to the spool there until it is killed (see TestKill9).
const (
	crashChildEnv  = "EVSTREAM_SPOOL_CRASH_CHILD"
	crashOffsetEnv = "EVSTREAM_SPOOL_CRASH_OFFSET"
)

// crashChild appends records from 8 goroutines, printing "S queue seq"
// when an append is staged early (its sequence given for good, the record
// not durable yet) and
// "A queue seq n" once it is durable (acknowledged); every third record
// it confirms, printing "P queue seq" before the Confirm and "C queue seq"
// once it has returned; until it is killed.
func crashChild(path string) {
	s, err := spool.Open(path, spool.Options{LockTimeout: 10 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	offset, _ := strconv.Atoi(os.Getenv(crashOffsetEnv))
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(os.Stdout, format, args...)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			q := fmt.Sprintf("c%d", g)
			for i := 0; ; i++ {
				n := offset + i
				done := make(chan []uint64)
				s.AppendAsync([]spool.Record{rec(q, n)}, func(seqs []uint64, early bool) {
					if early { // it may be sent: it must never name another record
						say("S %s %d\n", q, seqs[0])
					}
				}, func(seqs []uint64, err error) {
					if err != nil {
						fmt.Fprintln(os.Stderr, err)
						os.Exit(3)
					}
					done <- seqs
				})
				seqs := <-done
				say("A %s %d %d\n", q, seqs[0], n)
				if i%3 == 0 {
					say("P %s %d\n", q, seqs[0]) // may be confirmed from now on
					if err := s.Confirm(q, seqs[0]); err != nil {
						fmt.Fprintln(os.Stderr, err)
						os.Exit(3)
					}
					say("C %s %d\n", q, seqs[0])
				}
			}
		})
	}
	wg.Wait()
	os.Exit(0)
}

// TestKill9: a process appending and confirming from 8 goroutines is
// killed with SIGKILL at a random moment, six times over the same file;
// after each kill the file opens, every acknowledged record is there with
// its data, and every confirmed one is gone; and no sequence given
// before a kill, staged or stored, is given again after it.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	path := filepath.Join(t.TempDir(), "spool.db")
	acked := map[string]int{} // "queue seq" -> n, acknowledged and not confirmed
	confirmed := map[string]bool{}
	var given, before uint64 // the highest sequence given so far, and before this round
	for round := range 6 {
		before = given
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path, crashOffsetEnv+"="+strconv.Itoa(round*1_000_000))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAt := 50 + rand.IntN(3000) // lines read before the kill
		sc := bufio.NewScanner(out)
		lines := 0
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) >= 3 && (f[0] == "S" || f[0] == "A") {
				seq, _ := strconv.ParseUint(f[2], 10, 64)
				if seq <= before {
					t.Fatalf("round %d: sequence %d given again (given up to %d before the kill)", round, seq, before)
				}
				given = max(given, seq)
			}
			switch {
			case len(f) == 3 && f[0] == "S":
			case len(f) == 4 && f[0] == "A":
				n, _ := strconv.Atoi(f[3])
				acked[f[1]+" "+f[2]] = n
			case len(f) == 3 && f[0] == "P":
				delete(acked, f[1]+" "+f[2]) // there or not, both are right
			case len(f) == 3 && f[0] == "C":
				delete(acked, f[1]+" "+f[2])
				confirmed[f[1]+" "+f[2]] = true
			default:
				t.Fatalf("child said %q", sc.Text())
			}
			if lines++; lines == killAt {
				cmd.Process.Kill() // SIGKILL; what is in the pipe is still read
			}
		}
		if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("round %d: the child ended with %v, want killed", round, err)
		}
		s, err := spool.Open(path, spool.Options{})
		if err != nil {
			t.Fatalf("round %d: open after kill -9: %v", round, err)
		}
		present := map[string]int{}
		qs, err := s.Queues()
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			es, err := s.Read(q, 0, 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				var n int
				fmt.Sscanf(string(e.Params), `{"n":%d}`, &n)
				present[fmt.Sprintf("%s %d", q, e.Seq)] = n
			}
		}
		for k, n := range acked {
			if got, ok := present[k]; !ok || got != n {
				t.Fatalf("round %d: acknowledged record %s (n=%d) lost after kill -9 (found %v, %v)", round, k, n, got, ok)
			}
		}
		for k := range confirmed {
			if _, ok := present[k]; ok {
				t.Fatalf("round %d: confirmed record %s back after kill -9", round, k)
			}
		}
		t.Logf("round %d: killed after %d lines; %d acknowledged pending, %d confirmed, all as they were", round, lines, len(acked), len(confirmed))
		s.Close()
	}
}
