// Package allowlist decides where the daemon's transports may connect:
// the destinations.allow list of the config (CIDRs, IP addresses and host
// names) and the daemon's own ingest listeners, which a socket must never
// name (one raise would then circulate forever).
//
// A List is both the Resolver a transport checks a socket's host with
// when it is subscribed, and the Dialer it connects with: at every
// connect the host is resolved again and each address checked, so that a
// name cannot be rebound in DNS to a forbidden address after it was
// subscribed.
package allowlist

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/evstream/evstream/evi"
)

// Resolver resolves host names (net.DefaultResolver by default).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// List is an allow-list of destinations, made by New. It is safe for
// concurrent use.
type List struct {
	rules    atomic.Pointer[rules]
	resolver Resolver
	dialer   *net.Dialer
	own      atomic.Pointer[[]netip.AddrPort] // the daemon's ingest listeners
}

// rules are a List's entries, parsed; replaced whole by Set.
type rules struct {
	nets  []netip.Prefix
	names []string // lowercase; "*.example.com" matches its subdomains
}

// ForbiddenError says why a destination may not be used. errors.Is(err,
// evi.ErrForbidden) is true for it.
type ForbiddenError struct {
	// Host is the socket's host as written, Addr the address it resolved
	// to (empty when the name itself is refused).
	Host, Addr string
	// Why names the rule: "not in destinations.allow", "the daemon's own
	// ingest listener".
	Why string
}

func (e *ForbiddenError) Error() string {
	if e.Addr != "" && e.Addr != e.Host {
		return fmt.Sprintf("%s resolves to %s: %s", e.Host, e.Addr, e.Why)
	}
	return fmt.Sprintf("%s: %s", e.Host, e.Why)
}

// Is reports whether target is evi.ErrForbidden.
func (e *ForbiddenError) Is(target error) bool { return target == evi.ErrForbidden }

// New returns the List of entries: CIDRs ("10.0.0.0/8"), IP addresses and
// host names ("receiver.example.com", "*.example.com"); empty allows any
// destination. r resolves names (nil: net.DefaultResolver).
func New(entries []string, r Resolver) (*List, error) {
	l := &List{resolver: r, dialer: &net.Dialer{}}
	if l.resolver == nil {
		l.resolver = net.DefaultResolver
	}
	if err := l.Set(entries); err != nil {
		return nil, err
	}
	return l, nil
}

// Set replaces the entries (on reload); on error the old ones stay.
func (l *List) Set(entries []string) error {
	ru, err := parse(entries)
	if err != nil {
		return err
	}
	l.rules.Store(ru)
	return nil
}

// Check reports why entries cannot make a List, or nil.
func Check(entries []string) error {
	_, err := parse(entries)
	return err
}

func parse(entries []string) (*rules, error) {
	ru := &rules{}
	for i, e := range entries {
		if p, err := netip.ParsePrefix(e); err == nil {
			ru.nets = append(ru.nets, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(e); err == nil {
			ru.nets = append(ru.nets, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		if err := checkName(e); err != nil {
			return nil, fmt.Errorf("destinations.allow[%d]: %w", i, err)
		}
		ru.names = append(ru.names, strings.ToLower(strings.TrimSuffix(e, ".")))
	}
	return ru, nil
}

func checkName(e string) error {
	name := strings.TrimPrefix(e, "*.")
	if name == "" || len(name) > 253 {
		return fmt.Errorf("%q is not a CIDR, an IP address or a host name", e)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return fmt.Errorf("%q is not a CIDR, an IP address or a host name", e)
		}
	}
	return nil
}

// SetOwn sets the daemon's own listeners (ingest): no destination may be
// one of them. An unspecified address (0.0.0.0, ::) stands for every
// address of the host.
func (l *List) SetOwn(own []netip.AddrPort) { l.own.Store(&own) }

// open reports whether ru allows any destination (no entries).
func (ru *rules) open() bool { return len(ru.nets) == 0 && len(ru.names) == 0 }

// byName reports whether host is allowed by one of the names.
func (l *List) byName(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	for _, n := range l.rules.Load().names {
		if h == n || strings.HasPrefix(n, "*.") && strings.HasSuffix(h, n[1:]) {
			return true
		}
	}
	return false
}

// checkAddr reports why a (resolved from host) may not be used, or nil.
func (l *List) checkAddr(host string, a netip.Addr, port int, named bool) error {
	a = a.Unmap()
	if port > 0 && l.isOwn(a, port) {
		return &ForbiddenError{Host: host, Addr: netip.AddrPortFrom(a, uint16(port)).String(), Why: "the daemon's own ingest listener (an event would come back for ever)"}
	}
	ru := l.rules.Load()
	if ru.open() || named {
		return nil
	}
	for _, p := range ru.nets {
		if p.Contains(a) {
			return nil
		}
	}
	return &ForbiddenError{Host: host, Addr: a.String(), Why: "not in destinations.allow"}
}

func (l *List) isOwn(a netip.Addr, port int) bool {
	own := l.own.Load()
	if own == nil {
		return false
	}
	for _, o := range *own {
		if int(o.Port()) != port {
			continue
		}
		if o.Addr().Unmap() == a || o.Addr().IsUnspecified() && local(a) {
			return true
		}
	}
	return false
}

// local reports whether a is an address of this host.
func local(a netip.Addr) bool {
	if a.IsLoopback() || a.IsUnspecified() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ia := range addrs {
		if n, ok := ia.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == a {
				return true
			}
		}
	}
	return false
}

// resolve returns host's addresses (host itself when it is one).
func (l *List) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	return l.resolver.LookupNetIP(ctx, "ip", host)
}

// LookupHost resolves host and checks it (the subscribe-time check of a
// transport's Resolver): a name not allowed, or an address outside the
// list, is a *ForbiddenError.
func (l *List) LookupHost(ctx context.Context, host string) ([]string, error) {
	addrs, err := l.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	named := l.byName(host)
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if err := l.checkAddr(host, a, 0, named); err != nil {
			return nil, err
		}
		out = append(out, a.String())
	}
	return out, nil
}

// CheckAddress checks host:port at subscribe time: host as LookupHost
// does, and every address it resolves to against the daemon's own
// listeners.
func (l *List) CheckAddress(ctx context.Context, host string, port int) error {
	addrs, err := l.resolve(ctx, host)
	if err != nil {
		return err
	}
	named := l.byName(host)
	for _, a := range addrs {
		if err := l.checkAddr(host, a, port, named); err != nil {
			return err
		}
	}
	return nil
}

// DialContext resolves address's host again, and connects to the first
// allowed address that answers; when none is allowed the error is a
// *ForbiddenError (a transport reports it with evi.ReasonRefused).
func (l *List) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("port %q: %w", portStr, err)
	}
	addrs, err := l.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	named := l.byName(host)
	var errs []error
	for _, a := range addrs {
		if err := l.checkAddr(host, a, port, named); err != nil {
			errs = append(errs, err)
			continue
		}
		c, err := l.dialer.DialContext(ctx, network, netip.AddrPortFrom(a.Unmap(), uint16(port)).String())
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%s resolves to no address", host)
	}
	var fe *ForbiddenError
	if errors.As(errs[0], &fe) && countForbidden(errs) == len(errs) {
		return nil, fe // every address is forbidden: a policy, not a network failure
	}
	return nil, errors.Join(errs...)
}

func countForbidden(errs []error) int {
	n := 0
	for _, e := range errs {
		var fe *ForbiddenError
		if errors.As(e, &fe) {
			n++
		}
	}
	return n
}
