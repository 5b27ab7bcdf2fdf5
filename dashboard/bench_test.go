package dashboard_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/evstream/evstream/dashboard"
	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/evi/evitest"
	"github.com/evstream/evstream/value"
)

// benchDashboard returns a started Dashboard and an event to report on,
// both closed at the end of the benchmark.
func benchDashboard(b *testing.B) (*dashboard.Dashboard, *evi.Event) {
	d := dashboard.New(dashboard.Config{})
	d.Start(dashboard.Sources{})
	b.Cleanup(d.Close)
	reg := evi.NewRegistry(evi.Config{})
	b.Cleanup(func() { reg.Close() })
	e, err := reg.Publish("E_BENCH")
	if err != nil {
		b.Fatal(err)
	}
	return d, e
}

// BenchmarkOnOutcome is what the live view costs each delivery: the
// outcome of an event to one of 10 destinations, from every core at once
// (the tail takes its 100 entries a second; the rest are counted).
func BenchmarkOnOutcome(b *testing.B) {
	d, e := benchDashboard(b)
	sockets := make([]string, 10)
	for i := range sockets {
		sockets[i] = "tcp:127.0.0.1:" + strconv.Itoa(9000+i) + "/m"
	}
	fail := errors.New("refused")
	raised := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			o := evi.Outcome{Event: e, Socket: sockets[i%len(sockets)], Raised: raised}
			if i%100 == 99 {
				o.Err = fail
			}
			d.OnOutcome(o)
			i++
		}
	})
}

// BenchmarkOnRaise is what the live view costs each raise.
func BenchmarkOnRaise(b *testing.B) {
	d, e := benchDashboard(b)
	m := evi.NewMessage(e, value.Named(value.Param{Name: "ip", Value: value.String("192.168.2.11")}), time.Now())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			d.OnRaise(m, 1)
		}
	})
}

// BenchmarkRaiseFanout raises an event to 10 subscribers whose transport
// reports every outcome at once, with and without the live view observing
// the registry: the difference is what the view costs a raise (no network
// in the way: `evstream bench` measures the whole path).
func BenchmarkRaiseFanout(b *testing.B) {
	for _, observed := range []bool{false, true} {
		name := "none"
		if observed {
			name = "observed"
		}
		b.Run(name, func(b *testing.B) {
			rc := evi.Config{AutoPublish: true}
			if observed {
				d := dashboard.New(dashboard.Config{})
				rc.Observers = []evi.Observer{d}
				defer d.Close()
				defer d.Start(dashboard.Sources{})
			}
			r := evi.NewRegistry(rc)
			defer r.Close()
			ft := evitest.New("fake")
			if err := r.Register(ft); err != nil {
				b.Fatal(err)
			}
			for i := range 10 {
				name := "s" + strconv.Itoa(i)
				ft.Set(name, evitest.Eager)
				if err := r.Subscribe("E_BENCH", "fake:"+name, 0); err != nil {
					b.Fatal(err)
				}
			}
			ev := r.Lookup("E_BENCH")
			params := value.Named(value.Param{Name: "ip", Value: value.String("192.168.2.11")})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.RaiseEvent(ev, params, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
