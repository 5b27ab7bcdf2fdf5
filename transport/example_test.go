package transport_test

import (
	"fmt"

	"github.com/evstream/evstream/transport"
)

// A transport's Settings.Validate names the key of each problem, relative
// to its section; the daemon adds the section and the file's line
// ("evstream.yaml:3: event_box.limit: ...").
func ExampleErrorf() {
	s := &boxSettings{Limit: 500, Label: ""}
	for _, err := range s.Validate() {
		fe := err.(*transport.FieldError)
		fmt.Printf("%s | %s\n", fe.Field, fe.Msg)
	}
	// Output:
	// limit | 500 is out of range: want 1 to 100
	// label | empty
}
