package daemon

import (
	"reflect"
	"testing"

	"github.com/evstream/evstream/transport"
)

func TestSumStats(t *testing.T) {
	series := func(v float64, labels ...string) transport.Series { return transport.Series{Values: labels, Value: v} }
	tests := []struct {
		name string
		a, b []transport.Stat
		want []transport.Stat
	}{
		{"values added",
			[]transport.Stat{{Name: "sent", Counter: true, Value: 3}, {Name: "pending", Value: 1}},
			[]transport.Stat{{Name: "sent", Counter: true, Value: 4}, {Name: "pending", Value: 2}},
			[]transport.Stat{{Name: "sent", Counter: true, Value: 7}, {Name: "pending", Value: 3}}},
		{"series of the same labels added, the others kept",
			[]transport.Stat{{Name: "address_queued", Labels: []string{"address"}, Series: []transport.Series{series(1, "tcp:a:1"), series(2, "tcp:b:2")}}},
			[]transport.Stat{{Name: "address_queued", Labels: []string{"address"}, Series: []transport.Series{series(10, "tcp:b:2"), series(20, "tcp:c:3")}}},
			[]transport.Stat{{Name: "address_queued", Labels: []string{"address"}, Series: []transport.Series{series(1, "tcp:a:1"), series(12, "tcp:b:2"), series(20, "tcp:c:3")}}}},
		{"not the same statistics: a as it is",
			[]transport.Stat{{Name: "sent", Value: 3}},
			[]transport.Stat{{Name: "other", Value: 4}},
			[]transport.Stat{{Name: "sent", Value: 3}}},
		{"b shorter",
			[]transport.Stat{{Name: "sent", Value: 3}, {Name: "failed", Value: 1}},
			[]transport.Stat{{Name: "sent", Value: 4}},
			[]transport.Stat{{Name: "sent", Value: 7}, {Name: "failed", Value: 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sumStats(tc.a, tc.b); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("sumStats =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}
