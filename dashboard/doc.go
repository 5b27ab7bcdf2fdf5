// Package dashboard is evstream's live view: a web page served by the
// daemon at GET /ui on the MI listener, behind the MI's authentication and
// TLS, with every asset embedded in the binary (no CDN, no external font:
// it works on an isolated network).
//
// The page shows the events and their subscribers (policy, expire,
// pending events, dead letters), every destination's connection state
// (connected, connecting, backing off and when the next attempt is,
// queued, in flight), its last error and when, its delivered and failed
// rates and its p50/p99 raise→outcome latency, five minutes of plots,
// the daemon's totals, and a live tail of raised events, outcomes and
// subscription changes. Updates are pushed with server-sent events (GET
// /ui/api/stream), never polled; GET /ui/api/state returns the same state
// as one JSON document. Its actions (subscribe, unsubscribe, raise a test
// event, replay or purge dead letters) are MI commands sent to /mi: the
// page can do nothing the MI cannot.
//
// A Dashboard is an evi.RaiseObserver: the registry tells it every
// raise, outcome and subscription change. It counts them with atomic
// operations and lets at most Config.TailRate entries a second into the
// tail, counting the others and saying so on the page: the live view
// never slows delivery. Its memory is bounded: five minutes of history
// for at most Config.MaxDestinations destinations, Config.TailSize tail
// entries, Config.MaxClients streams.
//
// docs/UI.md describes the page and the JSON it reads.
package dashboard
