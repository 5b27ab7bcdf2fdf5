package jsonrpc

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/evstream/evstream/internal/testnet"
	"github.com/evstream/evstream/value"
)

// vectorValue converts a JSON value of a vector's params (string or
// integer, the OpenSIPS kinds) to an value.Value.
func vectorValue(t *testing.T, raw json.RawMessage) value.Value {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return value.String(s)
	}
	i, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		t.Fatalf("vector value %s is neither a string nor an integer", raw)
	}
	return value.Int(i)
}

func vectorParams(t *testing.T, raw json.RawMessage) value.Params {
	t.Helper()
	if len(raw) == 0 || string(raw) == "null" {
		return value.Params{}
	}
	var p struct {
		Named   [][2]json.RawMessage `json:"named"`
		Unnamed []json.RawMessage    `json:"unnamed"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("params %s: %v", raw, err)
	}
	if p.Named != nil {
		var ps []value.Param
		for _, kv := range p.Named {
			var name string
			if err := json.Unmarshal(kv[0], &name); err != nil {
				t.Fatalf("param name %s: %v", kv[0], err)
			}
			ps = append(ps, value.P(name, vectorValue(t, kv[1])))
		}
		return value.Named(ps...)
	}
	var vs []value.Value
	for _, v := range p.Unnamed {
		vs = append(vs, vectorValue(t, v))
	}
	return value.Unnamed(vs...)
}

func TestOpenSIPSGolden(t *testing.T) {
	vectors := testnet.LoadVectors(t, "testdata/opensips-wire.jsonl")
	n := len(vectors)
	var stream []byte // every vector back to back, as on the wire
	for _, v := range vectors {
		want := v.Wire
		stream = append(stream, want...)
		t.Run(v.Name, func(t *testing.T) {
			method := v.Method
			params := AppendParams(nil, vectorParams(t, v.Params), v.EventParam, v.Event)
			var got []byte
			if bytes.HasPrefix(want, []byte(`{"id":`)) {
				var w struct{ ID int64 }
				if err := json.Unmarshal(want, &w); err != nil {
					t.Fatal(err)
				}
				got = AppendRequest(nil, w.ID, method, params)
			} else {
				got = AppendNotification(nil, method, params)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("wire mismatch\n got: %s\nwant: %s", got, want)
			}
		})
	}
	if n < 10 {
		t.Fatalf("only %d vectors read", n)
	}
	// The vectors back to back are one OpenSIPS stream: the decoder must
	// split it into the same objects.
	d := NewDecoder(bytes.NewReader(stream), 0)
	for i := 0; ; i++ {
		obj, err := d.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) || i != n {
				t.Fatalf("decoding the vectors' stream: object %d of %d: %v", i, n, err)
			}
			break
		}
		if _, err := Parse(obj); err != nil {
			t.Errorf("vector %d: Parse: %v", i, err)
		}
	}
}

type goldenCase struct {
	name       string
	event      string
	method     string // "" means the event name
	eventParam string
	params     value.Params
	id         int64 // 0: notification
	want       string
}

var bigString = strings.Repeat("abcdefghij\"\\\n\x01é", 100<<10/16)

func bigWant() string {
	return strings.Repeat(`abcdefghij\"\\\n\u0001é`, 100<<10/16)
}

var allControls = func() string {
	var b []byte
	for c := 0; c < 0x20; c++ {
		b = append(b, byte(c))
	}
	return string(b)
}()

const allControlsWant = `\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f` +
	`\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f`

var ip = value.P("ip", value.String("192.168.2.11"))

func goldenCases() []goldenCase {
	named := func(ps ...value.Param) value.Params { return value.Named(ps...) }
	s := func(v string) value.Params { return named(value.P("s", value.String(v))) }
	const pre = `{"jsonrpc":"2.0","method":"E_X","params":`
	return []goldenCase{
		// The examples of the event_stream documentation.
		{name: "spec-notification", event: "E_PIKE_BLOCKED", params: named(ip),
			want: `{"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"ip":"192.168.2.11"}}`},
		{name: "spec-request", event: "E_PIKE_BLOCKED", params: named(ip), id: 915243442,
			want: `{"id":915243442,"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"ip":"192.168.2.11"}}`},
		{name: "spec-custom-method", event: "E_PIKE_BLOCKED", method: "block_ip", params: named(ip),
			want: `{"jsonrpc":"2.0","method":"block_ip","params":{"ip":"192.168.2.11"}}`},
		{name: "spec-event-param-named", event: "E_PIKE_BLOCKED", method: "block_ip", eventParam: "opensips_event", params: named(ip),
			want: `{"jsonrpc":"2.0","method":"block_ip","params":{"opensips_event":"E_PIKE_BLOCKED","ip":"192.168.2.11"}}`},
		{name: "event-param-unnamed", event: "E_PIKE_BLOCKED", eventParam: "opensips_event",
			params: value.Unnamed(value.String("192.168.2.11"), value.Int(3)),
			want:   `{"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":["E_PIKE_BLOCKED","192.168.2.11",3]}`},
		{name: "event-param-request", event: "E_X", eventParam: "ev", params: named(value.P("a", value.Int(1))), id: 1,
			want: `{"id":1,"jsonrpc":"2.0","method":"E_X","params":{"ev":"E_X","a":1}}`},
		{name: "unnamed-array", event: "E_X", params: value.Unnamed(value.Int(3), value.Int(5)),
			want: pre + `[3,5]}`},
		{name: "unnamed-request", event: "E_X", params: value.Unnamed(value.Int(3), value.Int(5)), id: 2147483647,
			want: `{"id":2147483647,"jsonrpc":"2.0","method":"E_X","params":[3,5]}`},
		// No params.
		{name: "no-params", event: "E_X",
			want: `{"jsonrpc":"2.0","method":"E_X"}`},
		{name: "no-params-request", event: "E_X", id: 7,
			want: `{"id":7,"jsonrpc":"2.0","method":"E_X"}`},
		{name: "no-params-event-param", event: "E_X", eventParam: "opensips_event",
			want: pre + `{"opensips_event":"E_X"}}`},
		{name: "no-params-event-param-request", event: "E_X", eventParam: "opensips_event", id: 9,
			want: `{"id":9,"jsonrpc":"2.0","method":"E_X","params":{"opensips_event":"E_X"}}`},
		{name: "empty-named-event-param", event: "E_X", eventParam: "ev", params: value.Named(),
			want: pre + `{"ev":"E_X"}}`},
		{name: "empty-unnamed", event: "E_X", params: value.Unnamed(),
			want: `{"jsonrpc":"2.0","method":"E_X"}`},
		// Escaping.
		{name: "quotes-backslash", event: "E_X", params: s(`say "hi" \ bye`),
			want: pre + `{"s":"say \"hi\" \\ bye"}}`},
		{name: "newline-tab-cr", event: "E_X", params: s("a\nb\tc\rd"),
			want: pre + `{"s":"a\nb\tc\rd"}}`},
		{name: "all-control-chars", event: "E_X", params: s(allControls),
			want: pre + `{"s":"` + allControlsWant + `"}}`},
		{name: "html-and-slash-raw", event: "E_X", params: s("<a href='/x'>&amp;</a>"),
			want: pre + `{"s":"<a href='/x'>&amp;</a>"}}`},
		{name: "del-raw", event: "E_X", params: s("a\x7fb"),
			want: pre + "{\"s\":\"a\x7fb\"}}"},
		{name: "non-ascii-raw", event: "E_X", params: s("héllo € 😀 中 \uFFFD"),
			want: pre + `{"s":"héllo € 😀 中 ` + "\uFFFD" + `"}}`},
		{name: "line-separators-raw", event: "E_X", params: s("a\u2028b\u2029c"),
			want: pre + "{\"s\":\"a\u2028b\u2029c\"}}"},
		{name: "nul-escaped", event: "E_X", params: s("a\x00b\x00"),
			want: pre + `{"s":"a\u0000b\u0000"}}`},
		{name: "invalid-utf8-replaced", event: "E_X", params: s("a\xffb\xc3"),
			want: pre + "{\"s\":\"a\uFFFDb\uFFFD\"}}"},
		{name: "truncated-sequence", event: "E_X", params: s("\xe2\x82x"),
			want: pre + "{\"s\":\"\uFFFD\uFFFDx\"}}"},
		{name: "surrogate-replaced", event: "E_X", params: s("\xed\xa0\x80"),
			want: pre + "{\"s\":\"\uFFFD\uFFFD\uFFFD\"}}"},
		{name: "overlong-replaced", event: "E_X", params: s("\xc0\xaf"),
			want: pre + "{\"s\":\"\uFFFD\uFFFD\"}}"},
		{name: "escaped-key-and-method", event: "E_X", method: "m\"\n", params: named(value.P("k\"\\", value.Int(1))),
			want: `{"jsonrpc":"2.0","method":"m\"\n","params":{"k\"\\":1}}`},
		{name: "escaped-event-param-name", event: "E_X", eventParam: "e\tp", params: value.Unnamed(value.Null()),
			want: pre + `["E_X",null]}`},
		{name: "escaped-event-param-key", event: "E_X", eventParam: "e\tp", params: named(value.P("a", value.Null())),
			want: pre + `{"e\tp":"E_X","a":null}}`},
		{name: "100KB-string", event: "E_X", params: s(bigString),
			want: pre + `{"s":"` + bigWant() + `"}}`},
		{name: "empty-string", event: "E_X", params: s(""),
			want: pre + `{"s":""}}`},
		// Values of every kind.
		{name: "ints", event: "E_X", params: value.Unnamed(value.Int(0), value.Int(-1), value.Int(math.MaxInt64), value.Int(math.MinInt64)),
			want: pre + `[0,-1,9223372036854775807,-9223372036854775808]}`},
		{name: "null", event: "E_X", params: named(value.P("n", value.Null())),
			want: pre + `{"n":null}}`},
		{name: "floats", event: "E_X", params: value.Unnamed(value.Float(1.5), value.Float(-0.25), value.Float(100),
			value.Float(0), value.Float(1e21), value.Float(1e20), value.Float(1e-7), value.Float(0.000001), value.Float(123456789.125),
			value.Float(0.1), value.Float(math.MaxFloat64), value.Float(5e-324)),
			want: pre + `[1.5,-0.25,100,0,1e+21,100000000000000000000,1e-7,0.000001,123456789.125,0.1,1.7976931348623157e+308,5e-324]}`},
		{name: "float-specials-null", event: "E_X", params: value.Unnamed(value.Float(math.NaN()), value.Float(math.Inf(1)), value.Float(math.Inf(-1))),
			want: pre + `[null,null,null]}`},
		{name: "bools", event: "E_X", params: named(value.P("t", value.Bool(true)), value.P("f", value.Bool(false))),
			want: pre + `{"t":true,"f":false}}`},
		{name: "raw", event: "E_X", params: named(value.P("r", value.RawJSON(`{"a":[1,"<&>"],"b":null}`)), value.P("e", value.RawJSON(""))),
			want: pre + `{"r":{"a":[1,"<&>"],"b":null},"e":null}}`},
		{name: "mixed-kinds", event: "E_X", params: value.Unnamed(value.String("x"), value.Int(1), value.Float(2.5), value.Bool(true), value.Null(), value.RawJSON(`[]`)),
			want: pre + `["x",1,2.5,true,null,[]]}`},
	}
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = tc.event
			}
			params := AppendParams(nil, tc.params, tc.eventParam, tc.event)
			var got []byte
			if tc.id != 0 {
				got = AppendRequest(nil, tc.id, method, params)
			} else {
				got = AppendNotification(nil, method, params)
			}
			if string(got) != tc.want {
				t.Errorf("wire mismatch\n got: %.300q\nwant: %.300q", got, tc.want)
			}
			checkRoundTrip(t, got, tc.id, method, tc.params, tc.eventParam, tc.event)
		})
	}
}

