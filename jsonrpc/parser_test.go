package jsonrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// sameParse checks that Parser.Parse gives for in what Parse gives. in must
// be valid JSON.
func sameParse(t *testing.T, p *Parser, in []byte) {
	t.Helper()
	want, werr := Parse(in)
	got, gerr := p.Parse(in)
	if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
		t.Fatalf("%q: Parser error %v, Parse error %v", in, gerr, werr)
	}
	if werr != nil {
		if errors.Is(werr, ErrInvalidMessage) != errors.Is(gerr, ErrInvalidMessage) {
			t.Errorf("%q: ErrInvalidMessage: Parser %v, Parse %v", in, gerr, werr)
		}
		var ws, gs *SyntaxError
		if errors.As(werr, &ws) != errors.As(gerr, &gs) || (ws != nil && *ws != *gs) {
			t.Errorf("%q: SyntaxError: Parser %v, Parse %v", in, gs, ws)
		}
	}
	if (want == nil) != (got == nil) {
		t.Fatalf("%q: Parser message %+v, Parse message %+v", in, got, want)
	}
	if want == nil {
		return
	}
	raws := []struct {
		name      string
		got, want json.RawMessage
	}{{"ID", got.ID, want.ID}, {"Params", got.Params, want.Params}, {"Result", got.Result, want.Result}}
	for _, r := range raws {
		if !bytes.Equal(r.got, r.want) || (r.got == nil) != (r.want == nil) {
			t.Errorf("%q: %s %q, Parse gives %q", in, r.name, r.got, r.want)
		}
	}
	if got.Method != want.Method {
		t.Errorf("%q: Method %q, Parse gives %q", in, got.Method, want.Method)
	}
	if (got.Error == nil) != (want.Error == nil) || (got.Error != nil &&
		(got.Error.Code != want.Error.Code || got.Error.Message != want.Error.Message ||
			!bytes.Equal(got.Error.Data, want.Error.Data) || (got.Error.Data == nil) != (want.Error.Data == nil))) {
		t.Errorf("%q: Error %+v, Parse gives %+v", in, got.Error, want.Error)
	}
}

// TestParserMatchesParse runs Parse's test tables through one Parser, twice
// each, so that the method reuse meets every case.
func TestParserMatchesParse(t *testing.T) {
	var ins []string
	for _, tc := range parseTests {
		ins = append(ins, tc.in)
	}
	for _, tc := range parseErrorTests {
		ins = append(ins, tc.in)
	}
	ins = append(ins,
		`{"method":"a\\b"}`, `{"method":"a\\b"}`, `{"method":"é"}`, `{"method":"\u00e9"}`,
		"{\"method\":\"\xff\"}", "{\"method\":\"\xff\"}", `{"method":"x","params":[{"}":"]"},"\\\"{"]}`,
		`{"method":"x","params":{"a":[1,2,{"b":null}]},"id":-1.5e+3}`, `{"method":"x","n":-0.5E-2,"t":true,"f":false}`,
	)
	var p Parser
	for _, in := range ins {
		if !json.Valid([]byte(in)) {
			continue // Parser requires valid JSON
		}
		t.Run(strings.ReplaceAll(in, "/", "_"), func(t *testing.T) {
			sameParse(t, &p, []byte(in))
			sameParse(t, &p, []byte(in))
		})
	}
}

func TestParserKeepsInputAndReuses(t *testing.T) {
	var p Parser
	in := []byte(`{"jsonrpc":"2.0","method":"E_X","params":{"a":1},"id":7}`)
	m, err := p.Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	if &m.Params[0] != &in[bytes.IndexByte(in[1:], '{')+1] {
		t.Errorf("Params %q is a copy, want a slice of the input", m.Params)
	}
	m2, err := p.Parse([]byte(`{"method":"E_X"}`))
	if err != nil {
		t.Fatal(err)
	}
	if m2 != m || m2.ID != nil || m2.Params != nil || m2.Method != "E_X" {
		t.Errorf("second message %+v (same Message: %v), want the Parser's Message reset", m2, m2 == m)
	}
}

func TestParserAllocs(t *testing.T) {
	var p Parser
	in := eventStream(1)
	if _, err := p.Parse(in); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := p.Parse(in); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Parser.Parse of the same event again: %v allocations, want 0", allocs)
	}
}

// FuzzParser checks that Parser.Parse gives what Parse gives on valid JSON,
// and does not panic on anything else.
func FuzzParser(f *testing.F) {
	for _, s := range seedStreams() {
		f.Add([]byte(s))
	}
	for _, tc := range parseTests {
		f.Add([]byte(tc.in))
	}
	for _, tc := range parseErrorTests {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var p Parser
		if !json.Valid(in) {
			p.Parse(in) // unspecified result; must not panic
			return
		}
		sameParse(t, &p, in)
		sameParse(t, &p, in)
	})
}

func BenchmarkParser(b *testing.B) {
	b.ReportAllocs()
	in := eventStream(1)
	b.SetBytes(int64(len(in)))
	var p Parser
	for b.Loop() {
		if _, err := p.Parse(in); err != nil {
			b.Fatal(err)
		}
	}
}
