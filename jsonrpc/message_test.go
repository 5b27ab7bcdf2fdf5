package jsonrpc

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

var parseTests = []struct {
	name     string
	in       string
	want     Message
	kind     string // "request", "notification", "response"
	intID    int64
	hasIntID bool
}{
	{name: "notification", in: `{"jsonrpc":"2.0","method":"E_SCRIPT","params":{"ip":"192.168.2.11"}}`,
		want: Message{Method: "E_SCRIPT", Params: json.RawMessage(`{"ip":"192.168.2.11"}`)}, kind: "notification"},
	{name: "request", in: `{"id":915243442,"jsonrpc":"2.0","method":"E_SCRIPT","params":["a",1]}`,
		want: Message{ID: json.RawMessage(`915243442`), Method: "E_SCRIPT", Params: json.RawMessage(`["a",1]`)},
		kind: "request", intID: 915243442, hasIntID: true},
	{name: "no-params", in: `{"jsonrpc":"2.0","method":"E_X"}`, want: Message{Method: "E_X"}, kind: "notification"},
	{name: "no-jsonrpc-member", in: `{"method":"E_X","id":1}`, want: Message{Method: "E_X", ID: json.RawMessage(`1`)},
		kind: "request", intID: 1, hasIntID: true},
	{name: "out-of-order-whitespace", in: " \n{ \"params\" : [ ] , \"method\" : \"m\\u0041\" , \"id\" : \"abc\" , \"jsonrpc\" : \"2.0\" }\n ",
		want: Message{ID: json.RawMessage(`"abc"`), Method: "mA", Params: json.RawMessage(`[ ]`)}, kind: "request"},
	{name: "null-id", in: `{"jsonrpc":"2.0","method":"m","id":null}`, want: Message{ID: json.RawMessage(`null`), Method: "m"}, kind: "request"},
	{name: "float-id", in: `{"jsonrpc":"2.0","method":"m","id":1.5}`, want: Message{ID: json.RawMessage(`1.5`), Method: "m"}, kind: "request"},
	{name: "negative-id", in: `{"jsonrpc":"2.0","method":"m","id":-3}`, want: Message{ID: json.RawMessage(`-3`), Method: "m"},
		kind: "request", intID: -3, hasIntID: true},
	{name: "huge-id", in: `{"jsonrpc":"2.0","method":"m","id":99999999999999999999}`,
		want: Message{ID: json.RawMessage(`99999999999999999999`), Method: "m"}, kind: "request"},
	{name: "escaped-keys", in: `{"\u006aSONrpc":"x","jsonrp\u0063":"2\u002e0","m\u0065thod":"m"}`, want: Message{Method: "m"}, kind: "notification"},
	{name: "unknown-nested", in: `{"x":{"method":"no","a":[{"id":5},"}\"{"]},"jsonrpc":"2.0","method":"m","y":[[[]]]}`,
		want: Message{Method: "m"}, kind: "notification"},
	{name: "duplicate-last-wins", in: `{"method":"a","method":"b"}`, want: Message{Method: "b"}, kind: "notification"},
	{name: "result", in: `{"jsonrpc":"2.0","result":8,"id":915243442}`,
		want: Message{ID: json.RawMessage(`915243442`), Result: json.RawMessage(`8`)}, kind: "response", intID: 915243442, hasIntID: true},
	{name: "result-null", in: `{"jsonrpc":"2.0","result":null,"id":1}`,
		want: Message{ID: json.RawMessage(`1`), Result: json.RawMessage(`null`)}, kind: "response", intID: 1, hasIntID: true},
	{name: "result-with-null-error", in: `{"jsonrpc":"2.0","result":{"a":[1]},"error":null,"id":"x"}`,
		want: Message{ID: json.RawMessage(`"x"`), Result: json.RawMessage(`{"a":[1]}`)}, kind: "response"},
	{name: "error", in: `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"Negative expire value"},"id":1}`,
		want: Message{ID: json.RawMessage(`1`), Error: &Error{Code: -32602, Message: "Invalid params", Data: json.RawMessage(`"Negative expire value"`)}},
		kind: "response", intID: 1, hasIntID: true},
	{name: "error-null-id", in: `{"id":null,"error":{"message":"Parse error","code":-32700,"extra":{}},"jsonrpc":"2.0"}`,
		want: Message{ID: json.RawMessage(`null`), Error: &Error{Code: -32700, Message: "Parse error"}}, kind: "response"},
	{name: "error-escaped-message", in: `{"error":{"code":1,"message":"a\"\u00e9\n"},"id":2}`,
		want: Message{ID: json.RawMessage(`2`), Error: &Error{Code: 1, Message: "a\"é\n"}}, kind: "response", intID: 2, hasIntID: true},
}

