package dashboard

import (
	"encoding/json"
	"math"
	"sort"
	"strings"
	"time"
)

// State is what the page shows: GET /ui/api/state returns one, and the
// live stream sends one a second ("state" events). docs/UI.md describes
// every member.
type State struct {
	Version string    `json:"version"`
	Started time.Time `json:"started"`
	Now     time.Time `json:"now"`
	// Uptime is in seconds.
	Uptime float64 `json:"uptime"`
	Totals Totals  `json:"totals"`
	// Events are the published events, in publication order.
	Events []EventState `json:"events"`
	// Destinations are the subscribers' sockets, each over every event
	// it is subscribed to, by socket.
	Destinations []DestinationState `json:"destinations"`
	// Connections are the transports' connections, by address.
	Connections []ConnectionState `json:"connections"`
	// Statistics are the daemon's counters, as get_statistics lists them.
	Statistics []StatState `json:"statistics"`
	Tail       TailState   `json:"tail"`
	// Truncated reports that the subscribers listed stop at
	// Config.MaxSubscribers.
	Truncated bool `json:"truncated,omitempty"`
	// HistoryInterval is the seconds between two points of a history.
	HistoryInterval int `json:"history_interval"`
}

// Totals are the daemon's totals; rates are per second over the last
// second.
type Totals struct {
	Events        int     `json:"events"`
	Subscriptions int     `json:"subscriptions"`
	Raised        uint64  `json:"raised"`
	RaisedRate    float64 `json:"raised_rate"`
	Delivered     uint64  `json:"delivered"`
	DeliveredRate float64 `json:"delivered_rate"`
	Failed        uint64  `json:"failed"`
	FailedRate    float64 `json:"failed_rate"`
	// Pending and DeadLetters are the at-least-once subscribers' events
	// in the spool (0 without one).
	Pending     int64 `json:"pending"`
	DeadLetters int64 `json:"dead_letters"`
}

// EventState is one event and its subscribers.
type EventState struct {
	Name string `json:"name"`
	// ID is the event's id, as events_list shows it.
	ID          int               `json:"id"`
	Raised      uint64            `json:"raised"`
	RaisedRate  float64           `json:"raised_rate"`
	Subscribers []SubscriberState `json:"subscribers"`
}

// SubscriberState is one subscriber of an event.
type SubscriberState struct {
	Socket   string `json:"socket"`
	Delivery string `json:"delivery"`
	// Expire is the lifetime asked for and TTL what is left of it, in
	// seconds; 0 and absent: never expires.
	Expire int64 `json:"expire"`
	TTL    int64 `json:"ttl,omitempty"`
	// Durable: kept across restarts (made over the MI, with a data_dir).
	Durable bool `json:"durable"`
	// Pending and DeadLetters: at-least-once subscribers only.
	Pending     *int64 `json:"pending,omitempty"`
	DeadLetters *int64 `json:"dead_letters,omitempty"`
}

// DestinationState is one socket that events are delivered to.
type DestinationState struct {
	Socket string   `json:"socket"`
	Events []string `json:"events"`
	// Delivery is the policy of its subscriptions ("at-most-once",
	// "at-least-once", or both, comma-separated).
	Delivery string `json:"delivery"`
	// State is the state of its connection ("connected", "connecting",
	// "backoff", "idle"), "" when it has none of its own (virtual:).
	State string `json:"state"`
	// NextAttempt is the seconds until the next connect attempt (backoff).
	NextAttempt float64 `json:"next_attempt,omitempty"`
	Queued      int     `json:"queued"`
	InFlight    int     `json:"in_flight"`
	Pending     int64   `json:"pending"`
	DeadLetters int64   `json:"dead_letters"`
	// ConnectError is the connection's last connect error; LastError the
	// last failed delivery (any reason) and LastErrorAt when.
	ConnectError string     `json:"connect_error,omitempty"`
	LastError    string     `json:"last_error,omitempty"`
	LastErrorAt  *time.Time `json:"last_error_at,omitempty"`
	// Delivered and Failed count since the daemon started (or since this
	// destination was first seen); the rates are over the last second.
	Delivered     uint64  `json:"delivered"`
	Failed        uint64  `json:"failed"`
	DeliveredRate float64 `json:"delivered_rate"`
	FailedRate    float64 `json:"failed_rate"`
	// P50 and P99 are the raise→outcome latencies of the deliveries of
	// the last ten seconds, in milliseconds; absent: none delivered.
	P50 *float64 `json:"p50_ms,omitempty"`
	P99 *float64 `json:"p99_ms,omitempty"`
	// History is the last five minutes, one point a second, oldest first
	// (the first state a stream sends, and GET /ui/api/state only).
	History *History `json:"history,omitempty"`
}

