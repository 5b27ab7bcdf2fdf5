package jsonrpc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Message is one JSON-RPC 2.0 message: a request, a notification or a
// response. Raw members hold the JSON exactly as received.
type Message struct {
	ID     json.RawMessage // nil when absent (notification); may be null, a number or a string
	Method string
	Params json.RawMessage // nil when absent; an object or an array
	Result json.RawMessage // nil when absent
	Error  *Error          // nil when absent
}

// IsRequest reports whether m is a request: it has a method and an id.
func (m *Message) IsRequest() bool { return m.Method != "" && m.ID != nil }

// IsNotification reports whether m is a notification: a method and no id.
func (m *Message) IsNotification() bool { return m.Method != "" && m.ID == nil }

// IsResponse reports whether m is a response: no method, and a result or
// an error.
func (m *Message) IsResponse() bool {
	return m.Method == "" && (m.Result != nil || m.Error != nil)
}

// IntID returns the id as an int64 when it is a JSON integer that fits
// (not null, a string, a fraction or an exponent).
func (m *Message) IntID() (int64, bool) { return parseInt(m.ID) }

// Parse parses one JSON-RPC 2.0 message, a JSON object, with optional
// whitespace around it. The Message does not retain b.
//
// The checks are those of the JSON-RPC 2.0 specification: the "jsonrpc"
// member, when present, must be "2.0" (it may be absent, for leniency);
// "method" must be a non-empty string, "params" an object or an array, "id"
// null, a number or a string; a request or notification has no "result" or
// "error"; a response has exactly one of them, and its error is an object
// with an integer "code" and a string "message". An "error" member that is
// null counts as absent. Unknown members are ignored; when a member appears
// twice the last one counts.
//
// Malformed JSON gives an error wrapping a *SyntaxError; valid JSON that is
// not a valid message gives an error wrapping ErrInvalidMessage, together
// with the Message as far as it was parsed (its ID set when the id was
// valid, so an error reply can echo it). CodeOf maps both to the JSON-RPC
// error code to reply with.
func Parse(b []byte) (*Message, error) {
	m := &Message{}
	obj, serr, problem := parseInto(m, b, false, "")
	if serr != nil {
		return nil, fmt.Errorf("jsonrpc: parsing message: %w", serr)
	}
	if obj == nil { // not an object
		return nil, problem
	}
	// One copy holds every raw member.
	cp := bytes.Clone(obj)
	m.ID, m.Params, m.Result = rebase(cp, obj, m.ID), rebase(cp, obj, m.Params), rebase(cp, obj, m.Result)
	if problem != nil {
		return m, problem
	}
	return m, nil
}

// A Parser parses the JSON-RPC messages of one stream, as a connection's
// reader goroutine reads them with a Decoder. It is Parse without the work
// that the Decoder has already done or that the reader does not need:
//
//   - it does not validate the JSON again: the object must be valid JSON,
//     as Decoder.Next returns it (on other input it does not panic, but the
//     result is unspecified);
//   - it does not copy the object: the Message's raw members point into b;
//   - it reuses its Message, and the last method name when the next message
//     has the same one, so that a stream of the same event allocates nothing.
//
// On valid JSON it returns what Parse returns, errors included. The
// Message it returns is valid until the next call to Parse and while b is
// unchanged. The zero Parser is ready to use; it is not safe for
// concurrent use.
type Parser struct {
	msg    Message
	method string // the last method name
}

// Parse parses the JSON-RPC message b, one valid JSON object; see Parser.
func (p *Parser) Parse(b []byte) (*Message, error) {
	p.msg = Message{}
	obj, serr, problem := parseInto(&p.msg, b, true, p.method)
	if serr != nil {
		return nil, fmt.Errorf("jsonrpc: parsing message: %w", serr)
	}
	if obj == nil {
		return nil, problem
	}
	if p.msg.Method != "" {
		p.method = p.msg.Method
	}
	if problem != nil {
		return &p.msg, problem
	}
	return &p.msg, nil
}

