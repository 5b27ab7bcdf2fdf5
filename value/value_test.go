package value_test

import (
	"math"
	"strings"
	"testing"

	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/value"
)

func TestValueConstructors(t *testing.T) {
	tests := []struct {
		name  string
		v     value.Value
		kind  value.Kind
		i     int64
		s     string
		f     float64
		b     bool
		print string
	}{
		{"zero", value.Value{}, value.KindNull, 0, "", 0, false, "null"},
		{"null", value.Null(), value.KindNull, 0, "", 0, false, "null"},
		{"int", value.Int(5060), value.KindInt, 5060, "", 0, false, "5060"},
		{"negative int", value.Int(-7), value.KindInt, -7, "", 0, false, "-7"},
		{"min int", value.Int(math.MinInt64), value.KindInt, math.MinInt64, "", 0, false, "-9223372036854775808"},
		{"string", value.String("127.0.0.1"), value.KindString, 0, "127.0.0.1", 0, false, `"127.0.0.1"`},
		{"empty string", value.String(""), value.KindString, 0, "", 0, false, `""`},
		{"string with quote", value.String(`a"b`), value.KindString, 0, `a"b`, 0, false, `"a\"b"`},
		{"float", value.Float(1.5), value.KindFloat, 0, "", 1.5, false, "1.5"},
		{"bool true", value.Bool(true), value.KindBool, 0, "", 0, true, "true"},
		{"bool false", value.Bool(false), value.KindBool, 0, "", 0, false, "false"},
		{"raw", value.RawJSON(`{"a":[1,2]}`), value.KindRaw, 0, `{"a":[1,2]}`, 0, false, `{"a":[1,2]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.v
			if v.Kind() != tt.kind {
				t.Errorf("Kind() = %v, want %v", v.Kind(), tt.kind)
			}
			if v.Int() != tt.i {
				t.Errorf("Int() = %d, want %d", v.Int(), tt.i)
			}
			if v.Str() != tt.s {
				t.Errorf("Str() = %q, want %q", v.Str(), tt.s)
			}
			if v.Float() != tt.f {
				t.Errorf("Float() = %v, want %v", v.Float(), tt.f)
			}
			if v.Bool() != tt.b {
				t.Errorf("Bool() = %v, want %v", v.Bool(), tt.b)
			}
			if v.String() != tt.print {
				t.Errorf("String() = %s, want %s", v.String(), tt.print)
			}
		})
	}
}

func TestValueZeroIsNull(t *testing.T) {
	if value.Null() != (value.Value{}) {
		t.Fatal("Null() differs from the zero Value")
	}
	if value.Int(0) == value.Null() {
		t.Fatal("Int(0) equals Null(): the kind must tell them apart")
	}
	if value.String("") == value.Null() {
		t.Fatal(`String("") equals Null(): the kind must tell them apart`)
	}
}

func TestKindString(t *testing.T) {
	tests := []struct {
		k    value.Kind
		want string
	}{
		{value.KindNull, "null"},
		{value.KindInt, "int"},
		{value.KindString, "string"},
		{value.KindFloat, "float"},
		{value.KindBool, "bool"},
		{value.KindRaw, "raw"},
		{value.Kind(6), "Kind(6)"},
		{value.Kind(255), "Kind(255)"},
	}
	for _, tt := range tests {
		if got := tt.k.String(); got != tt.want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(tt.k), got, tt.want)
		}
	}
}

func TestParams(t *testing.T) {
	tests := []struct {
		name   string
		p      value.Params
		named  bool
		names  []string
		values []value.Value
	}{
		{"zero", value.Params{}, false, nil, nil},
		{"unnamed empty", value.Unnamed(), false, nil, nil},
		{"named empty", value.Named(), true, nil, nil},
		{
			"named in order",
			value.Named(value.P("port", value.Int(5060)), value.P("ip", value.String("127.0.0.1"))),
			true,
			[]string{"port", "ip"},
			[]value.Value{value.Int(5060), value.String("127.0.0.1")},
		},
		{
			"named via literal",
			value.Named(value.Param{Name: "a", Value: value.Null()}),
			true,
			[]string{"a"},
			[]value.Value{value.Null()},
		},
		{
			"unnamed in order",
			value.Unnamed(value.String("five"), value.Int(3)),
			false,
			[]string{"", ""},
			[]value.Value{value.String("five"), value.Int(3)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p
			if p.IsNamed() != tt.named {
				t.Errorf("IsNamed() = %v, want %v", p.IsNamed(), tt.named)
			}
			if p.Len() != len(tt.values) || len(p.All()) != len(tt.values) {
				t.Fatalf("Len() = %d, len(All()) = %d, want %d", p.Len(), len(p.All()), len(tt.values))
			}
			for i := range tt.values {
				if got := p.At(i); got.Name != tt.names[i] || got.Value != tt.values[i] {
					t.Errorf("At(%d) = %v, want %s=%v", i, got, tt.names[i], tt.values[i])
				}
				if p.All()[i] != p.At(i) {
					t.Errorf("All()[%d] = %v, At(%d) = %v", i, p.All()[i], i, p.At(i))
				}
			}
			if err := p.Validate(); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestParamsValidateNamed(t *testing.T) {
	tests := []struct {
		name    string
		p       value.Params
		wantErr string // "" = valid
	}{
		{"ok", value.Named(value.P("a", value.Int(1)), value.P("b", value.Null())), ""},
		{"empty first name", value.Named(value.P("", value.Int(1))), "param 0 has an empty name"},
		{"empty later name", value.Named(value.P("a", value.Int(1)), value.P("b", value.Int(2)), value.P("", value.Int(3))), "param 2 has an empty name"},
		{"unnamed never has names", value.Unnamed(value.Int(1), value.String("x")), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestSizeHint: the hint is computed when the params are built; it is at
// least the encoded size when no string needs escapes, and exactly the
// text's length for params held as text.
func TestSizeHint(t *testing.T) {
	long := strings.Repeat("x", 1000)
	cases := []struct {
		name string
		p    value.Params
	}{
		{"none", value.Params{}},
		{"named", value.Named(value.P("ip", value.String("127.0.0.1")), value.P("port", value.Int(5060)))},
		{"unnamed", value.Unnamed(value.String(long), value.Int(-9223372036854775808), value.Null(), value.Bool(true))},
		{"raw", value.Named(value.P("j", value.RawJSON(`{"a":[1,2,3]}`)))},
		{"float", value.Unnamed(value.Float(-1.2345678901234567e-300))},
	}
	for _, c := range cases {
		enc := jsonrpc.AppendParams(nil, c.p, "", "E_X")
		if got := c.p.SizeHint(); got < len(enc) {
			t.Errorf("%s: SizeHint %d < encoded %d (%s)", c.name, got, len(enc), enc)
		}
		text := value.FromText(string(enc), c.p.IsNamed(), c.p.Len(), func(string) []value.Param { return c.p.All() })
		if len(enc) > 0 && text.SizeHint() != len(enc) {
			t.Errorf("%s as text: SizeHint %d, want %d", c.name, text.SizeHint(), len(enc))
		}
	}
}
