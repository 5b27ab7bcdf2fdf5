package jsonrpc

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/evstream/evstream/value"
)

// clean[c] is true for the ASCII bytes AppendString copies as they are.
// Bytes >= 0x80 are false: they go through the UTF-8 check.
var clean = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// AppendString appends s to dst as a JSON string, escaped as OpenSIPS (cJSON)
// escapes it: '"', '\\' and the bytes 0x00-0x1f are escaped (\b \f \n \r \t,
// the others as lowercase \u00xx); 0x7f, '/', '<', '>', '&', U+2028, U+2029
// and valid non-ASCII UTF-8 are written raw.
//
// Two deliberate deviations keep the output valid JSON: NUL is written as
// \u0000 (OpenSIPS cuts the string there) and every byte that is not part of
// valid UTF-8 is replaced by U+FFFD (OpenSIPS passes it through raw).
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0 // s[start:i] is clean and not yet copied
	for i := 0; i < len(s); {
		c := s[i]
		if clean[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, "\uFFFD"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendValue appends v to dst as JSON: an integer as a JSON integer, a
// string with AppendString, null as null. The evstream extensions: a float
// in its shortest form that reads back as the same float64 (as
// encoding/json writes it; NaN and ±Inf, which JSON cannot express, as
// null), a bool as true or false, and raw JSON exactly as given (an empty
// raw value as null). A Value of unknown kind is written as null.
func AppendValue(dst []byte, v value.Value) []byte {
	switch v.Kind() {
	case value.KindInt:
		return strconv.AppendInt(dst, v.Int(), 10)
	case value.KindString:
		return AppendString(dst, v.Str())
	case value.KindFloat:
		return appendFloat(dst, v.Float())
	case value.KindBool:
		if v.Bool() {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case value.KindRaw:
		if v.Str() == "" {
			return append(dst, "null"...)
		}
		return append(dst, v.Str()...)
	default:
		return append(dst, "null"...)
	}
}

// appendFloat writes f the way encoding/json does (ES6 number formatting):
// plain decimal for 1e-6 <= |f| < 1e21, exponent form otherwise, shortest
// digits that round-trip.
func appendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// AppendParams appends the params member value of an event: named params as
// a JSON object {"k":v,...}, unnamed ones as an array [v,...], in order.
//
// When eventParam is not empty the event name is inserted first: as the
// first member "eventParam":"eventName" of the object, or as the first
// element of the array (OpenSIPS's event_param setting).
//
// With no params and no eventParam it returns dst unchanged: the message then
// has no params member. With no params but an eventParam it appends
// {"eventParam":"eventName"} (an evstream extension: OpenSIPS drops the name).
//
// Params held as text (DecodeEventParamsLazy) are written as they are,
// the event name spliced in first when eventParam is set.
func AppendParams(dst []byte, p value.Params, eventParam, eventName string) []byte {
	if text, ok := p.Text(); ok {
		if eventParam == "" {
			return append(dst, text...)
		}
		dst = append(dst, text[0])
		if p.IsNamed() {
			dst = AppendString(dst, eventParam)
			dst = append(dst, ':')
		}
		dst = AppendString(dst, eventName)
		dst = append(dst, ',')
		return append(dst, text[1:]...)
	}
	list := p.All()
	if len(list) == 0 {
		if eventParam == "" {
			return dst
		}
		dst = append(dst, '{')
		dst = AppendString(dst, eventParam)
		dst = append(dst, ':')
		dst = AppendString(dst, eventName)
		return append(dst, '}')
	}
	if p.IsNamed() {
		dst = append(dst, '{')
		if eventParam != "" {
			dst = AppendString(dst, eventParam)
			dst = append(dst, ':')
			dst = AppendString(dst, eventName)
			dst = append(dst, ',')
		}
		for i, prm := range list {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendString(dst, prm.Name)
			dst = append(dst, ':')
			dst = AppendValue(dst, prm.Value)
		}
		return append(dst, '}')
	}
	dst = append(dst, '[')
	if eventParam != "" {
		dst = AppendString(dst, eventName)
		dst = append(dst, ',')
	}
	for i, prm := range list {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendValue(dst, prm.Value)
	}
	return append(dst, ']')
}

// AppendNotification appends a JSON-RPC notification, byte for byte as
// OpenSIPS writes it:
//
//	{"jsonrpc":"2.0","method":"M","params":P}
//
// params is the already encoded params value (see AppendParams); when it is
// empty the params member is left out.
func AppendNotification(dst []byte, method string, params []byte) []byte {
	dst = append(dst, `{"jsonrpc":"2.0","method":`...)
	return appendMethodParams(dst, method, params)
}

// AppendRequest appends a JSON-RPC request (OpenSIPS's reliable mode), byte
// for byte as OpenSIPS writes it, the id first:
//
//	{"id":N,"jsonrpc":"2.0","method":"M","params":P}
//
// params is as for AppendNotification.
func AppendRequest(dst []byte, id int64, method string, params []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendInt(dst, id, 10)
	dst = append(dst, `,"jsonrpc":"2.0","method":`...)
	return appendMethodParams(dst, method, params)
}

func appendMethodParams(dst []byte, method string, params []byte) []byte {
	dst = AppendString(dst, method)
	if len(params) > 0 {
		dst = append(dst, `,"params":`...)
		dst = append(dst, params...)
	}
	return append(dst, '}')
}

// AppendResult appends a successful JSON-RPC response in OpenSIPS's key
// order:
//
//	{"jsonrpc":"2.0","result":R,"id":ID}
//
// id and result are written as given (they must be valid JSON); an empty
// one is written as null.
func AppendResult(dst []byte, id json.RawMessage, result json.RawMessage) []byte {
	dst = append(dst, `{"jsonrpc":"2.0","result":`...)
	dst = appendRawOrNull(dst, result)
	dst = append(dst, `,"id":`...)
	dst = appendRawOrNull(dst, id)
	return append(dst, '}')
}

// AppendError appends a JSON-RPC error response in OpenSIPS's key order:
//
//	{"jsonrpc":"2.0","error":{"code":C,"message":"M","data":D},"id":ID}
//
// data is left out when e.Data is empty; an empty id is written as null. A
// nil e is written as an internal error.
func AppendError(dst []byte, id json.RawMessage, e *Error) []byte {
	if e == nil {
		e = &Error{Code: CodeInternalError, Message: "Internal error"}
	}
	dst = append(dst, `{"jsonrpc":"2.0","error":{"code":`...)
	dst = strconv.AppendInt(dst, e.Code, 10)
	dst = append(dst, `,"message":`...)
	dst = AppendString(dst, e.Message)
	if len(e.Data) > 0 {
		dst = append(dst, `,"data":`...)
		dst = append(dst, e.Data...)
	}
	dst = append(dst, `},"id":`...)
	dst = appendRawOrNull(dst, id)
	return append(dst, '}')
}

func appendRawOrNull(dst, raw []byte) []byte {
	if len(raw) == 0 {
		return append(dst, "null"...)
	}
	return append(dst, raw...)
}