var parseErrorTests = []struct {
	name   string
	in     string
	code   int64  // CodeOf the error
	substr string // in the error message
	id     string // the ID of the partial message, "" when none
}{
	{"empty", ``, CodeParseError, "end of input", ""},
	{"garbage", `hello`, CodeParseError, "unexpected 'h'", ""},
	{"truncated", `{"method":"m"`, CodeParseError, "end of input", ""},
	{"trailing", `{"method":"m"} {}`, CodeParseError, "after the top-level value", ""},
	{"bad-escape", `{"method":"\q"}`, CodeParseError, "escape", ""},
	{"array", `[{"method":"m"}]`, CodeInvalidRequest, "not a JSON object", ""},
	{"string", `"x"`, CodeInvalidRequest, "not a JSON object", ""},
	{"wrong-version", `{"jsonrpc":"1.0","method":"m","id":4}`, CodeInvalidRequest, `"jsonrpc" is "1.0"`, "4"},
	{"version-number", `{"jsonrpc":2.0,"method":"m"}`, CodeInvalidRequest, `"jsonrpc" is 2.0`, ""},
	{"method-number", `{"jsonrpc":"2.0","method":1,"id":"a"}`, CodeInvalidRequest, `"method" is 1`, `"a"`},
	{"method-empty", `{"jsonrpc":"2.0","method":"","id":1}`, CodeInvalidRequest, `"method" is empty`, "1"},
	{"params-string", `{"jsonrpc":"2.0","method":"m","params":"x"}`, CodeInvalidRequest, `"params" is "x"`, ""},
	{"id-object", `{"jsonrpc":"2.0","method":"m","id":{}}`, CodeInvalidRequest, `"id" is {}`, ""},
	{"id-bool", `{"jsonrpc":"2.0","method":"m","id":true}`, CodeInvalidRequest, `"id" is true`, ""},
	{"method-and-result", `{"jsonrpc":"2.0","method":"m","result":1,"id":1}`, CodeInvalidRequest, `"method" and also`, "1"},
	{"result-and-error", `{"jsonrpc":"2.0","result":1,"error":{"code":1,"message":"x"},"id":1}`, CodeInvalidRequest, `both "result" and "error"`, "1"},
	{"neither", `{"jsonrpc":"2.0","id":1}`, CodeInvalidRequest, `neither`, "1"},
	{"empty-object", `{}`, CodeInvalidRequest, `neither`, ""},
	{"error-string", `{"jsonrpc":"2.0","error":"boom","id":1}`, CodeInvalidRequest, `"error" is "boom"`, "1"},
	{"error-no-code", `{"jsonrpc":"2.0","error":{"message":"x"},"id":1}`, CodeInvalidRequest, `"error" is`, "1"},
	{"error-float-code", `{"jsonrpc":"2.0","error":{"code":1.5,"message":"x"},"id":1}`, CodeInvalidRequest, `"error" is`, "1"},
	{"error-message-number", `{"jsonrpc":"2.0","error":{"code":1,"message":2},"id":1}`, CodeInvalidRequest, `"error" is`, "1"},
	{"long-value-shortened", `{"jsonrpc":"` + strings.Repeat("v", 100) + `","method":"m"}`, CodeInvalidRequest, `vvvv..., want`, ""},
}

