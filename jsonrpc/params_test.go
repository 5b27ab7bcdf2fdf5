package jsonrpc_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/evstream/evstream/internal/testnet"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/value"
)

func TestDecodeParams(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want value.Params
	}{
		{"absent", ``, value.Params{}},
		{"whitespace only", " \n", value.Params{}},
		{"empty object", `{}`, value.Params{}},
		{"empty array", ` [ ] `, value.Params{}},
		{"named string", `{"ip":"192.168.2.11"}`, value.Named(value.P("ip", value.String("192.168.2.11")))},
		{"named keeps order", `{"port":5060,"ip":"x","a":null}`,
			value.Named(value.P("port", value.Int(5060)), value.P("ip", value.String("x")), value.P("a", value.Null()))},
		{"duplicate keys kept", `{"a":1,"a":2}`, value.Named(value.P("a", value.Int(1)), value.P("a", value.Int(2)))},
		{"unnamed mixed", `["five",3]`, value.Unnamed(value.String("five"), value.Int(3))},
		{"spaces", " { \"a\" :\t1 ,\n\"b\": [ 1 , {\"c\" : 2} ] } ",
			value.Named(value.P("a", value.Int(1)), value.P("b", value.RawJSON(`[1,{"c":2}]`)))},
		{"ints", `[0,-7,9223372036854775807,-9223372036854775808]`,
			value.Unnamed(value.Int(0), value.Int(-7), value.Int(9223372036854775807), value.Int(-9223372036854775808))},
		{"ints beyond int64", `[9223372036854775808,-9223372036854775809,123456789012345678901234567890]`,
			value.Unnamed(value.RawJSON("9223372036854775808"), value.RawJSON("-9223372036854775809"), value.RawJSON("123456789012345678901234567890"))},
		{"floats", `[1.5,-0.25,1e3,2E-2,1.0]`,
			value.Unnamed(value.Float(1.5), value.Float(-0.25), value.Float(1000), value.Float(0.02), value.Float(1))},
		{"float beyond float64", `[1e400]`, value.Unnamed(value.RawJSON("1e400"))},
		{"bools", `[true,false]`, value.Unnamed(value.Bool(true), value.Bool(false))},
		{"nested compacted", `{"o":{ "x" : [ ] , "s":"a b" },"e":{}}`,
			value.Named(value.P("o", value.RawJSON(`{"x":[],"s":"a b"}`)), value.P("e", value.RawJSON(`{}`)))},
		{"escapes", `{"esc":"q\"b\\n\nt\tr\r","u":"\u00e9\ud83d\ude00\/"}`,
			value.Named(value.P("esc", value.String("q\"b\\n\nt\tr\r")), value.P("u", value.String("é😀/")))},
		{"nested empty name is fine", `[{"":1}]`, value.Unnamed(value.RawJSON(`{"":1}`))},
		{"escaped key", `{"a\u0062":1}`, value.Named(value.P("ab", value.Int(1)))},
		{"lone surrogate", `["\ud800"]`, value.Unnamed(value.String("\uFFFD"))},
		{"invalid utf-8", "[\"a\xffb\"]", value.Unnamed(value.String("a\uFFFDb"))},
		{"raw utf-8", `["héllo € 😀 中"]`, value.Unnamed(value.String("héllo € 😀 中"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := jsonrpc.DecodeParams([]byte(tc.in))
			if err != nil {
				t.Fatalf("DecodeParams(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DecodeParams(%q)\n got %v\nwant %v", tc.in, got.All(), tc.want.All())
			}
		})
	}
}

func TestDecodeParamsErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`"x"`, "must be a JSON object or array"},
		{`12`, "must be a JSON object or array"},
		{`null`, "must be a JSON object or array"},
		{`{`, "offset 1: unexpected end of params looking for an object key"},
		{`{"a"}`, `offset 4: unexpected '}' after an object key`},
		{`{"a":}`, `offset 5: unexpected '}' looking for a value`},
		{`{"a":1,}`, `offset 7: unexpected '}' looking for an object key`},
		{`[1 2]`, `offset 3: unexpected '2' after an array element`},
		{`[01]`, `offset 2: unexpected '1' after an array element`},
		{`[1.]`, `offset 3: unexpected ']' after the decimal point`},
		{`[1e]`, `offset 3: unexpected ']' in the exponent`},
		{`[-]`, `offset 2: unexpected ']' in a number`},
		{`[tru]`, `in the literal true`},
		{`["a\x"]`, `offset 4: unexpected 'x' in a string escape`},
		{`["\u12"]`, `in a \u escape`},
		{"[\"a\nb\"]", "control characters must be escaped"},
		{`["abc`, "unexpected end of params in a string"},
		{`[{"a":[}]]`, `offset 7: unexpected '}' looking for a value`},
		{`[{"a" 1}]`, `after an object key`},
		{`[{1:1}]`, `looking for an object key`},
		{`{"a":1,"":2}`, `offset 7: a member has an empty name`},
		{`[] x`, `offset 3: unexpected 'x' after the params`},
		{`[[1,]]`, `looking for a value`},
		{strings.Repeat("[", 10002) + strings.Repeat("]", 10002), "nested deeper than 10000"},
	} {
		_, err := jsonrpc.DecodeParams([]byte(tc.in))
		if err == nil || !errors.Is(err, jsonrpc.ErrBadParams) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("DecodeParams(%.40q) = %v, want ErrBadParams with %q", tc.in, err, tc.want)
		}
	}
}

func TestDecodeEventParams(t *testing.T) {
	for _, tc := range []struct {
		name, in, eventParam string
		wantName             string
		want                 value.Params
	}{
		{"object, first", `{"opensips_event":"E_X","ip":"1"}`, "opensips_event", "E_X", value.Named(value.P("ip", value.String("1")))},
		{"object, not first", `{"ip":"1","opensips_event":"E_X"}`, "opensips_event", "E_X", value.Named(value.P("ip", value.String("1")))},
		{"object, only member", `{"opensips_event":"E_X"}`, "opensips_event", "E_X", value.Params{}},
		{"object, twice: the first counts", `{"ev":"A","ev":"B"}`, "ev", "A", value.Named(value.P("ev", value.String("B")))},
		{"object, not a string", `{"ev":1,"ip":"1"}`, "ev", "", value.Named(value.P("ev", value.Int(1)), value.P("ip", value.String("1")))},
		{"object, absent", `{"ip":"1"}`, "ev", "", value.Named(value.P("ip", value.String("1")))},
		{"object, setting off", `{"ev":"E_X"}`, "", "", value.Named(value.P("ev", value.String("E_X")))},
		{"array", `["E_SCRIPT","five",3]`, "opensips_event", "E_SCRIPT", value.Unnamed(value.String("five"), value.Int(3))},
		{"array, only element", `["E_SCRIPT"]`, "opensips_event", "E_SCRIPT", value.Params{}},
		{"array, first not a string", `[3,"E_SCRIPT"]`, "opensips_event", "", value.Unnamed(value.Int(3), value.String("E_SCRIPT"))},
		{"array, setting off", `["E_SCRIPT"]`, "", "", value.Unnamed(value.String("E_SCRIPT"))},
		{"absent", ``, "opensips_event", "", value.Params{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, got, err := jsonrpc.DecodeEventParams([]byte(tc.in), tc.eventParam)
			if err != nil {
				t.Fatal(err)
			}
			if name != tc.wantName || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q %v, want %q %v", name, got.All(), tc.wantName, tc.want.All())
			}
		})
	}
}

// Every OpenSIPS vector's params decode and encode back to the same bytes,
// event_param included.
func TestDecodeParamsRoundTripsVectors(t *testing.T) {
	for _, v := range paramVectors(t) {
		raw, ep := v.params, v.eventParam
		name, p, err := jsonrpc.DecodeEventParams(raw, ep)
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		if ep != "" && name != v.Event {
			t.Errorf("%s: event name %q, want %q", v.Name, name, v.Event)
		}
		if got := jsonrpc.AppendParams(nil, p, ep, v.Event); !bytes.Equal(got, raw) {
			t.Errorf("%s: round trip\n got %s\nwant %s", v.Name, got, raw)
		}
	}
}

// paramVector is what the params round trip needs of one line of
// testdata/opensips-wire.jsonl: the params OpenSIPS wrote, raw.
type paramVector struct {
	Name, Event string
	eventParam  string
	params      []byte
}

func paramVectors(t testing.TB) []paramVector {
	t.Helper()
	var out []paramVector
	for _, v := range testnet.LoadVectors(t, "testdata/opensips-wire.jsonl") {
		m, err := jsonrpc.Parse(v.Wire)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		out = append(out, paramVector{Name: v.Name, Event: v.Event, eventParam: v.EventParam, params: m.Params})
	}
	return out
}

