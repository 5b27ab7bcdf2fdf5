package jsonrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/evstream/evstream/value"
)

// ErrBadParams is wrapped by the errors of DecodeParams and
// DecodeEventParams: the params are not a valid JSON object or array.
var ErrBadParams = errors.New("bad params")

// DecodeParams converts the raw JSON params of a JSON-RPC event into
// value.Params that encode back (with AppendParams) to the same JSON,
// byte for byte when it came from OpenSIPS:
//
//   - an object becomes named params, an array unnamed params, in order
//     (duplicate keys are kept); empty or absent params become no params;
//   - an integer that fits an int64 becomes value.Int, a string value.String,
//     null value.Null — the OpenSIPS kinds;
//   - true and false become value.Bool, other numbers value.Float (numbers that
//     a float64 cannot hold, like 1e400, and integers beyond int64 are kept
//     as value.RawJSON with their digits as written);
//   - a nested object or array becomes value.RawJSON, compacted.
//
// Strings are unescaped as encoding/json does (invalid UTF-8 and lone
// surrogates become U+FFFD). Anything else than an object or an array,
// malformed JSON, or an object member with an empty name (evi's named
// params all have a name) is an error wrapping ErrBadParams.
func DecodeParams(raw []byte) (value.Params, error) {
	_, p, err := DecodeEventParams(raw, "")
	return p, err
}

// DecodeEventParams is DecodeParams that also takes the event's name out of
// the params, as OpenSIPS's event_param setting puts it in: when eventParam
// is not empty, the first member named eventParam whose value is a
// non-empty string (OpenSIPS writes it first), or the first element of an
// array when it is a non-empty string. That member or element is removed
// from the params and its value returned as name. name is "" (and nothing is
// removed) when eventParam is empty or the params hold no such string.
func DecodeEventParams(raw []byte, eventParam string) (name string, p value.Params, err error) {
	d := paramDecoder{b: raw}
	name, p, err = d.params(eventParam)
	if err != nil {
		return "", value.Params{}, fmt.Errorf("%w: %w", ErrBadParams, err)
	}
	return name, p, nil
}

// paramDecoder is a validating scanner over one params value.
type paramDecoder struct {
	b []byte
	i int
	s string // b as a string, made on first need: strings without escapes are cut from it
}

// listBuf is how many params are collected on the stack before the list is
// copied, exactly sized, to the heap.
const listBuf = 8

func (d *paramDecoder) skipSpace() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *paramDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: "+format, append([]any{d.i}, args...)...)
}

// unexpected describes the byte at d.i (or the end) for an error.
func (d *paramDecoder) unexpected(context string) error {
	if d.i >= len(d.b) {
		return d.errorf("unexpected end of params %s", context)
	}
	return d.errorf("unexpected %q %s", d.b[d.i], context)
}

func (d *paramDecoder) params(eventParam string) (string, value.Params, error) {
	d.skipSpace()
	if d.i >= len(d.b) {
		return "", value.Params{}, nil // absent
	}
	var name string
	var p value.Params
	var err error
	switch d.b[d.i] {
	case '{':
		name, p, err = d.object(eventParam)
	case '[':
		name, p, err = d.array(eventParam)
	default:
		return "", value.Params{}, d.unexpected("(params must be a JSON object or array)")
	}
	if err != nil {
		return "", value.Params{}, err
	}
	d.skipSpace()
	if d.i < len(d.b) {
		return "", value.Params{}, d.unexpected("after the params")
	}
	return name, p, nil
}

func (d *paramDecoder) object(eventParam string) (string, value.Params, error) {
	var buf [listBuf]value.Param
	list := buf[:0]
	var name string
	found := eventParam == ""
	d.i++ // '{'
	d.skipSpace()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return "", value.Params{}, nil
	}
	for {
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return "", value.Params{}, d.unexpected("looking for an object key")
		}
		keyAt := d.i
		key, err := d.str()
		if err != nil {
			return "", value.Params{}, err
		}
		if key == "" {
			d.i = keyAt
			return "", value.Params{}, d.errorf("a member has an empty name (a named param needs a name)")
		}
		d.skipSpace()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return "", value.Params{}, d.unexpected("after an object key")
		}
		d.i++
		d.skipSpace()
		v, err := d.value()
		if err != nil {
			return "", value.Params{}, err
		}
		if !found && v.Kind() == value.KindString && v.Str() != "" && key == eventParam {
			name, found = v.Str(), true
		} else {
			list = append(list, value.P(key, v))
		}
		d.skipSpace()
		if d.i < len(d.b) {
			switch d.b[d.i] {
			case ',':
				d.i++
				d.skipSpace()
				continue
			case '}':
				d.i++
				if len(list) == 0 {
					return name, value.Params{}, nil
				}
				return name, value.Named(slices.Clone(list)...), nil
			}
		}
		return "", value.Params{}, d.unexpected("after an object member")
	}
}

func (d *paramDecoder) array(eventParam string) (string, value.Params, error) {
	var buf [listBuf]value.Value
	list := buf[:0]
	var name string
	found := eventParam == ""
	d.i++ // '['
	d.skipSpace()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return "", value.Params{}, nil
	}
	for {
		v, err := d.value()
		if err != nil {
			return "", value.Params{}, err
		}
		if !found && len(list) == 0 && v.Kind() == value.KindString && v.Str() != "" {
			name, found = v.Str(), true
		} else {
			list = append(list, v)
		}
		d.skipSpace()
		if d.i < len(d.b) {
			switch d.b[d.i] {
			case ',':
				d.i++
				d.skipSpace()
				continue
			case ']':
				d.i++
				if len(list) == 0 {
					return name, value.Params{}, nil
				}
				return name, value.Unnamed(list...), nil
			}
		}
		return "", value.Params{}, d.unexpected("after an array element")
	}
}

