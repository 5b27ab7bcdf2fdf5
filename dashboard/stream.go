package dashboard

import (
	"bytes"
	"net/http"
	"strconv"
	"time"
)

// Stream timing: the tail is sent in batches, at most every
// tailInterval; a write that takes longer than writeTimeout ends the
// stream (a page that stopped reading must not hold the daemon).
const (
	tailInterval = 250 * time.Millisecond
	writeTimeout = 10 * time.Second
	// tailBacklog is how many of the tail's entries a new stream starts
	// with.
	tailBacklog = 200
)

// State returns what the page shows now, with every destination's
// history: the rates and latencies of the last second sampled (none before
// Start).
func (d *Dashboard) State() *State {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	return d.stateLocked(now, d.listLocked(now), true)
}

// serveState answers GET /ui/api/state with the state and the histories.
func (d *Dashboard) serveState(w http.ResponseWriter, _ *http.Request) {
	b := d.State().encode()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

// serveStream answers GET /ui/api/stream with server-sent events: a
// "state" event at once (with the histories) and then every second, and
// "tail" events with the tail's new entries, until the page goes away or
// the dashboard is closed.
func (d *Dashboard) serveStream(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	switch {
	case d.closed:
		d.mu.Unlock()
		http.Error(w, "evstream: shutting down", http.StatusServiceUnavailable)
		return
	case d.clients.Load() >= int64(d.cfg.MaxClients):
		d.mu.Unlock()
		w.Header().Set("Retry-After", "5")
		http.Error(w, "evstream: too many live views open (at most "+strconv.Itoa(d.cfg.MaxClients)+")", http.StatusServiceUnavailable)
		return
	}
	d.clients.Add(1)
	d.wg.Add(1)
	fresh := d.fresh
	d.mu.Unlock()
	defer d.wg.Done()
	defer d.clients.Add(-1)

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // a proxy in front must not buffer it
	w.WriteHeader(http.StatusOK)

	var buf bytes.Buffer
	send := func() bool {
		rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		_, err := w.Write(buf.Bytes())
		buf.Reset()
		return err == nil && rc.Flush() == nil
	}
	buf.WriteString("retry: 2000\n")
	event(&buf, "state", d.State().encode())
	if !send() {
		return
	}

	pos := d.tail.position()
	pos -= min(pos, tailBacklog)
	tick := time.NewTicker(tailInterval)
	defer tick.Stop()
	var entries [][]byte
	for {
		select {
		case <-d.stop:
			return
		case <-r.Context().Done():
			return
		case <-fresh:
			d.mu.Lock()
			frame, next := d.frame, d.fresh
			d.mu.Unlock()
			fresh = next
			if frame == nil {
				continue
			}
			event(&buf, "state", frame)
		case <-tick.C:
			var missed uint64
			entries, pos, missed = d.tail.since(entries[:0], pos)
			if len(entries) == 0 && missed == 0 {
				continue
			}
			var b []byte
			b = append(b, `{"missed":`...)
			b = strconv.AppendUint(b, missed, 10)
			b = append(b, `,"entries":[`...)
			for i, e := range entries {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, e...)
			}
			b = append(b, "]}"...)
			event(&buf, "tail", b)
		}
		if !send() {
			return
		}
	}
}

// event writes one server-sent event; data holds no newline (JSON as
// encoding/json and the tail write it).
func event(buf *bytes.Buffer, name string, data []byte) {
	buf.WriteString("event: ")
	buf.WriteString(name)
	buf.WriteString("\ndata: ")
	buf.Write(data)
	buf.WriteString("\n\n")
}