// History is a destination's recent past, one value a second.
type History struct {
	Delivered []uint32 `json:"delivered"`
	Failed    []uint32 `json:"failed"`
	// P99 is in milliseconds; -1: none delivered in the window.
	P99 []float64 `json:"p99_ms"`
}

// ConnectionState is one transport connection.
type ConnectionState struct {
	Address       string  `json:"address"`
	Delivery      string  `json:"delivery"`
	State         string  `json:"state"`
	NextAttempt   float64 `json:"next_attempt,omitempty"`
	Subscriptions int     `json:"subscriptions"`
	Queued        int     `json:"queued"`
	QueuedBytes   int     `json:"queued_bytes"`
	InFlight      int     `json:"in_flight"`
	LastError     string  `json:"last_error,omitempty"`
	Delivered     uint64  `json:"delivered"`
	Failed        uint64  `json:"failed"`
}

// StatState is one counter.
type StatState struct {
	Name  string `json:"name"`
	Value int64  `json:"value"`
}

// TailState says how the live tail is sampled.
type TailState struct {
	// Rate is the most entries it takes a second (Config.TailRate).
	Rate int `json:"rate"`
	// Dropped counts the entries not taken since the daemon started.
	Dropped uint64 `json:"dropped"`
}

// listing is the registry's events and subscribers at one moment.
type listing struct {
	events    []EventState
	sockets   map[string]bool
	subs      int
	truncated bool
}

// listLocked lists the registry's events and their subscribers.
func (d *Dashboard) listLocked(now time.Time) *listing {
	l := &listing{sockets: map[string]bool{}}
	reg := d.src.Registry
	if reg == nil {
		return l
	}
	for _, ev := range reg.Events() {
		es := EventState{Name: ev.Name(), ID: ev.ID(), Subscribers: []SubscriberState{}}
		if v, ok := d.events.Load(ev.Name()); ok {
			e := v.(*eventStats)
			es.Raised, es.RaisedRate = e.raised.Load(), e.rate
		}
		infos, _ := reg.Subscribers(ev.Name())
		for _, in := range infos {
			l.subs++
			if l.subs > d.cfg.MaxSubscribers {
				l.truncated = true
				continue
			}
			s := SubscriberState{Socket: in.Socket, Delivery: in.Delivery.String(), Expire: int64(in.Expire / time.Second), Durable: in.Durable}
			if in.Expire > 0 {
				s.TTL = int64(max(in.TTL, 0) / time.Second)
			}
			if in.Delivery.String() == "at-least-once" {
				s.Pending, s.DeadLetters = &in.Pending, &in.DeadLetters
			}
			es.Subscribers = append(es.Subscribers, s)
			l.sockets[in.Socket] = true
		}
		l.events = append(l.events, es)
	}
	return l
}

