package jsonrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// seedStreams are inputs for the decoder and parser fuzzers.
func seedStreams() []string {
	seeds := []string{
		`{"jsonrpc":"2.0","method":"E_SCRIPT","params":{"ip":"192.168.2.11"}}`,
		`{"id":915243442,"jsonrpc":"2.0","method":"E_SCRIPT","params":["a",1]}`,
		`{"jsonrpc":"2.0","result":8,"id":915243442}`,
		`{"jsonrpc":"2.0","error":{"code":-32000,"message":"x","data":[1,{"a":"\"}"}]},"id":1}`,
		`{"id":null,"result":{}}{"id":"s","error":"x"}`,
		"{\"\\u0069d\":1}\n\n{\"a\":[1.5e3,-0,true,false,null]}",
		"{\"s\":\"é\u2028\\ud83d\\ude00\"}",
	}
	for _, tc := range decoderCases() {
		seeds = append(seeds, tc.in)
	}
	return seeds
}

// validObjectStream reports whether encoding/json reads b as a sequence of
// JSON objects (whitespace between them allowed), none larger than max.
func validObjectStream(b []byte, max int) bool {
	d := json.NewDecoder(bytes.NewReader(b))
	for {
		var raw json.RawMessage
		err := d.Decode(&raw)
		if err == io.EOF {
			return true
		}
		if err != nil || raw[0] != '{' || len(raw) > max {
			return false
		}
	}
}