// value decodes the value at d.i.
func (d *paramDecoder) value() (value.Value, error) {
	if d.i >= len(d.b) {
		return value.Value{}, d.unexpected("looking for a value")
	}
	switch c := d.b[d.i]; c {
	case '"':
		s, err := d.str()
		return value.String(s), err
	case 'n':
		return value.Null(), d.literal("null")
	case 't':
		return value.Bool(true), d.literal("true")
	case 'f':
		return value.Bool(false), d.literal("false")
	case '{', '[':
		start := d.i
		if err := d.skipValue(1); err != nil {
			return value.Value{}, err
		}
		raw := d.b[start:d.i]
		var buf bytes.Buffer
		buf.Grow(len(raw))
		if err := json.Compact(&buf, raw); err != nil { // validated: cannot fail
			return value.Value{}, fmt.Errorf("offset %d: %w", start, err)
		}
		return value.RawJSON(buf.String()), nil
	default:
		if c == '-' || isDigit(c) {
			return d.number()
		}
		return value.Value{}, d.unexpected("looking for a value")
	}
}

func (d *paramDecoder) literal(lit string) error {
	if len(d.b)-d.i < len(lit) || string(d.b[d.i:d.i+len(lit)]) != lit {
		return d.unexpected("in the literal " + lit)
	}
	d.i += len(lit)
	return nil
}

// scanNumber validates the JSON number at d.i, moves past it and tells
// whether it is an integer (no fraction, no exponent).
func (d *paramDecoder) scanNumber() (integer bool, err error) {
	end, integer, context := scanNumber(d.b, d.i)
	d.i = end
	if context != "" {
		return false, d.unexpected(context)
	}
	return integer, nil
}

func (d *paramDecoder) number() (value.Value, error) {
	start := d.i
	integer, err := d.scanNumber()
	if err != nil {
		return value.Value{}, err
	}
	lit := d.b[start:d.i]
	if integer {
		if n, ok := parseInt(lit); ok {
			return value.Int(n), nil
		}
		return value.RawJSON(string(lit)), nil // beyond int64: keep the digits
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil { // out of float64's range: keep it as written
		return value.RawJSON(string(lit)), nil
	}
	return value.Float(f), nil
}

// str decodes the JSON string at d.i (at its opening quote).
func (d *paramDecoder) str() (string, error) {
	start := d.i
	simple, err := d.scanString()
	if err != nil {
		return "", err
	}
	if simple {
		if d.s == "" {
			d.s = string(d.b) // one allocation for all the strings
		}
		return d.s[start+1 : d.i-1], nil
	}
	var s string
	if err := json.Unmarshal(d.b[start:d.i], &s); err != nil { // validated: cannot fail
		return "", fmt.Errorf("offset %d: %w", start, err)
	}
	return s, nil
}

// scanString validates the JSON string at d.i (at its opening quote) and
// moves past it. simple reports that it has no escape and is valid UTF-8,
// so that its bytes are its value.
func (d *paramDecoder) scanString() (simple bool, err error) {
	simple = true
	i := d.i + 1
	for {
		if i >= len(d.b) {
			d.i = i
			return false, d.unexpected("in a string")
		}
		c := d.b[i]
		switch {
		case c == '"':
			d.i = i + 1
			return simple, nil
		case c == '\\':
			simple = false
			i++
			if i >= len(d.b) {
				d.i = i
				return false, d.unexpected("in a string escape")
			}
			switch d.b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				i++
				for range 4 {
					if i >= len(d.b) || !isHex(d.b[i]) {
						d.i = i
						return false, d.unexpected(`in a \u escape`)
					}
					i++
				}
			default:
				d.i = i
				return false, d.unexpected("in a string escape")
			}
		case c < 0x20:
			d.i = i
			return false, d.unexpected("in a string (control characters must be escaped)")
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(d.b[i:])
			if r == utf8.RuneError && size == 1 {
				simple = false
			}
			i += size
		default:
			i++
		}
	}
}

// skipValue validates the value at d.i and moves past it.
func (d *paramDecoder) skipValue(depth int) error {
	if d.i >= len(d.b) {
		return d.unexpected("looking for a value")
	}
	switch c := d.b[d.i]; c {
	case '{', '[':
		if depth > maxDepth {
			return d.errorf("params nested deeper than %d", maxDepth)
		}
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		d.i++
		d.skipSpace()
		if d.i < len(d.b) && d.b[d.i] == end {
			d.i++
			return nil
		}
		for {
			if c == '{' {
				if d.i >= len(d.b) || d.b[d.i] != '"' {
					return d.unexpected("looking for an object key")
				}
				if _, err := d.scanString(); err != nil {
					return err
				}
				d.skipSpace()
				if d.i >= len(d.b) || d.b[d.i] != ':' {
					return d.unexpected("after an object key")
				}
				d.i++
				d.skipSpace()
			}
			if err := d.skipValue(depth + 1); err != nil {
				return err
			}
			d.skipSpace()
			if d.i < len(d.b) {
				switch d.b[d.i] {
				case ',':
					d.i++
					d.skipSpace()
					continue
				case end:
					d.i++
					return nil
				}
			}
			return d.unexpected("after a member or element")
		}
	case '"':
		_, err := d.scanString()
		return err
	case 'n':
		return d.literal("null")
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	default:
		if c == '-' || isDigit(c) {
			_, err := d.scanNumber()
			return err
		}
		return d.unexpected("looking for a value")
	}
}
