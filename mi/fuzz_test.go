package mi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/mi"
)

// FuzzServe feeds arbitrary request bodies to a Handler (registry without
// transports, auto-publish on): it must never panic, and every response
// must be one valid JSON-RPC 2.0 response object.
func FuzzServe(f *testing.F) {
	for _, seed := range []string{
		``, `{`, `[]`, `[{}]`, `null`, `{"jsonrpc":"2.0","method":"which","id":1}`,
		`{"jsonrpc":"2.0","method":"event_subscribe","params":["E_X","tcp:127.0.0.1:9",-1],"id":1}`,
		`{"jsonrpc":"2.0","method":"event_subscribe","params":{"event":"E_X","socket":"x:y","expire":"12"},"id":"a"}`,
		`{"jsonrpc":"2.0","method":"raise_event","params":["E_X","{\"a\":[1,{\"b\":null}]}"],"id":null}`,
		`{"jsonrpc":"2.0","method":"raise_event","params":{"event":"E_X","params":[1,"2",3.5]},"id":2}`,
		`{"jsonrpc":"2.0","method":"subscribers_list","params":["E_X","tcp:h:1/m"],"id":3}`,
		`{"jsonrpc":"2.0","method":"get_statistics","params":[["all"]],"id":4}`,
		`{"jsonrpc":"1.0","method":"events_list","id":5}`,
		`{"method":"events_list"}`,
	} {
		f.Add(seed)
	}
	reg := evi.NewRegistry(evi.Config{AutoPublish: true})
	f.Cleanup(func() { reg.Close() })
	h := mi.New(reg, mi.Options{})
	f.Fuzz(func(t *testing.T, body string) {
		resp, notification := h.Serve([]byte(body))
		if notification {
			if resp != nil {
				t.Fatalf("notification with a response %q", resp)
			}
			return
		}
		var r struct {
			JSONRPC string           `json:"jsonrpc"`
			Result  json.RawMessage  `json:"result"`
			Error   *json.RawMessage `json:"error"`
			ID      json.RawMessage  `json:"id"`
		}
		if err := json.Unmarshal(resp, &r); err != nil || r.JSONRPC != "2.0" || r.ID == nil ||
			(r.Result == nil) == (r.Error == nil) {
			t.Fatalf("body %q: response %q is not a JSON-RPC 2.0 response (%v)", body, resp, err)
		}
		if !strings.HasPrefix(string(resp), `{"jsonrpc":"2.0",`) {
			t.Fatalf("response %q does not start with the jsonrpc member", resp)
		}
	})
}
