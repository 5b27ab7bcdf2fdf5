// Command evstream is the evstream daemon and its tools: an implementation of
// the OpenSIPS Event Interface and its event_stream transport, which delivers
// events to applications as JSON-RPC 2.0 written straight onto TCP.
//
//	evstream serve [--config FILE] [--mi-listen ADDR] [--ingest-listen ADDR]   run the daemon
//	evstream mi [--url URL] CMD [ARGS...]               call a running daemon's MI
//	evstream listen [ADDR] [--reply JSON|--error MSG] [--delay D] [--count N]
//	                                                    print the events received over TCP
//	evstream bench [FLAGS]                              load-test a daemon end to end
//	evstream version                                    print the version
//
// serve runs on built-in defaults (the MI on http://127.0.0.1:8888/mi) or
// from a YAML file (see examples/evstream.yaml); SIGINT or SIGTERM stops it
// after flushing what is queued. Each subcommand lives in its own file and
// registers itself in init; "evstream COMMAND -h" lists a command's flags.
package main
