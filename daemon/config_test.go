package daemon

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/evstream/evstream/transport"
	"github.com/evstream/evstream/transport/stream"
	"github.com/evstream/evstream/transport/virtual"
)

// load writes content to a config file in a temp dir and loads it; the
// file's path replaces FILE in error messages.
func load(t *testing.T, content string) (Config, string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "evstream.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	return cfg, path, err
}

func TestLoadConfigErrors(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown top-level key", "mi:\n  listen: 127.0.0.1:0\nauto_pubish: true\n",
			"FILE:3: auto_pubish: unknown key (want one of: mi, log, auto_publish, events, ingest, subscriptions, data_dir, delivery, limits, destinations, event_stream, event_virtual, tls)"},
		{"unknown nested key", "event_stream:\n  tmeout: 5\n",
			"FILE:2: event_stream.tmeout: unknown key (want one of: reliable_mode, timeout, event_param, framing, queue_size, queue_bytes, total_queue_bytes)"},
		{"unknown key in a subscription", "subscriptions:\n  - event: E_X\n    socket: tcp:127.0.0.1:9\n    expires: 5\n",
			"FILE:4: subscriptions[0].expires: unknown key (want one of: event, socket, expire, delivery)"},
		{"at-least-once without data_dir", "data_dir: \"\"\nsubscriptions:\n  - {event: E_X, socket: \"tcp:127.0.0.1:9\", delivery: at-least-once}\n",
			`FILE:3: subscriptions[0].delivery: at-least-once needs data_dir (it is "": memory only)`},
		{"bad delivery", "subscriptions:\n  - {event: E_X, socket: \"tcp:127.0.0.1:9\", delivery: exactly-once}\n",
			`FILE:2: subscriptions[0].delivery: "exactly-once" is not a delivery policy (want at-most-once or at-least-once)`},
		{"delivery ranges", "delivery:\n  default: maybe\n  window: 0\n  retry_initial: 2s\n  retry_max: 1s\n  max_attempts: -1\n  max_age: -1h\n  spool_max_bytes: -5\n",
			`FILE:2: delivery.default: "maybe" is not a delivery policy (want at-most-once or at-least-once)` + "\n" +
				"FILE:3: delivery.window: 0 is out of range: want 1 to 1048576 requests\n" +
				"FILE:5: delivery.retry_max: 1s is out of range: want retry_initial (2s) to 24h0m0s\n" +
				"FILE:6: delivery.max_attempts: -1 is out of range: want 0 (no limit) to 1000000\n" +
				"FILE:7: delivery.max_age: -1h0m0s is negative (0: no limit)\n" +
				"FILE:8: delivery.spool_max_bytes: -5 is negative (0: no limit)"},
		{"duration not a duration", "delivery:\n  retry_max: soon\n",
			`FILE:2: delivery.retry_max: want a duration with a unit, like "1s", "500ms" or "24h", got "soon"`},
		{"duplicate key", "log:\n  level: info\n  level: debug\n",
			"FILE:3: log.level: duplicate key (first at line 2)"},
		{"bad framing", "event_stream:\n  framing: lines\n",
			`FILE:2: event_stream.framing: "lines" is not a framing (want none or newline)`},
		{"negative timeout", "event_stream:\n  reliable_mode: true\n  timeout: -5\n",
			"FILE:3: event_stream.timeout: -5 is out of range: want 1 to 3600000 milliseconds (1 hour)"},
		{"zero timeout", "event_stream:\n  timeout: 0\n",
			"FILE:2: event_stream.timeout: 0 is out of range: want 1 to 3600000 milliseconds (1 hour)"},
		{"timeout not a number", "event_stream:\n  timeout: fast\n",
			`FILE:2: event_stream.timeout: want an integer, got "fast"`},
		{"timeout quoted", "event_stream:\n  timeout: \"1000\"\n",
			`FILE:2: event_stream.timeout: want an integer, got "1000"`},
		{"bool not a bool", "auto_publish: yes\n",
			`FILE:1: auto_publish: want true or false, got "yes"`},
		{"bad log level", "log:\n  level: verbose\n",
			`FILE:2: log.level: "verbose" is not a log level (want debug, info, warn or error)`},
		{"bad log format", "log:\n  format: xml\n",
			`FILE:2: log.format: "xml" is not a log format (want text or json)`},
		{"bad mi.listen", "mi:\n  listen: localhost\n",
			`FILE:2: mi.listen: "localhost" is not host:port (e.g. 127.0.0.1:8888; "" turns it off)`},
		{"allowed host with a port", "mi:\n  allowed_hosts: [\"evstream.example.com:8888\"]\n",
			`FILE:2: mi.allowed_hosts[0]: "evstream.example.com:8888" is not a host name (letters, digits, '-', '_' and '.'; no port)`},
		{"bad ingest port", "ingest:\n  listen: 127.0.0.1:http\n",
			`FILE:2: ingest.listen: "127.0.0.1:http": port "http" is not a number from 0 to 65535`},
		{"negative failover_timeout", "event_virtual:\n  failover_timeout: -1\n",
			"FILE:2: event_virtual.failover_timeout: -1 is out of range: want 1 to 86400 seconds (1 day)"},
		{"bad event name", "events: [E_OK, \"bad name\"]\n",
			`FILE:1: events[1]: event name "bad name" has a space or control byte at 3`},
		{"events not a list", "events: E_X\n",
			`FILE:1: events: want a list, got "E_X"`},
		{"section not a mapping", "event_stream: 5\n",
			`FILE:1: event_stream: want a mapping with keys reliable_mode, timeout, event_param, framing, queue_size, queue_bytes, total_queue_bytes, got "5"`},
		{"bad subscription socket", "subscriptions:\n  - event: E_X\n    socket: udp:127.0.0.1:9\n",
			`FILE:3: subscriptions[0].socket: "udp:127.0.0.1:9": unknown transport "udp" (want tcp:, tls: or virtual:)`},
		{"subscription socket without prefix", "subscriptions:\n  - {event: E_X, socket: \"127.0.0.1:9\"}\n",
			`FILE:2: subscriptions[0].socket: "127.0.0.1:9": unknown transport "127.0.0.1" (want tcp:, tls: or virtual:)`},
		{"subscription without socket", "subscriptions:\n  - event: E_X\n",
			"FILE:2: subscriptions[0].socket: missing (want e.g. tcp:127.0.0.1:8080)"},
		{"negative subscription expire", "subscriptions:\n  - event: E_X\n    socket: tcp:127.0.0.1:9\n    expire: -1\n",
			"FILE:4: subscriptions[0].expire: -1 is out of range: want 0 to 2147483647 seconds (0 or absent: never expires)"},
		{"subscription to an unpublished event", "auto_publish: false\nevents: [E_A]\nsubscriptions:\n  - {event: E_A, socket: \"tcp:127.0.0.1:9\"}\n  - {event: E_B, socket: \"tcp:127.0.0.1:9\"}\n",
			`FILE:5: subscriptions[1].event: event "E_B" is not published: auto_publish is false and it is not in events`},
		{"several errors, all reported", "log:\n  level: loud\nevent_stream:\n  timeout: -1\n  framing: crlf\n",
			"FILE:2: log.level: \"loud\" is not a log level (want debug, info, warn or error)\n" +
				"FILE:4: event_stream.timeout: -1 is out of range: want 1 to 3600000 milliseconds (1 hour)\n" +
				"FILE:5: event_stream.framing: \"crlf\" is not a framing (want none or newline)"},
		// Values that overflow once converted (9.3e12 ms is beyond a
		// time.Duration) are refused by their range, naming file, line and key.
		{"timeout overflows a duration", "event_stream:\n  timeout: 9300000000000\n",
			"FILE:2: event_stream.timeout: 9300000000000 is out of range: want 1 to 3600000 milliseconds (1 hour)"},
		{"failover_timeout overflows a duration", "event_virtual:\n  failover_timeout: 9300000000\n",
			"FILE:2: event_virtual.failover_timeout: 9300000000 is out of range: want 1 to 86400 seconds (1 day)"},
		{"expire overflows a duration", "subscriptions:\n  - {event: E_X, socket: \"tcp:127.0.0.1:9\", expire: 9300000000}\n",
			"FILE:2: subscriptions[0].expire: 9300000000 is out of range: want 0 to 2147483647 seconds (0 or absent: never expires)"},
		{"expire beyond 32 bits", "subscriptions:\n  - {event: E_X, socket: \"tcp:127.0.0.1:9\", expire: 99999999999}\n",
			"FILE:2: subscriptions[0].expire: 99999999999 is out of range: want 0 to 2147483647 seconds (0 or absent: never expires)"},
		{"integer beyond 64 bits", "event_stream:\n  timeout: 99999999999999999999\n",
			`FILE:2: event_stream.timeout: want an integer, got "99999999999999999999"`},
		{"bool spelled on", "event_stream:\n  reliable_mode: on\n",
			`FILE:2: event_stream.reliable_mode: want true or false, got "on"`},
		// Unknown keys and bad values in one file: all of them, in line order.
		{"unknown keys and bad values together", "mi:\n  lisen: x\nevent_stream:\n  timeout: 9300000000000\n  framing: crlf\nloog: {}\n",
			"FILE:2: mi.lisen: unknown key (want one of: listen, allowed_hosts, auth_token, basic_auth, tls_cert_file, tls_key_file, ui)\n" +
				"FILE:4: event_stream.timeout: 9300000000000 is out of range: want 1 to 3600000 milliseconds (1 hour)\n" +
				"FILE:5: event_stream.framing: \"crlf\" is not a framing (want none or newline)\n" +
				"FILE:6: loog: unknown key (want one of: mi, log, auto_publish, events, ingest, subscriptions, data_dir, delivery, limits, destinations, event_stream, event_virtual, tls)"},
		// A value of the wrong kind is reported once, not again by the
		// checks of what it would have been.
		{"wrong kind reported once", "event_stream:\n  timeout: soon\nsubscriptions:\n  - {event: [E_X], socket: tcp:127.0.0.1:9}\n",
			"FILE:2: event_stream.timeout: want an integer, got \"soon\"\n" +
				"FILE:4: subscriptions[0].event: want a string, got a list"},
		{"bad YAML", "mi:\n  listen: [\n",
			"FILE: not valid YAML: line 2: did not find expected node content"},
		{"two documents", "mi: {}\n---\nlog: {}\n",
			"FILE:2: more than one YAML document (one config per file)"},
		{"top level not a mapping", "- a\n- b\n",
			`FILE:1: want a mapping with keys mi, log, auto_publish, events, ingest, subscriptions, data_dir, delivery, limits, destinations, event_stream, event_virtual, tls, got a list`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, path, err := load(t, c.yaml)
			want := strings.ReplaceAll(c.want, "FILE", path)
			if err == nil || err.Error() != want {
				t.Fatalf("LoadConfig:\n got %v\nwant %s", err, want)
			}
			var ce *ConfigError
			if strings.Contains(c.want, "FILE:") && !errors.As(err, &ce) {
				t.Errorf("error %v is not a *ConfigError", err)
			}
		})
	}
}

