package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"math"
)

// errShort reports that the buffer ends before the JSON object does: read
// more and scan again from the same place.
var errShort = errors.New("loadgen: incomplete JSON object")

// ErrBadStream is wrapped by the errors of a sink that received bytes that
// are not a stream of JSON objects.
var ErrBadStream = errors.New("bad event stream")

// wireEvent is what a sink takes from one JSON-RPC object: the raw id
// (nil for a notification) and the bench's params "s" (sequence number)
// and "t" (raise time, unix nanoseconds), when present as integers.
type wireEvent struct {
	id     []byte
	seq    int64
	t      int64
	hasSeq bool
	hasT   bool
}

// scanEvent reads the JSON object at the start of b (leading whitespace is
// skipped) in one pass, without allocating, and returns what a sink needs
// from it and the number of bytes it used. It returns errShort when b ends
// before the object does. It checks the structure (strings, nesting,
// separators) but not every detail of the JSON grammar: the sender under
// test is trusted to produce valid JSON, and its conformance is tested
// elsewhere; this is a counting reader, built to cost little per event.
func scanEvent(b []byte) (ev wireEvent, n int, err error) {
	i := skipWS(b, 0)
	if i == len(b) {
		return ev, 0, errShort
	}
	if b[i] != '{' {
		return ev, 0, fmt.Errorf("offset %d: %w: want '{', got %q", i, ErrBadStream, b[i])
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return ev, i + 1, nil
	}
	for {
		key, vs, err := memberName(b, i)
		if err != nil {
			return wireEvent{}, 0, err
		}
		var ve int
		if string(key) == "params" && b[vs] == '{' {
			ve, err = scanParams(b, vs, &ev)
		} else {
			ve, err = skipValue(b, vs)
			if err == nil && string(key) == "id" {
				ev.id = b[vs:ve]
			}
		}
		if err != nil {
			return wireEvent{}, 0, err
		}
		var done bool
		if i, done, err = afterMember(b, ve); err != nil {
			return wireEvent{}, 0, err
		} else if done {
			return ev, i, nil
		}
	}
}

// fastScanner reads the objects evstream writes for one event name in
// a few nanoseconds: it checks that they are exactly
//
//	{"jsonrpc":"2.0","method":"M","params":{"s":S,"t":T}}
//	{"id":N,"jsonrpc":"2.0","method":"M","params":{"s":S,"t":T}}
//
// and falls back to scanEvent for anything else (other key orders,
// spacing, event_param, unknown methods).
type fastScanner struct {
	body []byte // `"jsonrpc":"2.0","method":"M","params":{"s":`
}

func newFastScanner(method string) *fastScanner {
	if method == "" {
		return &fastScanner{}
	}
	b := append([]byte(`"jsonrpc":"2.0","method":`), jsonString(method)...)
	return &fastScanner{body: append(b, `,"params":{"s":`...)}
}

// jsonString quotes a method name (event names have no bytes to escape
// but quotes and backslashes, which ValidateEventName allows).
func jsonString(s string) []byte {
	b := []byte{'"'}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// scan is scanEvent, fast for the expected shape.
func (f *fastScanner) scan(b []byte) (wireEvent, int, error) {
	if ev, n, ok := f.fast(b); ok {
		return ev, n, nil
	}
	return scanEvent(b)
}

func (f *fastScanner) fast(b []byte) (ev wireEvent, n int, ok bool) {
	if len(f.body) == 0 || len(b) < 2 || b[0] != '{' {
		return ev, 0, false
	}
	i := 1
	if b[1] == '"' && len(b) > 6 && string(b[1:6]) == `"id":` {
		j := digitsEnd(b, 6)
		if j == 6 || j >= len(b) || b[j] != ',' {
			return ev, 0, false
		}
		ev.id = b[6:j]
		i = j + 1
	}
	if len(b)-i < len(f.body) || string(b[i:i+len(f.body)]) != string(f.body) {
		return wireEvent{}, 0, false
	}
	i += len(f.body)
	j := digitsEnd(b, i)
	if j >= len(b) || b[j] != ',' {
		return wireEvent{}, 0, false
	}
	ev.seq, ev.hasSeq = atoi(b[i:j])
	if len(b)-j < 5 || string(b[j:j+5]) != `,"t":` {
		return wireEvent{}, 0, false
	}
	i = j + 5
	j = digitsEnd(b, i)
	if len(b)-j < 2 || b[j] != '}' || b[j+1] != '}' {
		return wireEvent{}, 0, false
	}
	ev.t, ev.hasT = atoi(b[i:j])
	if !ev.hasSeq || !ev.hasT {
		return wireEvent{}, 0, false
	}
	return ev, j + 2, true
}

// digitsEnd returns the offset of the first byte at or after i that is
// not part of an integer ('-' or a digit).
func digitsEnd(b []byte, i int) int {
	for i < len(b) && (b[i] >= '0' && b[i] <= '9' || b[i] == '-') {
		i++
	}
	return i
}

// scanParams reads the params object starting at b[i] ('{'), setting the
// stamps of ev, and returns the offset after it.
func scanParams(b []byte, i int, ev *wireEvent) (int, error) {
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		key, vs, err := memberName(b, i)
		if err != nil {
			return 0, err
		}
		ve, err := skipValue(b, vs)
		if err != nil {
			return 0, err
		}
		if len(key) == 1 {
			switch key[0] {
			case 's':
				ev.seq, ev.hasSeq = atoi(b[vs:ve])
			case 't':
				ev.t, ev.hasT = atoi(b[vs:ve])
			}
		}
		var done bool
		if i, done, err = afterMember(b, ve); err != nil || done {
			return i, err
		}
	}
}