// sanitize is what a JSON decoder reads back for s: every byte that is not
// part of valid UTF-8 becomes U+FFFD.
func sanitize(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		i += size
	}
	return b.String()
}

// expectedJSON is what encoding/json should read back for v.
func expectedJSON(t *testing.T, v value.Value) any {
	t.Helper()
	switch v.Kind() {
	case value.KindInt:
		return json.Number(strconv.FormatInt(v.Int(), 10))
	case value.KindString:
		return sanitize(v.Str())
	case value.KindFloat:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
		return f
	case value.KindBool:
		return v.Bool()
	case value.KindRaw:
		if v.Str() == "" {
			return nil
		}
		return decodeJSON(t, []byte(v.Str()))
	}
	return nil
}

func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decoding %.200q: %v", b, err)
	}
	return v
}

// sameJSON compares a decoded value with an expected one; floats are
// compared as numbers.
func sameJSON(got, want any) bool {
	if f, ok := want.(float64); ok {
		n, ok := got.(json.Number)
		if !ok {
			return false
		}
		g, err := n.Float64()
		return err == nil && g == f
	}
	return reflect.DeepEqual(got, want)
}

// checkRoundTrip decodes an encoded event with encoding/json and checks it
// holds exactly what was encoded.
func checkRoundTrip(t *testing.T, wire []byte, id int64, method string, p value.Params, eventParam, event string) {
	t.Helper()
	if !json.Valid(wire) {
		t.Fatalf("not valid JSON: %.300q", wire)
	}
	msg := decodeJSON(t, wire).(map[string]any)
	if msg["jsonrpc"] != "2.0" {
		t.Errorf("jsonrpc = %v", msg["jsonrpc"])
	}
	if got := msg["method"]; got != sanitize(method) {
		t.Errorf("method = %q, want %q", got, method)
	}
	if gotID, ok := msg["id"]; ok != (id != 0) || (ok && gotID != json.Number(strconv.FormatInt(id, 10))) {
		t.Errorf("id = %v (present %v), want %d", gotID, ok, id)
	}
	params, has := msg["params"]
	if !has {
		if p.Len() != 0 || eventParam != "" {
			t.Errorf("params missing")
		}
		return
	}
	if p.IsNamed() || p.Len() == 0 {
		obj, ok := params.(map[string]any)
		if !ok {
			t.Fatalf("params = %T, want an object", params)
		}
		want := p.Len()
		if eventParam != "" {
			want++
			if obj[sanitize(eventParam)] != sanitize(event) {
				t.Errorf("event param %q = %v, want %q", eventParam, obj[eventParam], event)
			}
		}
		if len(obj) != want {
			t.Errorf("params has %d members, want %d", len(obj), want)
		}
		for _, prm := range p.All() {
			if w := expectedJSON(t, prm.Value); !sameJSON(obj[sanitize(prm.Name)], w) {
				t.Errorf("param %q = %#v, want %#v", prm.Name, obj[prm.Name], w)
			}
		}
		return
	}
	arr, ok := params.([]any)
	if !ok {
		t.Fatalf("params = %T, want an array", params)
	}
	if eventParam != "" {
		if len(arr) == 0 || arr[0] != sanitize(event) {
			t.Fatalf("params %v do not start with the event name %q", arr, event)
		}
		arr = arr[1:]
	}
	if len(arr) != p.Len() {
		t.Fatalf("params has %d elements, want %d", len(arr), p.Len())
	}
	for i, prm := range p.All() {
		if w := expectedJSON(t, prm.Value); !sameJSON(arr[i], w) {
			t.Errorf("param %d = %#v, want %#v", i, arr[i], w)
		}
	}
}

