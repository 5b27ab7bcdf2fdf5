package mi_test

import (
	"fmt"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/mi"
)

// Handler.Serve runs one JSON-RPC request, exactly as a POST to /mi would.
func ExampleHandler_Serve() {
	reg := evi.NewRegistry(evi.Config{})
	defer reg.Close()
	h := mi.New(reg, mi.Options{Version: "1.0.0"})
	for _, body := range []string{
		`{"jsonrpc":"2.0","method":"event_publish","params":["E_PIKE_BLOCKED"],"id":1}`,
		`{"jsonrpc":"2.0","method":"events_list","id":2}`,
		`{"jsonrpc":"2.0","method":"subscribers_list","params":{"event":"E_PIKE_BLOCKED"},"id":3}`,
		`{"jsonrpc":"2.0","method":"raise_event","params":["E_PIKE_BLOCKED",{"ip":"192.168.2.11"}],"id":4}`,
		`{"jsonrpc":"2.0","method":"raise_event","params":["E_UNKNOWN"],"id":5}`,
		`{"jsonrpc":"2.0","method":"event_subscribe","params":["E_PIKE_BLOCKED","tcp:127.0.0.1:8080",-1],"id":6}`,
		`{"jsonrpc":"2.0","method":"version","id":7}`,
	} {
		resp, _ := h.Serve([]byte(body))
		fmt.Println(string(resp))
	}
	// Output:
	// {"jsonrpc":"2.0","result":"OK","id":1}
	// {"jsonrpc":"2.0","result":{"Events":[{"name":"E_PIKE_BLOCKED","id":0}]},"id":2}
	// {"jsonrpc":"2.0","result":{"Event":{}},"id":3}
	// {"jsonrpc":"2.0","error":{"code":480,"message":"Temporarily Unavailable"},"id":4}
	// {"jsonrpc":"2.0","error":{"code":404,"message":"Event not registered"},"id":5}
	// {"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"Negative expire value"},"id":6}
	// {"jsonrpc":"2.0","result":{"Server":"evstream 1.0.0"},"id":7}
}

// Handler.Call runs a command without the JSON-RPC envelope.
func ExampleHandler_Call() {
	reg := evi.NewRegistry(evi.Config{AutoPublish: true})
	defer reg.Close()
	h := mi.New(reg, mi.Options{})
	res, err := h.Call("event_publish", []byte(`{"event":"E_MY_EVENT"}`))
	fmt.Println(string(res), err)
	_, err = h.Call("event_subscribe", []byte(`["E_MY_EVENT"]`))
	fmt.Println(err.Code, err.Message, string(err.Data))
	// Output:
	// "OK" <nil>
	// -32602 Invalid params "Too few or too many parameters"
}
