// Package transporttest is the contract suite of evi.Transport: every
// transport runs Run against itself, so that the promises the Event
// Interface makes to the registry, the relay and the spool hold for each
// of them in the same way:
//
//   - an accepted event's Done is called exactly once, with nil when the
//     event was delivered, and never after the transport's Close returned;
//   - the events of one subscriber arrive in the order they were sent;
//   - a failure is a *evi.DeliveryError that says why (connect, error
//     reply, timeout, closed) and whether the bytes left;
//   - an attempt's deadline counts from its Send: it is not reported
//     before the timeout, and is reported after it;
//   - Close fails what is pending with ReasonClosed, and Send after Close
//     refuses with evi.ErrClosed.
//
// A Harness tells the suite how to make the transport and its peers. The
// peers of the stream transports (tcp:, tls:, and virtual sockets built on
// them) are JSON-RPC receivers: Serve runs one, of any Kind, on a
// listener. Run the suite once per kind of connection (an in-memory pipe
// inside a testing/synctest bubble, loopback TCP, TLS), as yamux runs its
// tests over each of its transports.
package transporttest
