package allowlist_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/allowlist"
)

// resolver answers names from a table that a test changes (DNS that is
// rebound between the subscription and a reconnect).
type resolver struct {
	mu    sync.Mutex
	table map[string][]netip.Addr
}

func (r *resolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.table[strings.ToLower(strings.TrimSuffix(host, "."))]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (r *resolver) set(host string, addrs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	r.table[host] = out
}

func forbidden(t *testing.T, err error, why string) {
	t.Helper()
	var fe *allowlist.ForbiddenError
	if !errors.As(err, &fe) || !errors.Is(err, evi.ErrForbidden) || !strings.Contains(err.Error(), why) {
		t.Fatalf("%v, want a *ForbiddenError saying %q", err, why)
	}
}

// TestRules: CIDRs, addresses and names (with wildcards) allow; anything
// else is refused naming the rule; a bad entry is an error naming it.
func TestRules(t *testing.T) {
	r := &resolver{table: map[string][]netip.Addr{}}
	r.set("recv.example.com", "192.0.2.7")
	r.set("other.example.org", "198.51.100.1")
	r.set("inside", "127.0.0.1")
	l, err := allowlist.New([]string{"127.0.0.1/32", "::1", "*.example.com"}, r)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, ok := range []string{"127.0.0.1", "::1", "recv.example.com", "RECV.example.com.", "inside"} {
		if err := l.CheckAddress(ctx, ok, 9); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, no := range []string{"192.0.2.7", "other.example.org"} {
		forbidden(t, l.CheckAddress(ctx, no, 9), "not in destinations.allow")
	}
	if _, err := l.LookupHost(ctx, "other.example.org"); err == nil {
		t.Fatal("LookupHost allowed a name outside the list")
	}
	if err := allowlist.Check([]string{"10.0.0.0/8", "bad host!"}); err == nil || !strings.Contains(err.Error(), "destinations.allow[1]") {
		t.Fatalf("Check = %v", err)
	}
}

// TestOwnListener: whatever the list says, the daemon's own ingest
// listener is refused, by address or by a name resolving to it; with an
// unspecified listen address, every loopback address with its port.
func TestOwnListener(t *testing.T) {
	r := &resolver{table: map[string][]netip.Addr{}}
	r.set("localhost", "127.0.0.1", "::1")
	l, _ := allowlist.New(nil, r)
	l.SetOwn([]netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9000")})
	ctx := context.Background()
	for _, host := range []string{"127.0.0.1", "localhost"} {
		forbidden(t, l.CheckAddress(ctx, host, 9000), "own ingest listener")
	}
	if err := l.CheckAddress(ctx, "127.0.0.1", 9001); err != nil {
		t.Fatalf("another port: %v", err)
	}
	l.SetOwn([]netip.AddrPort{netip.MustParseAddrPort("[::]:9000")})
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		forbidden(t, l.CheckAddress(ctx, host, 9000), "own ingest listener")
	}
}

// TestRebinding: a name allowed through its address when subscribed, and
// rebound to a forbidden address later, is refused at the next connect
// (no connection made); back on an allowed address, it connects.
func TestRebinding(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	r := &resolver{table: map[string][]netip.Addr{}}
	r.set("recv", "127.0.0.1")
	l, _ := allowlist.New([]string{"127.0.0.1/32"}, r)
	ctx := context.Background()
	if err := l.CheckAddress(ctx, "recv", port); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("recv", strconv.Itoa(port))
	c, err := l.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	r.set("recv", "::1")
	_, err = l.DialContext(ctx, "tcp", addr)
	forbidden(t, err, "recv resolves to ::1: not in destinations.allow")
	r.set("recv", "::1", "127.0.0.1") // one allowed address among them: used
	if c, err = l.DialContext(ctx, "tcp", addr); err != nil {
		t.Fatal(err)
	}
	c.Close()
	// A reload narrows the list: the next connect follows it.
	if err := l.Set([]string{"10.0.0.0/8"}); err != nil {
		t.Fatal(err)
	}
	_, err = l.DialContext(ctx, "tcp", addr)
	forbidden(t, err, "not in destinations.allow")
}
