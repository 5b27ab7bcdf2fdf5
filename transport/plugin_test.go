package transport_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evstream/evstream/daemon"
	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/evi/evitest"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/transport"
)

// The "box:" transport exists only in this test binary: a whole transport
// added without touching the daemon, as a new directory would add one.
// It keeps what it is sent (evitest.Transport) and has a config section,
// statistics and an MI command of its own.

type boxSettings struct {
	Limit int    `yaml:"limit"`
	Label string `yaml:"label"`
}

func (s *boxSettings) Validate() []error {
	var errs []error
	if s.Limit < 1 || s.Limit > 100 {
		errs = append(errs, transport.Errorf("limit", "%d is out of range: want 1 to 100", s.Limit))
	}
	if s.Label == "" {
		errs = append(errs, transport.Errorf("label", "empty"))
	}
	return errs
}

type box struct {
	*evitest.Transport
	settings boxSettings
}

func (b *box) Statistics() []transport.Stat {
	return []transport.Stat{
		{Name: "sent", Help: "Events handed to boxes.", Counter: true, Value: float64(len(b.Sends()))},
		{Name: "limit", Help: "The configured limit.", Value: float64(b.settings.Limit)},
		{Name: "box_events", Help: "Events per box.", Labels: []string{"box"},
			Series: []transport.Series{{Values: []string{"inbox"}, Value: float64(len(b.Messages("inbox")))}}},
	}
}

func (b *box) Commands() []transport.Command {
	return []transport.Command{{
		Name: "box_label", Summary: "the label of the boxes, with a suffix", Params: [][]string{{}, {"suffix"}},
		Run: func(params map[string]json.RawMessage) (json.RawMessage, *jsonrpc.Error) {
			var suffix string
			if raw, ok := params["suffix"]; ok {
				if err := json.Unmarshal(raw, &suffix); err != nil {
					return nil, &jsonrpc.Error{Code: -32602, Message: "suffix: want a string"}
				}
			}
			out, _ := json.Marshal(map[string]string{"label": b.settings.Label + suffix})
			return out, nil
		},
	}}
}

var built = make(chan *box, 10) // the boxes the plugin built, for the tests

func init() {
	transport.Register(transport.Plugin{
		Scheme:      "box",
		Section:     "event_box",
		Subsystem:   "box",
		NewSettings: func() transport.Settings { return &boxSettings{Limit: 10, Label: "default"} },
		New: func(_ transport.Env, s transport.Settings) (evi.Transport, error) {
			b := &box{Transport: evitest.New("box"), settings: *s.(*boxSettings)}
			built <- b
			return b, nil
		},
		Order: 5,
	})
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "evstream.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func call(t *testing.T, url, method, params string) json.RawMessage {
	t.Helper()
	body := fmt.Sprintf(`{"jsonrpc":"2.0","method":%q,"params":%s,"id":1}`, method, params)
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("MI %s: %v", method, err)
	}
	defer resp.Body.Close()
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *jsonrpc.Error  `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("MI %s: decode: %v", method, err)
	}
	if r.Error != nil {
		t.Fatalf("MI %s: error %d %s", method, r.Error.Code, r.Error.Message)
	}
	return r.Result
}

// TestPluginEndToEnd runs the daemon with the box: transport from a config
// file: its section is decoded and validated with the file's lines, its
// sockets are subscribed, events reach it, and its statistics and its MI
// command are served.
func TestPluginEndToEnd(t *testing.T) {
	path := writeConfig(t, `mi:
  listen: 127.0.0.1:0
event_box:
  limit: 7
  label: parcels
subscriptions:
  - {event: E_BOX, socket: "box:inbox"}
