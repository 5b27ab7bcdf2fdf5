package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/tlsfiles"
	"github.com/evstream/evstream/transport"
)

// reloadable are the config keys (YAML paths, or the path of a whole
// section) that Reload applies to the running daemon. Every other key
// needs a restart.
var reloadable = []string{"log.level", "events", "subscriptions", "mi.allowed_hosts", "mi.auth_token", "mi.basic_auth",
	"mi.tls_cert_file", "mi.tls_key_file", "destinations.allow", "ingest.allow", "limits.max_subscriptions", "limits.max_events"}

// ReloadReport says what a Reload did.
type ReloadReport struct {
	// Applied are the keys (YAML paths) whose change was applied.
	Applied []string
	// NeedRestart are the keys that changed but only take effect after a
	// restart; the running daemon keeps their old values.
	NeedRestart []string
	// Published are the events in the new events list that were published.
	Published []string
	// Subscribed, Changed and Unsubscribed count the config subscriptions
	// added, whose expire changed (refreshed), and removed.
	Subscribed, Changed, Unsubscribed int
	// Errors are the changes that could not be applied (a subscription whose
	// host does not resolve...); the others were.
	Errors []error
}

func isReloadable(path string) bool {
	for _, r := range reloadable {
		if path == r || strings.HasPrefix(path, r+".") || strings.HasPrefix(path, r+"[") {
			return true
		}
	}
	return false
}

// Reload applies what can change safely from cfg, the configuration read
// again (on SIGHUP): the log level (when the daemon was given a
// *slog.LevelVar, see WithLogLevel), the events published, the
// subscriptions of the config (added, removed, and those whose expire
// changed, refreshed; the others are left alone, their expiry running on)
// and mi.allowed_hosts. Any other change is reported in NeedRestart and
// not applied. cfg must validate; if it does not, nothing is applied and
// the error says why. Reload logs what it did.
func (d *Daemon) Reload(cfg Config) (ReloadReport, error) {
	var rep ReloadReport
	if err := cfg.Validate(); err != nil {
		return rep, err
	}
	cfg = cfg.Clone()
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	d.mu.Lock()
	stopped, running := d.shutdown || !d.started, d.cfg
	d.mu.Unlock()
	if stopped {
		return rep, errors.New("daemon: reload: not running")
	}

	next := running // what runs after the reload
	for _, path := range configChanges(running, cfg) {
		switch {
		case !isReloadable(path):
			rep.NeedRestart = append(rep.NeedRestart, path)
		case path == "log.level" && d.level == nil:
			rep.NeedRestart = append(rep.NeedRestart, path)
		default:
			rep.Applied = append(rep.Applied, path)
		}
	}
	if slices.Contains(rep.Applied, "log.level") {
		level, _ := cfg.Log.SlogLevel() // validated
		d.level.Set(level)
		next.Log.Level = cfg.Log.Level
	}
	if slices.ContainsFunc(rep.Applied, func(p string) bool { return p == "mi.auth_token" || strings.HasPrefix(p, "mi.basic_auth") }) {
		d.auth.set(cfg.MI) // new credentials, at once
		next.MI.AuthToken, next.MI.BasicAuth = cfg.MI.AuthToken, cfg.MI.BasicAuth
	}
	if err := d.reloadMICert(cfg.MI, &rep); err != nil {
		if !errors.Is(err, errNoCertChange) {
			rep.Errors = append(rep.Errors, err)
		}
	} else {
		next.MI.TLSCertFile, next.MI.TLSKeyFile = cfg.MI.TLSCertFile, cfg.MI.TLSKeyFile
	}
	if slices.Contains(rep.Applied, "destinations.allow") {
		d.allow.Set(cfg.Destinations.Allow) // validated; new subscriptions and connects follow it
		next.Destinations.Allow = cfg.Destinations.Allow
	}
	if slices.Contains(rep.Applied, "ingest.allow") {
		if d.ingest != nil {
			d.ingest.SetAllow(cfg.Ingest.AllowPrefixes())
		}
		next.Ingest.Allow = cfg.Ingest.Allow
	}
	if slices.ContainsFunc(rep.Applied, func(p string) bool { return strings.HasPrefix(p, "limits.max_") }) {
		d.reg.SetLimits(cfg.Limits.MaxEvents, cfg.Limits.MaxSubscriptions)
		next.Limits.MaxEvents, next.Limits.MaxSubscriptions = cfg.Limits.MaxEvents, cfg.Limits.MaxSubscriptions
	}
	if slices.Contains(rep.Applied, "mi.allowed_hosts") {
		d.guard.setNames(cfg.MI.Listen, cfg.MI.AllowedHosts)
		next.MI.AllowedHosts = cfg.MI.AllowedHosts
	}
	if slices.Contains(rep.Applied, "events") {
		for i, name := range cfg.Events {
			if d.reg.Lookup(name) != nil {
				continue
			}
			if _, err := d.reg.Publish(name); err != nil {
				rep.Errors = append(rep.Errors, fmt.Errorf("events[%d] %q: %w", i, name, err))
				continue
			}
			rep.Published = append(rep.Published, name)
		}
		next.Events = cfg.Events
	}
	if slices.Contains(rep.Applied, "subscriptions") {
		next.Subscriptions = d.reloadSubscriptions(running.Subscriptions, cfg.Subscriptions, &rep)
	}
	d.mu.Lock()
	d.cfg = next
	d.mu.Unlock()
	d.logReload(rep)
	return rep, nil
}

