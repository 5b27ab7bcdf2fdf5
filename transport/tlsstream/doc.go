// Package tlsstream is the "tls:" transport: event_stream inside TLS.
// A socket tls:host:port[/method] gets exactly the bytes a tcp: socket
// gets (the event_stream section sets the mode, timeout, event_param,
// framing and queues for both), over a TLS connection whose server
// certificate must verify against the "tls" section's ca_file (else the
// system's roots) for server_name (else the socket's host). A certificate
// that does not verify fails the delivery with ReasonConnect and the
// verification error, counted and logged: there is no fallback to clear
// text. cert_file and key_file present a client certificate (mutual TLS).
//
// The package registers itself (package transport) with the section
// "tls"; the daemon imports it in daemon/transports.go.
package tlsstream
