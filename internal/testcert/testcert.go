// Package testcert makes a certificate authority and certificates signed
// by it, for tests and benchmarks of TLS over loopback: nothing is checked
// in, every key is new and expires within the day.
package testcert

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/evstream/evstream/internal/certgen"
)

// CA is a test certificate authority.
type CA struct {
	t    testing.TB
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// File is its certificate, PEM, in the test's temporary directory.
	File string
	// Pool trusts it alone.
	Pool *x509.CertPool
}

// Pair is a certificate signed by a CA and its key, in PEM files.
type Pair struct {
	CertFile, KeyFile string
	// TLS is the pair, loaded.
	TLS tls.Certificate
}

// NewCA makes a new CA named name.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	cert, key, err := certgen.CA(name)
	if err != nil {
		t.Fatal(err)
	}
	ca := &CA{t: t, cert: cert, key: key, Pool: x509.NewCertPool()}
	ca.Pool.AddCert(cert)
	ca.File = writePEM(t, name+"-ca.pem", "CERTIFICATE", cert.Raw)
	return ca
}

// Server returns a certificate for hosts (IP addresses or names), usable
// by a server and by a client.
func (ca *CA) Server(name string, hosts ...string) Pair {
	ca.t.Helper()
	der, key, err := certgen.Leaf(ca.cert, ca.key, name, hosts)
	if err != nil {
		ca.t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		ca.t.Fatal(err)
	}
	p := Pair{
		CertFile: writePEM(ca.t, name+".pem", "CERTIFICATE", der),
		KeyFile:  writePEM(ca.t, name+"-key.pem", "EC PRIVATE KEY", kder),
	}
	if p.TLS, err = tls.LoadX509KeyPair(p.CertFile, p.KeyFile); err != nil {
		ca.t.Fatal(err)
	}
	return p
}

func writePEM(t testing.TB, name, kind string, der []byte) string {
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
