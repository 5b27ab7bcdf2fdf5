package jsonrpc

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/evstream/evstream/value"
)

// A typical event: two named params.
var benchParams = value.Named(
	value.P("ip", value.String("192.168.2.11")),
	value.P("port", value.Int(5060)),
)

func BenchmarkEncodeEvent(b *testing.B) {
	b.Run("reused", func(b *testing.B) {
		b.ReportAllocs()
		var params, msg []byte
		for i := 0; b.Loop(); i++ {
			params = AppendParams(params[:0], benchParams, "", "E_PIKE_BLOCKED")
			msg = AppendRequest(msg[:0], int64(i), "E_PIKE_BLOCKED", params)
		}
		b.SetBytes(int64(len(msg)))
	})
	b.Run("fresh", func(b *testing.B) {
		// One buffer per event: the params are encoded at its start and the
		// message right after them.
		b.ReportAllocs()
		var msg []byte
		for i := 0; b.Loop(); i++ {
			buf := make([]byte, 0, 256)
			params := AppendParams(buf, benchParams, "", "E_PIKE_BLOCKED")
			msg = AppendRequest(params[len(params):], int64(i), "E_PIKE_BLOCKED", params)
		}
		b.SetBytes(int64(len(msg)))
	})
	b.Run("nil", func(b *testing.B) {
		// Appending to nil buffers: what careless use costs.
		b.ReportAllocs()
		var msg []byte
		for i := 0; b.Loop(); i++ {
			params := AppendParams(nil, benchParams, "", "E_PIKE_BLOCKED")
			msg = AppendRequest(nil, int64(i), "E_PIKE_BLOCKED", params)
		}
		b.SetBytes(int64(len(msg)))
	})
	b.Run("splice-notification", func(b *testing.B) {
		// Params encoded once, only the envelope per subscriber.
		b.ReportAllocs()
		params := AppendParams(nil, benchParams, "opensips_event", "E_PIKE_BLOCKED")
		var msg []byte
		for b.Loop() {
			msg = AppendNotification(msg[:0], "block_ip", params)
		}
		b.SetBytes(int64(len(msg)))
	})
}

func BenchmarkAppendString(b *testing.B) {
	for _, tc := range []struct{ name, s string }{
		{"ascii-64", strings.Repeat("abcdefgh", 8)},
		{"utf8-64", strings.Repeat("héllo€", 8)},
		{"escapes-64", strings.Repeat("a\"b\\c\nd", 9)},
		{"ascii-4k", strings.Repeat("abcdefgh", 512)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.s)))
			var buf []byte
			for b.Loop() {
				buf = AppendString(buf[:0], tc.s)
			}
		})
	}
}

// eventStream returns about size bytes of back-to-back typical events.
func eventStream(size int) []byte {
	var stream []byte
	params := AppendParams(nil, benchParams, "", "E_PIKE_BLOCKED")
	for i := int64(0); len(stream) < size; i++ {
		stream = AppendRequest(stream, 915243442+i, "E_PIKE_BLOCKED", params)
	}
	return stream
}

func BenchmarkDecoder(b *testing.B) {
	big := AppendNotification(nil, "E_BIG", AppendParams(nil, value.Named(
		value.P("s", value.String(strings.Repeat("some text with \"quotes\" and {braces} ", 3000))),
		value.P("n", value.RawJSON(`[1,2,3,{"a":[true,false,null]}]`)),
	), "", ""))
	streams := []struct {
		name string
		data []byte
	}{
		{"events", eventStream(1 << 20)},
		{"events-newline", bytes.ReplaceAll(eventStream(1<<20), []byte("}{"), []byte("}\n{"))},
		{"replies", bytes.Repeat([]byte(`{"jsonrpc":"2.0","result":8,"id":915243442}`), 1<<20/43)},
		{"100KB-objects", bytes.Repeat(big, 10)},
	}
	for _, s := range streams {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(s.data)))
			r := bytes.NewReader(s.data)
			for b.Loop() {
				r.Reset(s.data)
				d := NewDecoder(r, 0)
				for {
					if _, err := d.Next(); err != nil {
						if err != io.EOF {
							b.Fatal(err)
						}
						break
					}
				}
			}
		})
	}
}

func BenchmarkParseResponse(b *testing.B) {
	for _, tc := range []struct{ name, in string }{
		{"success", `{"jsonrpc":"2.0","result":8,"id":915243442}`},
		{"success-id-first-spaces", `{ "id": 915243442, "jsonrpc": "2.0", "result": {"ok": true, "note": "a \"quoted\" value"} }`},
		{"error", `{"jsonrpc":"2.0","error":{"code":-32000,"message":"db down"},"id":915243442}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			in := []byte(tc.in)
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if r, err := ParseResponse(in); err != nil || !r.HasID {
					b.Fatal(r, err)
				}
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	in := eventStream(1)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := Parse(in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeParams measures the JSON to value.Params conversion of a
// typical event's params.
func BenchmarkDecodeParams(b *testing.B) {
	raw := []byte(`{"ip":"192.168.2.11","port":5060,"reason":"flood"}`)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeParams(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeEventParamsLazy: the relay's params, kept as text.
func BenchmarkDecodeEventParamsLazy(b *testing.B) {
	for _, raw := range []string{`{"s":123456,"t":1764633600123456789}`, `{"ip":"192.168.2.11","port":5060,"reason":"flood"}`} {
		in := []byte(raw)
		b.Run(strconv.Itoa(len(raw)), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, _, err := DecodeEventParamsLazy(in, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
