package main

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/evstream/evstream/internal/testcert"
	"github.com/evstream/evstream/internal/testnet"
	"github.com/evstream/evstream/jsonrpc"
)

func TestMIRequestBody(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, `{"jsonrpc":"2.0","method":"M","id":1}`},
		{[]string{"E_X", "tcp:127.0.0.1:8080/m", "3600"},
			`{"jsonrpc":"2.0","method":"M","params":["E_X","tcp:127.0.0.1:8080/m","3600"],"id":1}`},
		{[]string{"E_X", `{"ip": "10.0.0.1", "n": 1}`},
			`{"jsonrpc":"2.0","method":"M","params":["E_X",{"ip":"10.0.0.1","n":1}],"id":1}`},
		{[]string{"E_X", `[1, "a"]`}, `{"jsonrpc":"2.0","method":"M","params":["E_X",[1,"a"]],"id":1}`},
		{[]string{"E_X", `{not json`, `"q"`}, `{"jsonrpc":"2.0","method":"M","params":["E_X","{not json","\"q\""],"id":1}`},
		{[]string{"event=E_X", "socket=tcp:127.0.0.1:8080", "expire=60"},
			`{"jsonrpc":"2.0","method":"M","params":{"event":"E_X","socket":"tcp:127.0.0.1:8080","expire":"60"},"id":1}`},
		{[]string{"event=E_X", `params={"a":1}`}, `{"jsonrpc":"2.0","method":"M","params":{"event":"E_X","params":{"a":1}},"id":1}`},
		{[]string{"event=E_X", "a=b=c"}, `{"jsonrpc":"2.0","method":"M","params":{"event":"E_X","a":"b=c"},"id":1}`},
		{[]string{"E_X", "a=b"}, `{"jsonrpc":"2.0","method":"M","params":["E_X","a=b"],"id":1}`}, // mixed: by position
	}
	for _, c := range cases {
		got, err := miRequestBody("M", c.args)
		if err != nil || string(got) != c.want {
			t.Errorf("miRequestBody(%q) = %s, %v; want %s", c.args, got, err, c.want)
		}
	}
	if _, err := miRequestBody("M", []string{"event=a", "event=b"}); err == nil || err.Error() != `param "event" given twice` {
		t.Errorf("duplicate name: err = %v", err)
	}
}

func TestFormatMIError(t *testing.T) {
	cases := []struct {
		e    jsonrpc.Error
		want string
	}{
		{jsonrpc.Error{Code: 400, Message: "Bad parameter value"}, "error 400: Bad parameter value"},
		{jsonrpc.Error{Code: -32602, Message: "Invalid params", Data: []byte(`"Negative expire value"`)},
			"error -32602: Invalid params: Negative expire value"},
		{jsonrpc.Error{Code: 503, Message: "Not Accepted", Data: []byte(`{"accepted":0}`)},
			`error 503: Not Accepted: {"accepted":0}`},
	}
	for _, c := range cases {
		if got := formatMIError(&c.e); got != c.want {
			t.Errorf("formatMIError(%+v) = %q, want %q", c.e, got, c.want)
		}
	}
}