func TestLoadConfigFileNotFound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := LoadConfig(path)
	want := path + ": cannot read config: no such file or directory"
	if err == nil || err.Error() != want {
		t.Fatalf("LoadConfig = %v, want %s", err, want)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", err)
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	for _, content := range []string{"", "# only a comment\n", "~\n", "mi:\nlog:\nevent_stream:\nsubscriptions:\n"} {
		cfg, _, err := load(t, content)
		if err != nil {
			t.Fatalf("LoadConfig(%q): %v", content, err)
		}
		if !reflect.DeepEqual(cfg, DefaultConfig()) {
			t.Errorf("LoadConfig(%q) = %+v, want the defaults %+v", content, cfg, DefaultConfig())
		}
	}
}

func TestLoadConfigEveryKey(t *testing.T) {
	cfg, _, err := load(t, `
mi: {listen: "[::1]:0", allowed_hosts: [evstream.example.com], ui: false}
log: {level: DEBUG, format: json}
auto_publish: false
events: [E_A, E_B]
event_stream:
  reliable_mode: true
  timeout: 250
  event_param: opensips_event
  framing: newline
  queue_size: 100
  queue_bytes: 65536
  total_queue_bytes: 1048576
event_virtual:
  failover_timeout: 5
ingest:
  listen: 127.0.0.1:0
  event_param: ev
  max_wait: 250
  allow: [10.0.0.0/8, 192.168.2.11]
  idle_timeout: 10m
limits: {max_subscriptions: 50, max_events: 20, max_ingest_connections: 8, max_request_bytes: 4096, max_message_bytes: 8192}
destinations: {allow: [127.0.0.0/8, "*.example.com"]}
subscriptions:
  - event: E_A
    socket: tcp:127.0.0.1:8080/m
  - {event: E_B, socket: "virtual:FAILOVER tcp:127.0.0.1:1 tcp:127.0.0.1:2", expire: 60, delivery: at-least-once}
data_dir: /var/lib/evstream
delivery:
  default: at-least-once
  window: 64
  retry_initial: 250ms
  retry_max: 2m
  max_attempts: 10
  max_age: 1h
  spool_max_bytes: 1000000
`)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		MI:          MIConfig{Listen: "[::1]:0", AllowedHosts: []string{"evstream.example.com"}},
		Log:         LogConfig{Level: "DEBUG", Format: "json"},
		AutoPublish: false,
		Events:      []string{"E_A", "E_B"},
		Ingest: IngestConfig{Listen: "127.0.0.1:0", EventParam: "ev", MaxWait: 250,
			Allow: []string{"10.0.0.0/8", "192.168.2.11"}, IdleTimeout: 10 * time.Minute},
		Limits:       LimitsConfig{MaxSubscriptions: 50, MaxEvents: 20, MaxIngestConnections: 8, MaxRequestBytes: 4096, MaxMessageBytes: 8192},
		Destinations: DestinationsConfig{Allow: []string{"127.0.0.0/8", "*.example.com"}},
		Subscriptions: []Subscription{
			{Event: "E_A", Socket: "tcp:127.0.0.1:8080/m"},
			{Event: "E_B", Socket: "virtual:FAILOVER tcp:127.0.0.1:1 tcp:127.0.0.1:2", Expire: 60, Delivery: "at-least-once"},
		},
		DataDir: "/var/lib/evstream",
		Delivery: DeliveryConfig{Default: "at-least-once", Window: 64, RetryInitial: 250 * time.Millisecond,
			RetryMax: 2 * time.Minute, MaxAttempts: 10, MaxAge: time.Hour, SpoolMaxBytes: 1000000},
		Transports: DefaultConfig().Transports,
	}
	es := stream.DefaultSettings()
	es.ReliableMode, es.Timeout, es.EventParam, es.Framing = true, 250, "opensips_event", "newline"
	es.QueueSize, es.QueueBytes, es.TotalQueueBytes = 100, 65536, 1048576
	want.Transports[stream.Section] = &es
	want.Transports[virtual.Section] = &virtual.Settings{FailoverTimeout: 5}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("LoadConfig =\n%+v\nwant\n%+v", cfg, want)
	}
}