// reloadMICert loads the MI's certificate again (renewed in place, or
// other files). Turning TLS on or off needs a restart (the listener is
// either); a certificate that does not load keeps the running one.
func (d *Daemon) reloadMICert(c MIConfig, rep *ReloadReport) error {
	if d.miCert == nil || !c.TLS() {
		if d.miCert != nil || c.TLS() {
			rep.Applied = slices.DeleteFunc(rep.Applied, func(p string) bool { return strings.HasPrefix(p, "mi.tls_") })
			rep.NeedRestart = append(rep.NeedRestart, "mi.tls_cert_file")
		}
		return errNoCertChange
	}
	cert, err := tlsfiles.KeyPair(c.TLSCertFile, c.TLSKeyFile, "mi.tls_cert_file, mi.tls_key_file")
	if err != nil {
		return fmt.Errorf("%w (the running certificate is kept)", err)
	}
	d.miCert.cert.Store(&cert)
	d.log.Info("mi: certificate loaded", "file", c.TLSCertFile, "expires", d.miCert.expires())
	return nil
}

// errNoCertChange: nothing to reload (not an error to report).
var errNoCertChange = errors.New("no certificate change")

// subKey identifies a config subscription across reloads.
func subKey(s Subscription) string { return s.Event + "\x00" + s.Socket }

// reloadSubscriptions makes the running config subscriptions old into
// want, and returns the list that now runs (want, without those that
// could not be made; with those that could not be removed).
func (d *Daemon) reloadSubscriptions(old, want []Subscription, rep *ReloadReport) []Subscription {
	before := make(map[string]Subscription, len(old))
	for _, s := range old {
		before[subKey(s)] = s
	}
	after := make(map[string]bool, len(want))
	var now []Subscription
	for i, s := range want {
		after[subKey(s)] = true
		prev, had := before[subKey(s)]
		if had && prev.Expire == s.Expire && prev.Policy(d.cfg.Delivery) == s.Policy(d.cfg.Delivery) {
			now = append(now, s)
			continue // unchanged: its expiry runs on
		}
		err := d.subscribe(s)
		if errors.Is(err, evi.ErrDeliveryChange) {
			// Another policy: a new subscriber (an at-least-once one's
			// undelivered events become dead letters, logged).
			if err = d.reg.Unsubscribe(s.Event, s.Socket); err == nil {
				err = d.subscribe(s)
			}
		}
		if err != nil {
			rep.Errors = append(rep.Errors, fmt.Errorf("subscriptions[%d] (event %s, socket %q): %w", i, s.Event, s.Socket, err))
			continue
		}
		now = append(now, s)
		if had {
			rep.Changed++
		} else {
			rep.Subscribed++
		}
	}
	for _, s := range old {
		if after[subKey(s)] {
			continue
		}
		if err := d.reg.Unsubscribe(s.Event, s.Socket); err != nil && !isGone(err) {
			rep.Errors = append(rep.Errors, fmt.Errorf("removing the subscription of %s to %q: %w", s.Event, s.Socket, err))
			now = append(now, s)
			continue
		}
		rep.Unsubscribed++
	}
	return now
}

func (d *Daemon) logReload(rep ReloadReport) {
	args := []any{"applied", rep.Applied, "published", rep.Published,
		"subscribed", rep.Subscribed, "changed", rep.Changed, "unsubscribed", rep.Unsubscribed}
	if len(rep.Applied) == 0 && len(rep.NeedRestart) == 0 {
		d.log.Info("reload: the config has not changed")
	} else {
		d.log.Info("reload: config applied", args...)
	}
	if len(rep.NeedRestart) > 0 {
		d.log.Warn("reload: these keys changed but need a restart; their old values stay in effect",
			"keys", rep.NeedRestart)
	}
	for _, err := range rep.Errors {
		d.log.Error("reload: change not applied", "err", err)
	}
}

// configChanges returns the YAML paths of the keys that differ between a
// and b, in the order of the file: the daemon's own keys, then the
// transports' sections.
func configChanges(a, b Config) []string {
	out := changedPaths(a, b)
	for _, p := range transport.Plugins() {
		x, y := a.Transports[p.Section], b.Transports[p.Section]
		if x == nil || y == nil {
			if x != y {
				out = append(out, p.Section)
			}
			continue
		}
		for _, path := range changedPaths(x, y) {
			out = append(out, p.Section+"."+path)
		}
	}
	return out
}

// changedPaths returns the YAML paths of the leaves that differ between
// a and b (structs of the same type with yaml tags, or pointers to them);
// a list counts as one leaf.
func changedPaths(a, b any) []string {
	var out []string
	var walk func(path string, x, y reflect.Value)
	walk = func(path string, x, y reflect.Value) {
		if x.Kind() != reflect.Struct {
			if !reflect.DeepEqual(x.Interface(), y.Interface()) && !(x.Kind() == reflect.Slice && x.Len() == 0 && y.Len() == 0) {
				out = append(out, path)
			}
			return
		}
		t := x.Type()
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			walk(p, x.Field(i), y.Field(i))
		}
	}
	walk("", reflect.Indirect(reflect.ValueOf(a)), reflect.Indirect(reflect.ValueOf(b)))
	return out
}

// isGone reports whether err says the subscription is not there any more
// (it expired, or its event was never published).
func isGone(err error) bool {
	return errors.Is(err, evi.ErrNoSubscriber) || errors.Is(err, evi.ErrNotPublished)
}

// WithLogLevel gives the daemon the level of its logger, so that Reload can
// change it (log.level); without it, a new log.level needs a restart.
func WithLogLevel(l *slog.LevelVar) Option { return func(d *Daemon) { d.level = l } }
