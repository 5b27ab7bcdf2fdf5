package jsonrpc

import (
	"strings"
	"unicode/utf8"

	"github.com/evstream/evstream/value"
)

// DecodeEventParamsLazy is DecodeEventParams for a relay: params already in
// the form AppendParams writes (as OpenSIPS writes them: no spaces, its
// string escapes, integers) are not decoded but kept as their text
// (value.FromText), and the text is written out again as it is; the
// others are decoded. The result is the same either way: same name, and
// params with the same list and the same encoding.
func DecodeEventParamsLazy(raw []byte, eventParam string) (name string, p value.Params, err error) {
	if tp, ok := asText(raw, eventParam); ok {
		return tp.name, value.FromText(tp.text, tp.named, tp.n, parseText), nil
	}
	return DecodeEventParams(raw, eventParam)
}

// parseText decodes the text of params made by DecodeEventParamsLazy.
func parseText(text string) []value.Param {
	_, p, err := DecodeEventParams([]byte(text), "")
	if err != nil { // the text was checked: cannot happen
		panic("jsonrpc: params held as text do not decode: " + err.Error())
	}
	return p.All()
}

// textParams are params recognised in their encoded form.
type textParams struct {
	name  string // the event's name taken out (eventParam), or ""
	text  string // the params without it
	n     int
	named bool
}

// asText reports whether raw is exactly what AppendParams writes for
// DecodeEventParams(raw, eventParam), and returns it as textParams. It
// recognises a strict subset of JSON and says no to anything else
// (spaces, floats, escapes AppendString does not write, an eventParam it
// would have to look for beyond the first member...): those params are
// decoded instead, which also reports their errors.
func asText(raw []byte, eventParam string) (textParams, bool) {
	if len(raw) < 3 { // {} [] and shorter: no params, or not params
		return textParams{}, false
	}
	switch raw[0] {
	case '{':
		return objectText(raw, eventParam)
	case '[':
		return arrayText(raw, eventParam)
	}
	return textParams{}, false
}

func objectText(raw []byte, eventParam string) (textParams, bool) {
	tp := textParams{named: true}
	cut := -1 // where the members after the event's name start
	i := 1
	for {
		keyAt := i
		end, escaped, ok := canonString(raw, i)
		if !ok || end == i+2 { // not canonical, or an empty name (an error)
			return textParams{}, false
		}
		key := raw[i+1 : end-1]
		i = end
		if i >= len(raw) || raw[i] != ':' {
			return textParams{}, false
		}
		i++
		valueAt := i
		if i, ok = canonValue(raw, i); !ok {
			return textParams{}, false
		}
		if eventParam != "" && (escaped || string(key) == eventParam) {
			// The first member named eventParam whose value is a
			// non-empty string is the name: only the first member is
			// handled here (OpenSIPS writes it first).
			isName := !escaped && keyAt == 1 && raw[valueAt] == '"' && i-valueAt > 2 && !hasEscape(raw[valueAt:i])
			if !isName {
				return textParams{}, false
			}
			tp.name = string(raw[valueAt+1 : i-1])
			cut = i + 1
		} else {
			tp.n++
		}
		var more bool
		if i, more, ok = afterItem(raw, i, '}', tp.n); !ok {
			return textParams{}, false
		}
		if !more {
			break
		}
	}
	tp.text = textWithout(raw, cut)
	return tp, true
}

// afterItem reads what follows a member or an element, at raw[i]: a comma
// (more: i is moved past it), or the closing byte, which must end raw,
// after at least one param (n). Anything else is not canonical.
func afterItem(raw []byte, i int, closing byte, n int) (next int, more, ok bool) {
	switch {
	case i >= len(raw):
		return i, false, false
	case raw[i] == ',':
		return i + 1, true, true
	case raw[i] == closing:
		return i, false, i == len(raw)-1 && n > 0
	}
	return i, false, false
}

func arrayText(raw []byte, eventParam string) (textParams, bool) {
	var tp textParams
	cut := -1
	i := 1
	for first := true; ; first = false {
		at := i
		var ok bool
		if i, ok = canonValue(raw, i); !ok {
			return textParams{}, false
		}
		if first && eventParam != "" && raw[at] == '"' && i-at > 2 {
			if hasEscape(raw[at:i]) {
				return textParams{}, false
			}
			tp.name = string(raw[at+1 : i-1])
			cut = i + 1
		} else {
			tp.n++
		}
		var more bool
		if i, more, ok = afterItem(raw, i, ']', tp.n); !ok {
			return textParams{}, false
		}
		if !more {
			break
		}
	}
	tp.text = textWithout(raw, cut)
	return tp, true
}

// textWithout returns raw as a string, without raw[1:cut] (the member or
// element that held the event's name, and its comma) when cut > 0.
func textWithout(raw []byte, cut int) string {
	if cut < 0 {
		return string(raw)
	}
	var b strings.Builder
	b.Grow(1 + len(raw) - cut)
	b.WriteByte(raw[0])
	b.Write(raw[cut:])
	return b.String()
}

// hasEscape reports whether the string token s has a backslash.
func hasEscape(s []byte) bool {
	for _, c := range s {
		if c == '\\' {
			return true
		}
	}
	return false
}