// TestAppendStringEveryByte checks the escaping of each single byte.
func TestAppendStringEveryByte(t *testing.T) {
	short := map[byte]string{'\b': `\b`, '\f': `\f`, '\n': `\n`, '\r': `\r`, '\t': `\t`, '"': `\"`, '\\': `\\`}
	for c := 0; c < 256; c++ {
		var want string
		switch {
		case short[byte(c)] != "":
			want = short[byte(c)]
		case c < 0x20:
			want = `\u00` + hex.EncodeToString([]byte{byte(c)})
		case c < 0x80:
			want = string(rune(c))
		default:
			want = "\uFFFD" // a lone byte >= 0x80 is never valid UTF-8
		}
		if got := string(AppendString(nil, string([]byte{byte(c)}))); got != `"`+want+`"` {
			t.Errorf("byte 0x%02x: got %q, want %q", c, got, `"`+want+`"`)
		}
	}
}

// TestAppendStringMatchesEncodingJSON compares with encoding/json (HTML
// escaping off) on strings where the two must agree: valid UTF-8 without the
// control characters and line separators that encoding/json escapes
// differently.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("aZ09 \"\\/<>&\n\r\t\x7féü€😀中\uFFFD\U0010FFFF")
	for range 2000 {
		n := rng.IntN(40)
		rs := make([]rune, n)
		for i := range rs {
			rs[i] = alphabet[rng.IntN(len(alphabet))]
		}
		s := string(rs)
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		want := strings.TrimSuffix(buf.String(), "\n")
		if got := string(AppendString(nil, s)); got != want {
			t.Fatalf("AppendString(%q) = %s, encoding/json gives %s", s, got, want)
		}
	}
}

