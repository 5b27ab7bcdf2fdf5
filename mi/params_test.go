package mi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/value"
)

func TestParseExpire(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		err  string // the error's data, "" for none
	}{
		{`0`, 0, ""}, {`60`, 60, ""}, {`"60"`, 60, ""}, {`2147483647`, 2147483647, ""},
		{`-1`, 0, `"Negative expire value"`}, {`"-1"`, 0, `"Negative expire value"`},
		{`-99999999999999999999`, 0, `"Negative expire value"`},
		{`2147483648`, 0, `"Bad type for parameter 'expire'"`},
		{`1.5`, 0, `"Bad type for parameter 'expire'"`}, {`1e3`, 0, `"Bad type for parameter 'expire'"`},
		{`" 5"`, 0, `"Bad type for parameter 'expire'"`}, {`""`, 0, `"Bad type for parameter 'expire'"`},
		{`true`, 0, `"Bad type for parameter 'expire'"`}, {`null`, 0, `"Bad type for parameter 'expire'"`},
		{`[1]`, 0, `"Bad type for parameter 'expire'"`},
	}
	for _, c := range cases {
		got, err := parseExpire(json.RawMessage(c.in))
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("parseExpire(%s) = %d, %v; want %d", c.in, got, err, c.want)
		case c.err != "" && (err == nil || err.Code != jsonrpc.CodeInvalidParams || string(err.Data) != c.err):
			t.Errorf("parseExpire(%s) = %d, %v; want -32602 %s", c.in, got, err, c.err)
		}
	}
}

// TestNamedNumbers: raise_event's named numbers keep their kind (what
// OpenSIPS truncates or stringifies).
func TestNamedNumbers(t *testing.T) {
	cases := []struct {
		in   string
		want value.Value
	}{
		{"0", value.Int(0)}, {"-7", value.Int(-7)}, {"9223372036854775807", value.Int(9223372036854775807)},
		{"9223372036854775808", value.RawJSON("9223372036854775808")},
		{"1.5", value.Float(1.5)}, {"1e3", value.Float(1000)}, {"-2E-2", value.Float(-0.02)},
		{"1e400", value.RawJSON("1e400")},
	}
	for _, c := range cases {
		p, err := parseEventParams(json.RawMessage(`{"n":` + c.in + `}`))
		if err != nil || p.Len() != 1 {
			t.Errorf("parseEventParams({\"n\":%s}) = %v, %v", c.in, p.All(), err)
			continue
		}
		if got := p.At(0).Value; got != c.want {
			t.Errorf("{\"n\":%s} = %v (%v), want %v (%v)", c.in, got, got.Kind(), c.want, c.want.Kind())
		}
	}
}

// FuzzParseEventParams: no panic; accepted params are valid and encode to
// valid JSON; unnamed params are all strings.
func FuzzParseEventParams(f *testing.F) {
	for _, s := range []string{`[]`, `{}`, `[1,"x"]`, `{"a":1,"b":"x","c":1.5,"d":true,"e":null,"f":{"g":[1]}}`,
		`"{\"a\":1}"`, `"[1]"`, `5`, `null`, `[null]`, `{"":1}`, `"{\"a\":\"\xff\"}"`, `{"a":{"b":"\xff"}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !json.Valid([]byte(in)) {
			return // the MI only passes valid JSON (jsonrpc.Parse checked it)
		}
		p, err := parseEventParams(json.RawMessage(in))
		if err != nil {
			if msg := err.Error(); msg == "" || strings.HasPrefix(msg, "bad params") || len(msg) > 2*len(in)+200 {
				t.Fatalf("parseEventParams(%q): error %q: want a short reason, without a prefix", in, msg)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("parseEventParams(%q) = invalid params: %v", in, err)
		}
		if !p.IsNamed() {
			for i, prm := range p.All() {
				if prm.Value.Kind() != value.KindString {
					t.Fatalf("parseEventParams(%q): unnamed param %d is %v, want a string", in, i, prm.Value.Kind())
				}
			}
		}
		if p.Len() == 0 {
			return
		}
		enc := jsonrpc.AppendParams(nil, p, "", "E")
		if !json.Valid(enc) {
			t.Fatalf("parseEventParams(%q) encodes to invalid JSON %q", in, enc)
		}
	})
}
