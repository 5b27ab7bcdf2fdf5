package ingest

import (
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/evstream/evstream/internal/ratelog"
)

// allowListener accepts only the connections whose source address is in
// one of its prefixes; the others are closed at once, counted and logged
// (rate-limited) with their address.
type allowListener struct {
	net.Listener
	allow   *atomic.Pointer[[]netip.Prefix] // the Server's: SetAllow changes it
	refused *atomic.Uint64
	log     *ratelog.Logger
}

func (l *allowListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if allow := *l.allow.Load(); len(allow) == 0 || allowed(c.RemoteAddr(), allow) {
			return c, nil
		}
		l.refused.Add(1)
		l.log.Warn("ingest: connection refused: source not in ingest.allow", "remote", c.RemoteAddr().String())
		c.Close()
	}
}

// allowed reports whether a's IP address is in one of the prefixes.
func allowed(a net.Addr, allow []netip.Prefix) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	for _, p := range allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
