package daemon

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/evstream/evstream/delivery"
	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/allowlist"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/mi"
	"github.com/evstream/evstream/transport"
)

// Defaults of the config file (docs/CONFIG.md). Every key is optional; a key
// that is absent keeps its default.
const (
	// DefaultMIListen is where the MI listens: loopback only.
	DefaultMIListen = "127.0.0.1:8888"
	// DefaultLogLevel is the lowest level logged.
	DefaultLogLevel = "info"
	// DefaultLogFormat is the log format: "text" or "json".
	DefaultLogFormat = "text"
	// DefaultAutoPublish publishes unknown events when they are subscribed
	// to (raising never publishes).
	DefaultAutoPublish = true
	// DefaultIngestMaxWaitMS is ingest.max_wait: as long as event_stream's
	// default timeout, after which the events waiting in the full queue
	// would have timed out anyway.
	DefaultIngestMaxWaitMS = 1000
	// MaxIngestMaxWaitMS is the longest ingest.max_wait: one minute.
	MaxIngestMaxWaitMS = 60_000
	// Defaults of the limits section.
	DefaultMaxSubscriptions     = 100_000
	DefaultMaxEvents            = 10_000
	DefaultMaxIngestConnections = 1024
	// DefaultDataDir is data_dir: relative to the working directory.
	DefaultDataDir = "evstream-data"
	// DefaultSpoolMaxBytes is delivery.spool_max_bytes: 1 GiB.
	DefaultSpoolMaxBytes = 1 << 30
	// MaxDeliveryMaxAttempts is the largest delivery.max_attempts.
	MaxDeliveryMaxAttempts = 1_000_000
	// MaxRetryDelay is the longest delivery.retry_initial and retry_max.
	MaxRetryDelay = 24 * time.Hour
)

// MaxExpireS is the longest subscriptions[].expire, as the MI's
// event_subscribe accepts it (OpenSIPS keeps it in a 32-bit int). The
// transports' sections have their own ranges (stream.MaxTimeoutMS...).
const MaxExpireS = int(evi.MaxExpire / time.Second)

// Config is the daemon's configuration. Its fields mirror the keys of the
// YAML config file one to one (the yaml tags), and Transports holds the
// sections of the registered transports (package transport: event_stream
// for tcp:, event_virtual for virtual:...); see DefaultConfig for the
// defaults and examples/evstream.yaml for a commented file. Copy a Config
// with Clone: the sections are pointers.
type Config struct {
	// MI is the management interface (JSON-RPC 2.0 over HTTP, path /mi).
	MI MIConfig `yaml:"mi"`
	// Log configures the daemon's structured logs (to stderr).
	Log LogConfig `yaml:"log"`
	// AutoPublish publishes unknown events when they are subscribed to or
	// raised. false is OpenSIPS-strict: only the names in Events (and those
	// published with the MI's event_publish) exist; others are errors.
	AutoPublish bool `yaml:"auto_publish"`
	// Events are the event names published at start, in this order (their
	// ids follow it).
	Events []string `yaml:"events"`
	// Ingest is the relay's TCP input: events written to it as JSON-RPC
	// are raised to the subscribers.
	Ingest IngestConfig `yaml:"ingest"`
	// Subscriptions are made at start, in order. They never expire unless
	// Expire is set.
	Subscriptions []Subscription `yaml:"subscriptions"`
	// DataDir is where the durable state lives (the spool of at-least-once
	// subscribers, the MI's subscriptions), relative to the working
	// directory; it is created when first needed. "" keeps everything in
	// memory: at-least-once subscriptions are then refused.
	DataDir string `yaml:"data_dir"`
	// Delivery configures the delivery policies.
	Delivery DeliveryConfig `yaml:"delivery"`
	// Limits bound what callers can make the daemon hold.
	Limits LimitsConfig `yaml:"limits"`
	// Destinations bound where sockets may point.
	Destinations DestinationsConfig `yaml:"destinations"`
	// Transports are the settings of every registered transport, by the
	// section of the file that holds them ("event_stream":
	// *stream.Settings). DefaultConfig fills it; TransportSettings reads
	// one with its type.
	Transports map[string]transport.Settings `yaml:"-"`
}

