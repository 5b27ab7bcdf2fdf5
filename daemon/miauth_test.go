package daemon

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

const (
	testToken    = "s3cr3t-t0ken-0123456789abcdef"
	testPassword = "pa55-w0rd-xyz"
)

// authCall sends req to the daemon's path with the credentials set by
// with, and returns the status, the WWW-Authenticate header and the body.
func authCall(t *testing.T, d *Daemon, method, path, body string, with func(*http.Request)) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+d.MIAddr().String()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if with != nil {
		with(req)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(b)
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func basic(user, pass string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, pass) }
}

// TestMIAuth: with mi.auth_token and mi.basic_auth set, /mi and /metrics
// answer 401 (a JSON-RPC error body, WWW-Authenticate) without the right
// credentials, and serve with either; /healthz stays open; a reload
// changes the credentials at once; no secret reaches the log.
func TestMIAuth(t *testing.T) {
	cfg := testConfig()
	cfg.MI.AuthToken = testToken
	cfg.MI.BasicAuth = BasicAuth{Username: "ops", Password: testPassword}
	d, logs := start(t, cfg)
	const which = `{"jsonrpc":"2.0","method":"version","id":1}`
	const unauthorized = `{"jsonrpc":"2.0","error":{"code":401,"message":"Unauthorized"},"id":null}`
	cases := []struct {
		name   string
		method string
		path   string
		with   func(*http.Request)
		want   int
	}{
		{"no credentials", "POST", MIPath, nil, 401},
		{"wrong token", "POST", MIPath, bearer("s3cr3t-t0ken-0123456789abcdeX"), 401},
		{"token prefix", "POST", MIPath, bearer(testToken[:10]), 401},
		{"token", "POST", MIPath, bearer(testToken), 200},
		{"bearer, any case", "POST", MIPath, func(r *http.Request) { r.Header.Set("Authorization", "bearer "+testToken) }, 200},
		{"basic", "POST", MIPath, basic("ops", testPassword), 200},
		{"basic, wrong password", "POST", MIPath, basic("ops", "nope"), 401},
		{"basic, wrong user", "POST", MIPath, basic("root", testPassword), 401},
		{"the token as a basic password", "POST", MIPath, basic("anyone", testToken), 200},
		{"the token as a basic user", "POST", MIPath, basic(testToken, "x"), 401},
		{"live view without", "GET", UIPath, nil, 401},
		{"live view with the token as a password", "GET", UIPath, basic("", testToken), 200},
		{"live view's state without", "GET", UIPath + "/api/state", nil, 401},
		{"live view's state with", "GET", UIPath + "/api/state", bearer(testToken), 200},
		{"metrics without", "GET", MetricsPath, nil, 401},
		{"metrics with", "GET", MetricsPath, bearer(testToken), 200},
		{"health is open", "GET", HealthPath, nil, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, challenge, body := authCall(t, d, c.method, c.path, which, c.with)
			if code != c.want {
				t.Fatalf("HTTP %d, want %d: %s", code, c.want, body)
			}
			if code == 401 && (body != unauthorized || !strings.Contains(challenge, `Bearer realm="evstream"`) || !strings.Contains(challenge, `Basic realm="evstream"`)) {
				t.Fatalf("401 with body %s and WWW-Authenticate %q", body, challenge)
			}
		})
	}

	// A reload rotates the token: the old one is refused at once.
	next := cfg.Clone()
	next.MI.AuthToken = "n3w-t0ken-0123456789abcdefgh"
	next.MI.BasicAuth = BasicAuth{}
	rep, err := d.Reload(next)
	if err != nil || len(rep.NeedRestart) != 0 {
		t.Fatalf("Reload = %+v, %v", rep, err)
	}
	if code, _, _ := authCall(t, d, "POST", MIPath, which, bearer(testToken)); code != 401 {
		t.Fatalf("the old token after the reload: HTTP %d", code)
	}
	if code, _, _ := authCall(t, d, "POST", MIPath, which, basic("ops", testPassword)); code != 401 {
		t.Fatalf("basic auth removed by the reload: HTTP %d", code)
	}
	if code, _, _ := authCall(t, d, "POST", MIPath, which, bearer(next.MI.AuthToken)); code != 200 {
		t.Fatalf("the new token: HTTP %d", code)
	}
	for _, secret := range []string{testToken, testPassword, next.MI.AuthToken} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("a secret is in the log:\n%s", logs)
		}
	}
	if !strings.Contains(logs.String(), "request refused: wrong credentials") {
		t.Fatalf("refusals not logged:\n%s", logs)
	}
}

// TestUIAuthTokenOnly: with only a token, the live view offers Basic too
// (a browser asks for a password only then: the token goes in it), and the
// MI's own challenge stays Bearer only.
func TestUIAuthTokenOnly(t *testing.T) {
	cfg := testConfig()
	cfg.MI.AuthToken = testToken
	d, _ := start(t, cfg)
	code, challenge, _ := authCall(t, d, "GET", UIPath, "", nil)
	if code != 401 || challenge != `Bearer realm="evstream", Basic realm="evstream", charset="UTF-8"` {
		t.Fatalf("GET %s: HTTP %d, WWW-Authenticate %q; want 401 offering Bearer and Basic", UIPath, code, challenge)
	}
	if code, challenge, _ = authCall(t, d, "POST", MIPath, "{}", nil); code != 401 || challenge != `Bearer realm="evstream"` {
		t.Fatalf("POST %s: HTTP %d, WWW-Authenticate %q; want 401 offering Bearer", MIPath, code, challenge)
	}
	if code, _, body := authCall(t, d, "GET", UIPath, "", basic("me", testToken)); code != 200 || !strings.Contains(body, "<title>evstream</title>") {
		t.Fatalf("GET %s with the token: HTTP %d: %.200s", UIPath, code, body)
	}
}

// TestSecretsNotQuoted: a bad credential in the config is reported
// without quoting it.
func TestSecretsNotQuoted(t *testing.T) {
	cfg := testConfig()
	cfg.MI.AuthToken = "has a space-" + testToken
	cfg.MI.BasicAuth = BasicAuth{Password: testPassword}
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "mi.auth_token: has a space") || !strings.Contains(err.Error(), "mi.basic_auth.username: missing") {
		t.Fatalf("Validate = %v", err)
	}
	if strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), testPassword) {
		t.Fatalf("the error quotes a secret: %v", err)
	}
}
