package spool

import (
	"bytes"
	"testing"
	"time"
)

// FuzzDecode: a stored record that is not one is an error, never a panic;
// one that decodes encodes back to the same bytes.
func FuzzDecode(f *testing.F) {
	f.Add(encode(Entry{Record: Record{Event: "E_X", Params: []byte(`{"n":1}`), Raised: time.Unix(1, 2)}, Attempts: 3, Error: "timeout"}))
	f.Add([]byte{formatV1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decode(b)
		if err != nil {
			return
		}
		if again := encode(e); !bytes.Equal(again, b) {
			t.Fatalf("decode(%x) = %+v, which encodes to %x", b, e, again)
		}
	})
}
