package loadgen

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"

	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/value"
)

func TestScanEvent(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		id      string
		seq, ts int64
		stamped bool
		n       int // bytes used; 0 means len(in)
	}{
		{name: "notification", in: `{"jsonrpc":"2.0","method":"E_BENCH","params":{"s":7,"t":1700000000000000000}}`, seq: 7, ts: 1700000000000000000, stamped: true},
		{name: "request", in: `{"id":42,"jsonrpc":"2.0","method":"E","params":{"s":0,"t":5}}`, id: "42", seq: 0, ts: 5, stamped: true},
		{name: "event_param first", in: `{"jsonrpc":"2.0","method":"E","params":{"ev":"E","s":3,"t":9}}`, seq: 3, ts: 9, stamped: true},
		{name: "spaces", in: " \n{ \"params\" : { \"t\" : 2 , \"s\" : 1 } , \"id\" : \"x\" }", id: `"x"`, seq: 1, ts: 2, stamped: true},
		{name: "nested and escaped values", in: `{"method":"E","params":{"a":{"b":[1,{"c":"}\"]"}]},"s":-4,"x":"\\","t":8}}`, seq: -4, ts: 8, stamped: true},
		{name: "no params", in: `{"jsonrpc":"2.0","method":"E"}`},
		{name: "array params", in: `{"jsonrpc":"2.0","method":"E","params":["1","2"]}`},
		{name: "string stamps are not stamps", in: `{"params":{"s":"1","t":"2"}}`},
		{name: "float stamp", in: `{"params":{"s":1.5,"t":2}}`},
		{name: "overflowing stamp", in: `{"params":{"s":99999999999999999999,"t":2}}`},
		{name: "two objects back to back", in: `{"params":{"s":1,"t":2}}{"params":{"s":3,"t":4}}`, seq: 1, ts: 2, stamped: true, n: 24},
		{name: "newline framing", in: `{"params":{"s":1,"t":2}}` + "\n", seq: 1, ts: 2, stamped: true, n: 24},
		{name: "empty object", in: `{}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, n, err := scanEvent([]byte(tc.in))
			if err != nil {
				t.Fatalf("scanEvent(%q): %v", tc.in, err)
			}
			want := tc.n
			if want == 0 {
				want = len(tc.in)
			}
			if n != want {
				t.Errorf("used %d bytes, want %d", n, want)
			}
			if string(ev.id) != tc.id {
				t.Errorf("id %q, want %q", ev.id, tc.id)
			}
			stamped := ev.hasSeq && ev.hasT
			if stamped != tc.stamped || stamped && (ev.seq != tc.seq || ev.t != tc.ts) {
				t.Errorf("stamp %v s=%d t=%d, want %v s=%d t=%d", stamped, ev.seq, ev.t, tc.stamped, tc.seq, tc.ts)
			}
			// Every proper prefix is incomplete, never an error.
			for i := range want {
				if _, _, err := scanEvent([]byte(tc.in[:i])); err != errShort {
					t.Fatalf("prefix %q: err %v, want errShort", tc.in[:i], err)
				}
			}
		})
	}
}

func TestScanEventGarbage(t *testing.T) {
	for _, in := range []string{
		`[1,2]`,
		`"str"`,
		`x{}`,
		`{"a" 1}`,
		`{"a":1 "b":2}`,
		`{a:1}`,
		`{"a":}`,
		`{"a":1]`,
		`{"a":[1}`,
		`{"a":{"b":1]}`,
		`{"a":1x"}`,
	} {
		if _, _, err := scanEvent([]byte(in)); !errors.Is(err, ErrBadStream) {
			t.Errorf("scanEvent(%q): err %v, want ErrBadStream", in, err)
		}
	}
}

// TestScanEventReadsEncoderOutput checks the scanner against what the
// sender really writes: jsonrpc's encoder, both modes, event_param on.
func TestScanEventReadsEncoderOutput(t *testing.T) {
	params := jsonrpc.AppendParams(nil, value.Named(
		value.P("s", value.Int(12)), value.P("t", value.Int(34)), value.P("ip", value.String("a\"}\\"))),
		"opensips_event", "E_X")
	for _, msg := range [][]byte{
		jsonrpc.AppendNotification(nil, "E_X", params),
		jsonrpc.AppendRequest(nil, 915243442, "E_X", params),
	} {
		ev, n, err := scanEvent(msg)
		if err != nil || n != len(msg) || ev.seq != 12 || ev.t != 34 || !ev.hasSeq || !ev.hasT {
			t.Errorf("scanEvent(%s) = %+v, %d, %v", msg, ev, n, err)
		}
	}
}

func FuzzScanEvent(f *testing.F) {
	f.Add([]byte(`{"id":1,"jsonrpc":"2.0","method":"E","params":{"s":1,"t":2}}`))
	f.Add([]byte(`{"params":{"a":[{"b":"}"}],"s":-1,"t":0}}{}`))
	f.Add([]byte(`{"a":"\"\\"}`))
	f.Add([]byte(`{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`))
	f.Add([]byte(`{"params":{"s":1,"t":2}`))
	f.Add([]byte(`{"jsonrpc":"2.0","method":"E","params":{"s":1,"t":2}}`))
	f.Add([]byte(`{"id":7,"jsonrpc":"2.0","method":"E","params":{"s":-1,"t":2}}{`))
	fs := newFastScanner("E")
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, n, err := scanEvent(b)
		// The fast path agrees with the general scanner whenever it
		// accepts an object.
		if fev, fn, ok := fs.fast(b); ok {
			if err != nil || fn != n || string(fev.id) != string(ev.id) || fev.seq != ev.seq || fev.t != ev.t || !ev.hasSeq || !ev.hasT {
				t.Fatalf("fast path %+v, %d; general %+v, %d, %v", fev, fn, ev, n, err)
			}
		}
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with n = %d", err, n)
			}
			if err != errShort && !errors.Is(err, ErrBadStream) {
				t.Fatalf("unexpected error kind %v", err)
			}
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("n = %d out of range (len %d)", n, len(b))
		}
		// What it accepts as one object, when valid JSON, is an object
		// whose stamps are the integers encoding/json finds.
		obj := b[:n]
		var m struct {
			ID     json.RawMessage `json:"id"`
			Params map[string]json.RawMessage
		}
		if json.Unmarshal(obj, &m) != nil || !json.Valid(obj) {
			return
		}
		if ev.hasSeq {
			if v, err := strconv.ParseInt(string(m.Params["s"]), 10, 64); err == nil && v != ev.seq {
				t.Fatalf("seq %d, encoding/json says %d", ev.seq, v)
			}
		}
	})
}

