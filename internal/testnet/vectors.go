package testnet

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// VectorsFile is the golden OpenSIPS wire captures, relative to a package
// directory of this module (see jsonrpc/testdata/README.md).
const VectorsFile = "../jsonrpc/testdata/opensips-wire.jsonl"

// Vector is one line of the golden OpenSIPS wire captures: an event as a
// real OpenSIPS raised it and the exact bytes it wrote.
type Vector struct {
	Name  string // what the vector shows
	Event string // the event's name
	// Method is the JSON-RPC method OpenSIPS used: the socket's, else the
	// event's name.
	Method string
	// EventParam is the socket's event_param setting, "" when none.
	EventParam string
	// Params are the event's params as given to OpenSIPS: null, or
	// {"named":[[name,value],...]} or {"unnamed":[value,...]}.
	Params json.RawMessage
	// Wire is what OpenSIPS wrote for this one event.
	Wire []byte
}

// LoadVectors reads the vectors in path (VectorsFile, or a path of the
// caller's package), failing the test if there are none.
func LoadVectors(t testing.TB, path string) []Vector {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vs []Vector
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Name       string          `json:"name"`
			Event      string          `json:"event"`
			Method     *string         `json:"method"`
			EventParam *string         `json:"event_param"`
			Params     json.RawMessage `json:"params"`
			WireHex    string          `json:"wire_hex"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("%s: vector %q: %v", path, sc.Text(), err)
		}
		v := Vector{Name: line.Name, Event: line.Event, Method: line.Event, Params: line.Params}
		if line.Method != nil {
			v.Method = *line.Method
		}
		if line.EventParam != nil {
			v.EventParam = *line.EventParam
		}
		if v.Wire, err = hex.DecodeString(line.WireHex); err != nil {
			t.Fatalf("%s: vector %s: wire_hex: %v", path, v.Name, err)
		}
		vs = append(vs, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(vs) == 0 {
		t.Fatalf("%s: no vectors", path)
	}
	return vs
}

// RawParams is the params member of the wire bytes, cut out of them without
// a JSON parser: OpenSIPS writes it last, so it runs from `"params":` to the
// closing brace. nil when the event has no params.
func (v Vector) RawParams() []byte {
	i := bytes.Index(v.Wire, []byte(`"params":`))
	if i < 0 {
		return nil
	}
	return v.Wire[i+len(`"params":`) : len(v.Wire)-1]
}

// ID is the wire's id, or nil for a notification.
func (v Vector) ID() []byte {
	if !bytes.HasPrefix(v.Wire, []byte(`{"id":`)) {
		return nil
	}
	rest := v.Wire[len(`{"id":`):]
	return rest[:bytes.IndexByte(rest, ',')]
}
