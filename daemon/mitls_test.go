package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/evstream/evstream/internal/testcert"
)

func httpsClient(pool *x509.CertPool) *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// TestMITLS: with mi.tls_cert_file and mi.tls_key_file the MI listener
// serves HTTPS only, with that certificate; a client that does not trust
// its CA, or speaks plain HTTP, gets nothing; a reload loads the
// certificate files again (a renewed certificate is served at once).
func TestMITLS(t *testing.T) {
	ca := testcert.NewCA(t, "mi-ca")
	pair := ca.Server("mi", "127.0.0.1")
	cfg := testConfig()
	cfg.MI.TLSCertFile, cfg.MI.TLSKeyFile = pair.CertFile, pair.KeyFile
	cfg.MI.AuthToken = testToken
	d, logs := start(t, cfg)
	url := d.MIURL()
	if !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Fatalf("MIURL = %q", url)
	}
	post := func(c *http.Client) (int, string, error) {
		req, _ := http.NewRequest("POST", url, strings.NewReader(`{"jsonrpc":"2.0","method":"version","id":1}`))
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	if code, body, err := post(httpsClient(ca.Pool)); err != nil || code != 200 || !strings.Contains(body, `"Server"`) {
		t.Fatalf("HTTPS with the CA: %d %s %v", code, body, err)
	}
	if _, _, err := post(httpsClient(x509.NewCertPool())); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("HTTPS without trusting the CA: %v, want a certificate error", err)
	}
	plain := strings.Replace(url, "https://", "http://", 1)
	if resp, err := httpClient.Post(plain, "application/json", strings.NewReader(`{}`)); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatalf("plain HTTP was served: %s", b)
		}
	}
	if strings.Contains(logs.String(), "clear text") {
		t.Fatalf("a clear-text warning with TLS on:\n%s", logs)
	}
	// The live view is served over the same HTTPS, with the same token.
	ui := strings.Replace(url, MIPath, UIPath+"/api/state", 1)
	req, _ := http.NewRequest("GET", ui, nil)
	req.SetBasicAuth("ops", testToken) // as a browser sends it
	if resp, err := httpsClient(ca.Pool).Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s over HTTPS: %v %v", ui, resp, err)
	} else {
		resp.Body.Close()
	}

	// Renewed in place by another CA: a reload serves the new one.
	ca2 := testcert.NewCA(t, "mi-ca-2")
	renewed := ca2.Server("mi", "127.0.0.1")
	for _, f := range [][2]string{{renewed.CertFile, pair.CertFile}, {renewed.KeyFile, pair.KeyFile}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Reload(cfg.Clone()); err != nil {
		t.Fatal(err)
	}
	if code, _, err := post(httpsClient(ca2.Pool)); err != nil || code != 200 {
		t.Fatalf("after the reload, with the new CA: %d %v", code, err)
	}
	if _, _, err := post(httpsClient(ca.Pool)); err == nil {
		t.Fatal("after the reload the old certificate is still served")
	}

	// A certificate that no longer loads: reported, the running one kept.
	if err := os.WriteFile(pair.CertFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := d.Reload(cfg.Clone())
	if err != nil || len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0].Error(), pair.CertFile) {
		t.Fatalf("Reload with a bad certificate = %+v, %v", rep, err)
	}
	if code, _, err := post(httpsClient(ca2.Pool)); err != nil || code != 200 {
		t.Fatalf("after a failed reload: %d %v", code, err)
	}
}

// TestMITLSBadFiles: a certificate that does not load stops New, naming
// the files; half a pair is a config error.
func TestMITLSBadFiles(t *testing.T) {
	cfg := testConfig()
	cfg.MI.TLSCertFile, cfg.MI.TLSKeyFile = "/nonexistent/cert.pem", "/nonexistent/key.pem"
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "/nonexistent/cert.pem") {
		t.Fatalf("New = %v", err)
	}
	cfg.MI.TLSKeyFile = ""
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "mi.tls_key_file: missing") {
		t.Fatalf("Validate = %v", err)
	}
}
