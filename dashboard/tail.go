package dashboard

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/ratelog"
	"github.com/evstream/evstream/jsonrpc"
)

// maxTailParams bounds the params of a raised event shown in the tail, and
// maxTailText every other text (a socket, an error), in bytes.
const (
	maxTailParams = 512
	maxTailText   = 300
)

// tail keeps the last entries of the live tail, each encoded as JSON,
// with a sequence number. At most rate entries are admitted a second
// (reset by the sampler), so that the tail costs the delivery path a
// bounded amount of work whatever the rate of events: once the second's
// entries are taken, an entry costs one atomic load. The entries not
// taken are the ones offered (raises, outcomes, changes: counted anyway)
// less the ones taken (the sequence).
type tail struct {
	rate     int64
	admitted atomic.Int64 // this second

	mu   sync.Mutex
	ring [][]byte // entries, ring[seq % len(ring)]
	next uint64   // the sequence of the next entry
}

func newTail(size, rate int) *tail {
	return &tail{rate: int64(rate), ring: make([][]byte, size)}
}

// admit reports whether one more entry may go in the tail this second.
func (t *tail) admit() bool {
	return t.admitted.Load() < t.rate && t.admitted.Add(1) <= t.rate
}

// second starts a new second of admissions.
func (t *tail) second() { t.admitted.Store(0) }

// add appends an entry.
func (t *tail) add(entry []byte) {
	t.mu.Lock()
	t.ring[t.next%uint64(len(t.ring))] = entry
	t.next++
	t.mu.Unlock()
}

// since returns the entries from sequence from on (appended to dst), the
// sequence to ask from next, and how many entries from on were
// overwritten before they were read.
func (t *tail) since(dst [][]byte, from uint64) (_ [][]byte, next, missed uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if oldest := t.next - min(t.next, uint64(len(t.ring))); from < oldest {
		missed, from = oldest-from, oldest
	}
	for s := from; s < t.next; s++ {
		dst = append(dst, t.ring[s%uint64(len(t.ring))])
	}
	return dst, t.next, missed
}

// position returns the sequence of the next entry.
func (t *tail) position() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.next
}

// Entries are JSON objects: {"time", "kind", "event", ...}; see
// docs/UI.md, "The live tail".

func entryStart(kind string, at time.Time, event string) []byte {
	b := make([]byte, 0, 192)
	b = append(b, `{"time":`...)
	b = jsonrpc.AppendString(b, at.UTC().Format(time.RFC3339Nano))
	b = append(b, `,"kind":`...)
	b = jsonrpc.AppendString(b, kind)
	b = append(b, `,"event":`...)
	return jsonrpc.AppendString(b, ratelog.ClipTo(event, maxTailText))
}

func raisedEntry(m *evi.Message, subscribers int) []byte {
	b := entryStart("raised", m.Raised, m.Event.Name())
	b = append(b, `,"id":`...)
	b = jsonrpc.AppendString(b, m.ID.String())
	b = append(b, `,"subscribers":`...)
	b = strconv.AppendInt(b, int64(subscribers), 10)
	params := jsonrpc.AppendParams(nil, m.Params, "", "")
	b = append(b, `,"params":`...)
	if len(params) > maxTailParams {
		// Cut, shown as text: the page never parses what it shows.
		b = jsonrpc.AppendString(b, string(params[:maxTailParams])+"…")
		b = append(b, `,"params_truncated":true`...)
	} else {
		b = jsonrpc.AppendString(b, string(params))
	}
	return append(b, '}')
}

func outcomeEntry(o evi.Outcome, at time.Time, lat time.Duration) []byte {
	kind := "delivered"
	if o.Err != nil {
		kind = "failed"
	}
	b := entryStart(kind, at, o.Event.Name())
	b = append(b, `,"id":`...)
	b = jsonrpc.AppendString(b, o.ID.String())
	b = append(b, `,"socket":`...)
	b = jsonrpc.AppendString(b, ratelog.ClipTo(o.Socket, maxTailText))
	if !o.Raised.IsZero() {
		b = append(b, `,"latency_ms":`...)
		b = strconv.AppendFloat(b, float64(lat)/float64(time.Millisecond), 'f', 3, 64)
	}
	if o.Err != nil {
		b = append(b, `,"error":`...)
		b = jsonrpc.AppendString(b, ratelog.ClipTo(o.Err.Error(), maxTailText))
	}
	if o.Retry {
		b = append(b, `,"retry":true`...)
	}
	return append(b, '}')
}

func changeEntry(c evi.SubscriptionChange) []byte {
	b := entryStart(c.Kind.String(), c.At, c.Event.Name())
	b = append(b, `,"socket":`...)
	b = jsonrpc.AppendString(b, ratelog.ClipTo(c.Socket, maxTailText))
	b = append(b, `,"expire":`...)
	b = strconv.AppendInt(b, int64(c.Expire/time.Second), 10)
	return append(b, '}')
}
