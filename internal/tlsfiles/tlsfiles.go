// Package tlsfiles loads what TLS settings name: a PEM file of CA
// certificates into a pool, a certificate and its key; errors name the
// setting and the files.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// Pool returns a pool of the certificates of the PEM file, named in
// errors by what (a config key, a flag).
func Pool(file, what string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: %s holds no PEM certificate", what, file)
	}
	return pool, nil
}

// KeyPair loads a certificate (PEM, the chain may follow it) and its key,
// named in errors by what (config keys, flags) and the files. Its Leaf is
// parsed (crypto/tls does it since Go 1.23).
func KeyPair(certFile, keyFile, what string) (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: cannot load the certificate %s with the key %s: %w", what, certFile, keyFile, err)
	}
	return c, nil
}
