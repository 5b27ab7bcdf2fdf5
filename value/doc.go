// Package value is evstream's model of an event's data: Params, an
// ordered list of values that are either all named (sent as a JSON
// object) or all unnamed (a JSON array), and Value, one of the kinds
// OpenSIPS carries (integer, string, null) or evstream's extensions
// (float, boolean, raw JSON).
//
// It is shared by the Event Interface (package evi), which raises events
// with Params, and by the JSON-RPC codec (package jsonrpc), which encodes
// and decodes them; neither knows the other through it, so a receiver can
// use the codec without the registry.
//
//	p := value.Named(value.P("ip", value.String("192.168.2.11")), value.P("port", value.Int(5060)))
package value