// TestAppendFloatMatchesEncodingJSON: floats are written as encoding/json
// writes them.
func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	fs := []float64{0, math.Copysign(0, -1), 1, -1, 1e-6, 9.99e-7, 1e21, 9.99e20, 1e-320, math.SmallestNonzeroFloat64,
		math.MaxFloat64, -math.MaxFloat64, 0.1 + 0.2, 1 << 53, 123e-10}
	for range 5000 {
		fs = append(fs, math.Float64frombits(rng.Uint64()))
		fs = append(fs, rng.NormFloat64()*math.Pow(10, float64(rng.IntN(60)-30)))
	}
	for _, f := range fs {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			if got := string(AppendValue(nil, value.Float(f))); got != "null" {
				t.Errorf("AppendValue(%v) = %s, want null", f, got)
			}
			continue
		}
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		got := AppendValue(nil, value.Float(f))
		if !bytes.Equal(got, want) {
			t.Fatalf("AppendValue(%v) = %s, encoding/json gives %s", f, got, want)
		}
		var back float64
		if err := json.Unmarshal(got, &back); err != nil || back != f {
			t.Fatalf("%s reads back as %v (%v), want %v", got, back, err, f)
		}
	}
}

func TestAppendValueKinds(t *testing.T) {
	tests := []struct {
		v    value.Value
		want string
	}{
		{value.Null(), "null"},
		{value.Value{}, "null"},
		{value.Int(-42), "-42"},
		{value.String("a\"b"), `"a\"b"`},
		{value.Float(2.5), "2.5"},
		{value.Bool(true), "true"},
		{value.Bool(false), "false"},
		{value.RawJSON(`{"x":[true]}`), `{"x":[true]}`},
		{value.RawJSON(""), "null"},
	}
	for _, tc := range tests {
		if got := string(AppendValue([]byte("prefix:"), tc.v)); got != "prefix:"+tc.want {
			t.Errorf("AppendValue(%v) = %s, want prefix:%s", tc.v, got, tc.want)
		}
	}
}

