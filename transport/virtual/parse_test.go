package virtual

import (
	"errors"
	"testing"

	"github.com/evstream/evstream/evi"
)

func TestParseString(t *testing.T) {
	e := newFakeEnv(t, 0)
	tests := []struct{ in, want string }{
		{"virtual:FAILOVER fake:a fake:b", "virtual:FAILOVER fake:a fake:b"},
		{"virtual:  PARALLEL\tfake:a \t fake:b  ", "virtual:PARALLEL fake:a fake:b"},
		{"virtual:ROUND-ROBIN fake:x", "virtual:ROUND-ROBIN fake:x"},
		{"virtual:PARALLEL fake:a fake:a", "virtual:PARALLEL fake:a fake:a"},
	}
	for _, tc := range tests {
		d := e.parse(t, tc.in)
		if got := d.String(); got != tc.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got, tc.want)
		}
		again := e.parse(t, d.String())
		if again.Key() != d.Key() || again.String() != d.String() {
			t.Errorf("printed form %q does not re-parse to a match", d.String())
		}
	}
}

func TestParseErrors(t *testing.T) {
	e := newFakeEnv(t, 0)
	tests := []struct {
		in   string
		want string
		also error // wrapped besides evi.ErrBadSocket
	}{
		{"virtual:", `socket "virtual:": no policy (want virtual:POLICY member..., POLICY one of PARALLEL, FAILOVER, ROUND-ROBIN)`, nil},
		{"virtual: \t ", `socket "virtual: \t ": no policy (want virtual:POLICY member..., POLICY one of PARALLEL, FAILOVER, ROUND-ROBIN)`, nil},
		{"virtual:failover fake:a", `socket "virtual:failover fake:a": unknown policy "failover" (policy is case-sensitive: did you mean "FAILOVER"?)`, nil},
		{"virtual:Parallel fake:a", `socket "virtual:Parallel fake:a": unknown policy "Parallel" (policy is case-sensitive: did you mean "PARALLEL"?)`, nil},
		{"virtual:RANDOM fake:a", `socket "virtual:RANDOM fake:a": unknown policy "RANDOM" (want PARALLEL, FAILOVER or ROUND-ROBIN)`, nil},
		{"virtual:FAILOVERfake:a", `socket "virtual:FAILOVERfake:a": unknown policy "FAILOVERfake:a" (want PARALLEL, FAILOVER or ROUND-ROBIN)`, nil},
		{"virtual:FAILOVER", `socket "virtual:FAILOVER": no members (want e.g. virtual:FAILOVER tcp:host:port ...)`, nil},
		{"virtual:ROUND-ROBIN   ", `socket "virtual:ROUND-ROBIN   ": no members (want e.g. virtual:ROUND-ROBIN tcp:host:port ...)`, nil},
		{"virtual:FAILOVER fake:a virtual:PARALLEL fake:b", `socket "virtual:FAILOVER fake:a virtual:PARALLEL fake:b": member 2 "virtual:PARALLEL": a virtual socket cannot be a member of another`, nil},
		{"virtual:PARALLEL virtual:", `socket "virtual:PARALLEL virtual:": member 1 "virtual:": a virtual socket cannot be a member of another`, nil},
		{"virtual:FAILOVER fake:a fake:", `socket "virtual:FAILOVER fake:a fake:": member 2: socket "fake:": want fake:NAME`, nil},
		{"virtual:FAILOVER fake:a nope:1", `socket "virtual:FAILOVER fake:a nope:1": member 2: socket "nope:1": unknown transport "nope" (want fake:, virtual:)`, evi.ErrUnknownTransport},
		{"virtual:PARALLEL fake:a fakeb", `socket "virtual:PARALLEL fake:a fakeb": member 2: socket "fakeb": no transport prefix (want e.g. tcp:host:port)`, nil},
		{"tcp:127.0.0.1:1", `socket "tcp:127.0.0.1:1": not a virtual socket (want virtual:POLICY member...)`, nil},
		{"VIRTUAL:FAILOVER fake:a", `socket "VIRTUAL:FAILOVER fake:a": not a virtual socket (want virtual:POLICY member...)`, nil},
	}
	for _, tc := range tests {
		d, err := e.vt.Parse(tc.in)
		if err == nil {
			d.Close()
			t.Errorf("Parse(%q) succeeded", tc.in)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("Parse(%q) error\n got %s\nwant %s", tc.in, err, tc.want)
		}
		if !errors.Is(err, evi.ErrBadSocket) {
			t.Errorf("Parse(%q) error does not wrap evi.ErrBadSocket", tc.in)
		}
		if tc.also != nil && !errors.Is(err, tc.also) {
			t.Errorf("Parse(%q) error does not wrap %v", tc.in, tc.also)
		}
	}
	// A member that failed to parse releases the members parsed before it.
	if n := e.fake.Closes("a"); n != 3 {
		t.Errorf("member fake:a closed %d times after 3 failed parses, want 3", n)
	}
}

// TestSubscribeThroughRegistry checks the registry's refresh path: a
// matching virtual socket refreshes instead of adding a subscriber.
func TestSubscribeThroughRegistry(t *testing.T) {
	e := newFakeEnv(t, 0)
	for _, s := range []string{
		"virtual:PARALLEL fake:a fake:b",
		"virtual:PARALLEL  fake:b fake:a", // same members: refresh
		"virtual:FAILOVER fake:a fake:b",
	} {
		if err := e.reg.Subscribe("E_TEST", s, 0); err != nil {
			t.Fatal(err)
		}
	}
	subs, err := e.reg.Subscribers("E_TEST")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range subs {
		got = append(got, s.Socket)
	}
	want := []string{"virtual:FAILOVER fake:a fake:b", "virtual:PARALLEL fake:a fake:b"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("subscribers %q, want %q", got, want)
	}
}
