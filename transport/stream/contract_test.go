package stream_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/memnet"
	"github.com/evstream/evstream/transport/stream"
	"github.com/evstream/evstream/transport/transporttest"
)

// TestContract runs the transport contract suite over loopback TCP and
// over in-memory pipes (in a synctest bubble, so the timing checks are
// exact), in both modes.
func TestContract(t *testing.T) {
	for _, reliable := range []bool{false, true} {
		mode := map[bool]string{false: "notify", true: "reliable"}[reliable]
		t.Run("tcp/"+mode, func(t *testing.T) { transporttest.Run(t, tcpHarness(reliable)) })
		t.Run("pipe/"+mode, func(t *testing.T) { transporttest.Run(t, pipeHarness(reliable)) })
	}
}

// tcpHarness makes stream transports that connect over loopback TCP.
func tcpHarness(reliable bool) transporttest.Harness {
	return transporttest.Harness{
		Reliable: reliable,
		New: func(t *testing.T, timeout time.Duration) evi.Transport {
			return newStream(t, stream.Config{ReliableMode: reliable, Timeout: timeout})
		},
		Peer: tcpPeer,
	}
}

// tcpPeer starts a peer on loopback TCP.
func tcpPeer(t *testing.T, k transporttest.Kind) transporttest.Peer {
	addr, received := transporttest.TCPPeer(t, k)
	return transporttest.Peer{Socket: "tcp:" + addr, Received: received}
}

// pipeHarness makes stream transports on an in-memory network.
func pipeHarness(reliable bool) transporttest.Harness {
	var (
		network *memnet.Network
		port    int
	)
	return transporttest.Harness{
		Reliable: reliable,
		Synctest: true,
		New: func(t *testing.T, timeout time.Duration) evi.Transport {
			network = &memnet.Network{}
			return newStream(t, stream.Config{ReliableMode: reliable, Timeout: timeout, Dialer: network})
		},
		Peer: func(t *testing.T, k transporttest.Kind) transporttest.Peer {
			port++
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			p := transporttest.Peer{Socket: "tcp:" + addr}
			if k != transporttest.Refuse {
				ln, err := network.Listen(addr)
				if err != nil {
					t.Fatal(err)
				}
				p.Received = transporttest.Serve(t, ln, k)
			}
			return p
		},
	}
}

func newStream(t *testing.T, cfg stream.Config) *stream.Transport {
	tr, err := stream.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}