// stateLocked builds the state from the last sample; history adds each
// destination's history.
func (d *Dashboard) stateLocked(now time.Time, l *listing, history bool) *State {
	st := &State{
		Version: d.cfg.Version, Started: d.started.UTC(), Now: now.UTC(),
		Uptime: now.Sub(d.started).Seconds(), Events: l.events, Truncated: l.truncated,
		Destinations: []DestinationState{}, Connections: []ConnectionState{}, Statistics: []StatState{},
		HistoryInterval: 1,
	}
	if st.Events == nil {
		st.Events = []EventState{}
	}
	del, fail := d.outcomesLocked()
	st.Tail = TailState{Rate: d.cfg.TailRate, Dropped: d.droppedLocked(del + fail)}
	raised := d.smp.prevRaised
	if d.src.Registry != nil {
		raised = d.src.Registry.Raised()
	}
	st.Totals = Totals{
		Events: len(l.events), Subscriptions: l.subs,
		Raised: raised, RaisedRate: d.smp.raisedRate,
		Delivered: del, DeliveredRate: d.smp.delRate,
		Failed: fail, FailedRate: d.smp.failRate,
	}
	var conns []Connection
	if d.src.Connections != nil {
		conns = d.src.Connections()
	}
	for _, c := range conns {
		st.Connections = append(st.Connections, ConnectionState{
			Address: c.Address, Delivery: c.Delivery, State: c.State, NextAttempt: c.NextAttempt.Seconds(),
			Subscriptions: c.Subscriptions, Queued: c.Queued, QueuedBytes: c.QueuedBytes, InFlight: c.InFlight,
			LastError: c.LastError, Delivered: c.Delivered, Failed: c.Failed,
		})
	}
	sort.Slice(st.Connections, func(i, j int) bool {
		a, b := st.Connections[i], st.Connections[j]
		return a.Address < b.Address || a.Address == b.Address && a.Delivery < b.Delivery
	})

	// Destinations: every socket subscribed, and every one heard of lately.
	byS := map[string]*DestinationState{}
	dest := func(socket string) *DestinationState {
		if ds := byS[socket]; ds != nil {
			return ds
		}
		ds := &DestinationState{Socket: socket, Events: []string{}}
		byS[socket] = ds
		return ds
	}
	for _, es := range l.events {
		for _, s := range es.Subscribers {
			ds := dest(s.Socket)
			ds.Events = append(ds.Events, es.Name)
			if !strings.Contains(ds.Delivery, s.Delivery) {
				ds.Delivery = strings.TrimPrefix(ds.Delivery+", "+s.Delivery, ", ")
			}
			if s.Pending != nil {
				ds.Pending += *s.Pending
				ds.DeadLetters += *s.DeadLetters
				st.Totals.Pending += *s.Pending
				st.Totals.DeadLetters += *s.DeadLetters
			}
		}
	}
	d.dests.Range(func(_, v any) bool {
		s := v.(*destStats)
		ds := dest(s.socket)
		ds.Delivered, ds.Failed = s.delivered.Load(), s.failed.Load()
		p := s.latest()
		ds.DeliveredRate, ds.FailedRate = float64(p.delivered), float64(p.failed)
		if p.p50 >= 0 {
			ds.P50, ds.P99 = ptr(round3(p.p50)), ptr(round3(p.p99))
		}
		if e := s.lastErr.Load(); e != nil {
			ds.LastError, ds.LastErrorAt = e.msg, ptr(e.at.UTC())
		}
		if history {
			h := &History{Delivered: make([]uint32, len(s.points)), Failed: make([]uint32, len(s.points)), P99: make([]float64, len(s.points))}
			for i, p := range s.points {
				h.Delivered[i], h.Failed[i], h.P99[i] = p.delivered, p.failed, round3(p.p99)
			}
			ds.History = h
		}
		return true
	})
	for _, ds := range byS {
		if c := connectionOf(conns, ds.Socket, ds.Delivery); c != nil {
			ds.State, ds.NextAttempt, ds.ConnectError = c.State, c.NextAttempt.Seconds(), c.LastError
			ds.Queued, ds.InFlight = c.Queued, c.InFlight
		}
		st.Destinations = append(st.Destinations, *ds)
	}
	sort.Slice(st.Destinations, func(i, j int) bool { return st.Destinations[i].Socket < st.Destinations[j].Socket })
	if d.src.Statistics != nil {
		for _, s := range d.src.Statistics() {
			st.Statistics = append(st.Statistics, StatState(s))
		}
	}
	return st
}

// connectionOf returns the connection a socket's events go through: its
// address is the socket, or the socket's start before a "/"; one of the
// socket's policy first.
func connectionOf(conns []Connection, socket, delivery string) *Connection {
	var found *Connection
	for i := range conns {
		c := &conns[i]
		if socket != c.Address && !strings.HasPrefix(socket, c.Address+"/") {
			continue
		}
		if strings.HasPrefix(delivery, c.Delivery) {
			return c
		}
		if found == nil {
			found = c
		}
	}
	return found
}

func ptr[T any](v T) *T { return &v }

// round2 rounds a rate to hundredths: a second measured as 1.0000027 s
// is not worth the digits.
func round2(f float64) float64 { return math.Round(f*100) / 100 }

func round3(f float64) float64 {
	if f < 0 {
		return f
	}
	return float64(int64(f*1000+0.5)) / 1000
}

func (st *State) encode() []byte {
	b, err := json.Marshal(st)
	if err != nil { // a State holds nothing json cannot encode
		panic("dashboard: encode state: " + err.Error())
	}
	return b
}
