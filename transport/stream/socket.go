package stream

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/evstream/evstream/evi"
)

// Scheme is the socket prefix a Transport handles by default:
// "tcp:host:port".
const Scheme = "tcp"

// Socket is a parsed socket: scheme ':' host ':' port ['/' method], the
// scheme being "tcp" (or the Config.Scheme of the transport).
type Socket struct {
	// Scheme is the socket's prefix without the colon; "" means "tcp".
	Scheme string
	// Host is the host as written: a DNS name, an IPv4 address, or an IPv6
	// address (written in brackets in the socket, stored without them).
	Host string
	// Port is the TCP port, 1..65535.
	Port int
	// Method is the JSON-RPC method to call; empty means the event's name.
	Method string
}

// String returns the printed form of s: "tcp:host:port" or
// "tcp:host:port/method", with an IPv6 host in brackets.
func (s Socket) String() string {
	scheme := s.Scheme
	if scheme == "" {
		scheme = Scheme
	}
	var b strings.Builder
	b.Grow(len(scheme) + 1 + len(s.Host) + 2 + 6 + 1 + len(s.Method))
	b.WriteString(scheme)
	b.WriteByte(':')
	b.WriteString(s.hostPort())
	if s.Method != "" {
		b.WriteByte('/')
		b.WriteString(s.Method)
	}
	return b.String()
}

// hostPort returns "host:port" as net.Dial wants it.
func (s Socket) hostPort() string {
	p := strconv.Itoa(s.Port)
	if strings.IndexByte(s.Host, ':') >= 0 {
		return "[" + s.Host + "]:" + p
	}
	return s.Host + ":" + p
}

// ParseSocket parses a "tcp:" socket string. It checks the grammar only and
// does no DNS lookup (Transport.Parse also resolves the host). Errors wrap
// evi.ErrBadSocket: each is an *evi.SocketError naming the socket.
//
// Grammar: 'tcp:' host ':' port ['/' method]. host is a DNS name, an IPv4
// address or an IPv6 address in brackets ("[::1]", an evstream extension);
// port is decimal, 1..65535; an empty method ("tcp:h:9/") is the same as none.
func ParseSocket(s string) (Socket, error) { return parseSocket(Scheme, s) }

// parseSocket is ParseSocket for the sockets of scheme.
func parseSocket(scheme, s string) (Socket, error) {
	bad := func(format string, args ...any) (Socket, error) {
		return Socket{}, evi.NewSocketError(s, nil, format, args...)
	}
	prefix := scheme + ":"
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return bad("want prefix %q", prefix)
	}
	// The method is everything after the first '/' (a host and a port never
	// hold one); split it off first so that a ':' in it does not matter.
	addr, method, _ := strings.Cut(rest, "/")
	if err := checkMethod(method); err != "" {
		return bad("%s", err)
	}
	var host, port string
	if strings.HasPrefix(addr, "[") {
		end := strings.IndexByte(addr, ']')
		if end < 0 {
			return bad("missing ']' after IPv6 address")
		}
		host = addr[1:end]
		after := addr[end+1:]
		if after == "" {
			return bad("missing port (want host:port)")
		}
		if after[0] != ':' {
			return bad("want ':' and a port after ']', got %q", after)
		}
		port = after[1:]
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() || strings.ContainsFunc(host, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return bad("bad IPv6 address %q in brackets", host)
		}
	} else {
		i := strings.IndexByte(addr, ':')
		if i < 0 {
			if addr == "" {
				return bad("missing host and port (want %shost:port)", prefix)
			}
			return bad("missing port (want host:port)")
		}
		host, port = addr[:i], addr[i+1:]
		if strings.IndexByte(port, ':') >= 0 {
			return bad("too many ':' (write an IPv6 address in brackets: %s[::1]:8080)", prefix)
		}
		if host == "" {
			return bad("missing host")
		}
		if err := checkHost(host); err != "" {
			return bad("%s", err)
		}
	}
	if port == "" {
		return bad("missing port (want host:port)")
	}
	n, err := parsePort(port)
	if err != "" {
		return bad("%s", err)
	}
	return Socket{Scheme: scheme, Host: host, Port: n, Method: method}, nil
}

func parsePort(p string) (int, string) {
	n := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < '0' || c > '9' {
			return 0, fmt.Sprintf("port %q is not a decimal number", p)
		}
		if n <= 65535 {
			n = n*10 + int(c-'0')
		}
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Sprintf("port %s out of range 1..65535", p)
	}
	return n, ""
}

// checkHost validates a DNS name or an IPv4 address.
func checkHost(h string) string {
	if len(h) > 253 {
		return fmt.Sprintf("host name is %d bytes, longer than 253", len(h))
	}
	numeric := true
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= '0' && c <= '9' || c == '.':
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-', c == '_':
			numeric = false
		default:
			return fmt.Sprintf("bad byte %q in host %q", c, h)
		}
	}
	if numeric {
		if ip, err := netip.ParseAddr(h); err != nil || !ip.Is4() {
			return fmt.Sprintf("bad IPv4 address %q", h)
		}
		return ""
	}
	name := strings.TrimSuffix(h, ".")
	for label := range strings.SplitSeq(name, ".") {
		switch {
		case label == "":
			return fmt.Sprintf("empty label in host %q", h)
		case len(label) > 63:
			return fmt.Sprintf("label longer than 63 bytes in host %q", h)
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Sprintf("label %q in host %q starts or ends with '-'", label, h)
		}
	}
	return ""
}

// MaxMethodLen bounds a socket's method, in bytes (it is written with every
// event).
const MaxMethodLen = 256

// checkMethod rejects methods that would make the socket unreadable in
// listings (spaces and control bytes) or every event large.
func checkMethod(m string) string {
	if len(m) > MaxMethodLen {
		return fmt.Sprintf("method of %d bytes, longer than %d", len(m), MaxMethodLen)
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; c <= ' ' || c == 0x7f {
			return fmt.Sprintf("method %q has a space or control byte at %d", m, i)
		}
	}
	return ""
}