func TestAppendParamsNoParamsLeavesDst(t *testing.T) {
	dst := []byte("keep")
	if got := AppendParams(dst, value.Params{}, "", "E_X"); string(got) != "keep" {
		t.Errorf("got %q", got)
	}
	if got := AppendNotification(nil, "m", nil); string(got) != `{"jsonrpc":"2.0","method":"m"}` {
		t.Errorf("nil params: %s", got)
	}
	if got := AppendNotification(nil, "m", []byte{}); string(got) != `{"jsonrpc":"2.0","method":"m"}` {
		t.Errorf("empty params: %s", got)
	}
}

func TestAppendResultAndError(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"result", AppendResult(nil, json.RawMessage(`1`), json.RawMessage(`"OK"`)), `{"jsonrpc":"2.0","result":"OK","id":1}`},
		{"result-number", AppendResult(nil, json.RawMessage(`915243442`), json.RawMessage(`8`)), `{"jsonrpc":"2.0","result":8,"id":915243442}`},
		{"result-nil", AppendResult(nil, json.RawMessage(`"a"`), nil), `{"jsonrpc":"2.0","result":null,"id":"a"}`},
		{"result-nil-id", AppendResult(nil, nil, json.RawMessage(`{}`)), `{"jsonrpc":"2.0","result":{},"id":null}`},
		{"error", AppendError(nil, json.RawMessage(`1`), &Error{Code: 400, Message: "Bad parameter value"}),
			`{"jsonrpc":"2.0","error":{"code":400,"message":"Bad parameter value"},"id":1}`},
		{"error-data", AppendError(nil, json.RawMessage(`1`), &Error{Code: CodeInvalidParams, Message: "Invalid params", Data: json.RawMessage(`"Negative expire value"`)}),
			`{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"Negative expire value"},"id":1}`},
		{"error-nil-id", AppendError(nil, nil, &Error{Code: CodeParseError, Message: "Parse \"error\""}),
			`{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse \"error\""},"id":null}`},
		{"error-nil", AppendError(nil, json.RawMessage(`2`), nil),
			`{"jsonrpc":"2.0","error":{"code":-32603,"message":"Internal error"},"id":2}`},
	}
	for _, tc := range tests {
		if string(tc.got) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, tc.got, tc.want)
		}
		if !json.Valid(tc.got) {
			t.Errorf("%s: not valid JSON", tc.name)
		}
		if _, err := Parse(tc.got); err != nil {
			t.Errorf("%s: Parse: %v", tc.name, err)
		}
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Code: -32602, Message: "Invalid params"}
	if got := e.Error(); got != "jsonrpc error -32602: Invalid params" {
		t.Errorf("got %q", got)
	}
	e.Data = json.RawMessage(`"Negative expire value"`)
	if got := e.Error(); got != `jsonrpc error -32602: Invalid params (data: "Negative expire value")` {
		t.Errorf("got %q", got)
	}
}

