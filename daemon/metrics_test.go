package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/evstream/evstream/internal/testnet"
	"github.com/evstream/evstream/value"
)

func httpGet(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, string(b)
}

// TestMetricsAndHealth scrapes /metrics and /healthz on the MI listener,
// with ingest off and on, and checks /healthz turns 503 on Shutdown.
func TestMetricsAndHealth(t *testing.T) {
	tests := []struct {
		name   string
		ingest bool
	}{
		{"ingest off", false},
		{"ingest on", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const n = 3
			sink := testnet.NewSink(t, waitTimeout)
			cfg := testConfig()
			cfg.Events = []string{"E_M"}
			cfg.Subscriptions = []Subscription{{Event: "E_M", Socket: sink.Socket()}}
			if tc.ingest {
				cfg.Ingest.Listen = "127.0.0.1:0"
			}
			d, _ := start(t, cfg)
			base := "http://" + d.MIAddr().String()
			for i := range n {
				if _, err := d.Registry().Raise("E_M", value.Named(value.P("i", value.Int(int64(i)))), nil); err != nil {
					t.Fatal(err)
				}
			}
			wantLine := fmt.Sprintf("\nevstream_stream_delivered_total %d\n", n)
			var body string
			testnet.PollUntil(t, waitTimeout, "metrics show "+strings.TrimSpace(wantLine), func() bool {
				var code int
				code, body = httpGet(t, http.MethodGet, base+MetricsPath)
				return code == http.StatusOK && strings.Contains(body, wantLine)
			})
			for _, line := range []string{
				"\nevstream_events_raised_total 3\n",
				"\nevstream_subscribers 1\n",
				"\nevstream_stream_address_connected{address=\"" + sink.Socket() + "\"} 1\n",
			} {
				if !strings.Contains(body, line) {
					t.Errorf("metrics lack %q:\n%s", line, body)
				}
			}
			if got := strings.Contains(body, "\nevstream_ingest_received_total 0\n"); got != tc.ingest {
				t.Errorf("evstream_ingest_received_total present = %v, want %v", got, tc.ingest)
			}

			if code, got := httpGet(t, http.MethodGet, base+HealthPath); code != http.StatusOK || got != "ok\n" {
				t.Errorf("GET %s = %d %q, want 200 \"ok\\n\"", HealthPath, code, got)
			}
			if code, _ := httpGet(t, http.MethodPost, base+MetricsPath); code != http.StatusMethodNotAllowed {
				t.Errorf("POST %s = %d, want 405", MetricsPath, code)
			}

			if err := d.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			d.HTTPHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, HealthPath, nil))
			if rec.Code != http.StatusServiceUnavailable {
				t.Errorf("GET %s after Shutdown = %d %q, want 503", HealthPath, rec.Code, rec.Body)
			}
		})
	}
}
