package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/evstream/evstream/daemon"
	"github.com/evstream/evstream/internal/rpcsink"
	"github.com/evstream/evstream/internal/testnet"
)

// The browser tests drive the page in a real headless Chromium (Debian's
// chromium package; .ci/run installs it). Without one they are skipped,
// unless EVSTREAM_REQUIRE_BROWSER is set (as .ci/run does): then a missing
// browser fails them. EVSTREAM_CHROMIUM names the binary to use.

const uiToken = "ui-t0ken-0123456789abcdef"

func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("EVSTREAM_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("EVSTREAM_REQUIRE_BROWSER") != "" {
		t.Fatal("no Chromium found and EVSTREAM_REQUIRE_BROWSER is set: install Debian's chromium package (apt-get install chromium) or set EVSTREAM_CHROMIUM")
	}
	t.Skip("no Chromium found (apt-get install chromium; .ci/run installs it): the browser tests are skipped")
	return ""
}

// page is a browser tab on the live view, with what it loaded and threw.
type page struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu         sync.Mutex
	urls       []string
	exceptions []string
	errors     []string
}

// openPage starts Chromium (closed at the end of the test) and opens the
// live view of d, sending the MI's token with every request.
func openPage(t *testing.T, d *daemon.Daemon, width, height int) *page {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // tests may run as root
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
		// Nothing but the page: this machine's network is closed.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-pings", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc() // waits for the browser to exit
	})
	p := &page{t: t, ctx: ctx, base: baseURL(d)}
	if err := chromedp.Listen(ctx, p.record); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": "Bearer " + uiToken}}); err != nil {
		t.Fatal(err)
	}
	p.do(chromedp.Navigate(p.base + "/ui"))
	p.waitJS("the stream connected", `document.getElementById('live').textContent === 'live'`)
	return p
}

func (p *page) record(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		p.urls = append(p.urls, e.Request.URL)
	case *runtime.EventExceptionThrown:
		x := e.ExceptionDetails
		desc := x.Text
		if x.Exception != nil {
			desc += " " + x.Exception.Description
		}
		p.exceptions = append(p.exceptions, fmt.Sprintf("%s:%d: %s", x.URL, x.LineNumber+1, desc))
	case *cdplog.EventEntryAdded:
		if e.Entry.Level == cdplog.EntryLevelError {
			p.errors = append(p.errors, string(e.Entry.Source)+": "+e.Entry.Text)
		}
	}
}