// The shipped example documents every key at its default value: it must
// load, and give exactly DefaultConfig.
func TestExampleConfigLoads(t *testing.T) {
	cfg, err := LoadConfig("../examples/evstream.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, DefaultConfig()) {
		t.Errorf("examples/evstream.yaml = %+v, want the defaults %+v", cfg, DefaultConfig())
	}
}

func TestValidateWithoutFile(t *testing.T) {
	cfg := DefaultConfig()
	eventStream(cfg).Timeout = -1
	err := cfg.Validate()
	want := "event_stream.timeout: -1 is out of range: want 1 to 3600000 milliseconds (1 hour)"
	if err == nil || err.Error() != want {
		t.Fatalf("Validate = %v, want %s", err, want)
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v", err)
	}
}

// FuzzParseConfig: arbitrary files never panic the loader, and whatever it
// accepts is valid.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{"", "mi: {listen: 127.0.0.1:0}\n", "events: [a, b]\n", "subscriptions:\n  - {event: E, socket: tcp:h:1}\n",
		"event_stream:\n  timeout: 0x10\n", "a: &x {b: 1}\nc: *x\n", "mi: &m {listen: ''}\nlog: *m\n", "- [\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := parseConfig("f.yaml", b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted config does not validate: %v", err)
		}
	})
}

// The shipped example shows every key, the transports' too: a key added
// to a section without documenting it there fails this test.
func TestExampleConfigHasEveryKey(t *testing.T) {
	b, err := os.ReadFile("../examples/evstream.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var keys func(prefix string, typ reflect.Type) []string
	keys = func(prefix string, typ reflect.Type) []string {
		var out []string
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			if ft := typ.Field(i).Type; ft.Kind() == reflect.Struct {
				out = append(out, keys(prefix+name+".", ft)...)
			} else {
				out = append(out, prefix+name)
			}
		}
		return out
	}
	all := keys("", reflect.TypeFor[Config]())
	for _, p := range transport.Plugins() {
		all = append(all, keys(p.Section+".", reflect.TypeOf(p.NewSettings()).Elem())...)
	}
	for _, key := range all {
		var v any = doc
		for _, part := range strings.Split(key, ".") {
			m, _ := v.(map[string]any)
			var ok bool
			if v, ok = m[part]; !ok {
				t.Errorf("examples/evstream.yaml has no key %s", key)
				break
			}
		}
	}
}
