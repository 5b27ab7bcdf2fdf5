package jsonrpc

// A validating scanner over complete buffers. It is used by the Decoder
// once an object is delimited, and by Parse and ParseResponse. It never
// allocates except to report an error.

// maxDepth is the deepest nesting of objects and arrays accepted, the same
// limit encoding/json applies.
const maxDepth = 10000

// plainStr[c] is true for the bytes that stand for themselves inside a JSON
// string: everything but '"', '\\' and control characters.
var plainStr = func() (t [256]bool) {
	for c := 0x20; c < 0x100; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func syntaxErr(b []byte, i int, context string) *SyntaxError {
	if i >= len(b) {
		return &SyntaxError{Offset: int64(i), Msg: "unexpected end of input " + context}
	}
	return &SyntaxError{Offset: int64(i), Msg: "unexpected " + describeByte(b[i]) + " " + context}
}

// checkValue validates the JSON value starting at b[i] (no leading
// whitespace) and returns the index just past it. depth is the nesting
// depth of the enclosing containers.
func checkValue(b []byte, i, depth int) (int, *SyntaxError) {
	if i >= len(b) {
		return i, syntaxErr(b, i, "looking for the beginning of a value")
	}
	switch c := b[i]; c {
	case '{':
		return checkObject(b, i, depth+1)
	case '[':
		return checkArray(b, i, depth+1)
	case '"':
		return checkString(b, i)
	case 't':
		return checkLiteral(b, i, "true")
	case 'f':
		return checkLiteral(b, i, "false")
	case 'n':
		return checkLiteral(b, i, "null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return checkNumber(b, i)
		}
		return i, syntaxErr(b, i, "looking for the beginning of a value")
	}
}

func checkObject(b []byte, i, depth int) (int, *SyntaxError) {
	if depth > maxDepth {
		return i, &SyntaxError{Offset: int64(i), Msg: "exceeded the maximum nesting depth of 10000"}
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, syntaxErr(b, i, "looking for the beginning of an object key string")
		}
		var err *SyntaxError
		if i, err = checkString(b, i); err != nil {
			return i, err
		}
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != ':' {
			return i, syntaxErr(b, i, "after an object key")
		}
		i = skipSpace(b, i+1)
		if i, err = checkValue(b, i, depth); err != nil {
			return i, err
		}
		i = skipSpace(b, i)
		if i < len(b) {
			switch b[i] {
			case ',':
				i = skipSpace(b, i+1)
				continue
			case '}':
				return i + 1, nil
			}
		}
		return i, syntaxErr(b, i, "after an object member")
	}
}

func checkArray(b []byte, i, depth int) (int, *SyntaxError) {
	if depth > maxDepth {
		return i, &SyntaxError{Offset: int64(i), Msg: "exceeded the maximum nesting depth of 10000"}
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		var err *SyntaxError
		if i, err = checkValue(b, i, depth); err != nil {
			return i, err
		}
		i = skipSpace(b, i)
		if i < len(b) {
			switch b[i] {
			case ',':
				i = skipSpace(b, i+1)
				continue
			case ']':
				return i + 1, nil
			}
		}
		return i, syntaxErr(b, i, "after an array element")
	}
}

