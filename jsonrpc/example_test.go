package jsonrpc_test

import (
	"fmt"
	"strings"

	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/value"
)

func ExampleAppendNotification() {
	params := jsonrpc.AppendParams(nil, value.Named(value.P("ip", value.String("192.168.2.11"))), "", "E_PIKE_BLOCKED")
	fmt.Printf("%s\n", jsonrpc.AppendNotification(nil, "E_PIKE_BLOCKED", params))
	// Output:
	// {"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"ip":"192.168.2.11"}}
}

func ExampleAppendRequest() {
	// Encode the params once; write the envelope per subscriber.
	params := jsonrpc.AppendParams(nil, value.Unnamed(value.String("192.168.2.11"), value.Int(5060)), "opensips_event", "E_PIKE_BLOCKED")
	var msg []byte
	msg = jsonrpc.AppendRequest(msg[:0], 915243442, "E_PIKE_BLOCKED", params)
	msg = jsonrpc.FramingNewline.Append(msg)
	msg = jsonrpc.AppendRequest(msg, 915243443, "block_ip", params)
	fmt.Printf("%s\n", msg)
	// Output:
	// {"id":915243442,"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":["E_PIKE_BLOCKED","192.168.2.11",5060]}
	// {"id":915243443,"jsonrpc":"2.0","method":"block_ip","params":["E_PIKE_BLOCKED","192.168.2.11",5060]}
}

func ExampleDecoder() {
	// Replies as they may arrive: back to back, with stray whitespace.
	stream := `{"jsonrpc":"2.0","result":8,"id":1}{"jsonrpc":"2.0","error":{"code":-32000,"message":"busy"},"id":2}
{"jsonrpc":"2.0","result":8,"id":null}`
	d := jsonrpc.NewDecoder(strings.NewReader(stream), 0)
	for {
		obj, err := d.Next()
		if err != nil {
			fmt.Println("end:", err)
			break
		}
		r, err := jsonrpc.ParseResponse(obj)
		switch {
		case err != nil:
			fmt.Println("bad reply:", err)
		case !r.HasID:
			fmt.Println("reply without a usable id: ignored")
		case r.Error != nil:
			fmt.Printf("request %d failed: %v\n", r.ID, r.Error)
		default:
			fmt.Printf("request %d confirmed\n", r.ID)
		}
	}
	// Output:
	// request 1 confirmed
	// request 2 failed: jsonrpc error -32000: busy
	// reply without a usable id: ignored
	// end: EOF
}

func ExampleParse() {
	m, err := jsonrpc.Parse([]byte(`{"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"ip":"192.168.2.11"},"id":7}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.IsRequest(), m.Method, string(m.Params))
	fmt.Printf("%s\n", jsonrpc.AppendResult(nil, m.ID, []byte(`"OK"`)))

	_, err = jsonrpc.Parse([]byte(`{"jsonrpc":"1.0","method":"x"}`))
	fmt.Println(jsonrpc.CodeOf(err), err)
	// Output:
	// true E_PIKE_BLOCKED {"ip":"192.168.2.11"}
	// {"jsonrpc":"2.0","result":"OK","id":7}
	// -32600 jsonrpc: invalid JSON-RPC message: "jsonrpc" is "1.0", want "2.0"
}

func ExampleParseFraming() {
	f, err := jsonrpc.ParseFraming("newline")
	fmt.Printf("%v %q %v\n", f, f.Append([]byte("{}")), err)
	_, err = jsonrpc.ParseFraming("crlf")
	fmt.Println(err)
	// Output:
	// newline "{}\n" <nil>
	// jsonrpc: unknown framing "crlf" (want "none" or "newline")
}

// JSON params become value.Params in order, with the kinds OpenSIPS uses for
// integers, strings and null, and raw JSON for nested values.
func ExampleDecodeParams() {
	p, err := jsonrpc.DecodeParams([]byte(`{"ip":"192.168.2.11","port":5060,"user":null,"blocked":true,"tags":[ "a", "b" ]}`))
	if err != nil {
		panic(err)
	}
	for _, prm := range p.All() {
		fmt.Println(prm.Name, prm.Value.Kind(), prm.Value)
	}
	// Output:
	// ip string "192.168.2.11"
	// port int 5060
	// user null null
	// blocked bool true
	// tags raw ["a","b"]
}

// With OpenSIPS's event_param, the event's name travels in the params; it
// is taken out of them.
func ExampleDecodeEventParams() {
	name, p, err := jsonrpc.DecodeEventParams([]byte(`["E_PIKE_BLOCKED","192.168.2.11"]`), "opensips_event")
	if err != nil {
		panic(err)
	}
	fmt.Println(name, p.All()[0].Value)
	// Output: E_PIKE_BLOCKED "192.168.2.11"
}

func ExampleParser() {
	// A connection's reader: the Decoder validates each object, the Parser
	// reads it in place.
	dec := jsonrpc.NewDecoder(strings.NewReader(
		`{"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"ip":"192.168.2.11"}}`+
			`{"jsonrpc":"2.0","method":"E_PIKE_BLOCKED","params":{"ip":"192.168.2.12"},"id":2}`), 0)
	var p jsonrpc.Parser
	for {
		raw, err := dec.Next()
		if err != nil {
			break // io.EOF
		}
		m, err := p.Parse(raw) // valid until the next Next and Parse
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s %s id=%s\n", m.Method, m.Params, m.ID)
	}
	// Output:
	// E_PIKE_BLOCKED {"ip":"192.168.2.11"} id=
	// E_PIKE_BLOCKED {"ip":"192.168.2.12"} id=2
}
