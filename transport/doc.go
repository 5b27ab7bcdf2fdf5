// Package transport is the plug-in point of evstream's transports: a
// transport registers itself, by scheme, with the section of the config
// file that configures it, and the daemon finds it there — config
// decoding and validation, the transport's construction, its statistics
// (get_statistics and /metrics) and any MI commands it adds.
//
// A transport package registers in an init function:
//
//	func init() {
//		transport.Register(transport.Plugin{
//			Scheme:    "udp",
//			Section:   "event_datagram",
//			Subsystem: "datagram",
//			NewSettings: func() transport.Settings { return &Settings{Port: 9} },
//			New: func(env transport.Env, s transport.Settings) (evi.Transport, error) {
//				return New(s.(*Settings).Config(env.Logger))
//			},
//		})
//	}
//
// and the daemon imports it for its side effect (daemon/transports.go
// lists them): adding a transport is a new directory and one import line.
//
// A transport may implement StatsReporter (counters and gauges, by name),
// Commander (MI commands of its own) and Drainer (the counts the daemon
// logs when it shuts down).
package transport
