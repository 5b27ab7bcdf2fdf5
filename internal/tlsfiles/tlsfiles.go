// Package tlsfiles loads what TLS settings name: a PEM file of CA
// certificates, into a pool; errors name the setting and the file.
package tlsfiles

import (
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
