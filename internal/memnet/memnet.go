// Package memnet is an in-memory network for tests: listeners by address
// and a dialer that connects to them with net.Pipe. Connections made
// inside a testing/synctest bubble block durably, so timeouts, deadlines
// and backoffs run on the bubble's fake clock.
package memnet

import (
	"context"

	"fmt"
	"net"
	"sync"
	"syscall"
)

// Network is a set of listeners by address. The zero Network is ready.
type Network struct {
	mu        sync.Mutex
	listeners map[string]*Listener
}

// Listen listens on addr (any string, such as "127.0.0.1:9").
func (n *Network) Listen(addr string) (*Listener, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.listeners == nil {
		n.listeners = map[string]*Listener{}
	}
	if _, dup := n.listeners[addr]; dup {
		return nil, fmt.Errorf("memnet: listen %s: address in use", addr)
	}
	l := &Listener{n: n, addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
	n.listeners[addr] = l
	return l, nil
}

// DialContext connects to the listener on addr: it waits until the
// listener accepts (a listener that does not accept makes a connect that
// hangs until ctx ends). With no listener on addr it fails at once with
// ECONNREFUSED, as a closed port does.
func (n *Network) DialContext(ctx context.Context, _, addr string) (net.Conn, error) {
	n.mu.Lock()
	l := n.listeners[addr]
	n.mu.Unlock()
	if l == nil {
		return nil, &net.OpError{Op: "dial", Net: "memnet", Err: fmt.Errorf("%s: %w", addr, syscall.ECONNREFUSED)}
	}
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, &net.OpError{Op: "dial", Net: "memnet", Err: fmt.Errorf("%s: %w", addr, syscall.ECONNREFUSED)}
	case <-ctx.Done():
		return nil, &net.OpError{Op: "dial", Net: "memnet", Err: ctx.Err()}
	}
}

// Listener is a listener of a Network.
type Listener struct {
	n     *Network
	addr  string
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// Accept waits for a connection.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops the listener: pending and later dials are refused.
func (l *Listener) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.n.mu.Lock()
		if l.n.listeners[l.addr] == l {
			delete(l.n.listeners, l.addr)
		}
		l.n.mu.Unlock()
	})
	return nil
}

// Addr returns the listener's address.
func (l *Listener) Addr() net.Addr { return addr(l.addr) }

type addr string

func (a addr) Network() string { return "memnet" }
func (a addr) String() string  { return string(a) }