func TestFastScanner(t *testing.T) {
	fs := newFastScanner("E_BENCH")
	tests := []struct {
		in   string
		fast bool
	}{
		{`{"jsonrpc":"2.0","method":"E_BENCH","params":{"s":1,"t":1700000000000000000}}`, true},
		{`{"id":915243442,"jsonrpc":"2.0","method":"E_BENCH","params":{"s":0,"t":5}}`, true},
		{`{"id":1,"jsonrpc":"2.0","method":"E_BENCH","params":{"s":0,"t":5}}{"jsonrpc"`, true},
		{`{"jsonrpc":"2.0","method":"OTHER","params":{"s":1,"t":2}}`, false},
		{`{"jsonrpc":"2.0","method":"E_BENCH","params":{"s":1,"t":2,"x":3}}`, false},
		{`{"jsonrpc":"2.0","method":"E_BENCH","params":{"s":1-2,"t":2}}`, false},
		{`{"id":"a","jsonrpc":"2.0","method":"E_BENCH","params":{"s":1,"t":2}}`, false},
		{`{"jsonrpc":"2.0","method":"E_BENCH","params":{"s":1,"t":2}`, false},
		{`{"jsonrpc":"2.0","method":"E_BENCH","params":{"s":1,"t":2`, false},
		{` {"jsonrpc":"2.0","method":"E_BENCH","params":{"s":1,"t":2}}`, false},
	}
	for _, tc := range tests {
		fev, fn, ok := fs.fast([]byte(tc.in))
		if ok != tc.fast {
			t.Errorf("fast(%q) ok = %v, want %v", tc.in, ok, tc.fast)
		}
		ev, n, err := fs.scan([]byte(tc.in))
		gev, gn, gerr := scanEvent([]byte(tc.in))
		if n != gn || (err == nil) != (gerr == nil) || ev.seq != gev.seq || ev.t != gev.t || string(ev.id) != string(gev.id) {
			t.Errorf("scan(%q) = %+v %d %v; scanEvent = %+v %d %v", tc.in, ev, n, err, gev, gn, gerr)
		}
		if ok && (fn != n || fev.seq != ev.seq) {
			t.Errorf("fast(%q) = %+v %d, want %+v %d", tc.in, fev, fn, ev, n)
		}
	}
	if _, _, ok := newFastScanner("").fast([]byte(tests[0].in)); ok {
		t.Error("a scanner without a method took the fast path")
	}
	if got := string(jsonString(`a"b\c`)); got != `"a\"b\\c"` {
		t.Errorf("jsonString = %s", got)
	}
}

func BenchmarkScanEvent(b *testing.B) {
	msg := []byte(`{"id":915243442,"jsonrpc":"2.0","method":"E_BENCH","params":{"s":123456,"t":1700000000123456789}}`)
	b.Run("general", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := scanEvent(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fast", func(b *testing.B) {
		fs := newFastScanner("E_BENCH")
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := fs.scan(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