// TransportSettings returns the settings of the transport section, of type
// T (*stream.Settings for "event_stream"), or the zero T when the section
// is not there.
func TransportSettings[T transport.Settings](c Config, section string) T {
	s, _ := c.Transports[section].(T)
	return s
}

// Clone returns a copy of c that shares nothing with it: the transports'
// settings are copied too.
func (c Config) Clone() Config {
	out := c
	out.MI.AllowedHosts = slices.Clone(c.MI.AllowedHosts)
	out.Ingest.Allow = slices.Clone(c.Ingest.Allow)
	out.Destinations.Allow = slices.Clone(c.Destinations.Allow)
	out.Events = slices.Clone(c.Events)
	out.Subscriptions = slices.Clone(c.Subscriptions)
	out.Transports = make(map[string]transport.Settings, len(c.Transports))
	for name, s := range c.Transports {
		v := reflect.ValueOf(s)
		if v.Kind() != reflect.Pointer {
			out.Transports[name] = s
			continue
		}
		cp := reflect.New(v.Elem().Type())
		cp.Elem().Set(v.Elem())
		out.Transports[name] = cp.Interface().(transport.Settings)
	}
	return out
}

// MIConfig is the "mi" section.
type MIConfig struct {
	// Listen is the MI's host:port; "" turns the MI off.
	Listen string `yaml:"listen"`
	// AllowedHosts are the host names (besides localhost, IP addresses and
	// the name in Listen) that requests may name in their Host header.
	// Other names are refused, so that a web page cannot reach the MI
	// through DNS rebinding. Names only, no ports.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// AuthToken, when set, is a secret every request to the MI and
	// /metrics must carry as "Authorization: Bearer TOKEN"; /healthz stays
	// open. With BasicAuth set too, either credential is accepted.
	AuthToken string `yaml:"auth_token"`
	// BasicAuth, when its Username is set, asks for HTTP Basic
	// credentials, as OpenSIPS's mi_http does.
	BasicAuth BasicAuth `yaml:"basic_auth"`
	// TLSCertFile and TLSKeyFile, both set, make the MI listener (and
	// /metrics, /healthz) serve HTTPS only, with this certificate (PEM;
	// the file may hold the chain) and key; they are loaded again on
	// every reload.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// UI serves the live view (GET /ui, docs/UI.md) on the MI listener,
	// behind the same authentication and TLS. On by default.
	UI bool `yaml:"ui"`
}

// TLS reports whether the MI serves HTTPS.
func (c MIConfig) TLS() bool { return c.TLSCertFile != "" }

// BasicAuth is mi.basic_auth.
type BasicAuth struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// HasSecrets reports whether the config holds a credential (the file
// holding it must not be readable by others).
func (c Config) HasSecrets() bool { return c.MI.AuthToken != "" || c.MI.BasicAuth.Password != "" }

// LogConfig is the "log" section.
type LogConfig struct {
	// Level is the lowest level logged: debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text (slog's key=value) or json (one object per line).
	Format string `yaml:"format"`
}

