package tlsstream_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/testcert"
	"github.com/evstream/evstream/internal/testnet"
	"github.com/evstream/evstream/transport/stream"
	"github.com/evstream/evstream/transport/tlsstream"
	"github.com/evstream/evstream/transport/transporttest"
	"github.com/evstream/evstream/value"
)

// tlsPeer starts a receiver of kind k behind TLS with the certificate
// pair (and, with clients, asking for a client certificate signed by it).
func tlsPeer(t *testing.T, k transporttest.Kind, pair testcert.Pair, clients *testcert.CA) transporttest.Peer {
	if k == transporttest.Refuse {
		addr, _ := transporttest.TCPPeer(t, k)
		return transporttest.Peer{Socket: "tls:" + addr}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sc := &tls.Config{Certificates: []tls.Certificate{pair.TLS}, MinVersion: tls.VersionTLS12}
	if clients != nil {
		sc.ClientCAs, sc.ClientAuth = clients.Pool, tls.RequireAndVerifyClientCert
	}
	return transporttest.Peer{Socket: "tls:" + ln.Addr().String(), Received: transporttest.Serve(t, tls.NewListener(ln, sc), k)}
}

func newTLS(t *testing.T, cfg stream.Config, tc *tls.Config) *stream.Transport {
	t.Helper()
	tr, err := tlsstream.New(cfg, tc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// TestContract runs the transport contract suite over TLS, in both modes.
func TestContract(t *testing.T) {
	ca := testcert.NewCA(t, "contract")
	pair := ca.Server("receiver", "127.0.0.1")
	for _, reliable := range []bool{false, true} {
		t.Run(fmt.Sprintf("reliable=%v", reliable), func(t *testing.T) {
			transporttest.Run(t, transporttest.Harness{
				Reliable: reliable,
				New: func(t *testing.T, timeout time.Duration) evi.Transport {
					return newTLS(t, stream.Config{ReliableMode: reliable, Timeout: timeout}, &tls.Config{RootCAs: ca.Pool})
				},
				Peer: func(t *testing.T, k transporttest.Kind) transporttest.Peer { return tlsPeer(t, k, pair, nil) },
			})
		})
	}
}

// send sends one event to socket over tr and returns its outcome.
func send(t *testing.T, tr *stream.Transport, socket string) error {
	t.Helper()
	d, err := tr.Parse(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ev := testEvent(t)
	done := make(chan error, 1)
	m := evi.NewMessage(ev, value.Named(value.P("n", value.Int(1))), time.Now())
	if err := d.Send(m, evi.DoneFunc(func(_ *evi.Message, err error) { done <- err })); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatal("no outcome within a minute")
		return nil
	}
}

func testEvent(t *testing.T) *evi.Event {
	reg := evi.NewRegistry(evi.Config{})
	t.Cleanup(func() { reg.Close() })
	ev, err := reg.Publish("E_TLS")
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestVerification: a receiver whose certificate another CA signed, or
// that names another host, fails the delivery at connect with the
// verification error; a receiver that speaks no TLS gets no byte of the
// event in clear text.
func TestVerification(t *testing.T) {
	ca, other := testcert.NewCA(t, "good"), testcert.NewCA(t, "other")
	tc := &tls.Config{RootCAs: ca.Pool}
	for _, c := range []struct {
		name string
		pair testcert.Pair
		want string
	}{
		{"unknown CA", other.Server("receiver", "127.0.0.1"), "certificate signed by unknown authority"},
		{"other host", ca.Server("receiver", "receiver.example.com"), "doesn't contain any IP SANs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := newTLS(t, stream.Config{Timeout: time.Minute}, tc)
			p := tlsPeer(t, transporttest.Accept, c.pair, nil)
			err := send(t, tr, p.Socket)
			var de *evi.DeliveryError
			if !errors.As(err, &de) || de.Reason != evi.ReasonConnect || de.Written || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("outcome %v, want a connect failure saying %q", err, c.want)
			}
			if got := p.Received(); len(got) != 0 {
				t.Fatalf("the receiver got %v", got)
			}
			if st := tr.Stats(); st.ConnectFailures == 0 {
				t.Fatalf("not counted: %+v", st)
			}
		})
	}
	t.Run("plain TCP receiver", func(t *testing.T) {
		var mu sync.Mutex
		var got bytes.Buffer
		srv := testnet.Serve(t, func(c net.Conn) {
			buf := make([]byte, 4096)
			for {
				n, err := c.Read(buf)
				mu.Lock()
				got.Write(buf[:n])
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
		tr := newTLS(t, stream.Config{Timeout: 5 * time.Second}, tc)
		if err := send(t, tr, "tls:"+srv.Addr()); err == nil {
			t.Fatal("delivered to a receiver that speaks no TLS")
		}
		mu.Lock()
		defer mu.Unlock()
		if bytes.Contains(got.Bytes(), []byte("E_TLS")) || bytes.Contains(got.Bytes(), []byte("jsonrpc")) {
			t.Fatalf("the event went in clear text: %q", got.Bytes())
		}
	})
}

// TestMutualTLS: a receiver that asks for a client certificate gets the
// one configured; without it the event is not delivered. (With TLS 1.3 the
// client learns that the receiver refused it only when the receiver closes
// the connection, after the client's handshake is done: in reliable mode
// the event then fails; a notification counts as written, like any
// written to a connection that breaks.)
func TestMutualTLS(t *testing.T) {
	ca := testcert.NewCA(t, "mtls")
	server, client := ca.Server("receiver", "127.0.0.1"), ca.Server("evstream", "evstream")
	p := tlsPeer(t, transporttest.Accept, server, ca)
	with := newTLS(t, stream.Config{Timeout: time.Minute}, &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{client.TLS}})
	if err := send(t, with, p.Socket); err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	without := newTLS(t, stream.Config{ReliableMode: true, Timeout: time.Minute}, &tls.Config{RootCAs: ca.Pool})
	if err := send(t, without, p.Socket); err == nil {
		t.Fatal("delivered without a client certificate")
	}
	// The notification counts as delivered once written: the receiver
	// reads it when it gets to it.
	testnet.PollUntil(t, time.Minute, "the event sent with the certificate received", func() bool { return len(p.Received()) > 0 })
	if got := p.Received(); len(got) != 1 {
		t.Fatalf("the receiver got %v, want the one event", got)
	}
}

// TestSettings: the section's files are loaded with errors naming them.
func TestSettings(t *testing.T) {
	ca := testcert.NewCA(t, "settings")
	pair := ca.Server("evstream", "evstream")
	good := tlsstream.Settings{CAFile: ca.File, CertFile: pair.CertFile, KeyFile: pair.KeyFile, ServerName: "receiver.example.com"}
	tc, err := good.TLSConfig()
	if err != nil || tc.RootCAs == nil || len(tc.Certificates) != 1 || tc.ServerName != "receiver.example.com" || tc.MinVersion != tls.VersionTLS12 {
		t.Fatalf("TLSConfig = %+v, %v", tc, err)
	}
	for _, c := range []struct {
		s    tlsstream.Settings
		want string
	}{
		{tlsstream.Settings{CAFile: "/nonexistent/ca.pem"}, "tls.ca_file"},
		{tlsstream.Settings{CAFile: pair.KeyFile}, "holds no PEM certificate"},
		{tlsstream.Settings{CertFile: pair.CertFile, KeyFile: ca.File}, "tls.cert_file, tls.key_file"},
	} {
		if _, err := c.s.TLSConfig(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.s, err, c.want)
		}
	}
	half := tlsstream.Settings{CertFile: pair.CertFile}
	if errs := half.Validate(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "key_file") {
		t.Fatalf("Validate = %v", errs)
	}
}

// TestSameBytes: inside TLS a receiver built on the standard library
// alone reads exactly the bytes a tcp: receiver reads for the same event.
func TestSameBytes(t *testing.T) {
	ca := testcert.NewCA(t, "bytes")
	pair := ca.Server("receiver", "127.0.0.1")
	read := func(ln net.Listener) <-chan []byte {
		out := make(chan []byte, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				out <- nil
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Minute))
			var got []byte
			buf := make([]byte, 4096)
			for !bytes.HasSuffix(got, []byte("}}")) {
				n, err := c.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					break
				}
			}
			out <- got
		}()
		return out
	}
	plainLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plainLn.Close()
	tlsLn, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair.TLS}})
	if err != nil {
		t.Fatal(err)
	}
	defer tlsLn.Close()
	plainGot, tlsGot := read(plainLn), read(tlsLn)
	tcp, err := stream.New(stream.Config{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	if err := send(t, tcp, "tcp:"+plainLn.Addr().String()+"/m"); err != nil {
		t.Fatal(err)
	}
	tr := newTLS(t, stream.Config{Timeout: time.Minute}, &tls.Config{RootCAs: ca.Pool})
	if err := send(t, tr, "tls:"+tlsLn.Addr().String()+"/m"); err != nil {
		t.Fatal(err)
	}
	p, s := <-plainGot, <-tlsGot
	if len(p) == 0 || !bytes.Equal(p, s) {
		t.Fatalf("tcp: %q, tls: %q", p, s)
	}
}
