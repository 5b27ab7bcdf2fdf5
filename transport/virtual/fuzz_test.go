package virtual

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/evi/evitest"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"virtual:FAILOVER fake:a fake:b",
		"virtual:PARALLEL\tfake:a  fake:b\t",
		"virtual:ROUND-ROBIN fake:a fake:b fake:c",
		"virtual:  FAILOVER fake:a",
		"virtual:failover fake:a",
		"virtual:FAILOVER",
		"virtual:",
		"virtual:PARALLEL virtual:FAILOVER fake:a",
		"virtual:PARALLEL fake: fake:a",
		"virtual:ROUND-ROBIN nope:1",
		"virtual:FAILOVER\nfake:a",
		"virtual:PARALLEL fake:a\x00",
		"tcp:127.0.0.1:1",
		"",
	} {
		f.Add(s)
	}
	reg := evi.NewRegistry(evi.Config{})
	defer reg.Close()
	fake := evitest.New("fake")
	vt, err := New(reg, Config{})
	if err != nil {
		f.Fatal(err)
	}
	reg.Register(fake)
	reg.Register(vt)
	f.Fuzz(func(t *testing.T, s string) {
		d, err := vt.Parse(s)
		if err != nil {
			if d != nil {
				t.Fatalf("Parse(%q) returned a destination and an error", s)
			}
			if !errors.Is(err, evi.ErrBadSocket) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrBadSocket", s, err)
			}
			if !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Fatalf("Parse(%q) error %v does not name the socket", s, err)
			}
			return
		}
		defer d.Close()
		p := d.String()
		if !strings.HasPrefix(p, "virtual:") || strings.Contains(p, "  ") || strings.ContainsAny(p, "\t") {
			t.Fatalf("Parse(%q).String() = %q is not normalised", s, p)
		}
		again, err := vt.Parse(p)
		if err != nil {
			t.Fatalf("printed form %q of %q does not parse: %v", p, s, err)
		}
		defer again.Close()
		if again.Key() != d.Key() || again.String() != p {
			t.Fatalf("printed form %q of %q parses to %q, not a match", p, s, again.String())
		}
	})
}

func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{"PARALLEL", "FAILOVER", "ROUND-ROBIN", "failover", "Round-Robin", "", "ROUND-ROBIN "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePolicy(s)
		if err != nil {
			if !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Fatalf("ParsePolicy(%q) error %v does not name the input", s, err)
			}
			return
		}
		if p.String() != s {
			t.Fatalf("ParsePolicy(%q) = %v, which prints as %q", s, p, p.String())
		}
	})
}