// rebase returns the slice of cp, a copy of obj, that stands where v stands
// in obj; nil for nil.
func rebase(cp, obj, v []byte) []byte {
	if v == nil {
		return nil
	}
	off := cap(obj) - cap(v) // v is a sub-slice of obj
	return cp[off : off+len(v) : off+len(v)]
}

// parseInto parses the message b into m in a single pass over its members.
// It returns the object (b without the whitespace around it), or nil with
// an ErrInvalidMessage problem when b is valid JSON but not an object; the
// raw members of m point into b. serr reports malformed JSON, in which case
// the rest is meaningless; else problem is the first reason why the
// object is not a valid message, found after reading every member. When
// trusted, b is known to be valid JSON and is not validated again. last is
// a method name to reuse when the message has the same one.
func parseInto(m *Message, b []byte, trusted bool, last string) (obj []byte, serr *SyntaxError, problem error) {
	start := skipSpace(b, 0)
	if start >= len(b) || b[start] != '{' {
		end, serr := checkValue(b, start, 0)
		if serr == nil {
			if i := skipSpace(b, end); i < len(b) {
				serr = syntaxErr(b, i, "after the top-level value")
			}
		}
		if serr != nil {
			return nil, serr, nil
		}
		return nil, nil, invalid("not a JSON object: %s", excerpt(b[start:end]))
	}
	var hasMethod bool
	var errVal []byte
	it := members{b: b, i: start, trusted: trusted}
	for {
		key, val, ok, serr := it.next()
		if serr != nil {
			return nil, serr, nil
		}
		if !ok {
			break
		}
		switch {
		case strEq(key, "jsonrpc"):
			if !strEq(val, "2.0") {
				note(&problem, `"jsonrpc" is %s, want "2.0"`, val)
			}
		case strEq(key, "method"):
			if val[0] != '"' {
				note(&problem, `"method" is %s, want a string`, val)
				continue
			}
			m.Method, hasMethod = unquoteReuse(val, last), true
		case strEq(key, "params"):
			if val[0] != '{' && val[0] != '[' {
				note(&problem, `"params" is %s, want an object or an array`, val)
				continue
			}
			m.Params = val
		case strEq(key, "id"):
			if c := val[0]; c == '{' || c == '[' || c == 't' || c == 'f' {
				note(&problem, `"id" is %s, want a number, a string or null`, val)
				continue
			}
			m.ID = val
		case strEq(key, "result"):
			m.Result = val
		case strEq(key, "error"):
			errVal = val
		}
	}
	if i := skipSpace(b, it.i); i < len(b) {
		return nil, syntaxErr(b, i, "after the top-level value"), nil
	}
	if errVal != nil && !bytes.Equal(errVal, []byte("null")) {
		e, ok := parseError(errVal)
		if !ok {
			note(&problem, `"error" is %s, want an object with an integer "code" and a string "message"`, errVal)
		}
		m.Error = e
	}
	switch {
	case problem != nil:
	case hasMethod && m.Method == "":
		problem = invalid(`"method" is empty`)
	case hasMethod && (m.Result != nil || m.Error != nil):
		problem = invalid(`a request has "method" and also "result" or "error"`)
	case !hasMethod && m.Result != nil && m.Error != nil:
		problem = invalid(`a response has both "result" and "error"`)
	case !hasMethod && m.Result == nil && m.Error == nil:
		problem = invalid(`neither "method", "result" nor "error"`)
	}
	return b[start:it.i], nil, problem
}

// note sets *problem to an ErrInvalidMessage error about the raw value val,
// unless a problem was noted before: the first one counts.
func note(problem *error, format string, val []byte) {
	if *problem == nil {
		*problem = invalid(format, excerpt(val))
	}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("jsonrpc: %w: "+format, append([]any{ErrInvalidMessage}, args...)...)
}