// IngestConfig is the "ingest" section.
type IngestConfig struct {
	// Listen is the ingest's host:port; "" turns ingest off.
	Listen string `yaml:"listen"`
	// EventParam, when set, takes the event's name from this params key
	// (and removes it) instead of from the JSON-RPC method.
	EventParam string `yaml:"event_param"`
	// MaxWait is in milliseconds: how long an ingested event may wait for
	// room in a subscriber's full queue before that subscriber refuses it.
	// Meanwhile ingest stops reading the producer's connection, so TCP
	// slows the producer down instead of events being lost. A subscriber
	// full for a whole wait is stalled and refuses at once until it has
	// drained. 0 refuses at once.
	MaxWait int `yaml:"max_wait"`
	// Allow are the source addresses (CIDRs, or single IP addresses) that
	// may connect; empty: any. An OpenSIPS's event_stream has neither TLS
	// nor credentials: its address is how it is known.
	Allow []string `yaml:"allow"`
	// TLSCertFile and TLSKeyFile, both set, make ingest speak TLS.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// ClientCAFile, with TLS, asks every producer for a certificate
	// signed by these CAs (mutual TLS).
	ClientCAFile string `yaml:"client_ca_file"`
	// IdleTimeout closes a connection that sent nothing for this long (Go
	// duration); 0 means never. OpenSIPS keeps its event_stream
	// connections open: one closed while idle can lose the event it writes
	// next, so use it only for producers that reconnect.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

// AllowPrefixes returns ingest.allow parsed (valid: Validate checks it).
func (c IngestConfig) AllowPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, a := range c.Allow {
		if p, err := parsePrefix(a); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// parsePrefix parses a CIDR, or an IP address as its one-address prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (10.0.0.0/8, fd00::/8) or an IP address", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// DestinationsConfig is the "destinations" section.
type DestinationsConfig struct {
	// Allow are the CIDRs, IP addresses and host names ("*.example.com"
	// for the subdomains) a socket may point at; empty: any. A name not
	// listed must resolve to listed addresses, checked at subscribe time
	// and again at every connect (DNS cannot rebind it elsewhere later).
	// Virtual members are checked one by one.
	Allow []string `yaml:"allow"`
}

// LimitsConfig is the "limits" section: bounds that keep one caller from
// exhausting the daemon (DESIGN.md §11).
type LimitsConfig struct {
	// MaxSubscriptions bounds the live subscriptions over every event;
	// refreshing one still works at the bound.
	MaxSubscriptions int `yaml:"max_subscriptions"`
	// MaxEvents bounds the published events.
	MaxEvents int `yaml:"max_events"`
	// MaxIngestConnections bounds the ingest connections served at once;
	// over it a new connection is closed at once (logged, counted).
	MaxIngestConnections int `yaml:"max_ingest_connections"`
	// MaxRequestBytes bounds an MI request body (an Invalid Request error
	// beyond it);
	// MaxMessageBytes one ingested JSON-RPC object (its connection is
	// closed beyond it).
	MaxRequestBytes int `yaml:"max_request_bytes"`
	MaxMessageBytes int `yaml:"max_message_bytes"`
}

// DeliveryConfig is the "delivery" section (DESIGN.md §10).
type DeliveryConfig struct {
	// Default is the policy of subscriptions that do not name one:
	// at-most-once or at-least-once.
	Default string `yaml:"default"`
	// Window bounds the at-least-once requests in flight per subscriber.
	Window int `yaml:"window"`
	// RetryInitial is the wait after a failure; it doubles at every
	// failure in a row up to RetryMax (Go durations: 1s, 500ms).
	RetryInitial time.Duration `yaml:"retry_initial"`
	RetryMax     time.Duration `yaml:"retry_max"`
	// MaxAttempts makes an event a dead letter after that many failed
	// attempts; 0 means no limit.
	MaxAttempts int `yaml:"max_attempts"`
	// MaxAge makes an undelivered event older than this a dead letter; 0
	// means no limit.
	MaxAge time.Duration `yaml:"max_age"`
	// SpoolMaxBytes bounds the spool; a full spool refuses new
	// at-least-once events (503 Spool full). 0 means no limit.
	SpoolMaxBytes int64 `yaml:"spool_max_bytes"`
}

// Subscription is one entry of the "subscriptions" list.
type Subscription struct {
	// Event is the event's name.
	Event string `yaml:"event"`
	// Socket is where its events go, e.g. tcp:127.0.0.1:8080/method.
	Socket string `yaml:"socket"`
	// Expire is in seconds; 0 (or absent) means the subscription never
	// expires.
	Expire int `yaml:"expire"`
	// Delivery is its policy; "" means delivery.default.
	Delivery string `yaml:"delivery"`
}

// Policy returns the subscription's delivery policy under the config's
// default (both valid: Validate checks them).
func (s Subscription) Policy(c DeliveryConfig) evi.Delivery {
	name := s.Delivery
	if name == "" {
		name = c.Default
	}
	d, _ := evi.ParseDelivery(name)
	return d
}

// DefaultConfig returns the configuration used when there is no config
// file: every key at its default.
func DefaultConfig() Config {
	c := Config{
		MI:           MIConfig{Listen: DefaultMIListen, AllowedHosts: []string{}, UI: true},
		Log:          LogConfig{Level: DefaultLogLevel, Format: DefaultLogFormat},
		AutoPublish:  DefaultAutoPublish,
		Ingest:       IngestConfig{MaxWait: DefaultIngestMaxWaitMS, Allow: []string{}},
		Destinations: DestinationsConfig{Allow: []string{}},
		Limits: LimitsConfig{MaxSubscriptions: DefaultMaxSubscriptions, MaxEvents: DefaultMaxEvents,
			MaxIngestConnections: DefaultMaxIngestConnections,
			MaxRequestBytes:      mi.DefaultMaxBodySize, MaxMessageBytes: jsonrpc.DefaultMaxMessageSize},
		Events:        []string{},
		Subscriptions: []Subscription{},
		DataDir:       DefaultDataDir,
		Delivery: DeliveryConfig{
			Default:       evi.AtMostOnce.String(),
			Window:        delivery.DefaultWindow,
			RetryInitial:  delivery.DefaultRetryInitial,
			RetryMax:      delivery.DefaultRetryMax,
			MaxAge:        delivery.DefaultMaxAge,
			SpoolMaxBytes: DefaultSpoolMaxBytes,
		},
		Transports: map[string]transport.Settings{},
	}
	for _, p := range transport.Plugins() {
		c.Transports[p.Section] = p.NewSettings()
	}
	return c
}

// ConfigError is one problem with a configuration: which field (its YAML
// path, like "event_stream.timeout" or "subscriptions[1].socket") and what
// is wrong with it. LoadConfig adds the file and the line.
type ConfigError struct {
	File  string // the config file; "" when the Config was not read from one
	Line  int    // the line in File; 0 when unknown
	Field string // the YAML path of the field; "" for the file as a whole
	Msg   string // what is wrong
}

// Error returns "FILE:LINE: FIELD: MSG", leaving out what is unknown.
func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// SlogLevel returns the slog level named by c.Level (case-insensitive).
func (c LogConfig) SlogLevel() (slog.Level, error) {
	switch strings.ToLower(c.Level) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not a log level (want debug, info, warn or error)", c.Level)
}

// Validate checks every field and returns all the problems found, each a
// *ConfigError naming its field, joined with errors.Join; nil when the
// config is usable. Sockets are checked for a known transport prefix here;
// their full syntax (and whether the host resolves) when Start subscribes.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if err := checkListen(c.MI.Listen); err != nil {
		bad("mi.listen", "%v", err)
	}
	for i, h := range c.MI.AllowedHosts {
		if err := checkHostName(h); err != nil {
			bad(fmt.Sprintf("mi.allowed_hosts[%d]", i), "%v", err)
		}
	}
	switch {
	case c.MI.TLSCertFile != "" && c.MI.TLSKeyFile == "":
		bad("mi.tls_key_file", "missing: tls_cert_file is set (both, or neither)")
	case c.MI.TLSCertFile == "" && c.MI.TLSKeyFile != "":
		bad("mi.tls_cert_file", "missing: tls_key_file is set (both, or neither)")
	}
	// Never quote a secret in an error.
	if msg := checkSecret(c.MI.AuthToken); msg != "" {
		bad("mi.auth_token", "%s", msg)
	}
	switch ba := c.MI.BasicAuth; {
	case ba.Username == "" && ba.Password != "":
		bad("mi.basic_auth.username", "missing: the password is set")
	case ba.Username != "" && ba.Password == "":
		bad("mi.basic_auth.password", "missing: the username is set")
	case strings.ContainsAny(ba.Username, ":") || checkSecret(ba.Username) != "":
		bad("mi.basic_auth.username", "has a ':', a space or a control character, or is longer than %d bytes", maxSecret)
	case checkSecret(ba.Password) != "":
		bad("mi.basic_auth.password", "%s", checkSecret(ba.Password))
	}
	if _, err := c.Log.SlogLevel(); err != nil {
		bad("log.level", "%v", err)
	}
	if f := c.Log.Format; f != "text" && f != "json" {
		bad("log.format", "%q is not a log format (want text or json)", f)
	}
	published := make(map[string]bool, len(c.Events))
	for i, name := range c.Events {
		if err := evi.ValidateEventName(name); err != nil {
			bad(fmt.Sprintf("events[%d]", i), "%v", err)
		}
		published[name] = true
	}
	inRange := func(field string, v, lo, hi int, unit string) {
		if v < lo || v > hi {
			bad(field, "%d is out of range: want %d to %d %s", v, lo, hi, unit)
		}
	}
	if err := checkListen(c.Ingest.Listen); err != nil {
		bad("ingest.listen", "%v", err)
	}
	inRange("ingest.max_wait", c.Ingest.MaxWait, 0, MaxIngestMaxWaitMS, "milliseconds (1 minute; 0 refuses at once)")
	for i, a := range c.Ingest.Allow {
		if _, err := parsePrefix(a); err != nil {
			bad(fmt.Sprintf("ingest.allow[%d]", i), "%v", err)
		}
	}
	switch in := c.Ingest; {
	case (in.TLSCertFile == "") != (in.TLSKeyFile == ""):
		bad("ingest.tls_key_file", "tls_cert_file and tls_key_file go together (both, or neither)")
	case in.ClientCAFile != "" && in.TLSCertFile == "":
		bad("ingest.client_ca_file", "needs TLS: set tls_cert_file and tls_key_file")
	}
	if c.Ingest.IdleTimeout < 0 {
		bad("ingest.idle_timeout", "%v is negative (0: never)", c.Ingest.IdleTimeout)
	}
	if err := allowlist.Check(c.Destinations.Allow); err != nil {
		bad("destinations.allow", "%v", strings.TrimPrefix(err.Error(), "destinations.allow"))
	}
	inRange("limits.max_subscriptions", c.Limits.MaxSubscriptions, 1, 100_000_000, "subscriptions")
	inRange("limits.max_events", c.Limits.MaxEvents, 1, 10_000_000, "events")
	inRange("limits.max_ingest_connections", c.Limits.MaxIngestConnections, 1, 1_000_000, "connections")
	inRange("limits.max_request_bytes", c.Limits.MaxRequestBytes, 1024, 64<<20, "bytes (1 KiB to 64 MiB)")
	inRange("limits.max_message_bytes", c.Limits.MaxMessageBytes, 1024, 64<<20, "bytes (1 KiB to 64 MiB)")
	for i, s := range c.Subscriptions {
		field := fmt.Sprintf("subscriptions[%d]", i)
		if err := evi.ValidateEventName(s.Event); err != nil {
			bad(field+".event", "%v", err)
		} else if !c.AutoPublish && !published[s.Event] {
			bad(field+".event", "event %q is not published: auto_publish is false and it is not in events", s.Event)
		}
		if err := checkSocketScheme(s.Socket); err != nil {
			bad(field+".socket", "%v", err)
		}
		inRange(field+".expire", s.Expire, 0, MaxExpireS, "seconds (0 or absent: never expires)")
		if s.Delivery != "" {
			if _, err := evi.ParseDelivery(s.Delivery); err != nil {
				bad(field+".delivery", "%q is not a delivery policy (want at-most-once or at-least-once)", s.Delivery)
			}
		}
		if s.Delivery == "at-least-once" && c.DataDir == "" {
			bad(field+".delivery", "at-least-once needs data_dir (it is \"\": memory only)")
		}
	}
	c.Delivery.validate(c.DataDir, bad)
	for _, p := range transport.Plugins() {
		s := c.Transports[p.Section]
		if s == nil {
			bad(p.Section, "missing: the section of the %s: transport (start from DefaultConfig)", p.Scheme)
			continue
		}
		for _, err := range s.Validate() {
			var fe *transport.FieldError
			if errors.As(err, &fe) {
				bad(p.Section+"."+fe.Field, "%s", fe.Msg)
			} else {
				bad(p.Section, "%v", err)
			}
		}
	}
	return errors.Join(errs...)
}

