package mi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/value"
)

// args are a command's params once matched against one of its recipes.
type args struct {
	names []string          // the recipe matched, in order
	vals  []json.RawMessage // the values, in recipe order
}

// has reports whether the param name was given.
func (a *args) has(name string) bool { return slices.Contains(a.names, name) }

// raw returns the raw JSON of the param name, nil when absent.
func (a *args) raw(name string) json.RawMessage {
	if i := slices.Index(a.names, name); i >= 0 {
		return a.vals[i]
	}
	return nil
}

// matchParams matches params against c's recipes, as OpenSIPS does: by
// position, the count must equal a recipe's length; by name, the set of
// names must equal a recipe's. Anything else is -32602 "Too few or too
// many parameters".
func matchParams(c *command, params json.RawMessage) (*args, *jsonrpc.Error) {
	tooFewOrMany := invalidParams(MsgTooFewOrMany)
	params = bytes.TrimSpace(params)
	switch {
	case len(params) == 0 || params[0] == '[':
		var vals []json.RawMessage
		if len(params) > 0 {
			if err := json.Unmarshal(params, &vals); err != nil {
				return nil, invalidParams("params: " + err.Error())
			}
		}
		for _, r := range c.Params {
			if len(r) == len(vals) {
				return &args{names: r, vals: vals}, nil
			}
		}
		return nil, tooFewOrMany
	case params[0] == '{':
		var byName map[string]json.RawMessage
		if err := json.Unmarshal(params, &byName); err != nil {
			return nil, invalidParams("params: " + err.Error())
		}
	recipes:
		for _, r := range c.Params {
			if len(r) != len(byName) {
				continue
			}
			vals := make([]json.RawMessage, len(r))
			for i, name := range r {
				v, ok := byName[name]
				if !ok {
					continue recipes
				}
				vals[i] = v
			}
			return &args{names: r, vals: vals}, nil
		}
		return nil, tooFewOrMany
	}
	return nil, newError(jsonrpc.CodeInvalidRequest, "Invalid Request", "params must be an array or an object")
}

func badType(name string) *jsonrpc.Error {
	return invalidParams("Bad type for parameter '" + name + "'")
}

// str returns the string param name; a value that is not a JSON string is
// -32602 "Bad type for parameter 'NAME'".
func (a *args) str(name string) (string, *jsonrpc.Error) {
	raw := a.raw(name)
	if len(raw) == 0 || raw[0] != '"' {
		return "", badType(name)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", badType(name)
	}
	return s, nil
}

// eventSocket returns the string params "event" and "socket", the first
// two of the commands that name one subscriber.
func (a *args) eventSocket() (event, socket string, jerr *jsonrpc.Error) {
	if event, jerr = a.str("event"); jerr != nil {
		return "", "", jerr
	}
	if socket, jerr = a.str("socket"); jerr != nil {
		return "", "", jerr
	}
	return event, socket, nil
}

// MaxExpire is the largest expire accepted, in seconds (OpenSIPS keeps it
// in a 32-bit int): evi.MaxExpire.
const MaxExpire = int64(evi.MaxExpire / time.Second)

// parseExpire reads an expire value: a JSON integer or a string holding
// one, in seconds. Anything else (a fraction, text, a value beyond
// MaxExpire) is -32602 "Bad type for parameter 'expire'"; a negative one is
// -32602 "Negative expire value".
func parseExpire(raw json.RawMessage) (int64, *jsonrpc.Error) {
	text := string(raw)
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return 0, badType("expire")
		}
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) && strings.HasPrefix(text, "-") {
			return 0, invalidParams(MsgNegativeExpire)
		}
		return 0, badType("expire")
	}
	if n < 0 {
		return 0, invalidParams(MsgNegativeExpire)
	}
	if n > MaxExpire {
		return 0, badType("expire")
	}
	return n, nil
}

// parseEventParams converts raise_event's params:
//
//   - a JSON array: unnamed values, each sent as a string (numbers as
//     written: [1,"x"] is sent as ["1","x"]); [] is no params. Elements that
//     are not strings or numbers are refused.
//   - a JSON object, or a string holding one: named values, in the order
//     given. Integers stay integers, strings strings; floats, booleans,
//     null and nested objects or arrays are kept as JSON (OpenSIPS
//     truncates or stringifies them); {} is no params.
//
// Anything else is an error that says what is wrong (raise_event answers
// 400 "Bad Params" with it as data).
func parseEventParams(raw json.RawMessage) (value.Params, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return value.Params{}, nil
	}
	switch raw[0] {
	case '[':
		return unnamedParams(raw)
	case '{':
		return namedParams(raw)
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return value.Params{}, fmt.Errorf("not a JSON string: %w", err)
		}
		if t := strings.TrimSpace(s); t == "" || t[0] != '{' {
			return value.Params{}, fmt.Errorf("a string must hold a JSON object, got %.40q", s)
		}
		return namedParams([]byte(s))
	}
	return value.Params{}, fmt.Errorf("want an array, an object or a string holding an object, got %.40s", raw)
}

func unnamedParams(raw []byte) (value.Params, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return value.Params{}, fmt.Errorf("not a JSON array: %w", err)
	}
	if len(elems) == 0 {
		return value.Params{}, nil
	}
	vals := make([]value.Value, len(elems))
	for i, e := range elems {
		switch c := e[0]; {
		case c == '"':
			var s string
			if err := json.Unmarshal(e, &s); err != nil {
				return value.Params{}, fmt.Errorf("element %d: %v", i, err)
			}
			vals[i] = value.String(s)
		case c == '-' || (c >= '0' && c <= '9'):
			vals[i] = value.String(string(e))
		default:
			return value.Params{}, fmt.Errorf("element %d is %.40s, want a string or a number", i, e)
		}
	}
	return value.Unnamed(vals...), nil
}

// namedParams decodes a JSON object into named params, keeping its keys in
// order and its values' kinds (jsonrpc.DecodeParams); {} is no params.
func namedParams(b []byte) (value.Params, error) {
	if b = bytes.TrimSpace(b); len(b) == 0 || b[0] != '{' {
		return value.Params{}, errors.New("not a JSON object")
	}
	p, err := jsonrpc.DecodeParams(b)
	if err != nil {
		return value.Params{}, errors.New(strings.TrimPrefix(err.Error(), jsonrpc.ErrBadParams.Error()+": "))
	}
	return p, nil
}
