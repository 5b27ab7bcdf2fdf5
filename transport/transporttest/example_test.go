package transporttest_test

import (
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/transport/stream"
	"github.com/evstream/evstream/transport/transporttest"
)

// A transport's test runs the contract suite with a harness that makes the
// transport and its peers: here the stream transport in reliable mode over
// loopback TCP, as transport/stream's TestContract does (with a pipe
// network in a synctest bubble too).
func ExampleRun() {
	testContract := func(t *testing.T) {
		transporttest.Run(t, transporttest.Harness{
			Reliable: true,
			New: func(t *testing.T, timeout time.Duration) evi.Transport {
				tr, err := stream.New(stream.Config{ReliableMode: true, Timeout: timeout})
				if err != nil {
					t.Fatal(err)
				}
				return tr
			},
			Peer: func(t *testing.T, k transporttest.Kind) transporttest.Peer {
				addr, received := transporttest.TCPPeer(t, k)
				return transporttest.Peer{Socket: "tcp:" + addr, Received: received}
			},
		})
	}
	_ = testContract // func TestContract(t *testing.T) { testContract(t) }
}
