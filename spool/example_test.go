package spool_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/evstream/evstream/spool"
)

// A subscriber's events are appended (durable when Append returns), read
// for delivery, and confirmed once the subscriber replied.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "spool")
	defer os.RemoveAll(dir)
	s, err := spool.Open(filepath.Join(dir, "spool.db"), spool.Options{MaxBytes: 1 << 30})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	q := "E_PIKE_BLOCKED tcp:127.0.0.1:8080"
	seqs, _ := s.Append(
		spool.Record{Queue: q, Event: "E_PIKE_BLOCKED", Params: []byte(`{"ip":"192.168.2.11"}`), Raised: time.Now()},
		spool.Record{Queue: q, Event: "E_PIKE_BLOCKED", Params: []byte(`{"ip":"192.168.2.12"}`), Raised: time.Now()},
	)
	pending, _ := s.Read(q, 0, 10)
	for _, e := range pending {
		fmt.Println(e.Seq, string(e.Params))
	}
	s.Confirm(q, seqs[0])
	fmt.Println(s.Stats().Pending, "pending")
	// Output:
	// 1 {"ip":"192.168.2.11"}
	// 2 {"ip":"192.168.2.12"}
	// 1 pending
}
