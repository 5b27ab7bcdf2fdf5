package jsonrpc_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/value"
)

// checkLazy compares DecodeEventParamsLazy with DecodeEventParams on raw:
// same error, same name, same list, same encoding with and without an
// event_param on the way out. It returns whether the params were kept as
// text.
func checkLazy(t *testing.T, raw []byte, eventParam string) (asText bool) {
	t.Helper()
	wantName, want, wantErr := jsonrpc.DecodeEventParams(raw, eventParam)
	name, got, err := jsonrpc.DecodeEventParamsLazy(raw, eventParam)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("Lazy(%q, %q): error %v, DecodeEventParams: %v", raw, eventParam, err, wantErr)
	}
	if err != nil {
		return false
	}
	_, asText = got.Text()
	if name != wantName || got.IsNamed() != want.IsNamed() || got.Len() != want.Len() {
		t.Fatalf("Lazy(%q, %q) = %q named=%v len=%d; DecodeEventParams: %q named=%v len=%d",
			raw, eventParam, name, got.IsNamed(), got.Len(), wantName, want.IsNamed(), want.Len())
	}
	if !reflect.DeepEqual(got.All(), want.All()) && !(got.Len() == 0 && want.Len() == 0) {
		t.Fatalf("Lazy(%q, %q) list %v, DecodeEventParams: %v", raw, eventParam, got.All(), want.All())
	}
	for _, out := range []string{"", "opensips_event"} {
		a := jsonrpc.AppendParams(nil, got, out, "E_OUT")
		b := jsonrpc.AppendParams(nil, want, out, "E_OUT")
		if !bytes.Equal(a, b) {
			t.Fatalf("Lazy(%q, %q) encodes (event_param %q) to %s, DecodeEventParams's to %s", raw, eventParam, out, a, b)
		}
	}
	if asText {
		if text, _ := got.Text(); eventParam == "" && text != string(raw) {
			t.Fatalf("Lazy(%q) kept the text %q", raw, text)
		}
	}
	return asText
}

// TestDecodeEventParamsLazy: what OpenSIPS writes is kept as text; what
// would encode otherwise is decoded; either way the result is
// DecodeEventParams's.
func TestDecodeEventParamsLazy(t *testing.T) {
	for _, tc := range []struct {
		raw, eventParam string
		text            bool
	}{
		{`{"ip":"192.168.2.11","port":5060,"reason":"flood"}`, "", true},
		{`["a",1,null,true,false]`, "", true},
		{`{"o":{"x":[1,{"y":null}],"z":"\/"},"n":-12}`, "", true},
		{`{"s":"tab\there \"q\" \\ \u0001 é"}`, "", true},
		{"{\"s\":\"\u2028 raw\"}", "", true},
		{`{"s":"\u2028 escaped"}`, "", false},
		{`{"big":123456789012345678901234567890}`, "", true},
		{`{"a":1,"a":2}`, "", true},
		{`{"opensips_event":"E_X","ip":"1"}`, "opensips_event", true},
		{`["E_X",1]`, "opensips_event", true},
		{`["",1]`, "opensips_event", true},
		{`{"ip":"1"}`, "opensips_event", true},
		// Decoded: they would not encode to the same bytes.
		{`{"a": 1}`, "", false},
		{`{"f":1.5}`, "", false},
		{`{"z":-0}`, "", false},
		{`{"s":"\/"}`, "", false},
		{`{"s":"\u0041"}`, "", false},
		{`{"s":"\u000A"}`, "", false},
		{`{"s":"\u000a"}`, "", false},
		{"{\"s\":\"\xff\"}", "", false},
		{`{}`, "", false},
		{`[]`, "", false},
		{`{"ip":"1","opensips_event":"E_X"}`, "opensips_event", false},
		{`{"opensips_event":"E_X"}`, "opensips_event", false},
		{`{"opensips_event":"E\\X","a":1}`, "opensips_event", false},
		{`{"opensips_event":1,"a":1}`, "opensips_event", false},
		// Errors, reported by the decoding.
		{`{"":1}`, "", false},
		{`{"a":}`, "", false},
		{`{"a":1}x`, "", false},
		{`"x"`, "", false},
	} {
		if got := checkLazy(t, []byte(tc.raw), tc.eventParam); got != tc.text {
			t.Errorf("Lazy(%q, %q) kept as text: %v, want %v", tc.raw, tc.eventParam, got, tc.text)
		}
	}
}

// The OpenSIPS captures are all kept as text: a relay of what OpenSIPS
// sends neither decodes nor encodes the params.
func TestDecodeEventParamsLazyVectors(t *testing.T) {
	for _, v := range paramVectors(t) {
		if len(v.params) == 0 {
			continue
		}
		if !checkLazy(t, v.params, v.eventParam) {
			t.Errorf("%s: params %s decoded, not kept as text", v.Name, v.params)
		}
	}
}

// FuzzDecodeEventParamsLazy: on any input, the lazy decoding is the
// decoding.
func FuzzDecodeEventParamsLazy(f *testing.F) {
	for _, v := range paramVectors(f) {
		f.Add(v.params, v.eventParam)
	}
	for _, s := range []string{`{"a":1}`, `["x","y"]`, `{"a":[1,{"b":"\ud800"}]}`, `{"s":"\u001f\u0000"}`, `[-0]`, `[1e2]`, `{"o":{}}`} {
		f.Add([]byte(s), "")
		f.Add([]byte(s), "a")
	}
	f.Fuzz(func(t *testing.T, raw []byte, eventParam string) {
		checkLazy(t, raw, eventParam)
	})
}

// Params kept as text decode on demand.
func TestParamsFromTextDecode(t *testing.T) {
	_, p, err := jsonrpc.DecodeEventParamsLazy([]byte(`{"ip":"10.0.0.1","port":5060}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Text(); !ok {
		t.Fatal("not kept as text")
	}
	want := []value.Param{value.P("ip", value.String("10.0.0.1")), value.P("port", value.Int(5060))}
	if !reflect.DeepEqual(p.All(), want) || p.At(1) != want[1] || p.Len() != 2 || !p.IsNamed() || p.Validate() != nil {
		t.Errorf("params %v len %d", p.All(), p.Len())
	}
}
