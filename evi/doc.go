// Package evi is the Event Interface: the registry of published events, their
// subscribers, and the contract that transports implement.
//
// The concepts and names follow OpenSIPS's Event Interface:
//
//   - An Event is a named thing that happens (E_PIKE_BLOCKED). It must be
//     published before it can be subscribed to or raised; each published event
//     gets a sequential numeric id.
//   - Params are the data of one raised event (package value): an ordered
//     list of values, either all named (sent as a JSON object) or all
//     unnamed (a JSON array).
//   - A socket is where a subscriber wants its events, "transport:rest", for
//     example "tcp:127.0.0.1:8080/block_ip". The prefix before the first ':'
//     selects the Transport that parses it into a Destination.
//   - A subscriber is (event, socket, expire). Subscribing again with a socket
//     that matches an existing one refreshes it instead of adding a duplicate.
//     New subscribers go to the head of the list: they are listed and
//     delivered to newest first.
//
// A Registry is safe for concurrent use. Raise does not block on delivery:
// it hands one shared *Message to every live subscriber's Destination and
// returns; each destination reports its outcome asynchronously.
package evi