// canonValue recognises a params member's value at raw[i] as AppendValue
// writes it back after DecodeParams: a string as AppendString writes it, an
// integer other than -0, true, false, null, or a nested object or array
// without spaces (kept as written). It returns the index after it.
func canonValue(raw []byte, i int) (int, bool) {
	if i >= len(raw) {
		return i, false
	}
	switch c := raw[i]; {
	case c == '"':
		end, _, ok := canonString(raw, i)
		return end, ok
	case c == '-' || c >= '0' && c <= '9':
		return canonInt(raw, i)
	case c == 't':
		return literal(raw, i, "true")
	case c == 'f':
		return literal(raw, i, "false")
	case c == 'n':
		return literal(raw, i, "null")
	case c == '{' || c == '[':
		return compactValue(raw, i, 1)
	}
	return i, false
}

func literal(raw []byte, i int, lit string) (int, bool) {
	if len(raw)-i < len(lit) || string(raw[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// canonInt recognises an integer: -?(0|[1-9][0-9]*), not -0, not followed
// by a fraction or an exponent (a float is re-encoded in its own way).
func canonInt(raw []byte, i int) (int, bool) {
	start := i
	if raw[i] == '-' {
		i++
	}
	if i >= len(raw) || raw[i] < '0' || raw[i] > '9' {
		return i, false
	}
	if raw[i] == '0' {
		i++
		if raw[start] == '-' {
			return i, false // -0 decodes to 0
		}
	} else {
		for i < len(raw) && raw[i] >= '0' && raw[i] <= '9' {
			i++
		}
	}
	if i < len(raw) && (raw[i] == '.' || raw[i] == 'e' || raw[i] == 'E' || raw[i] >= '0' && raw[i] <= '9') {
		return i, false
	}
	return i, true
}

// canonString recognises the string at raw[i] (its opening quote) as
// AppendString writes it: valid UTF-8, and only the escapes it writes
// (\" \\ \b \f \n \r \t, \u00xx in lowercase for the other control
// bytes). escaped reports a backslash in it.
func canonString(raw []byte, i int) (end int, escaped, ok bool) {
	if i >= len(raw) || raw[i] != '"' {
		return i, false, false
	}
	i++
	for i < len(raw) {
		for i < len(raw) && clean[raw[i]] { // what AppendString copies as it is
			i++
		}
		if i == len(raw) {
			break
		}
		c := raw[i]
		switch {
		case c == '"':
			return i + 1, escaped, true
		case c == '\\':
			escaped = true
			if i+1 >= len(raw) {
				return i, escaped, false
			}
			switch raw[i+1] {
			case '"', '\\', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(raw)-i < 6 || raw[i+2] != '0' || raw[i+3] != '0' || !isLowerHex(raw[i+4]) || !isLowerHex(raw[i+5]) {
					return i, escaped, false
				}
				switch v := unhex(raw[i+4])<<4 | unhex(raw[i+5]); {
				case v >= 0x20, v == '\b', v == '\f', v == '\n', v == '\r', v == '\t':
					return i, escaped, false // AppendString writes these otherwise
				}
				i += 6
			default:
				return i, escaped, false
			}
		case c < 0x20:
			return i, escaped, false
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				return i, escaped, false
			}
			i += size
		default:
			i++
		}
	}
	return i, escaped, false
}

func isLowerHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }

// compactValue recognises a JSON value at raw[i] with no space outside
// its strings, which json.Compact leaves as it is: any valid string
// (valid UTF-8), number and literal, objects and arrays nested at most
// maxDepth deep.
func compactValue(raw []byte, i, depth int) (int, bool) {
	if i >= len(raw) {
		return i, false
	}
	switch c := raw[i]; {
	case c == '"':
		return jsonString(raw, i)
	case c == '-' || c >= '0' && c <= '9':
		end, _, context := scanNumber(raw, i)
		return end, context == ""
	case c == 't':
		return literal(raw, i, "true")
	case c == 'f':
		return literal(raw, i, "false")
	case c == 'n':
		return literal(raw, i, "null")
	case c == '{' || c == '[':
		if depth > maxDepth {
			return i, false
		}
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		i++
		if i < len(raw) && raw[i] == closing {
			return i + 1, true
		}
		for {
			var ok bool
			if c == '{' {
				if i, ok = jsonString(raw, i); !ok || i >= len(raw) || raw[i] != ':' {
					return i, false
				}
				i++
			}
			if i, ok = compactValue(raw, i, depth+1); !ok || i >= len(raw) {
				return i, false
			}
			switch raw[i] {
			case ',':
				i++
			case closing:
				return i + 1, true
			default:
				return i, false
			}
		}
	}
	return i, false
}

// jsonString recognises any valid JSON string at raw[i] that is valid
// UTF-8.
func jsonString(raw []byte, i int) (int, bool) {
	if i >= len(raw) || raw[i] != '"' {
		return i, false
	}
	i++
	for i < len(raw) {
		c := raw[i]
		switch {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 >= len(raw) {
				return i, false
			}
			switch raw[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(raw)-i < 6 || !isHex(raw[i+2]) || !isHex(raw[i+3]) || !isHex(raw[i+4]) || !isHex(raw[i+5]) {
					return i, false
				}
				i += 6
			default:
				return i, false
			}
		case c < 0x20:
			return i, false
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				return i, false
			}
			i += size
		default:
			i++
		}
	}
	return i, false
}
