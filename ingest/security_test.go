package ingest_test

import (
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/ingest"
	"github.com/evstream/evstream/internal/testcert"
	"github.com/evstream/evstream/internal/testnet"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/transport/stream"
)

// serveIngest starts an ingest server with cfg on a loopback port and
// returns its address; it is closed at the end of the test.
func serveIngest(t *testing.T, cfg ingest.Config) (string, *ingest.Server) {
	t.Helper()
	reg := evi.NewRegistry(evi.Config{AutoPublish: true})
	tr, err := stream.New(stream.Config{})
	if err != nil {
		t.Fatal(err)
	}
	reg.Register(tr)
	t.Cleanup(func() { reg.Close() })
	srv := ingest.New(reg, cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), srv
}

// ask sends one request on c and returns the reply ("" when the
// connection ends first).
func ask(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(testTimeout))
	if _, err := io.WriteString(c, `{"jsonrpc":"2.0","method":"E_SEC","params":{"n":1},"id":1}`); err != nil {
		return ""
	}
	b, err := jsonrpc.NewDecoder(c, 0).Next()
	if err != nil {
		return ""
	}
	return string(b)
}

// TestAllow: a source outside ingest.allow is closed at once, counted and
// logged with its address; a source inside is served.
func TestAllow(t *testing.T) {
	var logs testnet.Buffer
	denied, srv := serveIngest(t, ingest.Config{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Logger: logs.Logger()})
	c := testnet.Dial(t, denied, testTimeout)
	if got := ask(t, c); got != "" {
		t.Fatalf("a refused source got %s", got)
	}
	if st := srv.Stats(); st.Refused != 1 || st.Received != 0 {
		t.Fatalf("stats %+v", st)
	}
	if l := logs.String(); !strings.Contains(l, "source not in ingest.allow") || !strings.Contains(l, "127.0.0.1:") {
		t.Fatalf("not logged with the address:\n%s", l)
	}
	allowed, _ := serveIngest(t, ingest.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	if got := ask(t, testnet.Dial(t, allowed, testTimeout)); !strings.Contains(got, `"code":480`) {
		t.Fatalf("an allowed source: %s, want an answer (480: no subscriber)", got)
	}
}

// TestIngestMutualTLS: with a TLS config asking for client certificates,
// a producer with a certificate of the CA is served; one without, or a
// plain TCP one, gets nothing.
func TestIngestMutualTLS(t *testing.T) {
	ca := testcert.NewCA(t, "ingest")
	server, client := ca.Server("ingest", "127.0.0.1"), ca.Server("opensips", "opensips")
	addr, _ := serveIngest(t, ingest.Config{TLS: &tls.Config{
		Certificates: []tls.Certificate{server.TLS}, ClientCAs: ca.Pool, ClientAuth: tls.RequireAndVerifyClientCert,
	}})
	dial := func(certs []tls.Certificate) net.Conn {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, Certificates: certs})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	if got := ask(t, dial([]tls.Certificate{client.TLS})); !strings.Contains(got, `"code":480`) {
		t.Fatalf("with a client certificate: %q", got)
	}
	if got := ask(t, dial(nil)); got != "" {
		t.Fatalf("without a client certificate: %q", got)
	}
	if got := ask(t, testnet.Dial(t, addr, testTimeout)); got != "" {
		t.Fatalf("plain TCP: %q", got)
	}
}
