package evi_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/evi/evitest"
	"github.com/evstream/evstream/internal/testnet"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// clock is a controllable Config.Now.
type clock = testnet.Clock

func newClock() *clock { return testnet.NewClock(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)) }

// waitFor bounds every wait of the tests.
const waitFor = 30 * time.Second

func newTestRegistry(t testing.TB, cfg evi.Config) (*evi.Registry, *evitest.Transport, *clock) {
	t.Helper()
	c := newClock()
	if cfg.Now == nil {
		cfg.Now = c.Now
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = time.Hour
	}
	r := evi.NewRegistry(cfg)
	t.Cleanup(func() { r.Close() })
	ft := evitest.New("fake")
	if err := r.Register(ft); err != nil {
		t.Fatal(err)
	}
	return r, ft, c
}

// sockets returns the printed sockets of a listing.
func sockets(infos []evi.SubscriberInfo) []string {
	out := make([]string, len(infos))
	for i, s := range infos {
		out[i] = s.Socket
	}
	return out
}

// errorsOf unwraps a joined error into its parts (nil: none).
func errorsOf(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
