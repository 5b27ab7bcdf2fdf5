package jsonrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// chunkReader returns its data in reads of the given sizes, cycling.
type chunkReader struct {
	data  []byte
	sizes []int
	n     int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	size := r.sizes[r.n%len(r.sizes)]
	r.n++
	size = min(size, len(p), len(r.data))
	copy(p, r.data[:size])
	r.data = r.data[size:]
	return size, nil
}

// splitReader returns data[:at] in one read, then the rest.
type splitReader struct {
	data []byte
	at   int
	done bool
}

func (r *splitReader) Read(p []byte) (int, error) {
	if !r.done {
		r.done = true
		n := copy(p, r.data[:r.at])
		r.data = r.data[n:]
		return n, nil
	}
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// decodeAll reads every object, copying them, and returns the final error.
func decodeAll(r io.Reader, max int) ([]string, error) {
	d := NewDecoder(r, max)
	var objs []string
	for {
		obj, err := d.Next()
		if err != nil {
			return objs, err
		}
		objs = append(objs, string(obj))
	}
}

// readers returns the ways a stream is delivered in the tests.
func readers(data string) map[string]func() io.Reader {
	b := []byte(data)
	return map[string]func() io.Reader{
		"whole":          func() io.Reader { return bytes.NewReader(b) },
		"one-byte":       func() io.Reader { return &chunkReader{data: b, sizes: []int{1}} },
		"OneByteReader":  func() io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		"HalfReader":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(b)) },
		"DataErrReader":  func() io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) },
		"DataErr-1-byte": func() io.Reader { return iotest.DataErrReader(iotest.OneByteReader(bytes.NewReader(b))) },
		"odd-chunks":     func() io.Reader { return &chunkReader{data: b, sizes: []int{3, 1, 7, 2, 5}} },
	}
}

type decoderCase struct {
	name   string
	in     string
	max    int
	want   []string
	err    error // io.EOF, io.ErrUnexpectedEOF, ErrTooLarge, or errSyntax
	offset int64 // of the SyntaxError
}

var errSyntax = errors.New("a *SyntaxError")