func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitLong)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitLong)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS waits until the expression is true in the page.
func (p *page) waitJS(what, expr string) {
	p.t.Helper()
	deadline := time.Now().Add(waitLong)
	for !eval[bool](p, "!!("+expr+")") {
		if time.Now().After(deadline) {
			p.t.Fatalf("the page never showed %s (%s) in %v", what, expr, waitLong)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// click clicks the element sel finds, in one step in the page (the page
// re-renders every second: a node found in one step may be gone in the
// next).
func (p *page) click(what, sel string) {
	p.t.Helper()
	p.waitJS(what, fmt.Sprintf(`document.querySelector(%q)`, sel))
	if !eval[bool](p, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; e.click(); return true })()`, sel)) {
		p.t.Fatalf("%s: %s is gone", what, sel)
	}
}

// fill sets the form field sel to value.
func (p *page) fill(sel, value string) {
	p.t.Helper()
	p.do(chromedp.SetValue(chromedp.CSS(sel), value))
}

func sel(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// checkClean fails the test if the page loaded anything from elsewhere
// than the daemon, threw, or logged an error (a refused policy, say).
func (p *page) checkClean() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.urls) == 0 {
		p.t.Fatal("no request recorded: the network events are not seen")
	}
	for _, u := range p.urls {
		if !strings.HasPrefix(u, p.base+"/") && !strings.HasPrefix(u, "data:") {
			p.t.Errorf("the page loaded %s: not the daemon's", u)
		}
	}
	for _, e := range p.exceptions {
		p.t.Errorf("the page threw: %s", e)
	}
	for _, e := range p.errors {
		p.t.Errorf("the browser logged an error: %s", e)
	}
}

// uiDaemon starts a daemon whose MI asks for a token, with a spool, and
// dead letters after one failed attempt.
// subscribedPage starts a daemon with the live view and opens it in a
// browser, with a receiver subscribed over the MI to event, as its socket
// with method.
func subscribedPage(t *testing.T, event, method string) (*daemon.Daemon, *page, *testnet.Sink, string) {
	t.Helper()
	chromiumPath(t)
	d := uiDaemon(t)
	p := openPage(t, d, 1280, 900)
	recv := testnet.NewSink(t, waitLong)
	socket := recv.Socket() + "/" + method
	miAuth(t, d, "event_subscribe", []any{event, socket, 3600})
	return d, p, recv, socket
}

func uiDaemon(t *testing.T) *daemon.Daemon {
	return startDaemon(t, func(c *daemon.Config) {
		c.MI.AuthToken = uiToken
		c.Delivery.MaxAttempts = 1
		c.Delivery.RetryInitial = 10 * time.Millisecond
	})
}

// miAuth calls an MI command with the token.
func miAuth(t *testing.T, d *daemon.Daemon, method string, params any) string {
	t.Helper()
	return miWith(t, d, uiToken, method, params)
}

// TestBrowser drives the live view as an operator does: the page loads
// behind the MI's token, shows a subscriber made over the MI, raises an
// event from its form and shows it and its delivery in the tail, shows a
// destination backing off when its receiver stops, replays a dead letter,
// subscribes and unsubscribes (after a confirmation) from its forms, keeps
// a focused button focused through its updates, and loads nothing from
// anywhere but the daemon.
func TestBrowser(t *testing.T) {
	// A subscriber made over the MI appears.
	d, p, recv, socket := subscribedPage(t, "E_UI", "block_ip")
	p.waitJS("the subscriber", sel(`document.querySelector('#dests tbody tr[data-socket=%q]')`, socket))
	p.waitJS("the event's subscriber", sel(`document.querySelector('#events article[data-event="E_UI"] tr[data-socket=%q]')`, socket))

	// An event raised from the page's form is delivered, and shown in the
	// tail with its delivery.
	p.fill(`#f-raise input[name=event]`, "E_UI")
	p.fill(`#f-raise textarea[name=params]`, `{"ip":"192.168.2.11"}`)
	p.click("the raise button", `#f-raise button[type=submit]`)
	recv.WaitFor(t, `{"jsonrpc":"2.0","method":"block_ip","params":{"ip":"192.168.2.11"}}`)
	p.waitJS("the raise in the tail", `document.querySelector('#tail tbody tr[data-kind="raised"][data-event="E_UI"]')`)
	p.waitJS("the delivery in the tail", sel(`document.querySelector('#tail tbody tr[data-kind="delivered"][data-socket=%q]')`, socket))
	p.waitJS("the status of the raise", `document.getElementById('status').textContent === 'Raise: OK'`)
	p.waitJS("the destination connected", sel(`document.querySelector('#dests tr[data-socket=%q] [data-state="connected"]')`, socket))

	// A receiver that stops: its destination turns "backing off". (Events
	// raised until the daemon notices are written to the dying connection;
	// the first connect after it fails.)
	stopping := testnet.Serve(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	downSocket := "tcp:" + stopping.Addr() + "/gone"
	miAuth(t, d, "event_subscribe", []any{"E_DOWN", downSocket, 3600})
	miAuth(t, d, "raise_event", []any{"E_DOWN", map[string]any{"n": 0}})
	p.waitJS("the destination connected", sel(`document.querySelector('#dests tr[data-socket=%q] [data-state="connected"]')`, downSocket))
	stopping.Close()
	backoff := sel(`document.querySelector('#dests tr[data-socket=%q] [data-state="backoff"]')`, downSocket)
	for n := 1; !eval[bool](p, "!!"+backoff); n++ {
		if n > 600 {
			t.Fatalf("the destination of a stopped receiver never showed backing off after %d raises", n)
		}
		miAuth(t, d, "raise_event", []any{"E_DOWN", map[string]any{"n": n}})
		time.Sleep(100 * time.Millisecond)
	}
	p.waitJS("the connect error", sel(`document.querySelector('#dests tr[data-socket=%q] td.err').textContent.includes('refused')`, downSocket))

	// A dead letter is replayed from the page.
	sink := rpcsink.New(t, "")
	sink.SetFail(func(rpcsink.Arrival, int) bool { return true })
	alo := sink.Socket("on_event")
	miAuth(t, d, "event_subscribe", []any{"E_ALO", alo, 3600, "at-least-once"})
	miAuth(t, d, "raise_event", []any{"E_ALO", map[string]any{"n": 7}})
	replay := sel(`#events article[data-event="E_ALO"] tr[data-socket=%q] button[data-action="replay"]`, alo)
	p.waitJS("the dead letter's replay button", sel(`document.querySelector(%q)`, replay))
	// What the dead letter is, and why, before replaying it.
	p.click("the show button", sel(`#events article[data-event="E_ALO"] tr[data-socket=%q] button[data-action="show"]`, alo))
	p.waitJS("the dead letter listed", `document.querySelector('#dead:not([hidden]) #dead-table tbody tr td.err') &&
		document.querySelector('#dead-table tbody tr td.err').textContent.includes('not now') &&
		document.querySelector('#dead-table tbody tr').textContent.includes('{"n":7}')`)
	sink.SetFail(nil)
	p.click("the replay button", replay)
	p.waitJS("the replay's answer", `document.getElementById('status').textContent.startsWith('Replay: ')`)
	testnet.PollUntil(t, waitLong, "the replayed event delivered", func() bool {
		got := sink.Got()
		return len(got) >= 2 && got[len(got)-1].N == 7
	})
	p.waitJS("no dead letter left", sel(`!document.querySelector(%q)`, replay))

	// Subscribe from the page's form, then unsubscribe after confirming.
	formSocket := recv.Socket() + "/from_form"
	p.fill(`#f-subscribe input[name=event]`, "E_FORM")
	p.fill(`#f-subscribe input[name=socket]`, formSocket)
	p.click("the subscribe button", `#f-subscribe button[type=submit]`)
	row := sel(`#events article[data-event="E_FORM"] tr[data-socket=%q]`, formSocket)
	p.waitJS("the subscriber made from the form", sel(`document.querySelector(%q)`, row))
	if got := miAuth(t, d, "subscribers_list", []any{"E_FORM"}); !strings.Contains(got, formSocket) {
		t.Fatalf("subscribers_list after the form: %s", got)
	}

	// A keyboard user's focus survives the page's updates.
	eval[bool](p, sel(`(() => { document.querySelector(%q + ' button.danger').focus(); return true })()`, row))
	before := eval[float64](p, `performance.now()`)
	p.waitJS("two updates", sel(`performance.now() > %f + 2500`, before))
	if !eval[bool](p, sel(`document.activeElement === document.querySelector(%q + ' button.danger')`, row)) {
		t.Error("the focused Unsubscribe button lost the focus when the page updated")
	}

	p.click("the unsubscribe button", row+" button.danger")
	p.waitJS("the confirmation", `document.getElementById('confirm').open`)
	if eval[bool](p, sel(`!document.querySelector(%q)`, row)) {
		t.Fatal("unsubscribed before the confirmation")
	}
	p.click("the confirm button", `#confirm-ok`)
	p.waitJS("the subscriber gone", sel(`!document.querySelector(%q)`, row))
	if got := miAuth(t, d, "subscribers_list", []any{}); strings.Contains(got, formSocket) {
		t.Fatalf("subscribers_list after the unsubscribe: %s", got)
	}

	// The plots have drawn something for the destination that delivered.
	p.waitJS("a plot", sel(`document.querySelector('#plots .plot[data-socket=%q] polyline')`, socket))
	p.checkClean()
}

// TestScreenshots writes the screenshots of docs/img (run with
// EVSTREAM_SCREENSHOTS=docs/img from the repository's root... or any
// folder): the desktop and the phone views, with traffic going.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("EVSTREAM_SCREENSHOTS")
	if dir == "" {
		t.Skip("EVSTREAM_SCREENSHOTS is not set: no screenshots taken")
	}
	chromiumPath(t)
	d := uiDaemon(t)
	recv := testnet.NewSink(t, waitLong)
	sink := rpcsink.New(t, "")
	sink.SetFail(func(a rpcsink.Arrival, _ int) bool { return a.N%50 == 0 })
	miAuth(t, d, "event_subscribe", []any{"E_PIKE_BLOCKED", recv.Socket() + "/block_ip", 3600})
	miAuth(t, d, "event_subscribe", []any{"E_CALL_SETUP", sink.Socket("call_setup"), 3600, "at-least-once"})
	deadPort, _ := testnet.BoundPort(t) // nothing listens there
	miAuth(t, d, "event_subscribe", []any{"E_CALL_SETUP", "tcp:127.0.0.1:" + strconv.Itoa(deadPort) + "/cdr", 3600})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for n := 1; ; n++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			miAuth(t, d, "raise_event", []any{"E_PIKE_BLOCKED", map[string]any{"ip": fmt.Sprintf("10.0.%d.%d", n/250, n%250)}})
			miAuth(t, d, "raise_event", []any{"E_CALL_SETUP", map[string]any{"n": n, "callid": fmt.Sprintf("a84b4c76e66710@pc33.example.com-%d", n)}})
		}
	})
	defer wg.Wait()
	defer close(stop)

	shoot := func(name string, width, height int, mobile bool) {
		p := openPage(t, d, width, height)
		if mobile {
			p.do(chromedp.EmulateViewport(int64(width), int64(height), chromedp.EmulateScale(2), chromedp.EmulateMobile))
		}
		time.Sleep(20 * time.Second) // some history in the plots
		p.waitJS("a plot", `document.querySelector('#plots polyline')`)
		ctx, cancel := context.WithTimeout(p.ctx, waitLong)
		defer cancel()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
		p.checkClean()
	}
	shoot("ui-desktop.png", 1280, 900, false)
	shoot("ui-phone.png", 390, 844, true)
}

