package mi_test

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/testnet"
	"github.com/evstream/evstream/mi"
	"github.com/evstream/evstream/transport/stream"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait. It is generous: a loaded machine may take
// a second or more for a connect (a SYN retransmitted), and no test may
// depend on the machine being idle.
const waitTimeout = 30 * time.Second

// clock is a settable clock for the registry (subscription expiry); it
// starts at the real time and only moves forward.
type clock = testnet.Clock

// env is a registry with the real tcp: transport, an MI Handler over it
// served by a real loopback HTTP server, and the registry's clock.
type env struct {
	reg *evi.Registry
	clk *clock
	srv *httptest.Server
	h   *mi.Handler
	url string

	mu       sync.Mutex
	outcomes []evi.Outcome
}

type envOpts struct {
	logger      *slog.Logger
	autoPublish bool
	stats       func() []mi.Stat
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	e := &env{clk: testnet.NewClock(time.Now())}
	e.reg = evi.NewRegistry(evi.Config{AutoPublish: o.autoPublish, Now: e.clk.Now, SweepInterval: time.Hour})
	scfg := stream.DefaultConfig()
	scfg.Timeout = waitTimeout // deliveries must not time out on a loaded machine
	tr, err := stream.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Register(tr); err != nil {
		t.Fatal(err)
	}
	e.h = mi.New(e.reg, mi.Options{
		Logger:     o.logger,
		Version:    "1.2.3",
		Statistics: o.stats,
		Report: func(out evi.Outcome) {
			e.mu.Lock()
			e.outcomes = append(e.outcomes, out)
			e.mu.Unlock()
		},
		MaxBodySize: 4096,
	})
	e.srv = httptest.NewServer(e.h)
	e.url = e.srv.URL + "/mi"
	t.Cleanup(func() {
		e.srv.Close()
		e.reg.Close()
	})
	return e
}

