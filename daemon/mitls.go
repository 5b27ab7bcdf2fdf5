package daemon

import (
	"crypto/tls"
	"sync/atomic"
	"time"

	"github.com/evstream/evstream/internal/tlsfiles"
)

// certHolder serves the MI's certificate, loaded from its files at start
// and again by every reload (a renewed certificate is picked up on SIGHUP
// without a restart).
type certHolder struct {
	cert atomic.Pointer[tls.Certificate]
}

// expires returns when the holder's certificate stops being valid.
func (h *certHolder) expires() time.Time {
	if c := h.cert.Load(); c != nil && c.Leaf != nil {
		return c.Leaf.NotAfter
	}
	return time.Time{}
}

// tlsConfig returns the server config that serves the holder's current
// certificate.
func (h *certHolder) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return h.cert.Load(), nil
		},
	}
}

// ingestTLS returns the TLS config of the ingest listener, nil without
// ingest.tls_cert_file; with ingest.client_ca_file, producers must present
// a certificate those CAs signed.
func ingestTLS(c IngestConfig) (*tls.Config, error) {
	if c.TLSCertFile == "" {
		return nil, nil
	}
	cert, err := tlsfiles.KeyPair(c.TLSCertFile, c.TLSKeyFile, "ingest.tls_cert_file, ingest.tls_key_file")
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if c.ClientCAFile != "" {
		if tc.ClientCAs, err = tlsfiles.Pool(c.ClientCAFile, "ingest.client_ca_file"); err != nil {
			return nil, err
		}
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}