// TestMIClient runs `evstream mi` against a running daemon.
func TestMIClient(t *testing.T) {
	d := startDaemon(t)
	sink := testnet.NewSink(t, testTimeout)
	sock := "tcp:" + sink.Addr()
	mi := func(args ...string) (int, string, string) {
		t.Helper()
		return runToEnd(t, append([]string{"mi", "--url", d.MIURL}, args...)...)
	}
	expectOK := func(args ...string) {
		t.Helper()
		if code, stdout, stderr := mi(args...); code != 0 || stdout != "\"OK\"\n" || stderr != "" {
			t.Fatalf("evstream mi %q: exit %d, stdout %q, stderr %q; want 0, \"OK\"", args, code, stdout, stderr)
		}
	}
	expectOK("event_subscribe", "E_X", sock, "3600")
	expectOK("event_subscribe", "event=E_Y", "socket="+sock+"/y")
	expectOK("raise_event", "E_X", `{"ip":"192.168.2.11","port":5060}`)
	expectOK("raise_event", "E_X", `[1,"a"]`)
	expectOK("raise_event", "event=E_Y")
	sink.WaitFor(t, `{"jsonrpc":"2.0","method":"E_X","params":{"ip":"192.168.2.11","port":5060}}`+
		`{"jsonrpc":"2.0","method":"E_X","params":["1","a"]}`+
		`{"jsonrpc":"2.0","method":"y"}`)

	// Flags anywhere on the line: --url after the command is the flag, not
	// an MI param.
	if code, stdout, stderr := runToEnd(t, "mi", "which", "--url", d.MIURL); code != 0 || !strings.Contains(stdout, `"event_subscribe"`) {
		t.Errorf("mi which --url URL: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	code, stdout, stderr := mi("events_list")
	want := "{\n  \"Events\": [\n    {\n      \"name\": \"E_X\",\n      \"id\": 0\n    },\n    {\n      \"name\": \"E_Y\",\n      \"id\": 1\n    }\n  ]\n}\n"
	if code != 0 || stdout != want || stderr != "" {
		t.Errorf("events_list: exit %d, stdout %q, stderr %q; want 0, %q", code, stdout, stderr, want)
	}

	// MI errors: exit 1, the error on stderr, nothing on stdout.
	errs := []struct {
		args []string
		want string
	}{
		{[]string{"event_subscribe", "E_X", sock, "-5"}, "error -32602: Invalid params: Negative expire value\n"},
		{[]string{"event_subscribe", "E_X", "tcp:127.0.0.1:0"}, "error 400: Bad parameter value: tcp:127.0.0.1:0: port 0 out of range 1..65535\n"},
		{[]string{"subscribers_list", "E_NONE"}, "error 404: Event not published\n"},
		{[]string{"raise_event", "E_NEW"}, "error 480: Temporarily Unavailable\n"},
		{[]string{"no_such_command"}, "error -32601: Method not found\n"},
		{[]string{"event_subscribe"}, "error -32602: Invalid params: Too few or too many parameters\nusage: evstream mi event_subscribe EVENT SOCKET [EXPIRE [DELIVERY]]\n"},
	}
	for _, c := range errs {
		code, stdout, stderr := mi(c.args...)
		if code != 1 || stdout != "" || stderr != c.want {
			t.Errorf("evstream mi %q: exit %d, stdout %q, stderr %q; want 1, nothing, %q", c.args, code, stdout, stderr, c.want)
		}
	}
}

func TestMIClientUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/mi"
	ln.Close() // nothing listens there any more
	code, stdout, stderr := runToEnd(t, "mi", "--url", url, "which")
	want := "evstream mi: cannot reach the MI at " + url + ": "
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, want) || !strings.Contains(stderr, "connection refused") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1 and %q...connection refused", code, stdout, stderr, want)
	}
}

