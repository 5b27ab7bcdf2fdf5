package evi_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/value"
)

// printTransport is a tiny Transport for the examples: its sockets are
// "print:NAME" and it "delivers" an event by printing it. A real transport
// (tcp:, virtual:) queues the message and writes it to the network.
type printTransport struct{}

func (printTransport) Scheme() string { return "print" }

func (printTransport) Parse(socket string) (evi.Destination, error) {
	name, ok := strings.CutPrefix(socket, "print:")
	if !ok || name == "" {
		return nil, evi.NewSocketError(socket, nil, "want print:NAME")
	}
	return printDest(name), nil
}

func (printTransport) Close() error { return nil }

type printDest string

func (d printDest) String() string { return "print:" + string(d) }

func (d printDest) Key() string { return d.String() }

func (d printDest) Send(m *evi.Message, done evi.Done) error {
	fmt.Printf("%s <- %s %s\n", d, m.Event.Name(), formatParams(m.Params))
	if done != nil {
		go done.Done(m, nil) // the contract: report later, from another goroutine
	}
	return nil
}

func (printDest) Close() error { return nil }

// formatParams prints params as {name:value,...} or [value,...].
func formatParams(p value.Params) string {
	var parts []string
	for _, prm := range p.All() {
		if p.IsNamed() {
			parts = append(parts, prm.Name+":"+prm.Value.String())
		} else {
			parts = append(parts, prm.Value.String())
		}
	}
	if p.IsNamed() {
		return "{" + strings.Join(parts, ",") + "}"
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func ExampleRegistry() {
	r := evi.NewRegistry(evi.Config{})
	defer r.Close()
	if err := r.Register(printTransport{}); err != nil {
		panic(err)
	}
	if _, err := r.Publish("E_PIKE_BLOCKED"); err != nil {
		panic(err)
	}
	for _, socket := range []string{"print:alice", "print:bob"} {
		if err := r.Subscribe("E_PIKE_BLOCKED", socket, time.Hour); err != nil {
			panic(err)
		}
	}
	subs, _ := r.Subscribers("E_PIKE_BLOCKED")
	for _, s := range subs {
		fmt.Println("subscriber", s.Socket, s.Expire)
	}

	// Raise hands the event to every subscriber (newest first) and returns;
	// each outcome is reported later.
	outcomes := make(chan evi.Outcome, len(subs))
	n, err := r.Raise("E_PIKE_BLOCKED",
		value.Named(value.P("ip", value.String("127.0.0.1"))),
		func(o evi.Outcome) { outcomes <- o })
	fmt.Println("accepted:", n, "error:", err)

	var delivered []string
	for range n {
		o := <-outcomes
		delivered = append(delivered, fmt.Sprintf("%s: %v", o.Socket, o.Err))
	}
	slices.Sort(delivered) // outcomes arrive in any order
	fmt.Println(strings.Join(delivered, "; "))

	_, err = r.Raise("E_UNKNOWN", value.Params{}, nil)
	fmt.Println(errors.Is(err, evi.ErrNotPublished))
	// Output:
	// subscriber print:bob 1h0m0s
	// subscriber print:alice 1h0m0s
	// print:bob <- E_PIKE_BLOCKED {ip:"127.0.0.1"}
	// print:alice <- E_PIKE_BLOCKED {ip:"127.0.0.1"}
	// accepted: 2 error: <nil>
	// print:alice: <nil>; print:bob: <nil>
	// true
}

func ExampleRegistry_Subscribe() {
	r := evi.NewRegistry(evi.Config{AutoPublish: true})
	defer r.Close()
	if err := r.Register(printTransport{}); err != nil {
		panic(err)
	}
	// Subscribing a matching socket again refreshes it: no duplicate.
	fmt.Println(r.Subscribe("E_X", "print:a", time.Minute))
	fmt.Println(r.Subscribe("E_X", "print:a", 0)) // now never expires
	subs, _ := r.Subscribers("E_X")
	fmt.Println(len(subs), subs[0].Socket, subs[0].Expire)

	fmt.Println(r.Subscribe("E_X", "print:a", -time.Second))
	fmt.Println(r.Subscribe("E_X", "udp:127.0.0.1:9", 0))
	// Output:
	// <nil>
	// <nil>
	// 1 print:a 0s
	// subscribe "print:a" to "E_X": expire -1s: negative expire value
	// socket "udp:127.0.0.1:9": unknown transport "udp" (want print:)
}

func ExampleMessage_Encoded() {
	m := evi.NewMessage(nil, value.Unnamed(value.Int(3), value.Int(5)), time.Time{})
	computed := 0
	enc := func(m *evi.Message) []byte {
		computed++
		return []byte(formatParams(m.Params))
	}
	// Every destination with the same encoding key shares one encoding.
	for range 3 {
		fmt.Printf("%s\n", m.Encoded("example", enc))
	}
	fmt.Println("computed", computed, "time")
	// Output:
	// [3,5]
	// [3,5]
	// [3,5]
	// computed 1 time
}

func ExampleValidateEventName() {
	fmt.Println(evi.ValidateEventName("E_PIKE_BLOCKED"))
	err := evi.ValidateEventName("E PIKE")
	fmt.Println(err, errors.Is(err, evi.ErrBadEventName))
	// Output:
	// <nil>
	// event name "E PIKE" has a space or control byte at 1 true
}

// raiseLog is an Observer that is also a RaiseObserver: it is told every
// subscription change, every raise and every outcome. Its methods run on
// the registry's and the transports' goroutines: they must not block.
type raiseLog struct {
	outcomes chan evi.Outcome
}

func (l *raiseLog) OnSubscription(c evi.SubscriptionChange) {
	fmt.Println(c.Kind, c.Event.Name(), c.Socket)
}

func (l *raiseLog) OnRaise(m *evi.Message, subscribers int) {
	fmt.Println("raised", m.Event.Name(), "to", subscribers)
}

func (l *raiseLog) OnOutcome(o evi.Outcome) { l.outcomes <- o }

func ExampleRaiseObserver() {
	log := &raiseLog{outcomes: make(chan evi.Outcome, 1)}
	r := evi.NewRegistry(evi.Config{AutoPublish: true, Observers: []evi.Observer{log}})
	defer r.Close()
	if err := r.Register(printTransport{}); err != nil {
		panic(err)
	}
	r.Subscribe("E_PIKE_BLOCKED", "print:app", 0)
	r.Raise("E_PIKE_BLOCKED", value.Named(value.Param{Name: "ip", Value: value.String("192.168.2.11")}), nil)
	o := <-log.outcomes // reported from the transport's goroutine
	fmt.Println("outcome", o.Socket, o.Err, !o.Raised.IsZero())
	// Output:
	// subscribed E_PIKE_BLOCKED print:app
	// print:app <- E_PIKE_BLOCKED {ip:"192.168.2.11"}
	// raised E_PIKE_BLOCKED to 1
	// outcome print:app <nil> true
}
