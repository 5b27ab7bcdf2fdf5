package daemon_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/evstream/evstream/daemon"
	"github.com/evstream/evstream/transport/stream"
)

// A daemon on a free loopback port, driven over its MI.
func Example() {
	cfg := daemon.DefaultConfig()
	cfg.MI.Listen = "127.0.0.1:0"
	cfg.Events = []string{"E_PIKE_BLOCKED"}
	d, err := daemon.New(cfg, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := d.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer d.Shutdown(context.Background())

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Post("http://"+d.MIAddr().String()+daemon.MIPath, "application/json",
		strings.NewReader(`{"jsonrpc":"2.0","method":"events_list","id":1}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output:
	// {"jsonrpc":"2.0","result":{"Events":[{"name":"E_PIKE_BLOCKED","id":0}]},"id":1}
}

// LoadConfig names the file, the line and the field of every problem.
func ExampleConfig_Validate() {
	cfg := daemon.DefaultConfig()
	daemon.TransportSettings[*stream.Settings](cfg, stream.Section).Framing = "crlf"
	cfg.Subscriptions = []daemon.Subscription{{Event: "E_X", Socket: "udp:127.0.0.1:9"}}
	fmt.Println(cfg.Validate())
	// Output:
	// subscriptions[0].socket: "udp:127.0.0.1:9": unknown transport "udp" (want tcp:, tls: or virtual:)
	// event_stream.framing: "crlf" is not a framing (want none or newline)
}