// validate checks the delivery section; dataDir is the config's data_dir.
func (dc DeliveryConfig) validate(dataDir string, bad func(field, format string, args ...any)) {
	if _, err := evi.ParseDelivery(dc.Default); err != nil {
		bad("delivery.default", "%q is not a delivery policy (want at-most-once or at-least-once)", dc.Default)
	} else if dc.Default == "at-least-once" && dataDir == "" {
		bad("delivery.default", "at-least-once needs data_dir (it is \"\": memory only)")
	}
	if dc.Window < 1 || dc.Window > delivery.MaxWindow {
		bad("delivery.window", "%d is out of range: want 1 to %d requests", dc.Window, delivery.MaxWindow)
	}
	if dc.RetryInitial <= 0 || dc.RetryInitial > MaxRetryDelay {
		bad("delivery.retry_initial", "%v is out of range: want more than 0, at most %v", dc.RetryInitial, MaxRetryDelay)
	}
	if dc.RetryMax < dc.RetryInitial || dc.RetryMax > MaxRetryDelay {
		bad("delivery.retry_max", "%v is out of range: want retry_initial (%v) to %v", dc.RetryMax, dc.RetryInitial, MaxRetryDelay)
	}
	if dc.MaxAttempts < 0 || dc.MaxAttempts > MaxDeliveryMaxAttempts {
		bad("delivery.max_attempts", "%d is out of range: want 0 (no limit) to %d", dc.MaxAttempts, MaxDeliveryMaxAttempts)
	}
	if dc.MaxAge < 0 {
		bad("delivery.max_age", "%v is negative (0: no limit)", dc.MaxAge)
	}
	if dc.SpoolMaxBytes < 0 {
		bad("delivery.spool_max_bytes", "%d is negative (0: no limit)", dc.SpoolMaxBytes)
	}
}

