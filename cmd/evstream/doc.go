// Command evstream is the evstream daemon and its tools: an implementation of
// the OpenSIPS Event Interface and its event_stream transport, which delivers
// events to applications as JSON-RPC 2.0 written straight onto TCP.
//
//	evstream serve [--config FILE] [--mi-listen ADDR] [--ingest-listen ADDR]   run the daemon
//	evstream mi [--url URL] CMD [ARGS...]               call a running daemon's MI
//	evstream mi help [CMD]                              the MI commands and their params
//	evstream listen [ADDR] [--reply JSON|--error MSG] [--delay D] [--count N]
//	                                                    print the events received over TCP
//	evstream bench [FLAGS]                              load-test a daemon end to end
//	evstream version                                    the version and VCS revision
//	evstream help [CMD]                                 a command's help
//
// serve runs on built-in defaults (the MI on http://127.0.0.1:8888/mi) or
// from a YAML file (see examples/evstream.yaml). SIGHUP reloads what can
// change safely; SIGINT or SIGTERM stops it after flushing what is queued,
// and a second one ends the flush at once. It speaks systemd's sd_notify
// protocol (Type=notify) when NOTIFY_SOCKET is set.
//
// The command line is parsed with github.com/spf13/cobra: flags may come
// anywhere, every command has --help, an unknown command gets a
// suggestion, and flag values that do not parse say what was expected.
// Each subcommand is built by its own file's newXxxCmd. Exit codes: 0 ok,
// 1 failure (cannot start, cannot reach, an MI error), 2 bad usage.
package main
