package value

import (
	"fmt"
	"math"
	"strconv"
)

// Kind is the type of a Value.
type Kind uint8

// The kinds of Value. Null, Int and String are the OpenSIPS kinds; the
// others are evstream extensions.
const (
	KindNull Kind = iota
	KindInt
	KindString
	KindFloat
	KindBool
	KindRaw // pre-encoded JSON, written as is
)

var kindNames = [...]string{"null", "int", "string", "float", "bool", "raw"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one parameter value. The zero Value is null.
type Value struct {
	kind Kind
	n    uint64 // the int64, the float64's bits, or 1 for true
	s    string // string value, or the raw JSON for KindRaw
}

// Null returns the null value.
func Null() Value { return Value{} }

// Int returns an integer value.
func Int(i int64) Value { return Value{kind: KindInt, n: uint64(i)} }

// String returns a string value.
func String(s string) Value { return Value{kind: KindString, s: s} }

// Float returns a floating-point value (evstream extension).
func Float(f float64) Value { return Value{kind: KindFloat, n: math.Float64bits(f)} }

// Bool returns a boolean value (evstream extension).
func Bool(b bool) Value {
	if b {
		return Value{kind: KindBool, n: 1}
	}
	return Value{kind: KindBool}
}

// RawJSON returns a value that is written to the wire exactly as given. The
// caller must pass valid, compact JSON (evstream extension).
func RawJSON(js string) Value { return Value{kind: KindRaw, s: js} }

// Kind reports the kind of v.
func (v Value) Kind() Kind { return v.kind }

// Int returns the integer of a KindInt value, else 0.
func (v Value) Int() int64 {
	if v.kind != KindInt {
		return 0
	}
	return int64(v.n)
}

// Str returns the string of a KindString value or the JSON of a KindRaw value.
func (v Value) Str() string { return v.s }

// Float returns the number of a KindFloat value, else 0.
func (v Value) Float() float64 {
	if v.kind != KindFloat {
		return 0
	}
	return math.Float64frombits(v.n)
}

// Bool returns the boolean of a KindBool value, else false.
func (v Value) Bool() bool { return v.kind == KindBool && v.n == 1 }

// String formats v for logs and messages (strings are quoted).
func (v Value) String() string {
	switch v.kind {
	case KindInt:
		return strconv.FormatInt(v.Int(), 10)
	case KindString:
		return strconv.Quote(v.s)
	case KindFloat:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case KindBool:
		return strconv.FormatBool(v.Bool())
	case KindRaw:
		return v.s
	default:
		return "null"
	}
}

// Param is one parameter: a Name (empty when the params are unnamed) and a Value.
type Param struct {
	Name  string
	Value Value
}

// Params are the ordered data of one raised event: all named or all unnamed.
// The zero Params has no parameters. Params are immutable once built and may
// be shared between goroutines.
//
// Params decoded from JSON may be held as that JSON instead (FromText):
// an event relayed as it came is then neither decoded nor encoded again.
// Len, IsNamed and Text are as cheap for them; At and All decode the text
// at each call.
type Params struct {
	named bool
	list  []Param
	text  string               // the params' JSON (FromText); "" otherwise
	n     int                  // how many params text holds
	parse func(string) []Param // decodes text
	size  int                  // SizeHint, computed when built
}

// FromText returns params held as their JSON text: an object (named) or an
// array of n params, exactly as they are encoded (the bytes
// jsonrpc.AppendParams writes for them). parse must decode text into its
// list; At and All call it. The caller guarantees that text is that
// encoding: the jsonrpc package makes such params from the JSON it reads.
func FromText(text string, named bool, n int, parse func(string) []Param) Params {
	return Params{named: named, text: text, n: n, parse: parse, size: len(text)}
}

// Text returns the params' JSON when they are held as text (FromText).
func (p Params) Text() (string, bool) { return p.text, p.text != "" }

// Named returns named params, in the order given. Every name must be non-empty.
// The params keep ps (no copy): do not modify it afterwards.
func Named(ps ...Param) Params { return Params{named: true, list: ps, size: sizeHint(ps)} }

// Unnamed returns unnamed params, in the order given.
func Unnamed(vs ...Value) Params {
	list := make([]Param, len(vs))
	for i, v := range vs {
		list[i].Value = v
	}
	return Params{list: list, size: sizeHint(list)}
}

// SizeHint returns about how many bytes the params take encoded as JSON:
// the text's length for params held as text; else the names, the strings
// and raw values as they are, 24 bytes per other value, and the
// punctuation. It is computed once, when the params are built, so that
// an encoder that sizes its buffer, or a queue bounded in bytes, can ask
// for each destination at no cost. Strings that need escapes encode
// longer.
func (p Params) SizeHint() int { return p.size }

func sizeHint(list []Param) int {
	if len(list) == 0 {
		return 0
	}
	n := 2 // the brackets
	for _, prm := range list {
		n += len(prm.Name) + 4 // quotes, colon, comma
		switch prm.Value.kind {
		case KindString:
			n += len(prm.Value.s) + 2
		case KindRaw:
			n += len(prm.Value.s)
		default:
			n += 24 // a number, null, true or false
		}
	}
	return n
}

// P builds a named Param; a shorthand for Param{Name: name, Value: v}.
func P(name string, v Value) Param { return Param{Name: name, Value: v} }

// IsNamed reports whether the params are named (sent as a JSON object).
func (p Params) IsNamed() bool { return p.named }

// Len returns the number of params.
func (p Params) Len() int {
	if p.text != "" {
		return p.n
	}
	return len(p.list)
}

// At returns the i'th param.
func (p Params) At(i int) Param { return p.All()[i] }

// All returns the params as a slice the caller must not modify. Params
// held as text are decoded at each call.
func (p Params) All() []Param {
	if p.text != "" {
		return p.parse(p.text)
	}
	return p.list
}

// Validate reports the first problem with p: an empty name among named
// params, or a name among unnamed ones. Params held as text are valid.
func (p Params) Validate() error {
	for i, prm := range p.list {
		if p.named && prm.Name == "" {
			return fmt.Errorf("value: param %d has an empty name", i)
		}
		if !p.named && prm.Name != "" {
			return fmt.Errorf("value: unnamed params: param %d has a name %q", i, prm.Name)
		}
		if prm.Value.kind > KindRaw {
			return fmt.Errorf("value: param %d has an unknown kind %d", i, prm.Value.kind)
		}
	}
	return nil
}