// maxSecret bounds a credential's length.
const maxSecret = 4096

// checkSecret says what is wrong with a credential ("" when nothing),
// without quoting it.
func checkSecret(s string) string {
	if len(s) > maxSecret {
		return fmt.Sprintf("longer than %d bytes", maxSecret)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return fmt.Sprintf("has a space or a control character at byte %d (not shown: it is a secret)", i)
		}
	}
	return ""
}

// checkListen checks a listen address: "" (off) or host:port, port 0..65535.
func checkListen(addr string) error {
	if addr == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. 127.0.0.1:8888; \"\" turns it off)", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || port == "" || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	return nil
}

// checkHostName checks a host name for mi.allowed_hosts: letters, digits,
// '-', '_' and '.', no port.
func checkHostName(h string) error {
	if h == "" {
		return errors.New("empty (want a host name such as evstream.example.com)")
	}
	if len(h) > 253 {
		return fmt.Errorf("%.40q... is %d bytes, longer than 253", h, len(h))
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("%q is not a host name (letters, digits, '-', '_' and '.'; no port)", h)
		}
	}
	return nil
}

func checkSocketScheme(socket string) error {
	if socket == "" {
		return errors.New("missing (want e.g. tcp:127.0.0.1:8080)")
	}
	scheme, rest, ok := strings.Cut(socket, ":")
	if !ok {
		return fmt.Errorf("%q has no transport prefix (want e.g. tcp:127.0.0.1:8080)", socket)
	}
	var known []string
	for _, p := range transport.Plugins() {
		if p.Scheme == scheme {
			if rest == "" {
				return fmt.Errorf("%q has nothing after %q", socket, scheme+":")
			}
			return nil
		}
		known = append(known, p.Scheme+":")
	}
	return fmt.Errorf("%q: unknown transport %q (want %s)", socket, scheme, orList(known))
}