func TestFraming(t *testing.T) {
	tests := []struct {
		f     Framing
		name  string
		delim string
	}{
		{FramingNone, "none", ""},
		{FramingNewline, "newline", "\n"},
	}
	for _, tc := range tests {
		if got := tc.f.String(); got != tc.name {
			t.Errorf("String() = %q, want %q", got, tc.name)
		}
		if got := string(tc.f.Append([]byte("{}"))); got != "{}"+tc.delim {
			t.Errorf("%s: Append = %q", tc.name, got)
		}
		f, err := ParseFraming(tc.name)
		if err != nil || f != tc.f {
			t.Errorf("ParseFraming(%q) = %v, %v", tc.name, f, err)
		}
		text, err := tc.f.MarshalText()
		if err != nil || string(text) != tc.name {
			t.Errorf("MarshalText = %q, %v", text, err)
		}
		var u Framing = 7
		if err := u.UnmarshalText([]byte(tc.name)); err != nil || u != tc.f {
			t.Errorf("UnmarshalText(%q) = %v, %v", tc.name, u, err)
		}
	}
	for _, bad := range []string{"", "NONE", "lf", "newline "} {
		_, err := ParseFraming(bad)
		if err == nil || !strings.Contains(err.Error(), strconv.Quote(bad)) {
			t.Errorf("ParseFraming(%q): error %v does not name the value", bad, err)
		}
		f := FramingNewline
		if err := f.UnmarshalText([]byte(bad)); err == nil || f != FramingNewline {
			t.Errorf("UnmarshalText(%q) = %v, changed to %v", bad, err, f)
		}
	}
	if got := Framing(9).String(); got != "Framing(9)" {
		t.Errorf("unknown framing String() = %q", got)
	}
	if _, err := Framing(9).MarshalText(); err == nil {
		t.Error("MarshalText of an unknown framing succeeded")
	}
	// Through JSON (YAML decoders use the same TextUnmarshaler).
	var cfg struct{ Framing Framing }
	if err := json.Unmarshal([]byte(`{"Framing":"newline"}`), &cfg); err != nil || cfg.Framing != FramingNewline {
		t.Errorf("json config: %v, %v", cfg.Framing, err)
	}
	if err := json.Unmarshal([]byte(`{"Framing":"crlf"}`), &cfg); err == nil {
		t.Error("json config accepted framing crlf")
	}
}
