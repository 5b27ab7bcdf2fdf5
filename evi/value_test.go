package evi_test

import (
	"math"
	"strings"
	"testing"

	"github.com/evstream/evstream/evi"
)

func TestValueConstructors(t *testing.T) {
	tests := []struct {
		name  string
		v     evi.Value
		kind  evi.Kind
		i     int64
		s     string
		f     float64
		b     bool
		print string
	}{
		{"zero", evi.Value{}, evi.KindNull, 0, "", 0, false, "null"},
		{"null", evi.Null(), evi.KindNull, 0, "", 0, false, "null"},
		{"int", evi.Int(5060), evi.KindInt, 5060, "", 0, false, "5060"},
		{"negative int", evi.Int(-7), evi.KindInt, -7, "", 0, false, "-7"},
		{"min int", evi.Int(math.MinInt64), evi.KindInt, math.MinInt64, "", 0, false, "-9223372036854775808"},
		{"string", evi.String("127.0.0.1"), evi.KindString, 0, "127.0.0.1", 0, false, `"127.0.0.1"`},
		{"empty string", evi.String(""), evi.KindString, 0, "", 0, false, `""`},
		{"string with quote", evi.String(`a"b`), evi.KindString, 0, `a"b`, 0, false, `"a\"b"`},
		{"float", evi.Float(1.5), evi.KindFloat, 0, "", 1.5, false, "1.5"},
		{"bool true", evi.Bool(true), evi.KindBool, 0, "", 0, true, "true"},
		{"bool false", evi.Bool(false), evi.KindBool, 0, "", 0, false, "false"},
		{"raw", evi.RawJSON(`{"a":[1,2]}`), evi.KindRaw, 0, `{"a":[1,2]}`, 0, false, `{"a":[1,2]}`},
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
	if evi.Null() != (evi.Value{}) {
		t.Fatal("Null() differs from the zero Value")
	}
	if evi.Int(0) == evi.Null() {
		t.Fatal("Int(0) equals Null(): the kind must tell them apart")
	}
	if evi.String("") == evi.Null() {
		t.Fatal(`String("") equals Null(): the kind must tell them apart`)
	}
}

func TestKindString(t *testing.T) {
	tests := []struct {
		k    evi.Kind
		want string
	}{
		{evi.KindNull, "null"},
		{evi.KindInt, "int"},
		{evi.KindString, "string"},
		{evi.KindFloat, "float"},
		{evi.KindBool, "bool"},
		{evi.KindRaw, "raw"},
		{evi.Kind(6), "Kind(6)"},
		{evi.Kind(255), "Kind(255)"},
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
		p      evi.Params
		named  bool
		names  []string
		values []evi.Value
	}{
		{"zero", evi.Params{}, false, nil, nil},
		{"unnamed empty", evi.Unnamed(), false, nil, nil},
		{"named empty", evi.Named(), true, nil, nil},
		{
			"named in order",
			evi.Named(evi.P("port", evi.Int(5060)), evi.P("ip", evi.String("127.0.0.1"))),
			true,
			[]string{"port", "ip"},
			[]evi.Value{evi.Int(5060), evi.String("127.0.0.1")},
		},
		{
			"named via literal",
			evi.Named(evi.Param{Name: "a", Value: evi.Null()}),
			true,
			[]string{"a"},
			[]evi.Value{evi.Null()},
		},
		{
			"unnamed in order",
			evi.Unnamed(evi.String("five"), evi.Int(3)),
			false,
			[]string{"", ""},
			[]evi.Value{evi.String("five"), evi.Int(3)},
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
		p       evi.Params
		wantErr string // "" = valid
	}{
		{"ok", evi.Named(evi.P("a", evi.Int(1)), evi.P("b", evi.Null())), ""},
		{"empty first name", evi.Named(evi.P("", evi.Int(1))), "param 0 has an empty name"},
		{"empty later name", evi.Named(evi.P("a", evi.Int(1)), evi.P("b", evi.Int(2)), evi.P("", evi.Int(3))), "param 2 has an empty name"},
		{"unnamed never has names", evi.Unnamed(evi.Int(1), evi.String("x")), ""},
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
