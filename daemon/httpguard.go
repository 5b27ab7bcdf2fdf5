package daemon

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/evstream/evstream/internal/ratelog"
	"github.com/evstream/evstream/jsonrpc"
)

// hostGuard refuses the HTTP requests that a web page, rather than a
// person or a tool, makes to the MI listener:
//
//   - a request whose Origin is not the listener itself (or "null"), or
//     whose Sec-Fetch-Site says another site sent it: a page open in a
//     browser on this host could otherwise POST a "simple request"
//     (Content-Type text/plain) that subscribes any socket;
//   - a request whose Host is a name other than localhost or a name the
//     config allows (mi.allowed_hosts): with DNS rebinding, a page's own
//     name can be made to point at 127.0.0.1 and read the answers.
//
// curl, opensips-cli and evstream mi send no Origin and name the
// listener by address or localhost: they are not affected. An IP address
// as Host is always allowed (DNS rebinding needs a name).
type hostGuard struct {
	names atomic.Pointer[map[string]bool] // allowed Host names, lowercase, no port
	log   *ratelog.Logger
	next  http.Handler
}

// newHostGuard guards next; listen is the MI's listen address (its host
// is allowed when it is a name), allowed are the extra names.
func newHostGuard(next http.Handler, listen string, allowed []string, log *ratelog.Logger) *hostGuard {
	g := &hostGuard{log: log, next: next}
	g.setNames(listen, allowed)
	return g
}

// setNames replaces the allowed names (on reload).
func (g *hostGuard) setNames(listen string, allowed []string) {
	names := map[string]bool{}
	if h, _, err := net.SplitHostPort(listen); err == nil && h != "" {
		names[normHost(h)] = true
	}
	for _, n := range allowed {
		names[normHost(n)] = true
	}
	g.names.Store(&names)
}

// normHost lowercases a host name and drops a trailing dot and brackets.
func normHost(h string) string {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
}

// hostOf returns the host part of a Host header or an authority, without
// its port.
func hostOf(authority string) string {
	if h, _, err := net.SplitHostPort(authority); err == nil {
		return normHost(h)
	}
	return normHost(authority)
}

func (g *hostGuard) allowedHost(host string) bool {
	h := hostOf(host)
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	return h == "localhost" || strings.HasSuffix(h, ".localhost") || (*g.names.Load())[h]
}

// why returns why r is refused, or "".
func (g *hostGuard) why(r *http.Request) string {
	if !g.allowedHost(r.Host) {
		return "Host " + ratelog.Clip(r.Host) + " is not this daemon's (add the name to mi.allowed_hosts)"
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return "a request from another site (Sec-Fetch-Site: " + ratelog.Clip(site) + ")"
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return ""
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
		return "a cross-origin request (Origin " + ratelog.Clip(origin) + ")"
	}
	return ""
}

func (g *hostGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	why := g.why(r)
	if why == "" {
		g.next.ServeHTTP(w, r)
		return
	}
	g.log.Warn("mi: request refused", "remote", r.RemoteAddr, "path", ratelog.Clip(r.URL.Path), "reason", why)
	if r.URL.Path == MIPath {
		body := jsonrpc.AppendError(nil, nil, &jsonrpc.Error{
			Code: http.StatusForbidden, Message: "Forbidden", Data: jsonrpc.AppendString(nil, why),
		})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		w.Write(body)
		return
	}
	http.Error(w, "evstream: forbidden: "+why, http.StatusForbidden)
}