// checkString validates the string starting at b[i] == '"'.
func checkString(b []byte, i int) (int, *SyntaxError) {
	i++
	for {
		for i < len(b) && plainStr[b[i]] {
			i++
		}
		if i >= len(b) {
			return i, syntaxErr(b, i, "in a string")
		}
		switch b[i] {
		case '"':
			return i + 1, nil
		case '\\':
			i++
			if i >= len(b) {
				return i, syntaxErr(b, i, "in a string escape")
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				i++
				for k := 0; k < 4; k++ {
					if i >= len(b) || !isHex(b[i]) {
						return i, syntaxErr(b, i, `in a \u escape`)
					}
					i++
				}
			default:
				return i, syntaxErr(b, i, "in a string escape")
			}
		default: // control character
			return i, syntaxErr(b, i, "in a string (control characters must be escaped)")
		}
	}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func checkNumber(b []byte, i int) (int, *SyntaxError) {
	end, _, context := scanNumber(b, i)
	if context != "" {
		return end, syntaxErr(b, end, context)
	}
	return end, nil
}

// scanNumber moves past the JSON number at b[i] and tells whether it is an
// integer (no fraction, no exponent). When it is malformed, it returns where
// and, as context, what was being read ("in a number").
func scanNumber(b []byte, i int) (end int, integer bool, context string) {
	integer = true
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	default:
		return i, false, "in a number"
	}
	if i < len(b) && b[i] == '.' {
		integer = false
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return i, false, "after the decimal point in a number"
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		integer = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return i, false, "in the exponent of a number"
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	return i, integer, ""
}

func checkLiteral(b []byte, i int, lit string) (int, *SyntaxError) {
	for k := 0; k < len(lit); k++ {
		if i+k >= len(b) || b[i+k] != lit[k] {
			return i + k, syntaxErr(b, i+k, "in the literal "+lit)
		}
	}
	return i + len(lit), nil
}

// members iterates over the members of a JSON object, validating as it
// goes unless trusted (b is known to be valid JSON). Start it with i at the
// '{'.
type members struct {
	b       []byte
	i       int
	begun   bool
	trusted bool
}

// next returns the next member's raw key (quotes included) and raw value.
// ok is false after the closing '}', when m.i is just past it.
func (m *members) next() (key, val []byte, ok bool, err *SyntaxError) {
	b, i := m.b, m.i
	if !m.begun {
		m.begun = true
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			m.i = i + 1
			return nil, nil, false, nil
		}
	} else {
		i = skipSpace(b, i)
		if i < len(b) && b[i] == '}' {
			m.i = i + 1
			return nil, nil, false, nil
		}
		if i >= len(b) || b[i] != ',' {
			return nil, nil, false, syntaxErr(b, i, "after an object member")
		}
		i = skipSpace(b, i+1)
	}
	if i >= len(b) || b[i] != '"' {
		return nil, nil, false, syntaxErr(b, i, "looking for the beginning of an object key string")
	}
	ks := i
	if m.trusted {
		i = skipValidString(b, i)
	} else if i, err = checkString(b, i); err != nil {
		return nil, nil, false, err
	}
	key = b[ks:i]
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return nil, nil, false, syntaxErr(b, i, "after an object key")
	}
	i = skipSpace(b, i+1)
	vs := i
	if m.trusted {
		if i = skipValidValue(b, i); i == vs {
			return nil, nil, false, syntaxErr(b, i, "looking for the beginning of a value")
		}
	} else if i, err = checkValue(b, i, 1); err != nil {
		return nil, nil, false, err
	}
	m.i = i
	return key, b[vs:i], true, nil
}

// skipValidValue returns the index just past the value that starts at b[i],
// which must be valid JSON: it only follows strings and nesting. On invalid
// JSON it returns some index up to len(b), without panicking.
func skipValidValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipValidString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			for i < len(b) && !structural[b[i]] {
				i++
			}
			if i >= len(b) {
				break
			}
			switch b[i] {
			case '"':
				i = skipValidString(b, i)
				continue
			case '{', '[':
				depth++
			default: // '}', ']'
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default: // a number or a literal
		for i < len(b) && !endOfScalar[b[i]] {
			i++
		}
		return i
	}
}

// endOfScalar[c] is true for the bytes that can follow a number or a
// literal in valid JSON.
var endOfScalar = func() (t [256]bool) {
	for _, c := range []byte(",}] \t\n\r") {
		t[c] = true
	}
	return t
}()

// skipValidString returns the index just past the string that starts at
// b[i] == '"', which must be valid JSON; at most len(b).
func skipValidString(b []byte, i int) int {
	i++
	for i < len(b) {
		for i < len(b) && !stringStop[b[i]] {
			i++
		}
		if i >= len(b) {
			break
		}
		if b[i] == '"' {
			return i + 1
		}
		i += 2 // an escape: its first character cannot end the string
	}
	return min(i, len(b))
}

// strEq reports whether the raw JSON string raw (quotes included, already
// validated) decodes to want, which must be ASCII without backslashes.
func strEq(raw []byte, want string) bool {
	if len(raw) < 2 || raw[0] != '"' {
		return false
	}
	s := raw[1 : len(raw)-1]
	if len(s) == len(want) && string(s) == want {
		return true
	}
	j := 0
	for i := 0; i < len(s); j++ {
		if j >= len(want) {
			return false
		}
		c := s[i]
		if c != '\\' {
			if c != want[j] {
				return false
			}
			i++
			continue
		}
		if i+1 >= len(s) {
			return false
		}
		switch e := s[i+1]; e {
		case 'u':
			if i+6 > len(s) {
				return false
			}
			var r rune
			for _, h := range s[i+2 : i+6] {
				r = r<<4 | rune(unhex(h))
			}
			if r >= 0x80 || byte(r) != want[j] {
				return false
			}
			i += 6
		default:
			if unescape(e) != want[j] {
				return false
			}
			i += 2
		}
	}
	return j == len(want)
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return 0
}

// unescape maps the letter of a one-letter escape to the byte it stands for.
func unescape(e byte) byte {
	switch e {
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	}
	return e // '"', '\\', '/'
}

// parseInt parses a raw JSON value as an int64 if it is a JSON integer
// (optional minus, digits, no fraction or exponent) that fits.
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg = true
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		u = u*10 + uint64(c-'0') // at most 19 digits: no uint64 overflow
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}
