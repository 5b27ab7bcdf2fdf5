package daemon

// The transports the daemon serves: each registers itself (package
// transport) with its config section. A new transport is a new directory
// and one line here.
import (
	_ "github.com/evstream/evstream/transport/stream"
	_ "github.com/evstream/evstream/transport/tlsstream"
	_ "github.com/evstream/evstream/transport/virtual"
)