// memberName reads `"name" :` at b[i] and returns the name as written and
// the offset of the value (whitespace skipped).
func memberName(b []byte, i int) (key []byte, vs int, err error) {
	if i >= len(b) {
		return nil, 0, errShort
	}
	if b[i] != '"' {
		return nil, 0, fmt.Errorf("offset %d: %w: want a member name, got %q", i, ErrBadStream, b[i])
	}
	ke, err := skipString(b, i)
	if err != nil {
		return nil, 0, err
	}
	key = b[i+1 : ke-1]
	i = skipWS(b, ke)
	if i >= len(b) {
		return nil, 0, errShort
	}
	if b[i] != ':' {
		return nil, 0, fmt.Errorf("offset %d: %w: want ':', got %q", i, ErrBadStream, b[i])
	}
	vs = skipWS(b, i+1)
	if vs >= len(b) {
		return nil, 0, errShort
	}
	return key, vs, nil
}

// afterMember reads the ',' or '}' after a member value ending at b[i]:
// it returns the offset of the next member, or done and the offset after
// the '}'.
func afterMember(b []byte, i int) (next int, done bool, err error) {
	i = skipWS(b, i)
	if i >= len(b) {
		return 0, false, errShort
	}
	switch b[i] {
	case ',':
		return skipWS(b, i+1), false, nil
	case '}':
		return i + 1, true, nil
	}
	return 0, false, fmt.Errorf("offset %d: %w: want ',' or '}', got %q", i, ErrBadStream, b[i])
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the offset after the string starting at b[i] ('"').
func skipString(b []byte, i int) (int, error) {
	// Names and most values are short: a plain loop beats IndexByte.
	for end := min(i+16, len(b)); i+1 < end; {
		i++
		switch b[i] {
		case '"':
			return i + 1, nil
		case '\\':
			i++
		}
	}
	for i++; i < len(b); {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return 0, errShort
		}
		j := i + q
		// The quote ends the string unless an odd number of backslashes
		// precede it.
		bs := 0
		for k := j - 1; k >= i && b[k] == '\\'; k-- {
			bs++
		}
		if bs%2 == 0 {
			return j + 1, nil
		}
		i = j + 1
	}
	return 0, errShort
}

// skipValue returns the offset after the JSON value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errShort
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{' || c == '[':
		return skipContainer(b, i)
	case c == '-' || c >= '0' && c <= '9' || c == 't' || c == 'f' || c == 'n':
		// A number or a literal: up to the next delimiter.
		j := i + 1
		for j < len(b) {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return j, nil
			case '{', '[', '"', ':':
				return 0, fmt.Errorf("offset %d: %w: %q inside a number or literal", j, ErrBadStream, b[j])
			}
			j++
		}
		return 0, errShort
	}
	return 0, fmt.Errorf("offset %d: %w: %q cannot start a value", i, ErrBadStream, b[i])
}

// skipContainer returns the offset after the object or array starting at
// b[i], counting nesting (iteratively: no depth limit, no recursion).
func skipContainer(b []byte, i int) (int, error) {
	var stack [64]byte // expected closers, deeper levels only counted
	depth := 0
	for ; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			e, err := skipString(b, i)
			if err != nil {
				return 0, err
			}
			i = e - 1
		case '{', '[':
			closer := byte('}')
			if c == '[' {
				closer = ']'
			}
			if depth < len(stack) {
				stack[depth] = closer
			}
			depth++
		case '}', ']':
			depth--
			if depth < 0 || depth < len(stack) && stack[depth] != c {
				return 0, fmt.Errorf("offset %d: %w: unbalanced %q", i, ErrBadStream, c)
			}
			if depth == 0 {
				return i + 1, nil
			}
		}
	}
	return 0, errShort
}

// atoi parses a JSON integer that fits an int64.
func atoi(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var v uint64 // 19 digits fit a uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	switch {
	case v <= math.MaxInt64 && neg:
		return -int64(v), true
	case v <= math.MaxInt64:
		return int64(v), true
	case neg && v == math.MaxInt64+1:
		return math.MinInt64, true
	}
	return 0, false
}