func TestParse(t *testing.T) {
	tests := parseTests
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			m, err := Parse(in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			for i := range in {
				in[i] = 'X' // Parse must not retain its input
			}
			if string(m.ID) != string(tc.want.ID) || (m.ID == nil) != (tc.want.ID == nil) {
				t.Errorf("ID %q, want %q", m.ID, tc.want.ID)
			}
			if m.Method != tc.want.Method {
				t.Errorf("Method %q, want %q", m.Method, tc.want.Method)
			}
			if string(m.Params) != string(tc.want.Params) || (m.Params == nil) != (tc.want.Params == nil) {
				t.Errorf("Params %q, want %q", m.Params, tc.want.Params)
			}
			if string(m.Result) != string(tc.want.Result) || (m.Result == nil) != (tc.want.Result == nil) {
				t.Errorf("Result %q, want %q", m.Result, tc.want.Result)
			}
			if (m.Error == nil) != (tc.want.Error == nil) ||
				(m.Error != nil && (m.Error.Code != tc.want.Error.Code || m.Error.Message != tc.want.Error.Message || string(m.Error.Data) != string(tc.want.Error.Data))) {
				t.Errorf("Error %+v, want %+v", m.Error, tc.want.Error)
			}
			kinds := map[string]bool{"request": m.IsRequest(), "notification": m.IsNotification(), "response": m.IsResponse()}
			for k, is := range kinds {
				if is != (k == tc.kind) {
					t.Errorf("Is %s = %v, message is a %s", k, is, tc.kind)
				}
			}
			id, ok := m.IntID()
			if id != tc.intID || ok != tc.hasIntID {
				t.Errorf("IntID = %d, %v; want %d, %v", id, ok, tc.intID, tc.hasIntID)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := parseErrorTests
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.in))
			if err == nil {
				t.Fatalf("Parse(%s) succeeded: %+v", tc.in, m)
			}
			if got := CodeOf(err); got != tc.code {
				t.Errorf("CodeOf(%v) = %d, want %d", err, got, tc.code)
			}
			if tc.code == CodeInvalidRequest && !errors.Is(err, ErrInvalidMessage) {
				t.Errorf("error %v does not wrap ErrInvalidMessage", err)
			}
			if tc.code == CodeParseError {
				var se *SyntaxError
				if !errors.As(err, &se) {
					t.Errorf("error %v does not wrap a *SyntaxError", err)
				}
			}
			if !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("error %q does not contain %q", err, tc.substr)
			}
			if tc.id != "" && (m == nil || string(m.ID) != tc.id) {
				t.Errorf("partial message %+v, want ID %s", m, tc.id)
			}
		})
	}
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		id    int64
		hasID bool
		err   *Error // expected Error member
		hasM  bool   // expected HasMethod
	}{
		{name: "opensips", in: `{"jsonrpc":"2.0","result":8,"id":915243442}`, id: 915243442, hasID: true},
		{name: "id-first", in: `{"id":7,"jsonrpc":"2.0","result":"OK"}`, id: 7, hasID: true},
		{name: "whitespace", in: " {\n \"id\" : 7 ,\t\"result\" : true } \n", id: 7, hasID: true},
		{name: "escaped-key", in: `{"\u0069\u0064":12,"result":1}`, id: 12, hasID: true},
		{name: "escaped-key-not-id", in: `{"i\u0064x":12,"result":1}`},
		{name: "case-matters", in: `{"ID":12,"result":1}`},
		{name: "negative", in: `{"result":0,"id":-5}`, id: -5, hasID: true},
		{name: "zero", in: `{"result":0,"id":0}`, id: 0, hasID: true},
		{name: "max-int64", in: `{"id":9223372036854775807}`, id: 9223372036854775807, hasID: true},
		{name: "min-int64", in: `{"id":-9223372036854775808}`, id: -9223372036854775808, hasID: true},
		{name: "overflow", in: `{"id":9223372036854775808}`},
		{name: "missing-id", in: `{"jsonrpc":"2.0","result":8}`},
		{name: "null-id", in: `{"jsonrpc":"2.0","result":8,"id":null}`},
		{name: "string-id", in: `{"jsonrpc":"2.0","result":8,"id":"915243442"}`},
		{name: "float-id", in: `{"jsonrpc":"2.0","result":8,"id":1.0}`},
		{name: "exponent-id", in: `{"jsonrpc":"2.0","result":8,"id":1e3}`},
		{name: "object-id", in: `{"id":{"id":3},"result":1}`},
		{name: "duplicate-id", in: `{"id":1,"id":2}`, id: 2, hasID: true},
		{name: "duplicate-id-last-null", in: `{"id":1,"id":null}`},
		{name: "empty-object", in: `{}`},
		{name: "unknown-nested", in: `{"x":{"id":1,"a":[{"error":{}},"}\"{",[[]]]},"result":{"id":2,"s":"\\\""},"id":3}`, id: 3, hasID: true},
		{name: "error", in: `{"jsonrpc":"2.0","error":{"code":-32000,"message":"db down"},"id":915243442}`, id: 915243442, hasID: true,
			err: &Error{Code: -32000, Message: "db down"}},
		{name: "error-after-id-with-data", in: `{"id":4,"error":{"data":{"why":[1,2]},"message":"no \"way\"","code":400}}`, id: 4, hasID: true,
			err: &Error{Code: 400, Message: `no "way"`, Data: json.RawMessage(`{"why":[1,2]}`)}},
		// OpenSIPS fails a reply that has an error member at all, null included.
		{name: "error-null", in: `{"jsonrpc":"2.0","result":1,"error":null,"id":5}`, id: 5, hasID: true,
			err: &Error{Message: "malformed error member", Data: json.RawMessage(`null`)}},
		{name: "error-string", in: `{"error":"boom","id":6}`, id: 6, hasID: true,
			err: &Error{Message: "malformed error member", Data: json.RawMessage(`"boom"`)}},
		{name: "error-empty-object", in: `{"error":{},"id":6}`, id: 6, hasID: true, err: &Error{}},
		{name: "error-null-id", in: `{"error":{"code":-32700,"message":"Parse error"},"id":null}`, err: &Error{Code: -32700, Message: "Parse error"}},
		// A request from the peer is not a reply, whatever its id.
		{name: "peer-request", in: `{"id":3,"jsonrpc":"2.0","method":"ping"}`, id: 3, hasID: true, hasM: true},
		{name: "peer-notification", in: `{"jsonrpc":"2.0","method":"ping","params":[1]}`, hasM: true},
		{name: "method-nested-only", in: `{"result":{"method":"x"},"id":9}`, id: 9, hasID: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			r, err := ParseResponse(in)
			if err != nil {
				t.Fatalf("ParseResponse: %v", err)
			}
			if r.ID != tc.id || r.HasID != tc.hasID {
				t.Errorf("ID %d, HasID %v; want %d, %v", r.ID, r.HasID, tc.id, tc.hasID)
			}
			if r.HasMethod != tc.hasM {
				t.Errorf("HasMethod %v, want %v", r.HasMethod, tc.hasM)
			}
			for i := range in {
				in[i] = 'X' // the Response must not share memory with its input
			}
			if (r.Error == nil) != (tc.err == nil) {
				t.Fatalf("Error %+v, want %+v", r.Error, tc.err)
			}
			if r.Error != nil && (r.Error.Code != tc.err.Code || r.Error.Message != tc.err.Message || string(r.Error.Data) != string(tc.err.Data)) {
				t.Errorf("Error %+v (data %s), want %+v (data %s)", r.Error, r.Error.Data, tc.err, tc.err.Data)
			}
		})
	}
}

