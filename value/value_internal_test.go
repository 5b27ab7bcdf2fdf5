package value

import (
	"strings"
	"testing"
)

// These cases cannot be built through the exported constructors (Unnamed
// never sets names, the kinds are fixed), but Params and Value may be built
// by code in this package, so Validate must still catch them.
func TestParamsValidateInternal(t *testing.T) {
	tests := []struct {
		name    string
		p       Params
		wantErr string
	}{
		{
			"unnamed param with a name",
			Params{list: []Param{{Value: Int(1)}, {Name: "x", Value: Int(2)}}},
			`unnamed params: param 1 has a name "x"`,
		},
		{
			"unknown kind",
			Params{named: true, list: []Param{{Name: "a", Value: Value{kind: KindRaw + 1}}}},
			"param 0 has an unknown kind 6",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