// FuzzParams checks that DecodeParams never panics, accepts exactly the
// JSON objects and arrays (and nothing), and that what it returns encodes
// back with jsonrpc.AppendParams to equivalent JSON; and that
// DecodeEventParams takes out exactly the event name member or element.
func FuzzParams(f *testing.F) {
	for _, v := range paramVectors(f) {
		f.Add(v.params, v.eventParam)
	}
	for _, s := range []string{
		``, `{}`, `[]`, `{"a":1,"a":2}`, `[1.5,1e400,-0,-0.0,9223372036854775808]`,
		`{"o":{"x":[1,{"y":null}]},"t":true}`, `["\ud800\udc00","\u0000",""]`,
		"[\"\xff\"]", "{\"a\":[\"\xff\"]}", `{"a" : [ 1 , 2 ] }`, `[01]`, `{"a":}`, `"x"`, `[[[[]]]]`,
	} {
		f.Add([]byte(s), "")
	}
	f.Add([]byte(`{"opensips_event":"E_X","ip":"1"}`), "opensips_event")
	f.Add([]byte(`{"ev":1,"ev":"","ev":"A","ev":"B"}`), "ev")
	f.Add([]byte(`["E_X",1]`), "opensips_event")

	f.Fuzz(func(t *testing.T, raw []byte, eventParam string) {
		q, err := jsonrpc.DecodeParams(raw)
		trimmed := bytes.TrimLeft(raw, " \t\r\n")
		valid := len(trimmed) == 0 || (json.Valid(raw) && (trimmed[0] == '{' || trimmed[0] == '['))
		if valid && len(trimmed) > 0 && trimmed[0] == '{' {
			var m map[string]json.RawMessage
			json.Unmarshal(raw, &m)
			_, emptyName := m[""]
			valid = !emptyName
		}
		if (err == nil) != valid {
			t.Fatalf("DecodeParams(%q): err %v, but valid=%v", raw, err, valid)
		}
		if err != nil {
			return
		}
		if verr := q.Validate(); verr != nil {
			t.Fatalf("DecodeParams(%q) built invalid params: %v", raw, verr)
		}
		enc := jsonrpc.AppendParams(nil, q, "", "")
		if len(enc) > 0 && !json.Valid(enc) {
			t.Fatalf("DecodeParams(%q) encodes to invalid JSON %q", raw, enc)
		}
		if !reflect.DeepEqual(decodeAny(t, raw), decodeAny(t, enc)) {
			t.Fatalf("round trip of %q gives %q", raw, enc)
		}

		name, p, err := jsonrpc.DecodeEventParams(raw, eventParam)
		if err != nil {
			t.Fatalf("DecodeEventParams(%q, %q): %v, but DecodeParams accepted it", raw, eventParam, err)
		}
		if want := withoutEventName(q, eventParam); name != want.name || !reflect.DeepEqual(p, want.p) {
			t.Fatalf("DecodeEventParams(%q, %q) = %q %v, want %q %v", raw, eventParam, name, p.All(), want.name, want.p.All())
		}
	})
}

type split struct {
	name string
	p    value.Params
}

// withoutEventName is DecodeEventParams's job done on decoded params.
func withoutEventName(q value.Params, eventParam string) split {
	all := q.All()
	if eventParam == "" {
		return split{p: q}
	}
	isName := func(prm value.Param) bool {
		return prm.Value.Kind() == value.KindString && prm.Value.Str() != ""
	}
	if q.IsNamed() {
		for i, prm := range all {
			if prm.Name == eventParam && isName(prm) {
				rest := append(append([]value.Param(nil), all[:i]...), all[i+1:]...)
				if len(rest) == 0 {
					return split{name: prm.Value.Str()}
				}
				return split{prm.Value.Str(), value.Named(rest...)}
			}
		}
		return split{p: q}
	}
	if len(all) > 0 && isName(all[0]) {
		var vs []value.Value
		for _, prm := range all[1:] {
			vs = append(vs, prm.Value)
		}
		if len(vs) == 0 {
			return split{name: all[0].Value.Str()}
		}
		return split{all[0].Value.Str(), value.Unnamed(vs...)}
	}
	return split{p: q}
}

// decodeAny decodes a JSON text to compare it as a value: numbers as the
// float64 they round to, or as written when out of float64's range; empty
// containers and no params are all nil.
func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	v = normalizeNumbers(v)
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			return nil
		}
	case []any:
		if len(x) == 0 {
			return nil
		}
	}
	return v
}

func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if f, err := strconv.ParseFloat(string(x), 64); err == nil {
			return f
		}
		return string(x)
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeNumbers(e)
		}
	}
	return v
}
