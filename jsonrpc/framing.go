package jsonrpc

import (
	"fmt"
	"strconv"
)

// Framing is how JSON objects are separated on a stream.
//
// Readers never depend on it: the Decoder accepts objects back to back and
// skips any whitespace between them, so it reads both framings.
type Framing uint8

const (
	// FramingNone writes objects back to back with nothing in between, as
	// OpenSIPS does. It is the zero value.
	FramingNone Framing = iota
	// FramingNewline writes "\n" after each object, for line-oriented
	// consumers (an evstream extension).
	FramingNewline
)

var framingNames = [...]string{FramingNone: "none", FramingNewline: "newline"}

// Append appends the delimiter that follows each object: nothing for
// FramingNone, "\n" for FramingNewline.
func (f Framing) Append(dst []byte) []byte {
	if f == FramingNewline {
		return append(dst, '\n')
	}
	return dst
}

// String returns "none" or "newline" (the names in config files).
func (f Framing) String() string {
	if int(f) < len(framingNames) {
		return framingNames[f]
	}
	return "Framing(" + strconv.Itoa(int(f)) + ")"
}

// ParseFraming parses a framing name: "none" or "newline".
func ParseFraming(s string) (Framing, error) {
	for f, name := range framingNames {
		if s == name {
			return Framing(f), nil
		}
	}
	return 0, fmt.Errorf("jsonrpc: unknown framing %q (want \"none\" or \"newline\")", s)
}

// MarshalText implements encoding.TextMarshaler. It fails for a value that
// is neither FramingNone nor FramingNewline.
func (f Framing) MarshalText() ([]byte, error) {
	if int(f) >= len(framingNames) {
		return nil, fmt.Errorf("jsonrpc: cannot marshal unknown framing %d", uint8(f))
	}
	return []byte(framingNames[f]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler (for config decoding)
// with ParseFraming.
func (f *Framing) UnmarshalText(b []byte) error {
	v, err := ParseFraming(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}