// orList returns "a", "a or b", "a, b or c".
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// LoadConfig reads the YAML config file path over DefaultConfig and
// validates it. Keys that are absent keep their defaults; unknown keys,
// duplicate keys and values of the wrong type are errors. Every error
// names the file, and where it applies the line and the field:
//
//	evstream.yaml:7: event_stream.timeout: -5 is out of range: want 1 to 3600000 milliseconds (1 hour)
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return Config{}, &fileError{file: path, msg: "cannot read config", err: err}
	}
	return parseConfig(path, b)
}

// fileError is an error about a whole config file (unreadable, not YAML).
type fileError struct {
	file string
	msg  string
	err  error
}

func (e *fileError) Error() string { return e.file + ": " + e.msg + ": " + e.err.Error() }
func (e *fileError) Unwrap() error { return e.err }

// parseConfig decodes and validates a config file's content; file names it
// in errors.
//
// Every problem of the file is reported in one go, in line order: those
// found decoding it (unknown keys, values of the wrong kind) and those
// Validate finds in the values that could be decoded.
func parseConfig(file string, b []byte) (Config, error) {
	cfg := DefaultConfig()
	sections := make(map[string]any, len(cfg.Transports))
	for name, s := range cfg.Transports {
		sections[name] = s
	}
	lines, bad, err := decodeStrict(b, &cfg, sections)
	if lines == nil { // not YAML at all
		return Config{}, annotate([]error{err}, file, nil)
	}
	problems := unjoin(err)
	for _, e := range unjoin(cfg.Validate()) {
		var ce *ConfigError
		if errors.As(e, &ce) && badOrUnder(bad, ce.Field) {
			continue // its value was not decoded: already reported
		}
		problems = append(problems, e)
	}
	if len(problems) > 0 {
		return Config{}, annotate(problems, file, lines)
	}
	return cfg, nil
}

// unjoin returns the errors joined in err (none for nil).
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// badOrUnder reports whether field, or a parent of it, is in bad.
func badOrUnder(bad map[string]bool, field string) bool {
	for field != "" {
		if bad[field] {
			return true
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			return false
		}
		field = field[:i]
	}
	return false
}

// annotate sets File (and Line, from lines, when still unknown) on every
// *ConfigError in list, names file in other errors, and joins them in
// line order.
func annotate(list []error, file string, lines map[string]int) error {
	out := make([]error, 0, len(list))
	for _, e := range list {
		var ce *ConfigError
		if errors.As(e, &ce) {
			c := *ce
			c.File = file
			if c.Line == 0 {
				c.Line = lineOf(lines, c.Field)
			}
			out = append(out, &c)
			continue
		}
		out = append(out, &fileError{file: file, msg: "invalid config", err: e})
	}
	slices.SortStableFunc(out, func(a, b error) int { return cmp.Compare(lineOfErr(a), lineOfErr(b)) })
	return errors.Join(out...)
}

func lineOfErr(err error) int {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return ce.Line
	}
	return 0
}
