package virtual_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/transport/stream"
	"github.com/evstream/evstream/transport/transporttest"
	"github.com/evstream/evstream/transport/virtual"
)

// TestContract runs the transport contract suite on virtual sockets of
// each policy over stream members on loopback TCP, in both modes: a
// virtual destination keeps the contract of the transports it is made
// of, and its errors wrap its members' *evi.DeliveryError.
func TestContract(t *testing.T) {
	for _, policy := range []string{"FAILOVER", "ROUND-ROBIN", "PARALLEL"} {
		for _, reliable := range []bool{false, true} {
			mode := map[bool]string{false: "notify", true: "reliable"}[reliable]
			t.Run(policy+"/"+mode, func(t *testing.T) { transporttest.Run(t, harness(policy, reliable)) })
		}
	}
}

func harness(policy string, reliable bool) transporttest.Harness {
	return transporttest.Harness{
		Reliable: reliable,
		New: func(t *testing.T, timeout time.Duration) evi.Transport {
			reg := evi.NewRegistry(evi.Config{})
			t.Cleanup(func() { reg.Close() })
			st, err := stream.New(stream.Config{ReliableMode: reliable, Timeout: timeout})
			if err != nil {
				t.Fatal(err)
			}
			vt, err := virtual.New(reg, virtual.Config{})
			if err != nil {
				t.Fatal(err)
			}
			for _, tr := range []evi.Transport{st, vt} {
				if err := reg.Register(tr); err != nil {
					t.Fatal(err)
				}
			}
			return vt
		},
		Peer: func(t *testing.T, k transporttest.Kind) transporttest.Peer {
			addr, received := transporttest.TCPPeer(t, k)
			return transporttest.Peer{Socket: fmt.Sprintf("virtual:%s tcp:%s", policy, addr), Received: received}
		},
	}
}
