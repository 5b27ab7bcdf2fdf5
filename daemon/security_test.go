package daemon

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/evstream/evstream/internal/rpcsink"
	"github.com/evstream/evstream/internal/testnet"
	"github.com/evstream/evstream/jsonrpc"
)

func subscribe(event, socket string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","method":"event_subscribe","params":[%q,%q],"id":1}`, event, socket)
}

// TestDestinationsAllow: a socket outside destinations.allow is refused
// at subscribe time (400, the reason in data and in the log), also as a
// virtual member; one inside is accepted and delivered; a reload that
// widens the list lets the refused one in.
func TestDestinationsAllow(t *testing.T) {
	sink := rpcsink.New(t, "")
	cfg := testConfig()
	cfg.AutoPublish = true
	cfg.Destinations.Allow = []string{"127.0.0.1/32"}
	d, logs := start(t, cfg)
	if got := miCall(t, d, subscribe("E_D", sink.Socket("in"))); got != okReply {
		t.Fatalf("inside the list: %s", got)
	}
	for _, socket := range []string{
		"tcp:[::1]:9/out",
		"virtual:FAILOVER " + sink.Socket("v") + " tcp:[::1]:9",
		"tls:[::1]:9",
	} {
		got := miCall(t, d, subscribe("E_D", socket))
		if !strings.Contains(got, `"code":400,"message":"Bad parameter value"`) || !strings.Contains(got, "::1: not in destinations.allow") {
			t.Errorf("subscribe %s = %s, want 400 naming the rule", socket, got)
		}
	}
	if !strings.Contains(logs.String(), "not in destinations.allow") {
		t.Errorf("the refusal is not logged:\n%s", logs)
	}
	next := cfg.Clone()
	next.Destinations.Allow = []string{"127.0.0.1/32", "::1"}
	if _, err := d.Reload(next); err != nil {
		t.Fatal(err)
	}
	if got := miCall(t, d, subscribe("E_D", "tcp:[::1]:9/out")); got != okReply {
		t.Fatalf("after widening the list: %s", got)
	}
}

// TestNoLoop: a socket naming the daemon's own ingest listener, under any
// spelling, is refused: one raise would circulate for ever.
func TestNoLoop(t *testing.T) {
	cfg := testConfig()
	cfg.AutoPublish = true
	cfg.Ingest.Listen = "127.0.0.1:0"
	d, _ := start(t, cfg)
	port := strings.TrimPrefix(d.IngestAddr().String(), "127.0.0.1:")
	for _, socket := range []string{"tcp:127.0.0.1:" + port, "tcp:localhost:" + port + "/E_X", "virtual:PARALLEL tcp:127.0.0.1:" + port} {
		got := miCall(t, d, subscribe("E_X", socket))
		if !strings.Contains(got, `"code":400`) || !strings.Contains(got, "own ingest listener") {
			t.Errorf("subscribe %s = %s, want 400: the daemon's own ingest", socket, got)
		}
	}
	testnet.PollUntil(t, waitTimeout, "no subscriber made", func() bool {
		return strings.Contains(miCall(t, d, `{"jsonrpc":"2.0","method":"subscribers_list","id":1}`), `{"Events":[]}`)
	})
}

// TestIngestConnectionLimit: beyond limits.max_ingest_connections a new
// ingest connection is closed at once; the ones served go on.
func TestIngestConnectionLimit(t *testing.T) {
	cfg := testConfig()
	cfg.AutoPublish = true
	cfg.Ingest.Listen = "127.0.0.1:0"
	cfg.Limits.MaxIngestConnections = 1
	d, _ := start(t, cfg)
	first := testnet.Dial(t, d.IngestAddr().String(), waitTimeout)
	reply := func(c net.Conn) string {
		c.SetDeadline(time.Now().Add(waitTimeout))
		io.WriteString(c, `{"jsonrpc":"2.0","method":"E_L","id":1}`)
		b, err := jsonrpc.NewDecoder(c, 0).Next()
		if err != nil {
			return ""
		}
		return string(b)
	}
	if got := reply(first); !strings.Contains(got, `"code":480`) {
		t.Fatalf("the first connection: %q", got)
	}
	if got := reply(testnet.Dial(t, d.IngestAddr().String(), waitTimeout)); got != "" {
		t.Fatalf("a connection beyond the limit was served: %q", got)
	}
	if got := reply(first); !strings.Contains(got, `"code":480`) {
		t.Fatalf("the first connection after the refusal: %q", got)
	}
	stats := miCall(t, d, `{"jsonrpc":"2.0","method":"get_statistics","params":[["ingest:over_limit_connections","limits:refused"]],"id":1}`)
	if !strings.Contains(stats, `"ingest:over_limit_connections":1`) || !strings.Contains(stats, `"limits:refused":1`) {
		t.Fatalf("not counted: %s", stats)
	}
}

// TestRequestSizeLimit: an MI body beyond limits.max_request_bytes gets
// an Invalid Request error saying so, and the MI goes on answering.
func TestRequestSizeLimit(t *testing.T) {
	cfg := testConfig()
	cfg.Limits.MaxRequestBytes = 1024
	d, _ := start(t, cfg)
	big := `{"jsonrpc":"2.0","method":"version","params":["` + strings.Repeat("x", 2000) + `"],"id":1}`
	code, _, body := authCall(t, d, "POST", MIPath, big, nil)
	if code != http.StatusOK || !strings.Contains(body, `"code":-32600`) || !strings.Contains(body, "request body larger than 1024 bytes") {
		t.Fatalf("HTTP %d %s for a body of %d bytes", code, body, len(big))
	}
	if code, _, _ := authCall(t, d, "POST", MIPath, `{"jsonrpc":"2.0","method":"version","id":1}`, nil); code != 200 {
		t.Fatalf("after: HTTP %d", code)
	}
	if stats := miCall(t, d, `{"jsonrpc":"2.0","method":"get_statistics","params":["limits:refused"],"id":1}`); !strings.Contains(stats, `"limits:refused":1`) {
		t.Fatalf("not counted: %s", stats)
	}
}
