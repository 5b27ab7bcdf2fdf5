package daemon

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestMIRefusesWebPages: what a web page open in a browser on this host
// can send — a cross-origin "simple request", or a request to a rebound
// name — is refused with 403 and does nothing; what curl, opensips-cli and
// evstream mi send is served.
func TestMIRefusesWebPages(t *testing.T) {
	cfg := testConfig()
	cfg.MI.AllowedHosts = []string{"evstream.example.com"}
	d, logs := start(t, cfg)
	addr := d.MIAddr().String()
	port := addr[strings.LastIndexByte(addr, ':'):]
	const subscribe = `{"jsonrpc":"2.0","method":"event_subscribe","params":["E_CSRF","tcp:127.0.0.1:9"],"id":1}`
	cases := []struct {
		name    string
		path    string
		host    string
		headers map[string]string
		want    int
	}{
		{"curl", MIPath, addr, nil, http.StatusOK},
		{"localhost", MIPath, "localhost" + port, nil, http.StatusOK},
		{"allowed name", MIPath, "evstream.example.com" + port, nil, http.StatusOK},
		{"same origin", MIPath, addr, map[string]string{"Origin": "http://" + addr}, http.StatusOK},
		{"simple request from another page", MIPath, addr,
			map[string]string{"Origin": "http://evil.example", "Content-Type": "text/plain"}, http.StatusForbidden},
		{"another port of the same host", MIPath, addr,
			map[string]string{"Origin": "http://127.0.0.1:3000"}, http.StatusForbidden},
		{"null origin", MIPath, addr, map[string]string{"Origin": "null"}, http.StatusForbidden},
		{"cross-site fetch", MIPath, addr, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"DNS rebinding", MIPath, "rebind.evil.example" + port, nil, http.StatusForbidden},
		{"DNS rebinding with its own origin", MIPath, "rebind.evil.example" + port,
			map[string]string{"Origin": "http://rebind.evil.example" + port}, http.StatusForbidden},
		{"metrics through rebinding", MetricsPath, "rebind.evil.example" + port, nil, http.StatusForbidden},
		{"health with any host", HealthPath, "rebind.evil.example" + port, nil, http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method, body := http.MethodPost, subscribe
			if c.path != MIPath {
				method, body = http.MethodGet, ""
			}
			req, err := http.NewRequest(method, "http://"+addr+c.path, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Host = c.host
			req.Header.Set("Content-Type", "application/json")
			for k, v := range c.headers {
				req.Header.Set(k, v)
			}
			resp, err := httpClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Fatalf("HTTP %d %s, want %d", resp.StatusCode, b, c.want)
			}
			if c.want == http.StatusForbidden && c.path == MIPath &&
				!strings.HasPrefix(string(b), `{"jsonrpc":"2.0","error":{"code":403,"message":"Forbidden","data":`) {
				t.Errorf("refusal body %s, want a JSON-RPC error", b)
			}
		})
	}
	// Only the four allowed requests subscribed (refreshing the same one).
	got := miCall(t, d, `{"jsonrpc":"2.0","method":"subscribers_list","params":["E_CSRF"],"id":1}`)
	if !strings.Contains(got, `"socket":"tcp:127.0.0.1:9"`) {
		t.Errorf("the allowed requests did not subscribe: %s", got)
	}
	if !strings.Contains(logs.String(), "mi: request refused") || !strings.Contains(logs.String(), "evil.example") {
		t.Errorf("refusals not logged:\n%s", logs)
	}
}

// TestMIRefusedRequestDoesNothing: a refused cross-origin subscribe leaves
// no subscription behind.
func TestMIRefusedRequestDoesNothing(t *testing.T) {
	d, _ := start(t, testConfig())
	req, _ := http.NewRequest(http.MethodPost, "http://"+d.MIAddr().String()+MIPath,
		strings.NewReader(`{"jsonrpc":"2.0","method":"event_subscribe","params":["E_CSRF","tcp:127.0.0.1:9"],"id":1}`))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Origin", "http://evil.example")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("HTTP %d, want 403", resp.StatusCode)
	}
	if got := miCall(t, d, `{"jsonrpc":"2.0","method":"events_list","id":1}`); got != `{"jsonrpc":"2.0","result":{"Events":[]},"id":1}` {
		t.Errorf("events after a refused subscribe: %s", got)
	}
}

// TestWarnBeyondLoopback: an MI or ingest bound beyond loopback is a
// warning at start; on loopback it is not. (Tests never bind other
// addresses: the exposed case is checked on the address alone.)
func TestWarnBeyondLoopback(t *testing.T) {
	cfg := testConfig()
	cfg.Ingest.Listen = "127.0.0.1:0"
	d, logs := start(t, cfg)
	if strings.Contains(logs.String(), "beyond loopback") {
		t.Errorf("warning for loopback listeners:\n%s", logs)
	}
	for _, a := range []*net.TCPAddr{{IP: net.IPv4zero, Port: 8888}, {IP: net.IPv6unspecified, Port: 8888}, {IP: net.IPv4(10, 0, 0, 5), Port: 9000}} {
		before := len(logs.String())
		d.warnExposed("ingest.listen", a)
		if l := logs.String()[before:]; !strings.Contains(l, "beyond loopback") || !strings.Contains(l, "key=ingest.listen") {
			t.Errorf("no warning for %v: %q", a, l)
		}
	}
}
