package receiver_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/evstream/evstream/receiver"
)

func TestMuxDispatch(t *testing.T) {
	named := func(name string) receiver.HandlerFunc {
		return func(context.Context, *receiver.Request) (any, error) { return name, nil }
	}
	mux := receiver.NewMux()
	mux.Handle("E_A", named("a"))
	mux.HandleFunc("E_B", named("b"))

	for _, tc := range []struct {
		method string
		def    receiver.Handler
		want   any
		err    error
	}{
		{"E_A", nil, "a", nil},
		{"E_B", nil, "b", nil},
		{"E_C", nil, nil, receiver.ErrMethodNotFound},
		{"e_a", nil, nil, receiver.ErrMethodNotFound}, // methods are case-sensitive
		{"E_C", named("default"), "default", nil},
		{"E_A", named("default"), "a", nil},
	} {
		mux.HandleDefault(tc.def)
		got, err := mux.ServeEvent(context.Background(), &receiver.Request{Method: tc.method})
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("%s (default %v): got %v, %v; want %v, %v", tc.method, tc.def != nil, got, err, tc.want, tc.err)
		}
	}
}

func TestMuxZeroValue(t *testing.T) {
	var mux receiver.Mux
	mux.HandleFunc("E", func(context.Context, *receiver.Request) (any, error) { return 1, nil })
	if h := mux.Handler("E"); h == nil {
		t.Error("handler registered on a zero Mux not found")
	}
}

func TestMuxHandlePanics(t *testing.T) {
	h := receiver.HandlerFunc(func(context.Context, *receiver.Request) (any, error) { return nil, nil })
	for _, tc := range []struct {
		name string
		f    func(m *receiver.Mux)
	}{
		{"empty method", func(m *receiver.Mux) { m.Handle("", h) }},
		{"nil handler", func(m *receiver.Mux) { m.Handle("E", nil) }},
		{"nil func", func(m *receiver.Mux) { m.HandleFunc("E", nil) }},
		{"twice", func(m *receiver.Mux) { m.Handle("E", h); m.Handle("E", h) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tc.f(receiver.NewMux())
		})
	}
}

func TestRequestClone(t *testing.T) {
	params := json.RawMessage(`{"a":1}`)
	id := json.RawMessage(`7`)
	r := &receiver.Request{Method: "E", Params: params, ID: id}
	c := r.Clone()
	params[2], id[0] = 'X', '8'
	if string(c.Params) != `{"a":1}` || string(c.ID) != `7` || c.Method != "E" {
		t.Errorf("clone shares memory: %s %s", c.Params, c.ID)
	}
	if r.IsNotification() || !(&receiver.Request{}).IsNotification() {
		t.Error("IsNotification is wrong")
	}
}