func FuzzDecoder(f *testing.F) {
	for _, s := range seedStreams() {
		f.Add([]byte(s), uint8(1), uint16(0))
		f.Add([]byte(s), uint8(5), uint16(16))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8, limit uint16) {
		max := int(limit)
		if max == 0 {
			max = DefaultMaxMessageSize
		}
		sizes := []int{int(chunk%16) + 1, int(chunk/16) + 1}
		d := NewDecoder(&chunkReader{data: data, sizes: sizes}, max)
		var prev int64
		var n int
		for {
			obj, err := d.Next()
			if err != nil {
				rest := data[prev:]
				switch {
				case err == io.EOF:
					if len(bytes.TrimLeft(rest, " \t\r\n")) != 0 {
						t.Fatalf("io.EOF with %q left", rest)
					}
				case err == io.ErrUnexpectedEOF, errors.As(err, new(*SyntaxError)):
					if validObjectStream(rest, max) {
						t.Fatalf("error %v, but encoding/json reads %q as objects", err, rest)
					}
				case errors.Is(err, ErrTooLarge):
					if max == DefaultMaxMessageSize || len(rest) <= max {
						t.Fatalf("error %v with only %d bytes left", err, len(rest))
					}
				default:
					t.Fatalf("unexpected error %v", err)
				}
				if _, again := d.Next(); again != err {
					t.Fatalf("error not sticky: %v then %v", err, again)
				}
				break
			}
			n++
			if !json.Valid(obj) || obj[0] != '{' || obj[len(obj)-1] != '}' {
				t.Fatalf("object %d is not a valid JSON object: %q", n, obj)
			}
			if len(obj) > max {
				t.Fatalf("object of %d bytes returned with a limit of %d", len(obj), max)
			}
			off := d.InputOffset()
			start := off - int64(len(obj))
			if start < prev || !bytes.Equal(data[start:off], obj) {
				t.Fatalf("object %q is not at offset %d of the stream", obj, start)
			}
			if gap := data[prev:start]; len(bytes.TrimLeft(gap, " \t\r\n")) != 0 {
				t.Fatalf("non-whitespace %q skipped before object %d", gap, n)
			}
			prev = off
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	for _, s := range seedStreams() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseResponse(data)
		m, perr := Parse(data)
		valid := json.Valid(data)
		var se *SyntaxError
		if valid == (errors.As(perr, &se)) {
			t.Fatalf("json.Valid = %v, but Parse error is %v", valid, perr)
		}
		// json.Unmarshal of null into a map succeeds and leaves it nil:
		// only a non-nil map means the input is a JSON object.
		var obj map[string]json.RawMessage
		if !valid || json.Unmarshal(data, &obj) != nil || obj == nil {
			if err == nil {
				t.Fatalf("ParseResponse accepted %q, which is not a JSON object", data)
			}
			if m != nil && perr == nil {
				t.Fatalf("Parse accepted %q, which is not a JSON object", data)
			}
			return
		}
		if err != nil {
			t.Fatalf("ParseResponse(%q): %v", data, err)
		}
		rawID, hasID := obj["id"]
		wantID, perrID := strconv.ParseInt(string(rawID), 10, 64)
		wantHasID := hasID && perrID == nil
		if r.HasID != wantHasID || (wantHasID && r.ID != wantID) {
			t.Fatalf("%q: ID %d, HasID %v; encoding/json sees id %s", data, r.ID, r.HasID, rawID)
		}
		rawErr, hasErr := obj["error"]
		wantErr := hasErr
		if (r.Error != nil) != wantErr {
			t.Fatalf("%q: Error %v; encoding/json sees error %s", data, r.Error, rawErr)
		}
		if r.Error != nil && rawErr[0] == '{' {
			// A map, not a struct: encoding/json matches struct keys
			// case-insensitively, the reply parser does not.
			var exact map[string]json.RawMessage
			_ = json.Unmarshal(rawErr, &exact)
			if code, ok := exact["code"]; ok {
				if c, err := strconv.ParseInt(string(code), 10, 64); err == nil && c != r.Error.Code {
					t.Fatalf("%q: error code %d, encoding/json reads %s", data, r.Error.Code, code)
				}
			}
		}
		if perr != nil {
			if !errors.Is(perr, ErrInvalidMessage) {
				t.Fatalf("Parse(%q) of valid JSON: %v does not wrap ErrInvalidMessage", data, perr)
			}
			return
		}
		// Parse agrees with encoding/json and with ParseResponse.
		for name, raw := range map[string]json.RawMessage{"id": m.ID, "params": m.Params, "result": m.Result} {
			if raw != nil && !bytes.Equal(raw, obj[name]) {
				t.Fatalf("%q: %s is %s, encoding/json reads %s", data, name, raw, obj[name])
			}
		}
		if rawMethod, ok := obj["method"]; ok {
			var method string
			if err := json.Unmarshal(rawMethod, &method); err != nil || method != m.Method {
				t.Fatalf("%q: method %q, encoding/json reads %s", data, m.Method, rawMethod)
			}
		}
		if id, ok := m.IntID(); ok != r.HasID || id != r.ID {
			t.Fatalf("%q: Parse's IntID %d %v, ParseResponse's %d %v", data, id, ok, r.ID, r.HasID)
		}
		if (m.Error != nil) != (r.Error != nil) {
			t.Fatalf("%q: Parse's error %v, ParseResponse's %v", data, m.Error, r.Error)
		}
	})
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "abc", "a\"b\\c", allControls, "<>&/\x7f", "é€😀\u2028\u2029", "\x00", "a\xffb", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendString([]byte("x"), s)[1:]
		if !json.Valid(out) {
			t.Fatalf("AppendString(%q) = %q is not valid JSON", s, out)
		}
		if !utf8.Valid(out) {
			t.Fatalf("AppendString(%q) = %q is not valid UTF-8", s, out)
		}
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("AppendString(%q) = %q: %v", s, out, err)
		}
		if want := sanitize(s); back != want {
			t.Fatalf("AppendString(%q) = %q reads back as %q, want %q", s, out, back, want)
		}
		if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool {
			return r < 0x20 && r != '\n' && r != '\r' && r != '\t' && r != '\b' && r != '\f' || r == '\u2028' || r == '\u2029'
		}) {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(s); err != nil {
				t.Fatal(err)
			}
			if want := bytes.TrimSuffix(buf.Bytes(), []byte("\n")); !bytes.Equal(out, want) {
				t.Fatalf("AppendString(%q) = %q, encoding/json gives %q", s, out, want)
			}
		}
	})
}