func TestParseResponseErrors(t *testing.T) {
	tests := []struct {
		in   string
		code int64
	}{
		{``, CodeParseError},
		{`   `, CodeParseError},
		{`[1]`, CodeInvalidRequest},
		{`"id"`, CodeInvalidRequest},
		{`null`, CodeInvalidRequest},
		{`{"id":1`, CodeParseError},
		{`{"id":1,}`, CodeParseError},
		{`{"id":1}}`, CodeParseError},
		{`{"id":1}{"id":2}`, CodeParseError},
		{`{"id":01}`, CodeParseError},
		{`{"id":1,"x":[1,}`, CodeParseError},
		{`{"id":1,"x":"\z"}`, CodeParseError},
		{`{id:1}`, CodeParseError},
		{`x`, CodeParseError},
	}
	for _, tc := range tests {
		_, err := ParseResponse([]byte(tc.in))
		if err == nil {
			t.Errorf("ParseResponse(%q) succeeded", tc.in)
			continue
		}
		if got := CodeOf(err); got != tc.code {
			t.Errorf("ParseResponse(%q): %v: code %d, want %d", tc.in, err, got, tc.code)
		}
	}
}

func TestParseResponseAllocs(t *testing.T) {
	in := []byte(`{"jsonrpc":"2.0","result":8,"id":915243442}`)
	allocs := testing.AllocsPerRun(100, func() {
		r, err := ParseResponse(in)
		if err != nil || !r.HasID {
			t.Fatal(r, err)
		}
	})
	if allocs != 0 {
		t.Errorf("ParseResponse allocates %v times for a success reply", allocs)
	}
}

func TestCodeOf(t *testing.T) {
	tests := []struct {
		err  error
		want int64
	}{
		{nil, 0},
		{&Error{Code: 400, Message: "Bad parameter value"}, 400},
		{errors.Join(errors.New("x"), &Error{Code: CodeMethodNotFound}), CodeMethodNotFound},
		{&SyntaxError{Offset: 3, Msg: "x"}, CodeParseError},
		{ErrInvalidMessage, CodeInvalidRequest},
		{ErrTooLarge, CodeInvalidRequest},
		{errors.New("other"), CodeInternalError},
	}
	for _, tc := range tests {
		if got := CodeOf(tc.err); got != tc.want {
			t.Errorf("CodeOf(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