func decoderCases() []decoderCase {
	return []decoderCase{
		{name: "empty", in: "", err: io.EOF},
		{name: "only-space", in: " \n\t\r\n ", err: io.EOF},
		{name: "one", in: `{"a":1}`, want: []string{`{"a":1}`}, err: io.EOF},
		{name: "back-to-back", in: `{"a":1}{"b":[2,3]}{}`, want: []string{`{"a":1}`, `{"b":[2,3]}`, `{}`}, err: io.EOF},
		{name: "newlines", in: "\n{\"a\":1}\n{\"b\":2}\r\n\t {\"c\":3}\n\n", want: []string{`{"a":1}`, `{"b":2}`, `{"c":3}`}, err: io.EOF},
		{name: "whitespace-inside", in: "{ \"a\" : [ 1 , 2 ] ,\n\"b\":{}}", want: []string{"{ \"a\" : [ 1 , 2 ] ,\n\"b\":{}}"}, err: io.EOF},
		{name: "braces-in-strings", in: `{"a":"}{]["}{"b":"{"}`, want: []string{`{"a":"}{]["}`, `{"b":"{"}`}, err: io.EOF},
		{name: "escaped-quotes", in: `{"a":"x\"}y"}{"b":"\\"}{"c":"\\\"}"}`, want: []string{`{"a":"x\"}y"}`, `{"b":"\\"}`, `{"c":"\\\"}"}`}, err: io.EOF},
		{name: "escapes", in: `{"u":"\u00e9\ud83d\ude00\n\/"}`, want: []string{`{"u":"\u00e9\ud83d\ude00\n\/"}`}, err: io.EOF},
		{name: "nested", in: `{"a":{"b":{"c":[{"d":[[],{}]}]}}}{"e":0}`, want: []string{`{"a":{"b":{"c":[{"d":[[],{}]}]}}}`, `{"e":0}`}, err: io.EOF},
		{name: "opensips-reply", in: `{"jsonrpc":"2.0","result":8,"id":915243442}{"jsonrpc":"2.0","result":8,"id":915243443}`,
			want: []string{`{"jsonrpc":"2.0","result":8,"id":915243442}`, `{"jsonrpc":"2.0","result":8,"id":915243443}`}, err: io.EOF},
		{name: "utf8", in: "{\"s\":\"é€😀\u2028\"}", want: []string{"{\"s\":\"é€😀\u2028\"}"}, err: io.EOF},
		// Truncated streams.
		{name: "truncated-open", in: `{"a":1}{`, want: []string{`{"a":1}`}, err: io.ErrUnexpectedEOF},
		{name: "truncated-value", in: `{"a":1`, err: io.ErrUnexpectedEOF},
		{name: "truncated-string", in: `{"a":"}}}`, err: io.ErrUnexpectedEOF},
		{name: "truncated-escape", in: `{"a":"\`, err: io.ErrUnexpectedEOF},
		{name: "truncated-nested", in: `{"a":[{}`, err: io.ErrUnexpectedEOF},
		// Garbage.
		{name: "garbage-first", in: `x{}`, err: errSyntax, offset: 0},
		{name: "garbage-after", in: "{}\n  x", want: []string{`{}`}, err: errSyntax, offset: 5},
		{name: "array-top", in: `[{}]`, err: errSyntax, offset: 0},
		{name: "close-first", in: ` }`, err: errSyntax, offset: 1},
		{name: "number-between", in: `{}1{}`, want: []string{`{}`}, err: errSyntax, offset: 2},
		{name: "nul-between", in: "{}\x00", want: []string{`{}`}, err: errSyntax, offset: 2},
		{name: "mismatched-close", in: `{"a":[1}`, err: errSyntax, offset: 7},
		{name: "mismatched-close-2", in: `{}{"a":{]}`, want: []string{`{}`}, err: errSyntax, offset: 8},
		{name: "bad-literal", in: `{"a":tru}`, err: errSyntax, offset: 8},
		{name: "missing-colon", in: `{"a" 1}`, err: errSyntax, offset: 5},
		{name: "trailing-comma", in: `{"a":1,}`, err: errSyntax, offset: 7},
		{name: "bare-key", in: `{a:1}`, err: errSyntax, offset: 1},
		{name: "control-in-string", in: "{\"a\":\"x\ny\"}", err: errSyntax, offset: 7},
		{name: "bad-escape", in: `{"a":"\x"}`, err: errSyntax, offset: 7},
		{name: "bad-number", in: `{"a":01}`, err: errSyntax, offset: 6},
		{name: "bad-object-after-good", in: `{"ok":1}{"a":}`, want: []string{`{"ok":1}`}, err: errSyntax, offset: 13},
		// Size limit.
		{name: "exact-limit", in: `{"a":1}{"b":22}`, max: 7, want: []string{`{"a":1}`}, err: ErrTooLarge},
		{name: "limit-ok", in: `{"a":1} {"b":2}`, max: 7, want: []string{`{"a":1}`, `{"b":2}`}, err: io.EOF},
		{name: "too-large-first", in: `{"abcdefgh":1}`, max: 8, err: ErrTooLarge},
		{name: "too-large-truncated", in: `{"abcdefgh"`, max: 8, err: ErrTooLarge},
	}
}

func checkDecodeErr(t *testing.T, tc decoderCase, err error) {
	t.Helper()
	switch tc.err {
	case errSyntax:
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("error %v (%T), want a *SyntaxError", err, err)
		}
		if se.Offset != tc.offset {
			t.Errorf("SyntaxError offset %d, want %d (%v)", se.Offset, tc.offset, se)
		}
		if CodeOf(err) != CodeParseError {
			t.Errorf("CodeOf = %d", CodeOf(err))
		}
	case ErrTooLarge:
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("error %v, want ErrTooLarge", err)
		}
	default:
		if err != tc.err {
			t.Fatalf("error %v, want exactly %v", err, tc.err)
		}
	}
}

func TestDecoder(t *testing.T) {
	for _, tc := range decoderCases() {
		for rname, mk := range readers(tc.in) {
			t.Run(tc.name+"/"+rname, func(t *testing.T) {
				got, err := decodeAll(mk(), tc.max)
				if !equalStrings(got, tc.want) {
					t.Errorf("objects %q, want %q", got, tc.want)
				}
				checkDecodeErr(t, tc, err)
			})
		}
	}
}

// TestDecoderEverySplit delivers each stream in two reads split at every
// byte boundary.
func TestDecoderEverySplit(t *testing.T) {
	for _, tc := range decoderCases() {
		for at := 0; at <= len(tc.in); at++ {
			got, err := decodeAll(&splitReader{data: []byte(tc.in), at: at}, tc.max)
			if !equalStrings(got, tc.want) {
				t.Errorf("%s split at %d: objects %q, want %q", tc.name, at, got, tc.want)
			}
			checkDecodeErr(t, tc, err)
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDecoderErrorsAreSticky(t *testing.T) {
	for _, in := range []string{`{}x{}`, `{"a":`, `{"aaaaaaaaaaaa":1}`, ``} {
		d := NewDecoder(strings.NewReader(in), 10)
		var first error
		for first == nil {
			_, first = d.Next()
		}
		for range 3 {
			if _, err := d.Next(); err != first {
				t.Errorf("%q: later error %v, first %v", in, err, first)
			}
		}
	}
}

func TestDecoderTooLargeMessage(t *testing.T) {
	_, err := decodeAll(strings.NewReader(`{"abcdefghijklmnop":1}`), 10)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "10-byte limit") || CodeOf(err) != CodeInvalidRequest {
		t.Errorf("error %q should wrap ErrTooLarge and name the 10-byte limit", err)
	}
}

// infiniteObject is an object that never ends: {"a":"xxxxxxxx...
type infiniteObject struct{ started bool }

func (r *infiniteObject) Read(p []byte) (int, error) {
	n := 0
	if !r.started {
		r.started = true
		n = copy(p, `{"a":"`)
	}
	for i := n; i < len(p); i++ {
		p[i] = 'x'
	}
	return len(p), nil
}

// TestDecoderBoundedBuffer: an endless object fails once it passes the
// limit, without buffering more than the limit.
func TestDecoderBoundedBuffer(t *testing.T) {
	for _, max := range []int{1, 100, 8 << 10, 1 << 20} {
		d := NewDecoder(&infiniteObject{}, max)
		_, err := d.Next()
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("max %d: error %v, want ErrTooLarge", max, err)
		}
		if cap(d.buf) > max+1 {
			t.Errorf("max %d: buffer grew to %d bytes", max, cap(d.buf))
		}
	}
}

func TestDecoderLargeObject(t *testing.T) {
	var big bytes.Buffer
	big.WriteString(`{"jsonrpc":"2.0","method":"E_BIG","params":{"s":"`)
	for big.Len() < 1<<20 {
		big.WriteString(`0123456789 \"{}[] \\ é `)
	}
	big.WriteString(`","n":[1,2,{"x":null}]}}`)
	obj := big.String()
	stream := obj + "\n" + `{"a":1}` + obj
	for _, max := range []int{0, len(obj)} {
		got, err := decodeAll(iotest.HalfReader(strings.NewReader(stream)), max)
		if err != io.EOF || len(got) != 3 || got[0] != obj || got[1] != `{"a":1}` || got[2] != obj {
			t.Fatalf("max %d: %d objects, error %v", max, len(got), err)
		}
	}
	got, err := decodeAll(strings.NewReader(stream), len(obj)-1)
	if !errors.Is(err, ErrTooLarge) || len(got) != 0 {
		t.Fatalf("limit one below the object: %d objects, error %v", len(got), err)
	}
}

func TestDecoderNesting(t *testing.T) {
	nest := func(depth int) string {
		// one object plus depth-1 arrays
		return `{"a":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`
	}
	ok := nest(maxDepth)
	got, err := decodeAll(strings.NewReader(ok), 0)
	if err != io.EOF || len(got) != 1 || !json.Valid([]byte(got[0])) {
		t.Fatalf("depth %d: %d objects, %v", maxDepth, len(got), err)
	}
	deep := nest(maxDepth + 1)
	if json.Valid([]byte(deep)) {
		t.Fatal("encoding/json accepts the deeper nesting: the limits differ")
	}
	_, err = decodeAll(strings.NewReader(deep), 0)
	var se *SyntaxError
	if !errors.As(err, &se) || !strings.Contains(se.Msg, "nesting") {
		t.Fatalf("depth %d: error %v, want a nesting SyntaxError", maxDepth+1, err)
	}
}

func TestDecoderInputOffset(t *testing.T) {
	in := "  {\"a\":1}\n{}  {\"b\":[]}  "
	d := NewDecoder(iotest.OneByteReader(strings.NewReader(in)), 0)
	for _, want := range []int64{9, 12, 22} {
		if _, err := d.Next(); err != nil {
			t.Fatal(err)
		}
		if got := d.InputOffset(); got != want {
			t.Errorf("InputOffset %d, want %d", got, want)
		}
	}
	if _, err := d.Next(); err != io.EOF {
		t.Fatalf("err %v", err)
	}
	if got := d.InputOffset(); got != int64(len(in)) {
		t.Errorf("InputOffset at EOF %d, want %d", got, len(in))
	}
}

func TestDecoderBuffered(t *testing.T) {
	d := NewDecoder(strings.NewReader(`{"a":1}{"b":2}`), 0)
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	if got := string(d.Buffered()); got != `{"b":2}` {
		t.Errorf("Buffered = %q", got)
	}
}

// scriptReader plays a list of (data, error) reads, then io.EOF.
type scriptReader struct {
	steps []readStep
}

type readStep struct {
	data string
	err  error
}

func (r *scriptReader) Read(p []byte) (int, error) {
	if len(r.steps) == 0 {
		return 0, io.EOF
	}
	s := r.steps[0]
	r.steps = r.steps[1:]
	return copy(p, s.data), s.err
}

// TestDecoderReadErrorRetry: a transient read error (a deadline) is returned
// after the data read with it is used, and the next call resumes with
// nothing lost.
func TestDecoderReadErrorRetry(t *testing.T) {
	errTimeout := errors.New("i/o timeout")
	r := &scriptReader{steps: []readStep{
		{data: `{"a":1}{"b"`, err: errTimeout},
		{data: `:2}`},
		{err: errTimeout},
		{data: ` {}`},
	}}
	d := NewDecoder(r, 0)
	var got []string
	var errs []error
	for {
		obj, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			errs = append(errs, err)
			if len(errs) > 5 {
				t.Fatal("too many errors")
			}
			continue
		}
		got = append(got, string(obj))
	}
	if want := []string{`{"a":1}`, `{"b":2}`, `{}`}; !equalStrings(got, want) {
		t.Errorf("objects %q, want %q", got, want)
	}
	if len(errs) != 2 {
		t.Fatalf("errors %v, want the timeout twice", errs)
	}
	for _, err := range errs {
		if !errors.Is(err, errTimeout) {
			t.Errorf("error %v does not wrap the read error", err)
		}
	}
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

func TestDecoderNoProgress(t *testing.T) {
	_, err := NewDecoder(emptyReader{}, 0).Next()
	if !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("err %v, want io.ErrNoProgress", err)
	}
}

func TestSyntaxErrorMessage(t *testing.T) {
	_, err := decodeAll(strings.NewReader("{}\n\x01"), 0)
	if got := err.Error(); got != "jsonrpc: syntax error at offset 3: unexpected byte 0x01 outside an object (each message must be a JSON object)" {
		t.Errorf("got %q", got)
	}
	_, err = decodeAll(strings.NewReader(`{"a":[}`), 0)
	if got := err.Error(); got != "jsonrpc: syntax error at offset 6: unexpected '}' closing '['" {
		t.Errorf("got %q", got)
	}
}