`)
	cfg, err := daemon.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if s := daemon.TransportSettings[*boxSettings](cfg, "event_box"); s == nil || *s != (boxSettings{Limit: 7, Label: "parcels"}) {
		t.Fatalf("event_box settings = %+v, want limit 7, label parcels", s)
	}
	d, err := daemon.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := <-built
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := d.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	}()
	base := "http://" + d.MIAddr().String()

	call(t, base+daemon.MIPath, "raise_event", `{"event":"E_BOX","params":{"n":1}}`)
	b.Wait()
	if got := b.Messages("inbox"); len(got) != 1 || got[0].Event.Name() != "E_BOX" || got[0].Params.Len() != 1 || got[0].Params.At(0).Name != "n" {
		t.Errorf("box inbox got %v, want one E_BOX with param n", got)
	}

	var stats map[string]json.Number
	if err := json.Unmarshal(call(t, base+daemon.MIPath, "get_statistics", `{"statistics":["box:"]}`), &stats); err != nil {
		t.Fatal(err)
	}
	if stats["box:sent"] != "1" || stats["box:limit"] != "7" {
		t.Errorf("get_statistics box: = %v, want box:sent 1 and box:limit 7", stats)
	}
	if _, ok := stats["box:box_events"]; ok {
		t.Errorf("get_statistics shows the labelled box:box_events: %v", stats)
	}

	if got := string(call(t, base+daemon.MIPath, "box_label", `{"suffix":"!"}`)); got != `{"label":"parcels!"}` {
		t.Errorf("box_label = %s, want {\"label\":\"parcels!\"}", got)
	}

	resp, err := http.Get(base + daemon.MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range []string{"evstream_box_sent_total 1", "evstream_box_limit 7", `evstream_box_box_events{box="inbox"} 1`} {
		if !strings.Contains(string(metrics), "\n"+line+"\n") {
			t.Errorf("/metrics has no line %q", line)
		}
	}

	// The section's keys need a restart; the daemon says so.
	cfg2 := cfg.Clone()
	daemon.TransportSettings[*boxSettings](cfg2, "event_box").Limit = 8
	rep, err := d.Reload(cfg2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.NeedRestart, []string{"event_box.limit"}) {
		t.Errorf("reload NeedRestart = %v, want [event_box.limit]", rep.NeedRestart)
	}
	if got := daemon.TransportSettings[*boxSettings](cfg, "event_box").Limit; got != 7 {
		t.Errorf("Clone shares the section: the original's limit is %d, want 7", got)
	}
}

// TestPluginConfigErrors: the section's errors come with the file's
// lines and the section's path, all in one run.
func TestPluginConfigErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"bad values", "event_box:\n  limit: 0\n  label: \"\"\n",
			"FILE:2: event_box.limit: 0 is out of range: want 1 to 100\nFILE:3: event_box.label: empty"},
		{"unknown key", "event_box:\n  limt: 3\n",
			"FILE:2: event_box.limt: unknown key (want one of: limit, label)"},
		{"wrong kind", "event_box:\n  limit: many\n",
			`FILE:2: event_box.limit: want an integer, got "many"`},
		{"scheme known", "subscriptions:\n  - {event: E_X, socket: \"boks:inbox\"}\n",
			`FILE:2: subscriptions[0].socket: "boks:inbox": unknown transport "boks" (want tcp:, tls:, box: or virtual:)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.yaml)
			_, err := daemon.LoadConfig(path)
			want := strings.ReplaceAll(tc.want, "FILE", path)
			if err == nil || err.Error() != want {
				t.Fatalf("LoadConfig:\n got %v\nwant %s", err, want)
			}
			var ce *daemon.ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("%v is not a *daemon.ConfigError", err)
			}
		})
	}
}

func TestRegisterRefusesClashes(t *testing.T) {
	settings := func() transport.Settings { return &boxSettings{} }
	newT := func(transport.Env, transport.Settings) (evi.Transport, error) { return nil, errors.New("unused") }
	tests := []struct {
		name string
		p    transport.Plugin
		want string
	}{
		{"scheme taken", transport.Plugin{Scheme: "box", Section: "event_other", Subsystem: "o", NewSettings: settings, New: newT},
			`taken by "box"`},
		{"section taken", transport.Plugin{Scheme: "other", Section: "event_box", Subsystem: "o", NewSettings: settings, New: newT},
			`taken by "box"`},
		{"no New", transport.Plugin{Scheme: "other", Section: "event_other", Subsystem: "o", NewSettings: settings},
			"are required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.Contains(s, tc.want) {
					t.Errorf("Register panicked with %v, want a message containing %q", r, tc.want)
				}
			}()
			transport.Register(tc.p)
		})
	}
}

func TestPluginsOrder(t *testing.T) {
	var got []string
	for _, p := range transport.Plugins() {
		got = append(got, p.Scheme)
	}
	// tcp (order 0), box (5), virtual (10): virtual: names the others'
	// sockets, so it is built last.
	if want := []string{"tcp", "tls", "box", "virtual"}; !slices.Equal(got, want) {
		t.Errorf("Plugins() = %v, want %v", got, want)
	}
}