func TestMIClientUsage(t *testing.T) {
	code, _, stderr := runToEnd(t, "mi")
	if want := "evstream mi: missing COMMAND (evstream mi help lists them)\nRun 'evstream mi --help' for usage.\n"; code != 2 || stderr != want {
		t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, want)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--url", "127.0.0.1:8888", "which"}, `evstream mi: --url "127.0.0.1:8888": want the MI's URL, like http://127.0.0.1:8888/mi`},
		{[]string{"which", "--nope"}, "evstream mi: unknown flag --nope"},
		{[]string{"which", "--url"}, "evstream mi: flag --url needs a value"},
		{[]string{"which", "--timeout", "5"}, `evstream mi: invalid argument "5" for "--timeout" flag: want a duration with a unit`},
		{[]string{"help", "event_subscrib"}, `evstream mi: no MI command "event_subscrib": did you mean "event_subscribe"?`},
	} {
		code, _, stderr := runToEnd(t, append([]string{"mi"}, c.args...)...)
		if code != 2 || !strings.HasPrefix(stderr, c.want) {
			t.Errorf("mi %q: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
	// Offline help, from the MI's own command table.
	code, stdout, _ := runToEnd(t, "mi", "help", "event_subscribe")
	if code != 0 || !strings.HasPrefix(stdout, "usage: evstream mi event_subscribe EVENT SOCKET [EXPIRE [DELIVERY]]\n") || !strings.Contains(stdout, "  socket    where events go") {
		t.Errorf("mi help event_subscribe: exit %d, %q", code, stdout)
	}
	code, stdout, _ = runToEnd(t, "mi", "help")
	if code != 0 || !strings.Contains(stdout, "raise_event EVENT [PARAMS]") || !strings.Contains(stdout, "subscribers_list [EVENT [SOCKET]]") {
		t.Errorf("mi help: exit %d, %q", code, stdout)
	}
	// Something that answers HTTP but is not the MI.
	d := startDaemon(t)
	code, _, stderr = runToEnd(t, "mi", "--url", strings.TrimSuffix(d.MIURL, "/mi")+"/other", "which")
	if code != 1 || !strings.Contains(stderr, "answered HTTP 404 Not Found") {
		t.Errorf("wrong path: exit %d, stderr %q; want 1 and the HTTP status", code, stderr)
	}
}

// FuzzMIRequestBody: whatever the command line, the request is one valid
// JSON-RPC request for that method.
func FuzzMIRequestBody(f *testing.F) {
	f.Add("raise_event", "E_X", `{"a":1}`)
	f.Add("event_subscribe", "event=E_X", "socket=tcp:h:1")
	f.Add("m", "[1,", "x=\xff")
	f.Fuzz(func(t *testing.T, method, a, b string) {
		body, err := miRequestBody(method, []string{a, b})
		if err != nil {
			return // a name given twice
		}
		m, err := jsonrpc.Parse(body)
		if method == "" {
			return // "method" is empty: the server says so
		}
		if err != nil || !m.IsRequest() || len(m.Params) == 0 {
			t.Fatalf("miRequestBody(%q, %q, %q) = %s: %v", method, a, b, body, err)
		}
	})
}

// TestMIClientHelpDaemonCommands: `evstream mi help` knows the daemon's
// own commands (dead letters) too, offline.
func TestMIClientHelpDaemonCommands(t *testing.T) {
	code, stdout, stderr := runToEnd(t, "mi", "help", "dead_letters_list")
	if code != 0 || !strings.HasPrefix(stdout, "usage: evstream mi dead_letters_list EVENT [SOCKET [LIMIT]]") || !strings.Contains(stdout, "limit") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if _, stdout, _ := runToEnd(t, "mi", "help"); !strings.Contains(stdout, "dead_letters_replay") {
		t.Fatalf("mi help lists %q", stdout)
	}
}

// TestMIClientCredentials: against a daemon that asks for a token (or
// Basic credentials), `evstream mi` says what is missing, and sends the
// token from $EVSTREAM_MI_TOKEN or --token, or --user and the password
// from $EVSTREAM_MI_PASSWORD; the daemon warns that its config file,
// which holds the secret, is readable by others.
func TestMIClientCredentials(t *testing.T) {
	const token = "t0ken-for-the-mi-0123456789"
	cfg := writeConfig(t, "mi:\n  auth_token: "+token+"\n  basic_auth: {username: ops, password: pa55w0rd-xyz}\n")
	if err := os.Chmod(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, "--config", cfg)
	d.waitStderr(t, "the config file holds a secret and others can read it")
	url := "--url=" + d.MIURL
	code, _, stderr := runToEnd(t, "mi", url, "version")
	if code != 1 || !strings.Contains(stderr, "error 401: Unauthorized") || !strings.Contains(stderr, "EVSTREAM_MI_TOKEN") {
		t.Fatalf("without credentials: exit %d, stderr %q", code, stderr)
	}
	for _, run := range []struct {
		name string
		env  []string
		args []string
	}{
		{"env token", []string{"EVSTREAM_MI_TOKEN=" + token}, nil},
		{"flag token", nil, []string{"--token", token}},
		{"basic", []string{"EVSTREAM_MI_PASSWORD=pa55w0rd-xyz"}, []string{"--user", "ops"}},
	} {
		p := runEvstreamEnv(t, run.env, append(append([]string{"mi", url}, run.args...), "version")...)
		if code := p.wait(t); code != 0 || !strings.Contains(p.Stdout.String(), `"Server"`) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", run.name, code, p.Stdout.String(), p.Stderr.String())
		}
	}
	if strings.Contains(d.Stderr.String(), token) {
		t.Fatalf("the token is in the daemon's log:\n%s", d.Stderr.String())
	}
}

// TestMIClientHTTPS: a daemon whose MI serves HTTPS prints its https://
// URL, and `evstream mi --ca` talks to it; without the CA it refuses the
// certificate.
func TestMIClientHTTPS(t *testing.T) {
	ca := testcert.NewCA(t, "cli-ca")
	pair := ca.Server("mi", "127.0.0.1")
	cfg := writeConfig(t, "mi: {tls_cert_file: "+pair.CertFile+", tls_key_file: "+pair.KeyFile+"}\n")
	d := startDaemon(t, "--config", cfg)
	if !strings.HasPrefix(d.MIURL, "https://127.0.0.1:") {
		t.Fatalf("the daemon printed the MI URL %q", d.MIURL)
	}
	code, stdout, stderr := runToEnd(t, "mi", "--url", d.MIURL, "--ca", ca.File, "version")
	if code != 0 || !strings.Contains(stdout, `"Server"`) {
		t.Fatalf("with --ca: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, _, stderr = runToEnd(t, "mi", "--url", d.MIURL, "version")
	if code != 1 || !strings.Contains(stderr, "certificate") {
		t.Fatalf("without --ca: exit %d, stderr %q", code, stderr)
	}
}