// tabTo presses Tab until the focused element matches the JavaScript
// predicate (of document.activeElement, as e), and fails after 300 presses.
func (p *page) tabTo(what, pred string) {
	p.t.Helper()
	for range 300 {
		if eval[bool](p, `(() => { const e = document.activeElement; return !!e && !!(`+pred+`) })()`) {
			return
		}
		p.do(chromedp.KeyEvent(kb.Tab))
	}
	p.t.Fatalf("Tab never reached %s", what)
}

// TestBrowserKeyboard: everything the tests above click can be done with
// the keyboard alone: Tab reaches the raise form and its button, Enter
// raises; Enter on Unsubscribe opens the confirmation, Escape cancels it,
// and Tab and Enter confirm it.
func TestBrowserKeyboard(t *testing.T) {
	d, p, recv, socket := subscribedPage(t, "E_KEY", "keys")
	row := sel(`#events article[data-event="E_KEY"] tr[data-socket=%q]`, socket)
	p.waitJS("the subscriber", sel(`document.querySelector(%q)`, row))

	p.tabTo("the raise form's event field", `e.matches('#f-raise input[name=event]')`)
	p.do(chromedp.KeyEvent("E_KEY"), chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(`{"k":1}`), chromedp.KeyEvent(kb.Tab))
	if !eval[bool](p, `document.activeElement.matches('#f-raise button[type=submit]')`) {
		t.Fatal("Tab after the params does not reach the Raise button")
	}
	p.do(chromedp.KeyEvent(kb.Enter))
	recv.WaitFor(t, `{"jsonrpc":"2.0","method":"keys","params":{"k":1}}`)
	p.waitJS("the status of the raise", `document.getElementById('status').textContent === 'Raise: OK'`)

	// Back to the top, then to the subscriber's Unsubscribe button.
	eval[bool](p, `(() => { document.activeElement.blur(); window.scrollTo(0, 0); return true })()`)
	p.tabTo("the Unsubscribe button", sel(`e.matches(%q)`, row+" button.danger"))
	p.do(chromedp.KeyEvent(kb.Enter))
	p.waitJS("the confirmation", `document.getElementById('confirm').open`)
	p.do(chromedp.KeyEvent(kb.Escape))
	p.waitJS("the confirmation closed", `!document.getElementById('confirm').open`)
	time.Sleep(1500 * time.Millisecond) // an update of the page between
	if got := miAuth(t, d, "subscribers_list", []any{"E_KEY"}); !strings.Contains(got, socket) {
		t.Fatalf("Escape unsubscribed: %s", got)
	}
	p.tabTo("the Unsubscribe button again", sel(`e.matches(%q)`, row+" button.danger"))
	p.do(chromedp.KeyEvent(kb.Enter))
	p.waitJS("the confirmation, its Cancel focused", `document.getElementById('confirm').open && document.activeElement.id === 'confirm-cancel'`)
	p.do(chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Enter))
	p.waitJS("the subscriber gone", sel(`!document.querySelector(%q)`, row))
	if got := miAuth(t, d, "subscribers_list", []any{}); strings.Contains(got, socket) {
		t.Fatalf("still subscribed after the keyboard's confirmation: %s", got)
	}
	p.checkClean()
}
