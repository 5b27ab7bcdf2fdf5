package dashboard_test

import (
	"fmt"

	"github.com/evstream/evstream/dashboard"
	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/evi/evitest"
	"github.com/evstream/evstream/value"
)

// A Dashboard observes a registry; its State is what the page shows. A
// program serves it with http.Handle(dashboard.Path, d) and
// http.Handle(dashboard.Path+"/", d), behind its own authentication.
func Example() {
	d := dashboard.New(dashboard.Config{Version: "1.0"})
	defer d.Close()
	reg := evi.NewRegistry(evi.Config{AutoPublish: true, Observers: []evi.Observer{d}})
	defer reg.Close()
	ft := evitest.New("fake") // a transport that delivers at once
	ft.Set("app", evitest.Eager)
	reg.Register(ft)
	d.Start(dashboard.Sources{Registry: reg})

	reg.Subscribe("E_PIKE_BLOCKED", "fake:app", 0)
	reg.Raise("E_PIKE_BLOCKED", value.Named(value.Param{Name: "ip", Value: value.String("192.168.2.11")}), nil)

	st := d.State()
	fmt.Println("raised:", st.Totals.Raised, "delivered:", st.Totals.Delivered)
	for _, ds := range st.Destinations {
		fmt.Println(ds.Socket, ds.Events, ds.Delivery, ds.Delivered)
	}
	// Output:
	// raised: 1 delivered: 1
	// fake:app [E_PIKE_BLOCKED] at-most-once 1
}
