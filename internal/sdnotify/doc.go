// Package sdnotify tells systemd how a service started with Type=notify is
// doing, with the sd_notify datagram protocol: a datagram of newline-
// separated KEY=VALUE assignments sent to the unix socket named by the
// NOTIFY_SOCKET environment variable (a path, or "@name" for an abstract
// socket). Without NOTIFY_SOCKET, every call does nothing.
//
// evstream serve sends READY=1 once it listens, RELOADING=1 (with
// MONOTONIC_USEC) and READY=1 around a SIGHUP reload, STATUS= lines, and
// STOPPING=1 when it begins to drain.
package sdnotify