var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// post sends body and returns the HTTP status and the response body.
func (e *env) post(t *testing.T, body string) (int, string) {
	t.Helper()
	resp, err := client.Post(e.url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", body, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// call posts body and checks that the answer is HTTP 200 with exactly want.
func (e *env) call(t *testing.T, body, want string) {
	t.Helper()
	status, got := e.post(t, body)
	if status != http.StatusOK || got != want {
		t.Fatalf("POST %s\n got HTTP %d %s\nwant HTTP 200 %s", body, status, got, want)
	}
}

const ok = `{"jsonrpc":"2.0","result":"OK","id":1}`

func req(method, params string) string {
	if params == "" {
		return `{"jsonrpc":"2.0","method":"` + method + `","id":1}`
	}
	return `{"jsonrpc":"2.0","method":"` + method + `","params":` + params + `,"id":1}`
}

// badParam is 400 "Bad parameter value" with the reason as data (an
// evstream extension: OpenSIPS only logs it).
func badParam(data string) string {
	return `{"jsonrpc":"2.0","error":{"code":400,"message":"Bad parameter value","data":` + strconv.Quote(data) + `},"id":1}`
}

// badParams is 400 "Bad Params" with the reason as data.
func badParams(data string) string {
	return `{"jsonrpc":"2.0","error":{"code":400,"message":"Bad Params","data":` + strconv.Quote(data) + `},"id":1}`
}

func errResp(code, msg string) string {
	return `{"jsonrpc":"2.0","error":{"code":` + code + `,"message":"` + msg + `"},"id":1}`
}

func invalidParams(data string) string {
	return `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"` + data + `"},"id":1}`
}

var (
	tooFewOrMany  = invalidParams("Too few or too many parameters")
	negExpire     = invalidParams("Negative expire value")
	badExpire     = invalidParams("Bad type for parameter 'expire'")
	tempUnavail   = errResp("480", "Temporarily Unavailable")
	notRegistered = errResp("404", "Event not registered")
	notPublished  = errResp("404", "Event not published")
	noSubscriber  = errResp("404", "Subscriber does not exist")
)

func TestProtocolErrors(t *testing.T) {
	e := newEnv(t, envOpts{})
	cases := []struct{ name, body, want string }{
		{"unknown command", req("no_such_command", ""),
			`{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}`},
		{"batch", `[` + req("which", "") + `]`,
			`{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request","data":"batch requests (JSON arrays) are not supported: send one request per POST"},"id":null}`},
		{"response instead of request", `{"jsonrpc":"2.0","result":1,"id":7}`,
			`{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request","data":"a JSON-RPC response, not a request"},"id":7}`},
		{"params not structured", `{"jsonrpc":"2.0","method":"which","params":5,"id":3}`,
			`{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request","data":"invalid JSON-RPC message: \"params\" is 5, want an object or an array"},"id":3}`},
		{"string id echoed", `{"jsonrpc":"2.0","method":"event_publish","params":["E_A"],"id":"abc"}`,
			`{"jsonrpc":"2.0","result":"OK","id":"abc"}`},
		{"null id echoed", `{"jsonrpc":"2.0","method":"event_publish","params":["E_A"],"id":null}`,
			`{"jsonrpc":"2.0","result":"OK","id":null}`},
		{"jsonrpc member may be absent", `{"method":"event_publish","params":["E_A"],"id":2}`,
			`{"jsonrpc":"2.0","result":"OK","id":2}`},
		{"too large", `{"jsonrpc":"2.0","method":"which","id":1,"pad":"` + strings.Repeat("x", 5000) + `"}`,
			`{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request","data":"request body larger than 4096 bytes"},"id":null}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { e.call(t, c.body, c.want) })
	}

	// Malformed JSON: -32700 with a null id; the data (from the parser)
	// says where.
	for _, body := range []string{``, `{`, `{"jsonrpc":"2.0","method":"which","id":1`, `not json`, `{"a":1}}`} {
		status, got := e.post(t, body)
		const pre, suf = `{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error","data":"syntax error at offset `, `"},"id":null}`
		if status != 200 || !strings.HasPrefix(got, pre) || !strings.HasSuffix(got, suf) {
			t.Errorf("POST %q: HTTP %d %s, want 200 %s...%s", body, status, got, pre, suf)
		}
	}
}

func TestHTTPMethodsAndNotifications(t *testing.T) {
	e := newEnv(t, envOpts{})
	resp, err := client.Get(e.url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: HTTP %d Allow %q, want 405 Allow POST", resp.StatusCode, resp.Header.Get("Allow"))
	}

	// A notification runs and gets 204 with no body.
	status, body := e.post(t, `{"jsonrpc":"2.0","method":"event_publish","params":["E_NOTE"]}`)
	if status != http.StatusNoContent || body != "" {
		t.Errorf("notification: HTTP %d %q, want 204 and no body", status, body)
	}
	if e.reg.Lookup("E_NOTE") == nil {
		t.Error("the notification's event_publish did not run")
	}
	status, body = e.post(t, `{"jsonrpc":"2.0","method":"no_such_command"}`)
	if status != http.StatusNoContent || body != "" {
		t.Errorf("failing notification: HTTP %d %q, want 204 and no body", status, body)
	}
	resp, err = client.Post(e.url, "application/json", strings.NewReader(req("which", "")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
}

func TestEventSubscribe(t *testing.T) {
	e := newEnv(t, envOpts{})
	s := testnet.NewSink(t, waitTimeout)
	sock := s.Socket()
	e.call(t, req("event_publish", `["E_X"]`), ok)
	cases := []struct{ name, params, want string }{
		{"by position", `["E_X","` + sock + `"]`, ok},
		{"by name", `{"event":"E_X","socket":"` + sock + `/m1"}`, ok},
		{"by name with expire", `{"socket":"` + sock + `/m2","expire":60,"event":"E_X"}`, ok},
		{"expire as numeric string", `["E_X","` + sock + `/m3","120"]`, ok},
		{"negative expire", `["E_X","` + sock + `",-5]`, negExpire},
		{"negative expire string", `["E_X","` + sock + `","-5"]`, negExpire},
		{"expire text", `["E_X","` + sock + `","abc"]`, badExpire},
		{"expire fraction", `["E_X","` + sock + `",1.5]`, badExpire},
		{"expire bool", `["E_X","` + sock + `",true]`, badExpire},
		{"expire null", `["E_X","` + sock + `",null]`, badExpire},
		{"expire too big", `["E_X","` + sock + `",4294967296]`, badExpire},
		{"too few", `["E_X"]`, tooFewOrMany},
		{"too many", `["E_X","` + sock + `",1,"at-most-once",2]`, tooFewOrMany},
		{"delivery at-most-once", `["E_X","` + sock + `/m4",60,"at-most-once"]`, ok},
		{"delivery by name", `{"event":"E_X","socket":"` + sock + `/m5","expire":60,"delivery":"at-most-once"}`, ok},
		{"delivery unknown", `["E_X","` + sock + `",60,"exactly-once"]`, invalidParams(`delivery \"exactly-once\": want at-most-once or at-least-once`)},
		{"delivery not a string", `["E_X","` + sock + `",60,1]`, invalidParams("Bad type for parameter 'delivery'")},
		{"at-least-once without a spool", `["E_X","` + sock + `",60,"at-least-once"]`,
			badParam(`subscribe "` + sock + `" to "E_X": at-least-once delivery needs a spool (no data_dir)`)},
		{"no params", ``, tooFewOrMany},
		{"unknown name", `{"event":"E_X","sock":"` + sock + `"}`, tooFewOrMany},
		{"event not a string", `[5,"` + sock + `"]`, invalidParams("Bad type for parameter 'event'")},
		{"socket not a string", `{"event":"E_X","socket":{}}`, invalidParams("Bad type for parameter 'socket'")},
		{"port 0", `["E_X","tcp:127.0.0.1:0"]`, badParam("tcp:127.0.0.1:0: port 0 out of range 1..65535")},
		{"port out of range", `["E_X","tcp:127.0.0.1:70000"]`, badParam("tcp:127.0.0.1:70000: port 70000 out of range 1..65535")},
		{"unknown transport", `["E_X","udp:127.0.0.1:9"]`, badParam(`udp:127.0.0.1:9: unknown transport "udp" (want tcp:)`)},
		{"no transport", `["E_X","127.0.0.1:9"]`, badParam(`127.0.0.1:9: unknown transport "127.0.0.1" (want tcp:)`)},
		{"bad event name", `["bad name","` + sock + `"]`, badParam(`event name "bad name" has a space or control byte at 3`)},
		{"unpublished event (auto_publish off)", `["E_NEW","` + sock + `"]`,
			badParam(`event "E_NEW": event not published (auto_publish is off: publish it first, with event_publish or in the config)`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { e.call(t, req("event_subscribe", c.params), c.want) })
	}
	want := `{"jsonrpc":"2.0","result":{"Event":{"name":"E_X","id":0,"Subscribers":[` +
		`{"socket":"` + sock + `/m5","expire":60,"ttl":60},` +
		`{"socket":"` + sock + `/m4","expire":60,"ttl":60},` +
		`{"socket":"` + sock + `/m3","expire":120,"ttl":120},` +
		`{"socket":"` + sock + `/m2","expire":60,"ttl":60},` +
		`{"socket":"` + sock + `/m1","expire":3600,"ttl":3600},` +
		`{"socket":"` + sock + `","expire":3600,"ttl":3600}]}},"id":1}`
	e.call(t, req("subscribers_list", `["E_X"]`), want)
}

// TestErrorDataClipped: a reason quoting what the caller sent is clipped,
// so a huge socket gives a bounded answer (and log line).
func TestErrorDataClipped(t *testing.T) {
	var logs testnet.Buffer
	e := newEnv(t, envOpts{logger: logs.Logger(), autoPublish: true})
	method := strings.Repeat("m", 3000) + "\\u0001"
	_, got := e.post(t, req("event_subscribe", `["E_X","tcp:127.0.0.1:1/`+method+`"]`))
	const prefix = `{"jsonrpc":"2.0","error":{"code":400,"message":"Bad parameter value","data":"tcp:127.0.0.1:1/mmm`
	if !strings.HasPrefix(got, prefix) || !strings.Contains(got, "more bytes)") || len(got) > 1200 {
		t.Errorf("answer of %d bytes, want a clipped reason under 1200: %.300s", len(got), got)
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if len(line) > 1500 {
			t.Errorf("log line of %d bytes: %.300s", len(line), line)
		}
	}
	if !strings.Contains(logs.String(), "event_subscribe refused") {
		t.Errorf("the refusal was not logged:\n%.2000s", logs.String())
	}
}

func TestSubscribeAutoPublish(t *testing.T) {
	e := newEnv(t, envOpts{autoPublish: true})
	s := testnet.NewSink(t, waitTimeout)
	e.call(t, req("event_subscribe", `["E_AUTO","`+s.Socket()+`"]`), ok)
	e.call(t, req("events_list", ""), `{"jsonrpc":"2.0","result":{"Events":[{"name":"E_AUTO","id":0}]},"id":1}`)
	// A refused subscription publishes nothing.
	e.call(t, req("event_subscribe", `["E_NOPE","tcp:127.0.0.1:0"]`), badParam("tcp:127.0.0.1:0: port 0 out of range 1..65535"))
	e.call(t, req("events_list", ""), `{"jsonrpc":"2.0","result":{"Events":[{"name":"E_AUTO","id":0}]},"id":1}`)
}

func TestExpireRefreshUnsubscribe(t *testing.T) {
	e := newEnv(t, envOpts{})
	s := testnet.NewSink(t, waitTimeout)
	sock := s.Socket()
	e.call(t, req("event_publish", `["E_X"]`), ok)
	e.call(t, req("event_subscribe", `["E_X","`+sock+`",10]`), ok)
	e.clk.Advance(4500 * time.Millisecond)
	one := func(expire, ttl string) string {
		return `{"jsonrpc":"2.0","result":{"Event":{"name":"E_X","id":0,"Subscriber":` +
			`{"socket":"` + sock + `","expire":` + expire + `,"ttl":` + ttl + `}}},"id":1}`
	}
	e.call(t, req("subscribers_list", `["E_X","`+sock+`"]`), one("10", "5")) // 5.5 s left: whole seconds

	// Refresh: same socket again resets start and expire, no duplicate.
	e.call(t, req("event_subscribe", `{"event":"E_X","socket":"`+sock+`","expire":"30"}`), ok)
	e.call(t, req("subscribers_list", `["E_X","`+sock+`"]`), one("30", "30"))

	// Expiry: past its expire the subscriber is neither listed nor raised to.
	e.clk.Advance(30 * time.Second)
	e.call(t, req("subscribers_list", `["E_X"]`), `{"jsonrpc":"2.0","result":{"Event":{}},"id":1}`)
	e.call(t, req("subscribers_list", `["E_X","`+sock+`"]`), noSubscriber)
	e.call(t, req("raise_event", `["E_X"]`), tempUnavail)

	// expire 0 removes the matching subscriber; with none it is still OK.
	e.call(t, req("event_subscribe", `["E_X","`+sock+`"]`), ok)
	e.call(t, req("event_subscribe", `["E_X","`+sock+`/other",0]`), ok)
	e.call(t, req("subscribers_list", `["E_X"]`),
		`{"jsonrpc":"2.0","result":{"Event":{"name":"E_X","id":0,"Subscribers":[{"socket":"`+sock+`","expire":3600,"ttl":3600}]}},"id":1}`)
	e.call(t, req("event_subscribe", `["E_X","`+sock+`","0"]`), ok)
	e.call(t, req("subscribers_list", `["E_X"]`), `{"jsonrpc":"2.0","result":{"Event":{}},"id":1}`)
	e.call(t, req("event_subscribe", `["E_X","`+sock+`",0]`), ok)
	e.call(t, req("event_subscribe", `["E_UNKNOWN","`+sock+`",0]`), ok)
	e.call(t, req("event_subscribe", `["E_X","tcp:127.0.0.1:0",0]`), badParam("tcp:127.0.0.1:0: port 0 out of range 1..65535"))
	e.call(t, req("event_subscribe", `["bad name","`+sock+`",0]`), badParam(`event name "bad name" has a space or control byte at 3`))
}

func TestEventsAndSubscribersList(t *testing.T) {
	e := newEnv(t, envOpts{})
	s := testnet.NewSink(t, waitTimeout)
	sock := s.Socket()
	e.call(t, req("events_list", ""), `{"jsonrpc":"2.0","result":{"Events":[]},"id":1}`)
	e.call(t, req("subscribers_list", ""), `{"jsonrpc":"2.0","result":{"Events":[]},"id":1}`)
	for _, ev := range []string{"E_A", "E_B", "E_C"} {
		e.call(t, req("event_publish", `["`+ev+`"]`), ok)
	}
	e.call(t, req("event_publish", `["E_A"]`), ok) // again: no new id
	e.call(t, req("event_publish", `["bad name"]`), badParam(`event name "bad name" has a space or control byte at 3`))
	e.call(t, req("events_list", "[]"),
		`{"jsonrpc":"2.0","result":{"Events":[{"name":"E_A","id":0},{"name":"E_B","id":1},{"name":"E_C","id":2}]},"id":1}`)

	// Go API subscriptions without expire never expire.
	if err := e.reg.Subscribe("E_C", sock+"/forever", 0); err != nil {
		t.Fatal(err)
	}
	e.call(t, req("event_subscribe", `["E_A","`+sock+`",100]`), ok)
	e.call(t, req("event_subscribe", `["E_C","`+sock+`/m",200]`), ok)
	e.clk.Advance(time.Second)

	// all: only events with subscribers, newest subscriber first
	e.call(t, req("subscribers_list", ""),
		`{"jsonrpc":"2.0","result":{"Events":[`+
			`{"name":"E_A","id":0,"Subscribers":[{"socket":"`+sock+`","expire":100,"ttl":99}]},`+
			`{"name":"E_C","id":2,"Subscribers":[{"socket":"`+sock+`/m","expire":200,"ttl":199},{"socket":"`+sock+`/forever","expire":"never"}]}`+
			`]},"id":1}`)
	// one event
	e.call(t, req("subscribers_list", `{"event":"E_A"}`),
		`{"jsonrpc":"2.0","result":{"Event":{"name":"E_A","id":0,"Subscribers":[{"socket":"`+sock+`","expire":100,"ttl":99}]}},"id":1}`)
	// one event without subscribers
	e.call(t, req("subscribers_list", `["E_B"]`), `{"jsonrpc":"2.0","result":{"Event":{}},"id":1}`)
	// one subscriber, never expiring
	e.call(t, req("subscribers_list", `{"socket":"`+sock+`/forever","event":"E_C"}`),
		`{"jsonrpc":"2.0","result":{"Event":{"name":"E_C","id":2,"Subscriber":{"socket":"`+sock+`/forever","expire":"never"}}},"id":1}`)
	// errors
	e.call(t, req("subscribers_list", `["E_NONE"]`), notPublished)
	e.call(t, req("subscribers_list", `["E_NONE","`+sock+`"]`), notPublished)
	e.call(t, req("subscribers_list", `["E_A","`+sock+`/nope"]`), noSubscriber)
	e.call(t, req("subscribers_list", `["E_A","tcp:nohost"]`), badParam("tcp:nohost: missing port (want host:port)"))
	e.call(t, req("subscribers_list", `["E_A","`+sock+`",1]`), tooFewOrMany)
	e.call(t, req("subscribers_list", `[1]`), invalidParams("Bad type for parameter 'event'"))

	// event_unsubscribe (extension)
	e.call(t, req("event_unsubscribe", `["E_A","`+sock+`"]`), ok)
	e.call(t, req("event_unsubscribe", `["E_A","`+sock+`"]`), noSubscriber)
	e.call(t, req("event_unsubscribe", `["E_NONE","`+sock+`"]`), notPublished)
	e.call(t, req("event_unsubscribe", `["E_A","tcp:127.0.0.1:0"]`), badParam("tcp:127.0.0.1:0: port 0 out of range 1..65535"))
	e.call(t, req("event_unsubscribe", `["E_A"]`), tooFewOrMany)
	e.call(t, req("subscribers_list", `["E_A"]`), `{"jsonrpc":"2.0","result":{"Event":{}},"id":1}`)
}

func TestRaiseEventErrors(t *testing.T) {
	e := newEnv(t, envOpts{})
	s := testnet.NewSink(t, waitTimeout)
	e.call(t, req("raise_event", `["E_NONE"]`), notRegistered)
	e.call(t, req("raise_event", `["bad name"]`), notRegistered)
	// As OpenSIPS: an unknown event is reported before bad params.
	e.call(t, req("raise_event", `["E_NONE",5]`), notRegistered)
	e.call(t, req("event_publish", `["E_X"]`), ok)
	e.call(t, req("raise_event", `["E_X"]`), tempUnavail)
	e.call(t, req("raise_event", `["E_X",5]`), tempUnavail) // OpenSIPS checks subscribers first
	e.call(t, req("raise_event", ``), tooFewOrMany)
	e.call(t, req("raise_event", `["E_X",[],1]`), tooFewOrMany)
	e.call(t, req("raise_event", `[1]`), invalidParams("Bad type for parameter 'event'"))
	e.call(t, req("event_subscribe", `["E_X","`+s.Socket()+`"]`), ok)
	for _, c := range []struct{ params, why string }{
		{`5`, "want an array, an object or a string holding an object, got 5"},
		{`true`, "want an array, an object or a string holding an object, got true"},
		{`null`, "want an array, an object or a string holding an object, got null"},
		{`"text"`, `a string must hold a JSON object, got "text"`},
		{`"[1,2]"`, `a string must hold a JSON object, got "[1,2]"`},
		{`"{bad json"`, "offset 1: unexpected 'b' looking for an object key"},
		{`"{\"a\":1} x"`, "offset 8: unexpected 'x' after the params"},
		{`[[1]]`, "element 0 is [1], want a string or a number"},
		{`[{"a":1}]`, `element 0 is {"a":1}, want a string or a number`},
		{`[null]`, "element 0 is null, want a string or a number"},
		{`[true]`, "element 0 is true, want a string or a number"},
		{`{"":1}`, "offset 1: a member has an empty name (a named param needs a name)"},
		{`"{\"\":1}"`, "offset 1: a member has an empty name (a named param needs a name)"},
	} {
		e.call(t, req("raise_event", `["E_X",`+c.params+`]`), badParams(c.why))
	}
	// None of the refused raises sent anything: the first bytes on the
	// connection are those of the next, good, one.
	e.call(t, req("raise_event", `{"event":"E_X"}`), ok)
	s.WaitFor(t, `{"jsonrpc":"2.0","method":"E_X"}`)
}

func TestRaiseEventAutoPublish(t *testing.T) {
	e := newEnv(t, envOpts{autoPublish: true})
	// Unknown with auto_publish on: no subscribers, and raising does not
	// publish it (a typo raised forever must leave no trace).
	e.call(t, req("raise_event", `["E_NEW",{"a":1}]`), tempUnavail)
	e.call(t, req("raise_event", `["E_NEW"]`), tempUnavail)
	e.call(t, req("events_list", ""), `{"jsonrpc":"2.0","result":{"Events":[]},"id":1}`)
	e.call(t, req("raise_event", `["bad name"]`), notRegistered)
}

// TestRaiseEventWire checks the bytes a subscriber receives for each form
// of raise_event params.
func TestRaiseEventWire(t *testing.T) {
	e := newEnv(t, envOpts{})
	s := testnet.NewSink(t, waitTimeout)
	e.call(t, req("event_publish", `["E_X"]`), ok)
	e.call(t, req("event_subscribe", `["E_X","`+s.Socket()+`"]`), ok)
	cases := []struct{ name, params, wire string }{
		{"no params", `["E_X"]`, `{"jsonrpc":"2.0","method":"E_X"}`},
		{"empty array", `["E_X",[]]`, `{"jsonrpc":"2.0","method":"E_X"}`},
		{"empty object", `["E_X",{}]`, `{"jsonrpc":"2.0","method":"E_X"}`},
		{"array values become strings", `["E_X",[1,"x",-2.50,"3"]]`,
			`{"jsonrpc":"2.0","method":"E_X","params":["1","x","-2.50","3"]}`},
		{"object keeps order and kinds", `["E_X",{"port":5060,"ip":"192.168.2.11","neg":-7}]`,
			`{"jsonrpc":"2.0","method":"E_X","params":{"port":5060,"ip":"192.168.2.11","neg":-7}}`},
		{"string holding an object", `["E_X","{\"b\":1,\"a\":\"x\"}"]`,
			`{"jsonrpc":"2.0","method":"E_X","params":{"b":1,"a":"x"}}`},
		{"extensions kept as JSON", `["E_X",{"f":1.5,"t":true,"no":false,"n":null,"o":{"k": [1, 2.0, "s"]},"big":123456789012345678901,"e":1e3}]`,
			`{"jsonrpc":"2.0","method":"E_X","params":{"f":1.5,"t":true,"no":false,"n":null,"o":{"k":[1,2.0,"s"]},"big":123456789012345678901,"e":1000}}`},
		{"escaping as OpenSIPS", `["E_X",{"s":"q\"b\\n\n<a&b> \u2028 é \u0001"}]`,
			"{\"jsonrpc\":\"2.0\",\"method\":\"E_X\",\"params\":{\"s\":\"q\\\"b\\\\n\\n<a&b> \u2028 é \\u0001\"}}"},
		{"params by name", `{"params":["a"],"event":"E_X"}`,
			`{"jsonrpc":"2.0","method":"E_X","params":["a"]}`},
		{"named params by name", `{"event":"E_X","params":"{\"k\":\"v\"}"}`,
			`{"jsonrpc":"2.0","method":"E_X","params":{"k":"v"}}`},
	}
	var all string
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.call(t, req("raise_event", c.params), ok)
			all += c.wire
			s.WaitFor(t, all)
		})
	}
	e.mu.Lock()
	n := len(e.outcomes)
	for _, o := range e.outcomes {
		if o.Err != nil || o.Event.Name() != "E_X" || o.Socket != s.Socket() {
			t.Errorf("outcome %+v, want E_X delivered to %s", o, s.Socket())
		}
	}
	e.mu.Unlock()
	if n > len(cases) {
		t.Errorf("%d outcomes reported for %d events", n, len(cases))
	}
}

// TestRaiseDoesNotBlock raises to a subscriber that never reads: every
// raise_event answers at once.
func TestRaiseDoesNotBlock(t *testing.T) {
	e := newEnv(t, envOpts{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	e.call(t, req("event_publish", `["E_X"]`), ok)
	e.call(t, req("event_subscribe", `["E_X","tcp:`+ln.Addr().String()+`"]`), ok)
	big := `"` + strings.Repeat("x", 3000) + `"`
	start := time.Now()
	for range 200 {
		e.call(t, req("raise_event", `["E_X",[`+big+`]]`), ok)
	}
	if d := time.Since(start); d > waitTimeout {
		t.Errorf("200 raises to a stalled subscriber took %v", d)
	}
}

func TestExtensions(t *testing.T) {
	e := newEnv(t, envOpts{stats: func() []mi.Stat {
		return []mi.Stat{{Name: "tcp:sent", Value: 7}, {Name: "tcp:failed", Value: 2}}
	}})
	e.call(t, req("version", ""), `{"jsonrpc":"2.0","result":{"Server":"evstream 1.2.3"},"id":1}`)
	e.call(t, req("which", ""), `{"jsonrpc":"2.0","result":["event_publish","event_subscribe","event_unsubscribe","events_list","get_statistics","raise_event","subscribers_list","version","which"],"id":1}`)
	e.call(t, req("which", `["x"]`), tooFewOrMany)

	s := testnet.NewSink(t, waitTimeout)
	e.call(t, req("event_publish", `["E_X"]`), ok)
	e.call(t, req("event_subscribe", `["E_X","`+s.Socket()+`"]`), ok)
	e.call(t, req("raise_event", `["E_X"]`), ok)
	e.call(t, req("get_statistics", ""),
		`{"jsonrpc":"2.0","result":{"evi:events":1,"evi:subscribers":1,"evi:raised":1,"tcp:sent":7,"tcp:failed":2},"id":1}`)
	e.call(t, req("get_statistics", `[["evi:raised","tcp:"]]`),
		`{"jsonrpc":"2.0","result":{"evi:raised":1,"tcp:sent":7,"tcp:failed":2},"id":1}`)
	e.call(t, req("get_statistics", `{"statistics":"evi:"}`),
		`{"jsonrpc":"2.0","result":{"evi:events":1,"evi:subscribers":1,"evi:raised":1},"id":1}`)
	e.call(t, req("get_statistics", `["all"]`),
		`{"jsonrpc":"2.0","result":{"evi:events":1,"evi:subscribers":1,"evi:raised":1,"tcp:sent":7,"tcp:failed":2},"id":1}`)
	e.call(t, req("get_statistics", `["nothing:"]`), `{"jsonrpc":"2.0","result":{},"id":1}`)
	e.call(t, req("get_statistics", `[5]`), invalidParams("Bad type for parameter 'statistics'"))
}

func TestAfterClose(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.call(t, req("event_publish", `["E_X"]`), ok)
	e.reg.Close()
	shutting := `{"jsonrpc":"2.0","error":{"code":500,"message":"Internal error","data":"evstream is shutting down"},"id":1}`
	e.call(t, req("event_subscribe", `["E_X","tcp:127.0.0.1:9"]`), shutting)
	e.call(t, req("event_publish", `["E_Y"]`), shutting)
}