// excerpt quotes raw JSON for an error message, shortened when long.
func excerpt(b []byte) string {
	const n = 40
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// unquoteReuse is unquote that returns last, without allocating, when raw
// is last quoted without escapes.
func unquoteReuse(raw []byte, last string) string {
	if len(raw) < 2 { // only from a trusted walk over invalid JSON
		return ""
	}
	if s := raw[1 : len(raw)-1]; last != "" && string(s) == last && bytes.IndexByte(s, '\\') < 0 {
		return last
	}
	return unquote(raw)
}

// unquote decodes a raw JSON string (validated).
func unquote(raw []byte) string {
	s := raw[1 : len(raw)-1]
	if bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		return string(s)
	}
	var out string
	_ = json.Unmarshal(raw, &out) // cannot fail: raw is a valid JSON string
	return out
}

// parseError decodes a raw error member. ok is false when it is not an
// object with an integer code and a string message; e is then filled as far
// as possible, with the raw member as Data when it is not an object. The
// returned Error does not share memory with raw.
func parseError(raw []byte) (e *Error, ok bool) {
	e = &Error{}
	if raw[0] != '{' {
		e.Message = "malformed error member"
		e.Data = bytes.Clone(raw)
		return e, false
	}
	var hasCode, hasMessage, bad bool
	it := members{b: raw}
	for {
		key, val, more, _ := it.next()
		if !more {
			break
		}
		switch {
		case strEq(key, "code"):
			e.Code, hasCode = parseInt(val)
			bad = bad || !hasCode
		case strEq(key, "message"):
			if val[0] == '"' {
				e.Message, hasMessage = unquote(val), true
			} else {
				bad = true
			}
		case strEq(key, "data"):
			e.Data = bytes.Clone(val)
		}
	}
	return e, hasCode && hasMessage && !bad
}

// Response is a reply to a request, as ParseResponse reads it.
type Response struct {
	// ID is the reply's id when HasID is true.
	ID int64
	// HasID reports that the id is a JSON integer that fits an int64. It is
	// false when the id is missing, null, a string or another number.
	HasID bool
	// Error is the reply's error member, nil when it has none. Any error
	// member makes the reply a failure, as in OpenSIPS, even "error":null:
	// one that is not a well-formed error object is returned as well as it
	// can be read (Message "malformed error member", the raw value in Data).
	Error *Error
	// HasMethod reports that the object has a "method" member: it is a
	// request or notification from the peer, not a reply, and must not
	// confirm anything.
	HasMethod bool
}

// ParseResponse reads a reply to a request: its integer id and its error
// member. It is the fast path for confirming deliveries, and does not
// allocate for a reply without an error.
//
// Members may come in any order with any whitespace; the others ("jsonrpc",
// "result", unknown ones) are validated and skipped. When a member appears
// twice the last one counts. A reply whose id is missing, null or not an
// integer is returned with HasID false and no error: what to do with it is
// the caller's business. The only errors are for input that is not one JSON
// object: malformed JSON (wrapping a *SyntaxError) or another JSON value
// (wrapping ErrInvalidMessage).
func ParseResponse(b []byte) (Response, error) {
	var r Response
	start := skipSpace(b, 0)
	if start >= len(b) || b[start] != '{' {
		if _, serr := checkValue(b, start, 0); serr != nil {
			return r, fmt.Errorf("jsonrpc: parsing response: %w", serr)
		}
		return r, fmt.Errorf("jsonrpc: parsing response: %w: not a JSON object: %s",
			ErrInvalidMessage, excerpt(b[start:]))
	}
	it := members{b: b, i: start}
	var errVal []byte
	for {
		key, val, ok, serr := it.next()
		if serr != nil {
			return Response{}, fmt.Errorf("jsonrpc: parsing response: %w", serr)
		}
		if !ok {
			break
		}
		switch {
		case strEq(key, "id"):
			r.ID, r.HasID = parseInt(val)
		case strEq(key, "error"):
			errVal = val
		case strEq(key, "method"):
			r.HasMethod = true
		}
	}
	if i := skipSpace(b, it.i); i < len(b) {
		return Response{}, fmt.Errorf("jsonrpc: parsing response: %w", syntaxErr(b, i, "after the top-level value"))
	}
	if errVal != nil {
		r.Error, _ = parseError(errVal)
	}
	return r, nil
}
