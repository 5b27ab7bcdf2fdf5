package jsonrpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// ErrTooLarge is wrapped by the error a Decoder returns when an object is
// larger than its size limit. Test for it with errors.Is.
var ErrTooLarge = errors.New("message too large")

// ErrInvalidMessage is wrapped by the errors Parse and ParseResponse return
// for input that is valid JSON but not a valid JSON-RPC 2.0 message (not an
// object, a "jsonrpc" member that is not "2.0", a method that is not a
// string...). Test for it with errors.Is.
var ErrInvalidMessage = errors.New("invalid JSON-RPC message")

// SyntaxError reports malformed JSON: a byte that cannot appear where it
// does, broken nesting, or input that ends too early. It corresponds to the
// JSON-RPC "Parse error" (CodeParseError).
type SyntaxError struct {
	// Offset is where the problem is: the byte offset in the stream for a
	// Decoder, in the input for Parse and ParseResponse.
	Offset int64
	// Msg says what is wrong, naming the unexpected byte.
	Msg string
}

func (e *SyntaxError) Error() string {
	return "jsonrpc: syntax error at offset " + strconv.FormatInt(e.Offset, 10) + ": " + e.Msg
}

// JSON-RPC 2.0 error codes.
const (
	CodeParseError     = -32700 // invalid JSON
	CodeInvalidRequest = -32600 // valid JSON, not a valid request
	CodeMethodNotFound = -32601 // no such method
	CodeInvalidParams  = -32602 // bad params for the method
	CodeInternalError  = -32603 // the server failed
)

// Error is a JSON-RPC error object, as carried by an error response. It
// implements error, so a handler can return one to choose the reply's code.
type Error struct {
	Code    int64           `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// Error returns "jsonrpc error CODE: MESSAGE", followed by " (data: DATA)"
// when the error has data.
func (e *Error) Error() string {
	s := "jsonrpc error " + strconv.FormatInt(e.Code, 10) + ": " + e.Message
	if len(e.Data) > 0 {
		s += " (data: " + string(e.Data) + ")"
	}
	return s
}

// CodeOf returns the JSON-RPC error code that describes err: the code of an
// *Error in its chain, CodeParseError for a *SyntaxError, CodeInvalidRequest
// for ErrInvalidMessage and ErrTooLarge, CodeInternalError for anything
// else, and 0 for a nil err. A server uses it to pick the code of the error
// reply to a message that Parse or a Decoder rejected.
func CodeOf(err error) int64 {
	if err == nil {
		return 0
	}
	var je *Error
	if errors.As(err, &je) {
		return je.Code
	}
	var se *SyntaxError
	if errors.As(err, &se) {
		return CodeParseError
	}
	if errors.Is(err, ErrInvalidMessage) || errors.Is(err, ErrTooLarge) {
		return CodeInvalidRequest
	}
	return CodeInternalError
}

// describeByte names c for error messages: 'x' when printable, else 0xNN.
func describeByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		if c == '\'' {
			return `'\''`
		}
		return "'" + string(rune(c)) + "'"
	}
	return fmt.Sprintf("byte 0x%02x", c)
}
